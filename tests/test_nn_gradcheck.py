"""Float64 finite-difference gradcheck of every layer function in maku.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest

from maku.autograd import gradcheck
from maku.nn import functional as F
from maku.tensor import Tensor


def t(*shape: int, seed: int = 0, scale: float = 1.0, positive: bool = False) -> Tensor:
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return Tensor(np.abs(data) + 0.1 if positive else data, requires_grad=True, dtype=np.float64)


# (name, kwargs) of conv configurations: strided, padded (asymmetric via "same"), dilated,
# grouped, depthwise, pointwise
CONV_CASES = [
    ("plain3x3", dict(cin=3, cout=4, k=3)),
    ("padded", dict(cin=3, cout=4, k=3, padding=1)),
    ("strided_padded", dict(cin=2, cout=3, k=3, stride=2, padding=1)),
    ("same_stride2", dict(cin=2, cout=3, k=3, stride=2, padding="same")),
    ("dilated", dict(cin=2, cout=2, k=3, dilation=2, padding=2)),
    ("grouped", dict(cin=4, cout=6, k=3, groups=2, padding=1)),
    ("depthwise", dict(cin=4, cout=4, k=3, groups=4, padding=1)),
    ("depthwise_strided", dict(cin=3, cout=3, k=3, groups=3, stride=2, padding=1)),
    ("pointwise", dict(cin=5, cout=3, k=1)),
    ("pointwise_strided", dict(cin=3, cout=2, k=1, stride=2)),
    ("rect_kernel", dict(cin=2, cout=2, k=(1, 3), padding=(0, 1))),
]


@pytest.mark.parametrize("name,case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv2d_gradcheck(name: str, case: dict) -> None:
    k = case["k"] if isinstance(case["k"], tuple) else (case["k"], case["k"])
    groups = case.get("groups", 1)
    x = t(2, 6, 5, case["cin"], seed=1)
    w = t(*k, case["cin"] // groups, case["cout"], seed=2)
    b = t(case["cout"], seed=3)
    spec = {key: case[key] for key in ("stride", "padding", "dilation", "groups") if key in case}
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, **spec), [x, w, b])


def test_batch_norm_training_gradcheck() -> None:
    x, gamma, beta = t(3, 2, 2, 4, seed=1), t(4, seed=2, positive=True), t(4, seed=3)
    running_mean, running_var = np.zeros(4), np.ones(4)
    gradcheck(
        lambda x, g, b: F.batch_norm(x, running_mean, running_var, g, b, training=True), [x, gamma, beta]
    )


def test_batch_norm_eval_gradcheck() -> None:
    x, gamma, beta = t(3, 2, 4, seed=1), t(4, seed=2, positive=True), t(4, seed=3)
    mean, var = np.linspace(-1, 1, 4), np.linspace(0.5, 2, 4)
    gradcheck(lambda x, g, b: F.batch_norm(x, mean, var, g, b, training=False), [x, gamma, beta])


def test_batch_norm_1d_gradcheck() -> None:
    x, gamma, beta = t(5, 3, seed=1), t(3, seed=2, positive=True), t(3, seed=3)
    gradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), [x, gamma, beta])


def test_linear_gradcheck() -> None:
    gradcheck(F.linear, [t(4, 3, seed=1), t(2, 3, seed=2), t(2, seed=3)])
    gradcheck(F.linear, [t(2, 4, 3, seed=1), t(2, 3, seed=2), t(2, seed=3)])  # leading batch dims


# Inputs are kept away from the kinks (0 for ReLU, 0/6 for ReLU6, +-3 for the hard ones), where
# finite differences are meaningless.
def away_from(points: list[float], *shape: int) -> Tensor:
    x = t(*shape, seed=4, scale=4.0)
    for p in points:
        near = np.abs(x.data - p) < 0.05
        x.data[near] += 0.1
    return x


ACTIVATIONS = [
    ("relu", F.relu, [0.0]),
    ("relu6", F.relu6, [0.0, 6.0]),
    ("sigmoid", F.sigmoid, []),
    ("hardsigmoid", F.hardsigmoid, [-3.0, 3.0]),
    ("hardswish", F.hardswish, [-3.0, 3.0]),
    ("gelu", F.gelu, []),
    ("softmax", lambda x: F.softmax(x, -1), []),
    ("softmax_axis0", lambda x: F.softmax(x, 0), []),
    ("log_softmax", lambda x: F.log_softmax(x, -1), []),
]


@pytest.mark.parametrize("name,fn,kinks", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_gradcheck(name: str, fn, kinks: list[float]) -> None:
    gradcheck(fn, [away_from(kinks, 3, 5)])


POOLS = [
    ("max2x2", lambda x: F.max_pool2d(x, 2)),
    ("max3x3_s2_p1", lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("max_ceil", lambda x: F.max_pool2d(x, 2, 2, 0, ceil_mode=True)),
    ("avg2x2", lambda x: F.avg_pool2d(x, 2)),
    ("avg3x3_s2_p1", lambda x: F.avg_pool2d(x, 3, 2, 1)),
    ("avg3x3_exclude_pad", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    ("avg_ceil", lambda x: F.avg_pool2d(x, 2, 2, 0, ceil_mode=True)),
    ("global", lambda x: F.adaptive_avg_pool2d(x, 1)),
]


@pytest.mark.parametrize("name,fn", POOLS, ids=[p[0] for p in POOLS])
def test_pool_gradcheck(name: str, fn) -> None:
    gradcheck(fn, [t(2, 5, 5, 3, seed=5)])  # distinct values: no ties in the max


def test_dropout_gradcheck_uses_one_mask() -> None:
    from maku.rng import manual_seed

    def fn(x: Tensor) -> Tensor:
        manual_seed(7)  # the same mask for every evaluation
        return F.dropout(x, 0.3, training=True)

    gradcheck(fn, [t(4, 6)])


LOSSES = [
    ("cross_entropy", lambda x: F.cross_entropy(x, np.array([0, 2, 1, 2]))),
    ("cross_entropy_smoothing", lambda x: F.cross_entropy(x, np.array([0, 2, 1, 2]), label_smoothing=0.2)),
    ("cross_entropy_ignore", lambda x: F.cross_entropy(x, np.array([0, -100, 1, 2]))),
    ("cross_entropy_sum", lambda x: F.cross_entropy(x, np.array([0, 2, 1, 2]), reduction="sum")),
    ("cross_entropy_none", lambda x: F.cross_entropy(x, np.array([0, 2, 1, 2]), reduction="none")),
    ("nll", lambda x: F.nll_loss(F.log_softmax(x), np.array([1, 0, 2, 2]), ignore_index=0)),
    ("mse", lambda x: F.mse_loss(x, Tensor(np.ones((4, 3)), dtype=np.float64))),
    ("l1", lambda x: F.l1_loss(x, Tensor(np.full((4, 3), 0.05), dtype=np.float64))),
    (
        "bce_with_logits",
        lambda x: F.binary_cross_entropy_with_logits(
            x, Tensor((np.arange(12).reshape(4, 3) % 2) * 1.0, dtype=np.float64)
        ),
    ),
]


@pytest.mark.parametrize("name,fn", LOSSES, ids=[loss[0] for loss in LOSSES])
def test_loss_gradcheck(name: str, fn) -> None:
    gradcheck(fn, [t(4, 3, seed=6)])
