"""Typed wrappers of the C kernels: validate NumPy arrays, then make one ctypes call.

Arrays must already be float32 and C-contiguous (arena views are): the wrappers never copy
an activation. When the library is unavailable, each wrapper computes the same result with
the numpy kernels of maku.kernels (see loader.library for the warning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from maku.errors import BackendError
from maku.kernels.conv import conv2d, conv2d_output_shape
from maku.kernels.gemm import gemm
from maku.kernels.pool import global_avg_pool2d

from .loader import ConvParams, library

ACTIVATION_CODES = {None: 0, "Relu": 1, "Clip": 2, "HardSigmoid": 3, "HardSwish": 4, "Sigmoid": 5}

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


def available() -> bool:
    """Whether the compiled kernels are in use (builds them on the first call)."""
    return library() is not None


def _check(a: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> None:
    if not isinstance(a, np.ndarray):
        raise BackendError(f"native kernels need {name} as a float32 array, got {type(a).__name__}")
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        layout = "C-contiguous" if a.flags.c_contiguous else "non-contiguous"
        raise BackendError(
            f"native kernels need {name} as a C-contiguous float32 array, got a {layout} {a.dtype} one"
        )
    if shape is not None and a.shape != tuple(shape):
        raise BackendError(f"{name} has shape {a.shape}, expected {tuple(shape)}")


def _check_optional(a: np.ndarray | None, name: str, shape: tuple[int, ...]) -> None:
    if a is not None:
        _check(a, name, shape)


def _output(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """`out` checked against `shape`, or a new array; a flat (N*...) view shape is accepted too."""
    if out is None:
        return np.empty(shape, np.float32)
    _check(out, "out")
    if out.size != math.prod(shape):
        raise BackendError(f"out has shape {out.shape}, expected {shape}")
    return out


def _act_code(act: str | None) -> int:
    if act not in ACTIVATION_CODES:
        raise BackendError(
            f"native kernels do not fuse activation {act!r}; expected one of {list(ACTIVATION_CODES)}"
        )
    return ACTIVATION_CODES[act]


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def _residual_safe(residual: np.ndarray | None, out: np.ndarray) -> np.ndarray | None:
    """The residual for the numpy fallback, which writes `out` before reading the residual."""
    return residual.copy() if residual is not None and np.shares_memory(residual, out) else residual


def _conv_params(
    x: np.ndarray,
    kernel: Pair,
    cout: int,
    strides: Pair,
    pads: Pads,
    dilations: Pair,
    act: str | None,
    alpha: float,
    beta: float,
) -> ConvParams:
    """The C parameter block; refuses geometry the kernels do not define."""
    if x.ndim != 4:
        raise BackendError(f"native conv needs an NHWC input, got shape {x.shape}")
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0 or len(pads) != 4:
        raise BackendError(
            f"native conv needs strides, dilations >= 1 and 4 pads >= 0, got {strides}, {dilations}, {pads}"
        )
    n, oh, ow, _ = conv2d_output_shape(x.shape, (*kernel, x.shape[3], cout), strides, pads, dilations)
    if oh < 1 or ow < 1:
        raise BackendError(f"conv of input {x.shape} with kernel {kernel} has an empty output")
    return ConvParams(
        n,
        x.shape[1],
        x.shape[2],
        x.shape[3],
        oh,
        ow,
        cout,
        *kernel,
        *strides,
        pads[0],
        pads[1],
        *dilations,
        _act_code(act),
        alpha,
        beta,
    )


def depthwise_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    strides: Pair = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    dilations: Pair = (1, 1),
    act: str | None = None,
    alpha: float = 0.0,
    beta: float = 0.0,
    out: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """act(depthwise_conv(x, w) + bias): x (N,H,W,C), w (KH,KW,C) or HWIO (KH,KW,1,C)."""
    _check(x, "x")
    w = w.reshape(w.shape[0], w.shape[1], w.shape[3]) if w.ndim == 4 and w.shape[2] == 1 else w
    _check(w, "w")
    if w.ndim != 3 or x.ndim != 4 or w.shape[2] != x.shape[3]:
        raise BackendError(f"depthwise weight {w.shape} does not fit input {x.shape}; expected (KH, KW, C)")
    params = _conv_params(x, w.shape[:2], x.shape[3], strides, pads, dilations, act, alpha, beta)
    _check_optional(bias, "bias", (params.c,))
    out = _output(out, (params.n, params.oh, params.ow, params.c))
    lib = library()
    if lib is None:
        conv2d(
            x,
            w[:, :, None, :],
            bias,
            strides=strides,
            pads=pads,
            dilations=dilations,
            groups=params.c,
            activation=act,
            alpha=alpha,
            beta=beta,
            out=out.reshape(params.n, params.oh, params.ow, params.c),
        )
        return out
    lib.maku_depthwise_conv2d(params, _ptr(x), _ptr(w), _ptr(bias), _ptr(out), threads)
    return out


@dataclass(frozen=True)
class GemmWeights:
    """A weight (K, N) matrix, or an HWIO conv weight viewed as (KH*KW*Cin, Cout), prepared
    once (at plan time) in the panel layout of the C GEMM; `data` is the plain matrix when
    the native kernels are unavailable."""

    shape: tuple[int, ...]
    data: np.ndarray
    packed: bool

    @property
    def k(self) -> int:
        return math.prod(self.shape[:-1])

    @property
    def n(self) -> int:
        return self.shape[-1]


def pack_gemm_weights(w: np.ndarray) -> GemmWeights:
    """Packs a (K, N) matrix or an HWIO (KH, KW, Cin, Cout) conv weight for the GEMM kernels."""
    matrix = np.ascontiguousarray(w, np.float32).reshape(-1, w.shape[-1])
    lib = library()
    if lib is None:
        return GemmWeights(tuple(w.shape), matrix, packed=False)
    k, n = matrix.shape
    packed = np.empty(lib.maku_gemm_packed_size(k, n), np.float32)
    lib.maku_gemm_pack_weights(_ptr(matrix), k, n, _ptr(packed))
    return GemmWeights(tuple(w.shape), packed, packed=True)


def _as_gemm_weights(w: np.ndarray | GemmWeights) -> GemmWeights:
    return w if isinstance(w, GemmWeights) else pack_gemm_weights(w)


def pointwise_conv(
    x2d: np.ndarray,
    w: np.ndarray | GemmWeights,
    bias: np.ndarray | None = None,
    *,
    act: str | None = None,
    alpha: float = 0.0,
    beta: float = 0.0,
    residual: np.ndarray | None = None,
    out: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """act(x2d @ w + bias) + residual, one pass over the output: x2d (M, K) is an NHWC
    activation viewed as (N*H*W, Cin), w (K, N) or its GemmWeights; residual may be `out`."""
    _check(x2d, "x2d")
    weights = _as_gemm_weights(w)
    if x2d.ndim != 2 or x2d.shape[1] != weights.k:
        raise BackendError(f"pointwise input {x2d.shape} does not fit weight {weights.shape}")
    m, k, n = x2d.shape[0], weights.k, weights.n
    code = _act_code(act)
    _check_optional(bias, "bias", (n,))
    out = _output(out, (m, n))
    _check_optional(residual, "residual", out.shape)
    lib = library()
    if lib is None or not weights.packed:
        residual = _residual_safe(residual, out)
        y = gemm(
            x2d, weights.data, bias, activation=act, act_alpha=alpha, act_beta=beta, out=out.reshape(m, n)
        )
        if residual is not None:
            np.add(y, residual.reshape(m, n), out=y)
        return out
    lib.maku_gemm_fused(
        _ptr(x2d),
        _ptr(weights.data),
        _ptr(bias),
        _ptr(residual),
        _ptr(out),
        m,
        k,
        n,
        code,
        alpha,
        beta,
        threads,
    )
    return out


def conv2d_scratch_size(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    strides: Pair,
    pads: Pads,
    dilations: Pair,
    threads: int = 1,
) -> int:
    """Floats of scratch conv2d_im2col needs (one output row of patches per thread)."""
    kh, kw, cin, _ = w_shape
    _, _, ow, _ = conv2d_output_shape(x_shape, w_shape, strides, pads, dilations)
    return max(threads, 1) * ow * kh * kw * cin


def conv2d_im2col(
    x: np.ndarray,
    w: np.ndarray | GemmWeights,
    bias: np.ndarray | None = None,
    *,
    strides: Pair = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    dilations: Pair = (1, 1),
    act: str | None = None,
    alpha: float = 0.0,
    beta: float = 0.0,
    residual: np.ndarray | None = None,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """act(conv(x, w) + bias) + residual for a dense (groups=1) conv of any kernel, stride,
    padding and dilation: x (N,H,W,Cin), w HWIO (KH,KW,Cin,Cout) or its GemmWeights;
    `scratch` (conv2d_scratch_size floats) is allocated per call when not given."""
    _check(x, "x")
    weights = _as_gemm_weights(w)
    if len(weights.shape) != 4 or x.ndim != 4 or weights.shape[2] != x.shape[3]:
        raise BackendError(
            f"conv weight {weights.shape} does not fit input {x.shape}; expected HWIO with groups=1"
        )
    kh, kw, _, cout = weights.shape
    params = _conv_params(x, (kh, kw), cout, strides, pads, dilations, act, alpha, beta)
    _check_optional(bias, "bias", (cout,))
    out = _output(out, (params.n, params.oh, params.ow, cout))
    _check_optional(residual, "residual", out.shape)
    lib = library()
    if lib is None or not weights.packed:
        conv2d(
            x,
            weights.data.reshape(weights.shape),
            bias,
            strides=strides,
            pads=pads,
            dilations=dilations,
            activation=act,
            alpha=alpha,
            beta=beta,
            residual=_residual_safe(residual, out),
            out=out.reshape(params.n, params.oh, params.ow, cout),
        )
        return out
    need = lib.maku_conv2d_scratch_size(params, threads)
    if scratch is None:
        scratch = np.empty(need, np.float32)
    _check(scratch, "scratch")
    if scratch.size < need:
        raise BackendError(f"scratch holds {scratch.size} floats, conv2d_im2col needs {need}")
    lib.maku_conv2d_im2col(
        params, _ptr(x), _ptr(weights.data), _ptr(bias), _ptr(residual), _ptr(out), _ptr(scratch), threads
    )
    return out


def global_avg_pool(x: np.ndarray, out: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """Mean over H and W: x (N,H,W,C) -> out (N,1,1,C) (or any shape of N*C floats)."""
    _check(x, "x")
    if x.ndim != 4:
        raise BackendError(f"global_avg_pool needs an NHWC input, got shape {x.shape}")
    n, h, w, c = x.shape
    out = _output(out, (n, 1, 1, c))
    lib = library()
    if lib is None:
        global_avg_pool2d(x, out=out.reshape(n, 1, 1, c))
        return out
    lib.maku_global_avg_pool(_ptr(x), _ptr(out), n, h * w, c, threads)
    return out
