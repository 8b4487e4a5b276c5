"""Loading the compiled kernels with ctypes, once per process, or explaining why not.

`library()` returns the loaded library or None. The first time it is None it warns once, in
one line, that maku uses its numpy kernels instead; MAKU_NATIVE=0 turns the native kernels
off on purpose (silently).
"""

from __future__ import annotations

import ctypes
import functools
import os
import warnings

from maku.errors import BackendError

from .build import build_library

ABI_VERSION = 1  # MAKU_ABI_VERSION in maku/csrc/maku_kernels.h


class NativeKernelsUnavailable(RuntimeWarning):
    """The native kernels could not be built or loaded; the numpy kernels are used."""


class ConvParams(ctypes.Structure):
    """maku_conv_params of maku_kernels.h."""

    _fields_ = [
        (name, ctypes.c_int64)
        for name in "n h w c oh ow cout kh kw stride_h stride_w pad_top pad_left dil_h dil_w".split()
    ] + [("act", ctypes.c_int32), ("alpha", ctypes.c_float), ("beta", ctypes.c_float)]


_ptr, _i64, _i32, _f32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_float
_params = ctypes.POINTER(ConvParams)
# name: (restype, argtypes), as declared in maku_kernels.h
_SIGNATURES = {
    "maku_abi_version": (_i32, []),
    "maku_vector_lanes": (_i32, []),
    "maku_depthwise_conv2d": (None, [_params, _ptr, _ptr, _ptr, _ptr, _i32]),
    "maku_gemm_panel_width": (_i32, []),
    "maku_gemm_packed_size": (_i64, [_i64, _i64]),
    "maku_gemm_pack_weights": (None, [_ptr, _i64, _i64, _ptr]),
    "maku_gemm_fused": (None, [_ptr, _ptr, _ptr, _ptr, _ptr, _i64, _i64, _i64, _i32, _f32, _f32, _i32]),
    "maku_conv2d_scratch_size": (_i64, [_params, _i32]),
    "maku_conv2d_im2col": (None, [_params, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _i32]),
    "maku_global_avg_pool": (None, [_ptr, _ptr, _i64, _i64, _i64, _i32]),
    "maku_depthwise_conv2d_grad_input": (None, [_params, _ptr, _ptr, _ptr, _i32]),
    "maku_depthwise_conv2d_grad_weight_scratch_size": (_i64, [_params, _i32]),
    "maku_depthwise_conv2d_grad_weight": (None, [_params, _ptr, _ptr, _ptr, _ptr, _ptr, _i32]),
    "maku_batch_norm_scratch_size": (_i64, [_i64, _i32]),
    "maku_batch_norm_train": (None, [_ptr, _ptr, _ptr, _f32, _ptr, _ptr, _ptr, _ptr, _ptr, _i64, _i64, _i32]),
    "maku_batch_norm_train_grad": (None, [_ptr] * 9 + [_i64, _i64, _i32]),
}


def load_library() -> ctypes.CDLL:
    """Build (if needed) and load the library; BackendError says why it cannot be used."""
    if os.environ.get("MAKU_NATIVE", "1") == "0":
        raise BackendError("native kernels disabled by MAKU_NATIVE=0")
    path = build_library()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise BackendError(f"cannot load {path}: {exc}") from exc
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.maku_abi_version() != ABI_VERSION:
        raise BackendError(f"{path} has ABI {lib.maku_abi_version()}, expected {ABI_VERSION}")
    return lib


@functools.cache
def library() -> ctypes.CDLL | None:
    """The loaded library, or None (after one warning) when it cannot be built or loaded."""
    try:
        return load_library()
    except BackendError as exc:
        if os.environ.get("MAKU_NATIVE", "1") != "0":
            warnings.warn(
                f"maku: {exc}; using the numpy kernels instead", NativeKernelsUnavailable, stacklevel=2
            )
        return None
