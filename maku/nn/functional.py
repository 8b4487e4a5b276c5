"""Differentiable layer functions on `maku.Tensor`: activations, convolution, normalization,
pooling, dropout and losses. Images are channels-last (N, H, W, C); conv weights are HWIO.

Forwards call the shared kernels in `maku.kernels` (the ones the runtime uses); each backward
sits beside its forward and calls the matching `*_grad` kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from maku.autograd import record
from maku.errors import ShapeError
from maku.kernels import activation as act
from maku.kernels import activation_grad as act_grad
from maku.kernels import conv as conv_kernels
from maku.kernels import pool, pool_grad
from maku.nn.native_dispatch import batch_norm_train_forward, conv2d_backward, conv2d_forward
from maku.rng import generator
from maku.tensor import Tensor, _wrap

IntPair = int | tuple[int, int]

NHWC_HINT = "maku layers are channels-last (NHWC)"


def _pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _present(*tensors: Tensor | None) -> list[Tensor]:
    """The given tensors without the absent (None) optional ones, e.g. a missing bias."""
    return [t for t in tensors if t is not None]


# -- activations ---------------------------------------------------------------------------
def relu(x: Tensor) -> Tensor:
    out = _wrap(act.relu(x.data))
    return record(out, (x,), lambda g: (act_grad.relu_grad(out.data, g),), "Relu")


def relu6(x: Tensor) -> Tensor:
    out = _wrap(act.clip(x.data, 0.0, 6.0))
    return record(out, (x,), lambda g: (act_grad.clip_grad(x.data, g, 0.0, 6.0),), "Clip", min=0.0, max=6.0)


def sigmoid(x: Tensor) -> Tensor:
    out = _wrap(act.sigmoid(x.data))
    return record(out, (x,), lambda g: (act_grad.sigmoid_grad(out.data, g),), "Sigmoid")


def hardsigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6, as PyTorch (ONNX HardSigmoid with alpha=1/6, beta=1/2)."""
    alpha = 1.0 / 6.0
    out = _wrap(act.hard_sigmoid(x.data, alpha, 0.5))
    backward = lambda g: (act_grad.hard_sigmoid_grad(x.data, g, alpha, 0.5),)  # noqa: E731
    return record(out, (x,), backward, "HardSigmoid", alpha=alpha, beta=0.5)


def hardswish(x: Tensor) -> Tensor:
    """x * relu6(x + 3) / 6."""
    out = _wrap(act.hard_swish(x.data))
    return record(out, (x,), lambda g: (act_grad.hard_swish_grad(x.data, g),), "HardSwish")


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x: Tensor) -> Tensor:
    """x * Phi(x) with the exact Gaussian CDF (PyTorch's default, approximate='none')."""
    cdf = (0.5 * (1.0 + _erf(x.data / math.sqrt(2.0)))).astype(x.dtype)
    out = _wrap(x.data * cdf)
    pdf = np.exp(-0.5 * x.data * x.data) / math.sqrt(2 * math.pi)
    return record(out, (x,), lambda g: (g * (cdf + x.data * pdf),), "Gelu")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    shifted = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
    out = _wrap(shifted / shifted.sum(axis=axis, keepdims=True))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (out.data * (g - (g * out.data).sum(axis=axis, keepdims=True)),)

    return record(out, (x,), backward, "Softmax", axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    out = _wrap(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g - np.exp(out.data) * g.sum(axis=axis, keepdims=True),)

    return record(out, (x,), backward, "LogSoftmax", axis=axis)


# -- convolution and linear ----------------------------------------------------------------
def check_channels_last(x: Tensor, channels: int, layer: str) -> None:
    """Raise a ShapeError naming the NHWC convention when `x` is not (N, H, W, channels)."""
    if x.ndim != 4:
        raise ShapeError(f"{layer} expects a 4-D (N, H, W, C) input, got shape {x.shape}")
    if x.shape[3] != channels:
        hint = ""
        if x.shape[1] == channels:
            hint = " — did you pass NCHW? use x.permute(0, 2, 3, 1)"
        raise ShapeError(
            f"{layer} expects {channels} input channels in the last axis; {NHWC_HINT}; got shape {x.shape}{hint}"
        )


def conv_pads(
    padding: int | tuple[int, int] | str,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) for a Conv2d `padding` argument: int, (ph, pw), "valid" or "same"."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return conv_kernels.same_pads(in_hw, kernel, stride, dilation, "SAME_UPPER")
    ph, pw = _pair(padding)
    return (ph, pw, ph, pw)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution of an NHWC input with an HWIO weight (KH, KW, Cin/groups, Cout)."""
    kh, kw, cin_g, _ = weight.shape
    check_channels_last(x, cin_g * groups, "conv2d")
    strides, dilations = _pair(stride), _pair(dilation)
    pads = conv_pads(padding, x.shape[1:3], (kh, kw), strides, dilations)
    spec = dict(strides=strides, pads=pads, dilations=dilations, groups=groups)
    y = conv2d_forward(x.data, weight.data, None if bias is None else bias.data, **spec)
    out = _wrap(y)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        need = dict(need_input_grad=x.requires_grad, need_bias_grad=bias is not None)
        return conv2d_backward(x.data, weight.data, g, **spec, **need)

    return record(out, _present(x, weight, bias), backward, "Conv", **spec)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight shaped (out_features, in_features) as in PyTorch."""
    if x.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"linear expects {weight.shape[1]} input features in the last axis, got shape {x.shape}"
        )
    y = x.data @ weight.data.T
    if bias is not None:
        y += bias.data
    out = _wrap(y)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        g2 = g.reshape(-1, g.shape[-1])
        dx = g @ weight.data if x.requires_grad else None
        dw = g2.T @ x.data.reshape(-1, x.shape[-1])
        return dx, dw, g2.sum(axis=0)

    return record(out, _present(x, weight, bias), backward, "Gemm")


# -- normalization -------------------------------------------------------------------------
def batch_norm(
    x: Tensor,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Tensor,
    bias: Tensor,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over every axis but the last (channels-last).

    Training: normalize with the batch's statistics and update the running ones in place,
    running = (1 - momentum) * running + momentum * batch (unbiased variance), as PyTorch.
    Eval: normalize with the running statistics.
    """
    channels = weight.shape[0]
    if x.shape[-1] != channels:
        raise ShapeError(
            f"batch_norm expects {channels} channels in the last axis; {NHWC_HINT}; got shape {x.shape}"
        )
    if training:
        y, mean, var, backward = batch_norm_train_forward(x.data, weight.data, bias.data, eps)
        if running_mean is not None:
            rows = x.data.size // channels
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * rows / max(rows - 1, 1)
        return record(_wrap(y), (x, weight, bias), backward, "BatchNormTrain", epsilon=eps)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm in eval mode needs running_mean and running_var")
    inv_std = 1.0 / np.sqrt(running_var + eps)
    scale = (weight.data * inv_std).astype(x.dtype)
    out = _wrap(x.data * scale + (bias.data - running_mean * scale).astype(x.dtype))

    def eval_backward(g: np.ndarray) -> tuple[np.ndarray, ...]:
        g2 = g.reshape(-1, channels)
        x_hat = (x.data.reshape(-1, channels) - running_mean) * inv_std
        return g * scale, (g2 * x_hat).sum(axis=0), g2.sum(axis=0)

    return record(
        out,
        (x, weight, bias),
        eval_backward,
        "BatchNormalization",
        epsilon=eps,
        mean=running_mean.copy(),
        var=running_var.copy(),
    )


# -- pooling -------------------------------------------------------------------------------
def _pool_args(x: Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, layer: str):
    if x.ndim != 4:
        raise ShapeError(f"{layer} expects a 4-D (N, H, W, C) input; {NHWC_HINT}; got shape {x.shape}")
    kernel = _pair(kernel_size)
    strides = kernel if stride is None else _pair(stride)
    ph, pw = _pair(padding)
    return kernel, strides, (ph, pw, ph, pw)


def max_pool2d(
    x: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """Max pooling on NHWC; `stride` defaults to the kernel size."""
    kernel, strides, pads = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    dilations = _pair(dilation)
    out = _wrap(pool.max_pool2d(x.data, kernel, strides, pads, dilations, ceil_mode))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (pool_grad.max_pool2d_grad(x.data, out.data, g, kernel, strides, pads, dilations),)

    spec = dict(kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode)
    return record(out, (x,), backward, "MaxPool", **spec)


def avg_pool2d(
    x: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Average pooling on NHWC; counts the zero padding by default, as PyTorch."""
    kernel, strides, pads = _pool_args(x, kernel_size, stride, padding, "avg_pool2d")
    prepared = pool.Pool2d(
        "avg", x.shape, kernel, strides, pads, (1, 1), ceil_mode, count_include_pad, x.dtype
    )
    out = _wrap(prepared.run(x.data, np.empty(prepared.out_shape, x.dtype)))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (pool_grad.avg_pool2d_grad(x.shape, g, kernel, strides, pads, prepared.divisor),)

    spec = dict(
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )
    return record(out, (x,), backward, "AveragePool", **spec)


def adaptive_avg_pool2d(x: Tensor, output_size: IntPair = 1) -> Tensor:
    """Average over H and W to (N, 1, 1, C); only output size 1 (global pooling) is supported."""
    if _pair(output_size) != (1, 1):
        raise ValueError(f"adaptive_avg_pool2d supports output_size=1 only, got {output_size}")
    if x.ndim != 4:
        raise ShapeError(
            f"adaptive_avg_pool2d expects a 4-D (N, H, W, C) input; {NHWC_HINT}; got shape {x.shape}"
        )
    out = _wrap(pool.global_avg_pool2d(x.data))
    return record(out, (x,), lambda g: (pool_grad.global_avg_pool2d_grad(x.shape, g),), "GlobalAveragePool")


# -- dropout -------------------------------------------------------------------------------
def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity in eval)."""
    if not training or p == 0.0:
        return x
    keep = (generator().random(x.shape) >= p).astype(x.dtype) / (1.0 - p)
    return record(_wrap(x.data * keep), (x,), lambda g: (g * keep,), "Dropout")


# -- losses --------------------------------------------------------------------------------
def _reduce(per_item: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    if reduction == "none":
        return per_item
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_targets(logits: Tensor, target: np.ndarray, loss: str) -> None:
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ShapeError(
            f"{loss} expects (N, C) scores and (N,) class indices, got {logits.shape} and {target.shape}"
        )


def _class_indices(target: Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    return np.asarray(target.data if isinstance(target, Tensor) else target).astype(np.int64)


def nll_loss(
    log_probs: Tensor, target: Tensor | np.ndarray, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """-log_probs[i, target[i]], averaged over the items whose target is not `ignore_index`."""
    return _weighted_class_loss(
        log_probs, _class_indices(target), 0.0, ignore_index, reduction, from_logits=False
    )


def cross_entropy(
    logits: Tensor,
    target: Tensor | np.ndarray,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """log_softmax + NLL, with PyTorch's label smoothing: the target distribution is
    (1 - s) * one_hot + s / C. Items whose target is `ignore_index` count for nothing."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return _weighted_class_loss(
        logits, _class_indices(target), label_smoothing, ignore_index, reduction, True
    )


def _weighted_class_loss(
    scores: Tensor, target: np.ndarray, smoothing: float, ignore_index: int, reduction: str, from_logits: bool
) -> Tensor:
    """Shared core of cross_entropy and nll_loss: per-item loss sum_c q_c * -logp_c, fused backward."""
    name = "cross_entropy" if from_logits else "nll_loss"
    _check_targets(scores, target, name)
    n, classes = scores.shape
    kept = target != ignore_index
    safe_target = np.where(kept, target, 0)
    if kept.any() and (safe_target.min() < 0 or safe_target.max() >= classes):
        raise ValueError(
            f"{name}: class indices must be in [0, {classes}), got {np.unique(target[kept]).tolist()}"
        )
    if from_logits:
        shifted = scores.data - scores.data.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    else:
        log_probs = scores.data
    q = np.full((n, classes), smoothing / classes, scores.dtype)
    q[np.arange(n), safe_target] += 1.0 - smoothing
    q *= kept[:, None]
    per_item = -(q * log_probs).sum(axis=1)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    weight = np.ones(n, scores.dtype)
    if reduction == "mean":
        weight /= max(int(kept.sum()), 1)
    value = per_item if reduction == "none" else (per_item * weight).sum()
    out = _wrap(np.asarray(value, scores.dtype))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        per_row = (g if reduction == "none" else g * weight)[:, None]
        if from_logits:  # d/dz of -sum_c q_c log softmax(z)_c = softmax(z) * sum_c q_c - q
            return (per_row * (np.exp(log_probs) * q.sum(axis=1, keepdims=True) - q),)
        return (-per_row * q,)

    return record(out, (scores,), backward, "CrossEntropy" if from_logits else "NLLLoss")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed stably from the logits."""
    x, t = logits.data, (target.data if isinstance(target, Tensor) else np.asarray(target, logits.dtype))
    if x.shape != t.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: logits {x.shape} and target {t.shape} differ")
    per_item = _wrap(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))
    record(per_item, (logits,), lambda g: (g * (act.sigmoid(x) - t),), "BCEWithLogits")
    return _reduce(per_item, reduction)
