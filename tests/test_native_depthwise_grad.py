"""The depthwise backward in C (maku/csrc/depthwise_grad.c) equals the NumPy conv2d_grad, and
training's float32 depthwise convs run on it while float64 stays on NumPy.

The reference is maku.kernels.conv_grad.conv2d_grad in float64 on the same float32 data. Channel
counts lie below, at and above the vector width (4, 8 or 16 lanes) for the narrow path and the
overlapping last block; odd pads and strides reach the border and phase logic.
"""

from __future__ import annotations

import numpy as np
import pytest
from native_helpers import needs_native, spy_on_kernels, training_threads

import maku
from maku import nn
from maku.backends import native
from maku.backends.native import kernels
from maku.errors import BackendError
from maku.kernels.conv_grad import conv2d_grad
from maku.nn import functional as F
from maku.nn import native_dispatch
from maku.tensor import Tensor

# (N, H, W, C, kernel, strides, pads (top, left, bottom, right), dilation)
CASES = [
    (1, 9, 11, 1, (3, 3), (1, 1), (1, 1, 1, 1), 1),
    (3, 8, 7, 3, (3, 3), (2, 2), (1, 1, 1, 1), 1),
    (1, 10, 9, 8, (5, 5), (1, 1), (2, 2, 2, 2), 1),
    (3, 12, 10, 16, (3, 3), (2, 1), (0, 1, 2, 1), 1),
    (1, 11, 13, 17, (1, 3), (1, 1), (0, 1, 0, 1), 1),
    (3, 9, 9, 40, (3, 3), (1, 1), (2, 2, 2, 2), 2),
    (1, 13, 12, 17, (5, 5), (2, 2), (2, 1, 2, 3), 1),
    (3, 7, 9, 40, (3, 3), (2, 2), (0, 0, 1, 1), 1),  # TF "SAME" style: pad only at the end
    (1, 8, 10, 3, (1, 3), (2, 1), (1, 0, 0, 2), 2),
    (3, 10, 10, 16, (5, 5), (2, 1), (4, 2, 1, 3), 2),
    (1, 5, 5, 8, (3, 3), (1, 1), (4, 3, 0, 5), 1),  # windows entirely in the padding
    (1, 9, 8, 40, (3, 3), (2, 2), (1, 1, 1, 1), 2),
    (2, 16, 16, 48, (3, 3), (1, 1), (1, 1, 1, 1), 1),  # a MobileNet layer
]


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def reference_grads(x, w, g, geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw (KH, KW, C), db) of conv2d_grad in float64."""
    f64 = [a.astype(np.float64) for a in (x, w[:, :, None, :], g)]
    dx, dw, db = conv2d_grad(*f64, groups=x.shape[3], **geometry)
    return dx, dw[:, :, 0, :], db


def assert_close(got: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> None:
    """|got - ref| <= 1e-5 * scale per element, `scale` being the same sums over absolute values:
    float32 rounding grows with them, and cancellation in `ref` does not shrink them. Where no
    term contributes (scale 0) the result must be exactly 0."""
    err = np.abs(got.astype(np.float64) - ref)
    worst = np.unravel_index(np.argmax(err - 1e-5 * scale), err.shape)
    assert err[worst] <= 1e-5 * scale[worst], f"error {err[worst]:.3g} at {worst}, scale {scale[worst]:.3g}"


def run_case(case, threads: int) -> None:
    n, h, w, c, kernel, strides, pads, dil = case
    rng = np.random.default_rng(c + h)
    geometry = dict(strides=strides, pads=pads, dilations=(dil, dil))
    x, wt = rand(rng, n, h, w, c), rand(rng, *kernel, c)
    g = rand(rng, *native.depthwise_conv2d(x, wt, **geometry).shape)
    db = np.full(c, np.nan, np.float32)
    dx = native.depthwise_conv2d_grad_input(g, wt, x.shape, **geometry, threads=threads)
    dw = native.depthwise_conv2d_grad_weight(x, g, kernel, **geometry, bias_out=db, threads=threads)
    refs = reference_grads(x, wt, g, geometry)
    scales = reference_grads(np.abs(x), np.abs(wt), np.abs(g), geometry)
    for got, ref, scale in zip((dx, dw, db), refs, scales):
        assert got.shape == ref.shape
        assert_close(got, ref, scale)


@needs_native
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES)
def test_matches_numpy_conv2d_grad(case, threads):
    run_case(case, threads)


# (N, H, W, C, kernel, stride, padding, dilation) of maku.nn.functional.conv2d
TENSOR_CASES = [
    (3, 9, 8, 17, (3, 3), (2, 1), (1, 1), 1),
    (1, 11, 10, 40, (5, 5), (2, 2), (2, 2), 1),
    (2, 9, 9, 16, (3, 3), (1, 1), (2, 2), 2),
    (1, 8, 9, 3, (1, 3), (2, 1), (0, 1), 1),
]


@needs_native
@pytest.mark.parametrize("case", TENSOR_CASES)
def test_tensor_gradients_match_float64_finite_differences(case):
    """Gradients of a float32 depthwise conv through the Tensor API (the native path) against
    central differences of the float64 forward along random directions; the loss is linear in
    each input, so the differences are exact up to float64 rounding."""
    n, h, w, c, kernel, stride, padding, dil = case
    rng = np.random.default_rng(11)
    arrays = [rand(rng, n, h, w, c), rand(rng, *kernel, 1, c), rand(rng, c)]
    spec = dict(stride=stride, padding=padding, dilation=dil, groups=c)
    params = [Tensor(a, requires_grad=True) for a in arrays]
    y = F.conv2d(*params, **spec)
    r = rng.standard_normal(y.shape)
    (y * Tensor(r.astype(np.float32))).sum().backward()

    def loss64(*values: np.ndarray) -> float:
        return float((F.conv2d(*(Tensor(v, dtype=np.float64) for v in values), **spec).data * r).sum())

    eps = 1e-3
    for k, p in enumerate(params):
        v = rng.standard_normal(p.shape)
        plus = [a.astype(np.float64) + (eps * v if i == k else 0.0) for i, a in enumerate(arrays)]
        minus = [a.astype(np.float64) - (eps * v if i == k else 0.0) for i, a in enumerate(arrays)]
        numeric = (loss64(*plus) - loss64(*minus)) / (2 * eps)
        analytic = float(np.sum(p.grad.astype(np.float64) * v))
        assert abs(analytic - numeric) <= 1e-5 * float(np.sum(np.abs(p.grad * v))), (k, analytic, numeric)


@needs_native
def test_thread_counts():
    """dx is the same for any thread count (each element is summed by one thread); dw and db
    are the same on every call with a given thread count (parts are added in a fixed order)."""
    rng = np.random.default_rng(12)
    x, wt, g = rand(rng, 4, 20, 20, 24), rand(rng, 3, 3, 24), rand(rng, 4, 20, 20, 24)
    geometry = dict(strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1))
    dx1 = native.depthwise_conv2d_grad_input(g, wt, x.shape, **geometry, threads=1)
    db = np.empty(24, np.float32)
    for threads in (2, 3):
        np.testing.assert_array_equal(
            native.depthwise_conv2d_grad_input(g, wt, x.shape, **geometry, threads=threads), dx1
        )
        run = native.bind(
            native.depthwise_conv2d_grad_weight, x, g, (3, 3), **geometry, bias_out=db, threads=threads
        )
        dw_first, db_first = run().copy(), db.copy()
        for _ in range(20):
            db[...] = np.nan
            np.testing.assert_array_equal(run(), dw_first)
            np.testing.assert_array_equal(db, db_first)


@needs_native
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, w, g: native.depthwise_conv2d_grad_input(g, w, (1, 6, 6, 9)), "does not fit"),
        (lambda x, w, g: native.depthwise_conv2d_grad_input(g[:, :3], w, x.shape), "grad_out has shape"),
        (lambda x, w, g: native.depthwise_conv2d_grad_input(g.astype(np.float64), w, x.shape), "float32"),
        (lambda x, w, g: native.depthwise_conv2d_grad_weight(x, g, (5, 5)), "grad_out has shape"),
        (lambda x, w, g: native.depthwise_conv2d_grad_weight(x, g, (0, 3)), "kernel sizes"),
        (lambda x, w, g: native.depthwise_conv2d_grad_weight(x[:, :, ::2], g, (3, 3)), "non-contiguous"),
        (
            lambda x, w, g: native.depthwise_conv2d_grad_weight(
                x, g, (3, 3), bias_out=np.empty(3, np.float32)
            ),
            "bias_out",
        ),
    ],
)
def test_refuses_unsupported_cases(call, message):
    x, w = np.ones((1, 6, 6, 8), np.float32), np.ones((3, 3, 8), np.float32)
    g = np.ones((1, 4, 4, 8), np.float32)
    with pytest.raises(BackendError, match=message):
        call(x, w, g)


def test_numpy_fallback_computes_the_same(monkeypatch):
    """Without the library the wrappers compute with maku.kernels.conv_grad."""
    monkeypatch.setattr(kernels, "library", lambda: None)
    for case in (CASES[1], CASES[6]):
        run_case(case, threads=1)


@needs_native
def test_portable_builds_match(portable_native_build):
    """The 4- and 8-lane code paths: C = 3 is narrow, 8 a full block, 17 and 40 overlap."""
    for case in (CASES[1], CASES[2], CASES[4], CASES[7]):
        run_case(case, threads=2)


# -- training: maku.nn.Conv2d -----------------------------------------------------------------
def depthwise_net(dtype) -> nn.Module:
    maku.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(24, 24, 3, padding=1, groups=24),
        nn.ReLU(),
        nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24, bias=False),
    )
    for p in net.parameters():
        p.data = p.data.astype(dtype)
    return net


def train_step(net: nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """Loss, output and parameter gradients of one step on input `x`."""
    inp = Tensor(x, requires_grad=True, dtype=x.dtype)
    y = net(inp)
    loss = (y * y).sum()
    loss.backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    return {"loss": loss.data, "y": y.data, "x": inp.grad, **grads}


@pytest.fixture
def native_calls(monkeypatch) -> list[tuple[str, int]]:
    """Records (kernel, threads) of every native depthwise call training makes."""
    return spy_on_kernels(monkeypatch, native, ("depthwise_conv2d", "depthwise_conv2d_grad_input", "depthwise_conv2d_grad_weight"))


@needs_native
def test_training_float32_runs_native_and_matches_numpy(native_calls, monkeypatch):
    x = rand(np.random.default_rng(13), 3, 10, 10, 24)
    with training_threads(2):  # the native kernels follow the BLAS thread count
        got = train_step(depthwise_net(np.float32), x)
    assert sorted(native_calls) == sorted(
        [
            (name, 2)
            for name in ("depthwise_conv2d", "depthwise_conv2d_grad_input", "depthwise_conv2d_grad_weight")
        ]
        * 2
    )
    monkeypatch.setattr(native_dispatch, "use_native_kernels", False)
    expected = train_step(depthwise_net(np.float32), x)
    assert len(native_calls) == 6  # the numpy path made no native call
    assert got.keys() == expected.keys()
    for key, ref in expected.items():
        assert got[key].dtype == np.float32
        assert float(np.abs(got[key] - ref).max()) <= 1e-5 * float(np.abs(ref).max()), key


def test_training_float64_stays_on_numpy(native_calls):
    got = train_step(depthwise_net(np.float64), np.random.default_rng(14).standard_normal((2, 8, 8, 24)))
    assert native_calls == []
    assert all(value.dtype == np.float64 for value in got.values())
