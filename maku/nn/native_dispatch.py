"""The kernels training runs: maku's C kernels (maku.backends.native) for float32 depthwise convs
and float32 batch normalization in training mode when the library is available, the NumPy
kernels of maku.kernels for everything else (float64, as gradcheck uses; other convs; no C
compiler; MAKU_NATIVE=0).

The C kernels use as many threads as NumPy's BLAS (`maku.set_num_threads`), so one setting
governs all of training's threads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from maku.backends import native
from maku.backends.native import kernels as native_kernels
from maku.kernels import conv as conv_kernels
from maku.kernels import norm_grad
from maku.kernels.conv_grad import conv2d_grad
from maku.threads import get_num_threads

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]
BatchNormBackward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

# False: train on the NumPy kernels only, as before the C kernels existed (A/B benchmarks,
# debugging); MAKU_NATIVE=0 does the same for the whole process.
use_native_kernels = True


def runs_native(x: np.ndarray, w: np.ndarray, groups: int, *arrays: np.ndarray | None) -> bool:
    """Whether a conv of `x` with HWIO `w` runs on the C kernels: depthwise, float32 throughout
    (`arrays`: the bias, the output gradient), the library built and `use_native_kernels`."""
    depthwise = groups == x.shape[3] == w.shape[3] > 1
    float32 = all(a.dtype == np.float32 for a in (x, w, *arrays) if a is not None)
    return use_native_kernels and depthwise and float32 and native.available()


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    *,
    strides: Pair,
    pads: Pads,
    dilations: Pair,
    groups: int,
) -> np.ndarray:
    """conv(x, w) + bias, NHWC x HWIO."""
    if not runs_native(x, w, groups, bias):
        return conv_kernels.conv2d(x, w, bias, strides=strides, pads=pads, dilations=dilations, groups=groups)
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    geometry = dict(strides=strides, pads=pads, dilations=dilations)
    return native.depthwise_conv2d(x, w, bias, **geometry, threads=get_num_threads())


def conv2d_backward(
    x: np.ndarray,
    w: np.ndarray,
    grad_out: np.ndarray,
    *,
    strides: Pair,
    pads: Pads,
    dilations: Pair,
    groups: int,
    need_input_grad: bool,
    need_bias_grad: bool,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(dL/dx or None, dL/dw, dL/dbias or None) of conv2d_forward given dL/dy = grad_out."""
    geometry = dict(strides=strides, pads=pads, dilations=dilations)
    if not runs_native(x, w, groups, grad_out):
        dx, dw, db = conv2d_grad(x, w, grad_out, **geometry, groups=groups, need_input_grad=need_input_grad)
        return dx, dw, db if need_bias_grad else None
    x, w, g = np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(grad_out)
    geometry["threads"] = get_num_threads()
    db = np.empty(w.shape[3], np.float32) if need_bias_grad else None
    dw = native.depthwise_conv2d_grad_weight(x, g, w.shape[:2], **geometry, bias_out=db).reshape(w.shape)
    dx = native.depthwise_conv2d_grad_input(g, w, x.shape, **geometry) if need_input_grad else None
    return dx, dw, db


def batch_norm_train_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchNormBackward]:
    """Batch normalization with the batch's statistics over every axis but the last: (y, mean,
    biased var, backward), backward(dL/dy) giving (dL/dx, dL/dgamma, dL/dbeta)."""
    float32 = all(a.dtype == np.float32 for a in (x, gamma, beta))
    if not (use_native_kernels and float32 and native.available()):
        y, mean, var, centered, inv_std = norm_grad.batch_norm_train(x, gamma, beta, eps)
        return y, mean, var, lambda g: norm_grad.batch_norm_train_grad(g, centered, inv_std, gamma)
    x, gamma, beta = (np.ascontiguousarray(a) for a in (x, gamma, beta))
    threads = get_num_threads()
    stats = np.empty((3, x.shape[-1]), np.float32)  # mean, var, 1/sqrt(var + eps)
    y = native_kernels.batch_norm_train(x, gamma, beta, stats, eps=eps, threads=threads)

    def backward(grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = np.ascontiguousarray(grad_out, np.float32)
        param_grads = np.empty_like(stats[:2])
        dx = native_kernels.batch_norm_train_grad(g, x, stats, gamma, param_grads, threads=threads)
        return dx, param_grads[0], param_grads[1]

    return y, stats[0], stats[1], backward
