"""Typed wrappers of the C kernels on NumPy arrays.

Arrays must already be float32 and C-contiguous (arena views are): the wrappers never copy
an activation. Each wrapper is written as a preparer returning a BoundCall (calls.py): the
public function runs it at once, `bind(function, ...)` keeps it to run again. When the
library is unavailable the call computes the same result with maku.kernels (numpy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from maku.errors import BackendError
from maku.kernels.conv import conv2d, conv2d_output_shape
from maku.kernels.conv_grad import depthwise_input_grad, depthwise_weight_grad
from maku.kernels.gemm import gemm
from maku.kernels.norm_grad import batch_norm_train as numpy_batch_norm_train
from maku.kernels.norm_grad import batch_norm_train_grad as numpy_batch_norm_train_grad
from maku.kernels.pool import global_avg_pool2d

from .calls import (
    BoundCall,
    activation_code,
    check_array,
    check_optional,
    native_call,
    numpy_call,
    output_array,
    runs_at_once,
)
from .loader import ConvParams, library

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


def available() -> bool:
    """Whether the compiled kernels are in use (builds them on the first call)."""
    return library() is not None


def _conv_params(
    x_shape: tuple[int, ...],
    kernel: Pair,
    cout: int,
    strides: Pair,
    pads: Pads,
    dilations: Pair,
    act: str | None,
    alpha,
    beta,
) -> ConvParams:
    """The C parameter block for an input of `x_shape`; refuses geometry the kernels do not define."""
    if len(x_shape) != 4:
        raise BackendError(f"native conv needs an NHWC input, got shape {x_shape}")
    if len(pads) != 4 or min(pads) < 0 or min(strides) < 1 or min(dilations) < 1 or min(kernel) < 1:
        raise BackendError(
            f"native conv needs kernel sizes, strides, dilations >= 1 and 4 pads >= 0, "
            f"got {kernel}, {strides}, {dilations}, {pads}"
        )
    n, oh, ow, _ = conv2d_output_shape(x_shape, (*kernel, x_shape[3], cout), strides, pads, dilations)
    if oh < 1 or ow < 1:
        raise BackendError(f"conv of input {x_shape} with kernel {kernel} has an empty output")
    geometry = (*x_shape, oh, ow, cout, *kernel, *strides, pads[0], pads[1], *dilations)
    return ConvParams(*geometry, activation_code(act), alpha, beta)


def _residual_safe(residual: np.ndarray | None, out: np.ndarray) -> np.ndarray | None:
    """The residual for the numpy fallback, which writes `out` before reading the residual."""
    return residual.copy() if residual is not None and np.shares_memory(residual, out) else residual


def _depthwise_weight(w: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """A depthwise weight as (KH, KW, C), checked against the input's shape."""
    w = w.reshape(w.shape[0], w.shape[1], w.shape[3]) if w.ndim == 4 and w.shape[2] == 1 else w
    check_array(w, "w")
    if w.ndim != 3 or len(x_shape) != 4 or w.shape[2] != x_shape[3]:
        raise BackendError(f"depthwise weight {w.shape} does not fit input {x_shape}; expected (KH, KW, C)")
    return w


@runs_at_once
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
) -> BoundCall:
    """act(depthwise_conv(x, w) + bias): x (N,H,W,C), w (KH,KW,C) or HWIO (KH,KW,1,C)."""
    check_array(x, "x")
    w = _depthwise_weight(w, x.shape)
    p = _conv_params(x.shape, w.shape[:2], x.shape[3], strides, pads, dilations, act, alpha, beta)
    check_optional(bias, "bias", (p.c,))
    out = output_array(out, (p.n, p.oh, p.ow, p.c))
    lib = library()
    if lib is None:
        geometry = dict(strides=strides, pads=pads, dilations=dilations, groups=p.c)
        out4d, w_hwio = out.reshape(p.n, p.oh, p.ow, p.c), w[:, :, None, :]
        return numpy_call(
            lambda: conv2d(x, w_hwio, bias, **geometry, activation=act, alpha=alpha, beta=beta, out=out4d),
            out,
        )
    return native_call(lib.maku_depthwise_conv2d, (p, x, w, bias, out, threads), out)


@runs_at_once
def depthwise_conv2d_grad_input(
    grad_out: np.ndarray,
    w: np.ndarray,
    x_shape: tuple[int, ...],
    *,
    strides: Pair = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    dilations: Pair = (1, 1),
    out: np.ndarray | None = None,
    threads: int = 1,
) -> BoundCall:
    """dL/dx, shaped `x_shape` (N,H,W,C), of depthwise_conv2d(x, w) given dL/dy = grad_out."""
    x_shape = tuple(x_shape)
    w = _depthwise_weight(w, x_shape)
    p = _conv_params(x_shape, w.shape[:2], x_shape[3], strides, pads, dilations, None, 0.0, 0.0)
    check_array(grad_out, "grad_out", (p.n, p.oh, p.ow, p.c))
    out = output_array(out, x_shape)
    lib = library()
    if lib is None:
        geometry = dict(strides=strides, pads=pads, dilations=dilations)
        out4d = out.reshape(x_shape)

        def numpy_input_grad() -> None:
            np.copyto(out4d, depthwise_input_grad(grad_out, w, x_shape, **geometry))

        return numpy_call(numpy_input_grad, out)
    return native_call(lib.maku_depthwise_conv2d_grad_input, (p, grad_out, w, out, threads), out)


@runs_at_once
def depthwise_conv2d_grad_weight(
    x: np.ndarray,
    grad_out: np.ndarray,
    kernel: Pair,
    *,
    strides: Pair = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    dilations: Pair = (1, 1),
    bias_out: np.ndarray | None = None,
    out: np.ndarray | None = None,
    threads: int = 1,
) -> BoundCall:
    """dL/dw (KH,KW,C) of depthwise_conv2d(x, w) given dL/dy = grad_out; `bias_out` (C), when
    given, also receives dL/dbias (grad_out summed over N, H, W) from the same pass."""
    check_array(x, "x")
    p = _conv_params(x.shape, tuple(kernel), x.shape[3], strides, pads, dilations, None, 0.0, 0.0)
    check_array(grad_out, "grad_out", (p.n, p.oh, p.ow, p.c))
    check_optional(bias_out, "bias_out", (p.c,))
    out = output_array(out, (p.kh, p.kw, p.c))
    lib = library()
    if lib is None:
        geometry = dict(strides=strides, pads=pads, dilations=dilations)
        out3d = out.reshape(p.kh, p.kw, p.c)

        def numpy_weight_grad() -> None:
            np.copyto(out3d, depthwise_weight_grad(x, grad_out, (p.kh, p.kw), **geometry))
            if bias_out is not None:
                np.sum(grad_out.reshape(-1, p.c), axis=0, out=bias_out)

        return numpy_call(numpy_weight_grad, out)
    # the scratch is allocated once per prepared call: a bound call reuses it
    scratch = np.empty(lib.maku_depthwise_conv2d_grad_weight_scratch_size(p, threads), np.float32)
    args = (p, x, grad_out, out, bias_out, scratch, threads)
    return native_call(lib.maku_depthwise_conv2d_grad_weight, args, out)


def _batch_norm_shapes(x: np.ndarray, name: str) -> tuple[int, int]:
    """(rows, channels) of a channels-last array for the batch-norm kernels."""
    check_array(x, name)
    if x.ndim < 2 or x.size == 0:
        raise BackendError(f"batch norm needs a non-empty (..., C) {name}, got shape {x.shape}")
    return x.size // x.shape[-1], x.shape[-1]


def _separate_output(out: np.ndarray, *inputs: np.ndarray) -> None:
    """The kernels read inputs after writing some outputs (overlapping channel blocks)."""
    if any(np.may_share_memory(out, a) for a in inputs):
        raise BackendError("batch norm's out must not overlap its inputs")


@runs_at_once
def batch_norm_train(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    stats: np.ndarray,
    *,
    eps: float = 1e-5,
    out: np.ndarray | None = None,
    threads: int = 1,
) -> BoundCall:
    """y = (x - mean) / sqrt(var + eps) * gamma + beta with the batch's per-channel statistics
    over every axis but the last (C); `stats` (3, C) receives mean, biased var and
    1 / sqrt(var + eps), which batch_norm_train_grad takes back."""
    m, c = _batch_norm_shapes(x, "x")
    for a, name in ((gamma, "gamma"), (beta, "beta")):
        check_array(a, name, (c,))
    check_array(stats, "stats", (3, c))
    out = output_array(out, x.shape)
    _separate_output(out, x, gamma, beta, stats)
    lib = library()
    if lib is None:

        def numpy_batch_norm() -> None:
            y, *saved = numpy_batch_norm_train(x, gamma, beta, eps)
            np.copyto(out.reshape(x.shape), y)
            stats[0], stats[1], stats[2] = saved[0], saved[1], saved[3]

        return numpy_call(numpy_batch_norm, out)
    scratch = np.empty(lib.maku_batch_norm_scratch_size(c, threads), np.float64)
    args = (x, gamma, beta, eps, out, stats[0], stats[1], stats[2], scratch, m, c, threads)
    return native_call(lib.maku_batch_norm_train, args, out)


@runs_at_once
def batch_norm_train_grad(
    grad_out: np.ndarray,
    x: np.ndarray,
    stats: np.ndarray,
    gamma: np.ndarray,
    param_grads: np.ndarray,
    *,
    out: np.ndarray | None = None,
    threads: int = 1,
) -> BoundCall:
    """dL/dx of batch_norm_train(x, gamma, ...) given dL/dy = grad_out and its `stats`;
    `param_grads` (2, C) receives dL/dgamma and dL/dbeta."""
    m, c = _batch_norm_shapes(x, "x")
    check_array(grad_out, "grad_out", x.shape)
    check_array(stats, "stats", (3, c))
    check_array(gamma, "gamma", (c,))
    check_array(param_grads, "param_grads", (2, c))
    out = output_array(out, x.shape)
    _separate_output(out, grad_out, x, stats, gamma, param_grads)
    lib = library()
    if lib is None:

        def numpy_batch_norm_grad() -> None:
            centered = x.reshape(m, c) - stats[0]
            dx, d_gamma, d_beta = numpy_batch_norm_train_grad(grad_out, centered, stats[2], gamma)
            np.copyto(out.reshape(x.shape), dx)
            param_grads[0], param_grads[1] = d_gamma, d_beta

        return numpy_call(numpy_batch_norm_grad, out)
    scratch = np.empty(lib.maku_batch_norm_scratch_size(c, threads), np.float64)
    mean, inv_std, d_gamma, d_beta = stats[0], stats[2], param_grads[0], param_grads[1]
    args = (grad_out, x, mean, inv_std, gamma, out, d_gamma, d_beta, scratch, m, c, threads)
    return native_call(lib.maku_batch_norm_train_grad, args, out)


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
    lib.maku_gemm_pack_weights(matrix.ctypes.data, k, n, packed.ctypes.data)
    return GemmWeights(tuple(w.shape), packed, packed=True)


def _as_gemm_weights(w: np.ndarray | GemmWeights) -> GemmWeights:
    return w if isinstance(w, GemmWeights) else pack_gemm_weights(w)


@runs_at_once
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
) -> BoundCall:
    """act(x2d @ w + bias) + residual, one pass over the output: x2d (M, K) is an NHWC
    activation viewed as (N*H*W, Cin), w (K, N) or its GemmWeights; residual may be `out`."""
    check_array(x2d, "x2d")
    weights = _as_gemm_weights(w)
    if x2d.ndim != 2 or x2d.shape[1] != weights.k:
        raise BackendError(f"pointwise input {x2d.shape} does not fit weight {weights.shape}")
    m, k, n = x2d.shape[0], weights.k, weights.n
    code = activation_code(act)
    check_optional(bias, "bias", (n,))
    out = output_array(out, (m, n))
    check_optional(residual, "residual", out.shape)
    lib = library()
    if lib is None or not weights.packed:
        out2d = out.reshape(m, n)

        def numpy_pointwise() -> None:
            res = _residual_safe(residual, out)
            gemm(x2d, weights.data, bias, activation=act, act_alpha=alpha, act_beta=beta, out=out2d)
            if res is not None:
                np.add(out2d, res.reshape(m, n), out=out2d)

        return numpy_call(numpy_pointwise, out)
    args = (x2d, weights.data, bias, residual, out, m, k, n, code, alpha, beta, threads)
    return native_call(lib.maku_gemm_fused, args, out)


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


@runs_at_once
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
) -> BoundCall:
    """act(conv(x, w) + bias) + residual for a dense (groups=1) conv of any kernel, stride,
    padding and dilation: x (N,H,W,Cin), w HWIO (KH,KW,Cin,Cout) or its GemmWeights;
    `scratch` (conv2d_scratch_size floats) is allocated once when not given."""
    check_array(x, "x")
    weights = _as_gemm_weights(w)
    if len(weights.shape) != 4 or x.ndim != 4 or weights.shape[2] != x.shape[3]:
        raise BackendError(
            f"conv weight {weights.shape} does not fit input {x.shape}; expected HWIO with groups=1"
        )
    kh, kw, _, cout = weights.shape
    p = _conv_params(x.shape, (kh, kw), cout, strides, pads, dilations, act, alpha, beta)
    check_optional(bias, "bias", (cout,))
    out = output_array(out, (p.n, p.oh, p.ow, cout))
    check_optional(residual, "residual", out.shape)
    lib = library()
    if lib is None or not weights.packed:
        geometry = dict(strides=strides, pads=pads, dilations=dilations)
        out4d, w_hwio = out.reshape(p.n, p.oh, p.ow, cout), weights.data.reshape(weights.shape)
        return numpy_call(
            lambda: conv2d(
                x, w_hwio, bias, **geometry, activation=act, alpha=alpha, beta=beta,
                residual=_residual_safe(residual, out), out=out4d,
            ),
            out,
        )  # fmt: skip
    need = lib.maku_conv2d_scratch_size(p, threads)
    scratch = np.empty(need, np.float32) if scratch is None else scratch
    check_array(scratch, "scratch")
    if scratch.size < need:
        raise BackendError(f"scratch holds {scratch.size} floats, conv2d_im2col needs {need}")
    args = (p, x, weights.data, bias, residual, out, scratch, threads)
    return native_call(lib.maku_conv2d_im2col, args, out)


@runs_at_once
def global_avg_pool(x: np.ndarray, out: np.ndarray | None = None, threads: int = 1) -> BoundCall:
    """Mean over H and W: x (N,H,W,C) -> out (N,1,1,C) (or any shape of N*C floats)."""
    check_array(x, "x")
    if x.ndim != 4:
        raise BackendError(f"global_avg_pool needs an NHWC input, got shape {x.shape}")
    n, h, w, c = x.shape
    out = output_array(out, (n, 1, 1, c))
    lib = library()
    if lib is None:
        out4d = out.reshape(n, 1, 1, c)
        return numpy_call(lambda: global_avg_pool2d(x, out=out4d), out)
    return native_call(lib.maku_global_avg_pool, (x, out, n, h * w, c, threads), out)
