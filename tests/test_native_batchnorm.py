"""Batch normalization in training mode in C (maku/csrc/batchnorm.c) equals the NumPy kernels
(maku.kernels.norm_grad), and training's float32 BatchNorm runs on it while float64 stays on NumPy.

References are float64 computations. Channel counts lie below, at and above the vector width
(4, 8 or 16 lanes) for the narrow path and the overlapping last block; row counts are below and
far above the kernel's float32 chunk (32 rows) and part sizes; large-mean inputs check that the
statistics are as precise as float64 sums allow.
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
from maku.kernels import norm_grad
from maku.nn import functional as F
from maku.nn import native_dispatch
from maku.tensor import Tensor

EPS = 1e-5
# (shape (..., C), mean and std of x)
CASES = [
    ((7, 1), 0.0, 1.0),
    ((2, 3, 3, 3), 0.0, 2.0),
    ((1, 5, 5, 8), 0.5, 1.0),
    ((3, 4, 5, 16), 0.0, 1.0),
    ((2, 7, 5, 17), -3.0, 0.5),
    ((4, 6, 6, 40), 0.0, 1.0),
    ((128, 8, 8, 16), 0.0, 3.0),  # 8192 rows: many chunks per part
    ((64, 16, 16, 17), 0.0, 1.0),
    ((32, 8, 8, 40), 0.0, 1.0),
    ((64, 16, 16, 3), 1000.0, 1.0),  # large means: float32 sums would lose ~1e-3 of the mean
    ((128, 8, 8, 40), -500.0, 0.25),
    ((16, 8, 8, 1), 1e4, 1.0),
]


def case_arrays(case, seed: int = 0) -> tuple[np.ndarray, ...]:
    shape, mean, std = case
    rng = np.random.default_rng(seed + shape[-1])
    c = shape[-1]
    x = (mean + std * rng.standard_normal(shape) * rng.uniform(0.5, 2.0, c)).astype(np.float32)
    gamma, beta = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    return x, gamma, beta, g


def run_native(x, gamma, beta, g, threads: int) -> tuple[np.ndarray, ...]:
    """(y, stats (mean, var, inv_std), dx, dgamma, dbeta) of the wrappers."""
    stats = np.full((3, x.shape[-1]), np.nan, np.float32)
    y = native.bind(kernels.batch_norm_train, x, gamma, beta, stats, eps=EPS, threads=threads)()
    param_grads = np.full((2, x.shape[-1]), np.nan, np.float32)
    dx = kernels.batch_norm_train_grad(g, x, stats, gamma, param_grads, threads=threads)
    return y, stats, dx, param_grads[0], param_grads[1]


def assert_close(got: np.ndarray, ref: np.ndarray, scale: np.ndarray, what: str, tol: float = 1e-5) -> None:
    """|got - ref| <= tol * scale per element; `scale` is the same sums over absolute values."""
    err = np.abs(got.astype(np.float64) - ref)
    worst = np.unravel_index(np.argmax(err - tol * scale), err.shape)
    assert err[worst] <= tol * scale[worst], (
        f"{what}: error {err[worst]:.3g} at {worst}, scale {scale[worst]:.3g}"
    )


def check_against_float64(x, gamma, beta, g, y, stats, dx, d_gamma, d_beta) -> None:
    """Statistics against exact float64 ones; outputs against float64 arithmetic from the kernel's
    own float32 mean and 1/std (an ulp of a large mean moves every centered value alike)."""
    c = x.shape[-1]
    x64, g64 = x.reshape(-1, c).astype(np.float64), g.reshape(-1, c).astype(np.float64)
    m = x64.shape[0]
    mean, var, inv_std = stats.astype(np.float64)
    assert_close(mean, x64.mean(0), np.abs(x64).mean(0), "mean", 1e-6)
    assert_close(var, x64.var(0), x64.var(0), "var")
    assert_close(inv_std, 1 / np.sqrt(var + EPS), inv_std, "inv_std", 1e-6)
    x_hat = (x64 - mean) * inv_std
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    assert_close(y.reshape(-1, c), x_hat * gamma64 + beta64, np.abs(x_hat * gamma64) + np.abs(beta64), "y")
    ref_beta, ref_gamma = g64.sum(0), (g64 * x_hat).sum(0)
    assert_close(d_beta, ref_beta, np.abs(g64).sum(0), "dbeta")
    abs_gamma = np.abs(g64 * x_hat).sum(0)
    assert_close(d_gamma, ref_gamma, abs_gamma, "dgamma")
    ref_dx = gamma64 * inv_std / m * (m * g64 - ref_beta - x_hat * ref_gamma)
    scale_dx = (
        np.abs(gamma64) * inv_std / m * (m * np.abs(g64) + np.abs(g64).sum(0) + np.abs(x_hat) * abs_gamma)
    )
    assert_close(dx.reshape(-1, c), ref_dx, scale_dx, "dx")


def check_against_numpy_kernels(x, gamma, beta, g, y, stats, dx, d_gamma, d_beta) -> None:
    """The same results as maku.kernels.norm_grad in float32 (inputs with small means, where
    an ulp of the mean is below the tolerance)."""
    ref_y, ref_mean, ref_var, centered, ref_inv_std = norm_grad.batch_norm_train(x, gamma, beta, EPS)
    ref_dx, ref_gamma, ref_beta = norm_grad.batch_norm_train_grad(g, centered, ref_inv_std, gamma)
    for what, got, ref in [
        ("y", y, ref_y),
        ("mean", stats[0], ref_mean),
        ("var", stats[1], ref_var),
        ("inv_std", stats[2], ref_inv_std),
        ("dx", dx, ref_dx),
        ("dgamma", d_gamma, ref_gamma),
        ("dbeta", d_beta, ref_beta),
    ]:
        assert got.shape == ref.shape and got.dtype == np.float32, what
        atol = 1e-5 * float(np.abs(ref).max())
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=atol, err_msg=what)


def run_case(case, threads: int) -> None:
    arrays = case_arrays(case)
    results = run_native(*arrays, threads)
    check_against_float64(*arrays, *results)
    if abs(case[1]) <= 10 * case[2]:
        check_against_numpy_kernels(*arrays, *results)


@needs_native
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-mean{c[1]:g}" for c in CASES])
def test_matches_numpy_and_float64(case, threads):
    run_case(case, threads)


@needs_native
def test_large_means_are_as_precise_as_float64_sums():
    """x = 1000 + N(0, 1) over 131072 rows: one sequential float32 sweep is 1.4e-3 off in the
    mean (22 ulps); the kernel's mean is within an ulp of the exact one."""
    rng = np.random.default_rng(5)
    x = (1000 + rng.standard_normal((128, 32, 32, 4))).astype(np.float32)
    stats = np.empty((3, 4), np.float32)
    kernels.batch_norm_train(x, np.ones(4, np.float32), np.zeros(4, np.float32), stats, threads=2)
    x64 = x.reshape(-1, 4).astype(np.float64)
    np.testing.assert_array_less(np.abs(stats[0] - x64.mean(0)), np.spacing(np.float32(1000)))
    np.testing.assert_allclose(stats[1], x64.var(0), rtol=1e-5)


@needs_native
def test_thread_counts():
    """y and dx are elementwise; with a given thread count every call gives the same bits, and
    other thread counts agree to rounding."""
    x, gamma, beta, g = case_arrays(((16, 12, 12, 24), 2.0, 1.0))
    one = run_native(x, gamma, beta, g, threads=1)
    for threads in (2, 3):
        first = run_native(x, gamma, beta, g, threads)
        for _ in range(10):
            for a, b in zip(run_native(x, gamma, beta, g, threads), first):
                np.testing.assert_array_equal(a, b)
        for a, b in zip(first, one):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@needs_native
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, p, s, g: kernels.batch_norm_train(x.astype(np.float64), p, p, s), "float32"),
        (lambda x, p, s, g: kernels.batch_norm_train(x, p[:3], p, s), "gamma has shape"),
        (lambda x, p, s, g: kernels.batch_norm_train(x, p, p, s[:2]), "stats has shape"),
        (lambda x, p, s, g: kernels.batch_norm_train(x[:, :, ::2], p, p, s), "non-contiguous"),
        (lambda x, p, s, g: kernels.batch_norm_train(x[:0], p, p, s), "non-empty"),
        (lambda x, p, s, g: kernels.batch_norm_train(x, p, p, s, out=x), "overlap"),
        (lambda x, p, s, g: kernels.batch_norm_train_grad(g[:1], x, s, p, s[:2]), "grad_out has shape"),
        (lambda x, p, s, g: kernels.batch_norm_train_grad(g, x, s, p, s[:1]), "param_grads has shape"),
        (lambda x, p, s, g: kernels.batch_norm_train_grad(g, x, s, p, s[:2], out=g), "overlap"),
    ],
)
def test_refuses_unsupported_cases(call, message):
    x, p = np.ones((2, 4, 4, 8), np.float32), np.ones(8, np.float32)
    s, g = np.ones((3, 8), np.float32), np.ones((2, 4, 4, 8), np.float32)
    with pytest.raises(BackendError, match=message):
        call(x, p, s, g)


def test_numpy_fallback_computes_the_same(monkeypatch):
    """Without the library the wrappers compute with maku.kernels.norm_grad."""
    monkeypatch.setattr(kernels, "library", lambda: None)
    for case in (CASES[1], CASES[4], CASES[9]):
        run_case(case, threads=1)


@needs_native
def test_portable_builds_match(portable_native_build):
    """The 4- and 8-lane code paths: C = 1 and 3 are narrow, 8 and 16 full blocks, 17 and 40 overlap."""
    for case in (CASES[0], CASES[1], CASES[3], CASES[4], CASES[8], CASES[9]):
        run_case(case, threads=2)


# -- training: maku.nn.BatchNorm2d -------------------------------------------------------------
def bn_net(dtype) -> nn.Module:
    maku.manual_seed(4)
    net = nn.Sequential(
        nn.Conv2d(3, 20, 3, padding=1, bias=False),  # a bias before BN has gradient 0 + rounding
        nn.BatchNorm2d(20),
        nn.ReLU(),
        nn.Conv2d(20, 17, 1, bias=False),
        nn.BatchNorm2d(17),
    )
    for p in net.parameters():
        p.data = p.data.astype(dtype)
    for name, buffer in net.named_buffers():
        buffer[...] = np.random.default_rng(len(name)).uniform(0.5, 1.5, buffer.shape)
    return net


def train_steps(net: nn.Module, x: np.ndarray, steps: int = 2) -> dict[str, np.ndarray]:
    """Loss, output, input and parameter gradients of the last of `steps` steps (the
    gradients accumulate), and the running statistics after them."""
    for _ in range(steps):
        inp = Tensor(x, requires_grad=True, dtype=x.dtype)
        y = net(inp)
        weights = np.random.default_rng(18).standard_normal(y.shape).astype(x.dtype)
        loss = (y * Tensor(weights, dtype=x.dtype)).sum()  # y * y would make the input gradient cancel
        loss.backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    buffers = {name: b.copy() for name, b in net.named_buffers()}
    return {"loss": loss.data, "y": y.data, "x": inp.grad, **grads, **buffers}


@pytest.fixture
def native_calls(monkeypatch) -> list[tuple[str, int]]:
    """Records (kernel, threads) of every native batch-norm call training makes."""
    return spy_on_kernels(monkeypatch, kernels, ("batch_norm_train", "batch_norm_train_grad"))


@needs_native
def test_training_float32_runs_native_and_matches_numpy(native_calls, monkeypatch):
    x = np.random.default_rng(15).standard_normal((6, 9, 9, 3)).astype(np.float32) + 2
    with training_threads(2):  # the native kernels follow the BLAS thread count
        got = train_steps(bn_net(np.float32), x)
    bn_layers = sum(isinstance(m, nn.BatchNorm2d) for m in bn_net(np.float32).modules())
    assert sorted(native_calls) == sorted(
        [("batch_norm_train", 2), ("batch_norm_train_grad", 2)] * 2 * bn_layers
    )
    monkeypatch.setattr(native_dispatch, "use_native_kernels", False)
    expected = train_steps(bn_net(np.float32), x)
    assert len(native_calls) == 4 * bn_layers  # the numpy path made no native call
    assert got.keys() == expected.keys()
    assert any("running_var" in key for key in got)
    for key, ref in expected.items():
        assert got[key].dtype == np.float32, key
        assert float(np.abs(got[key] - ref).max()) <= 1e-5 * float(np.abs(ref).max()), key


def test_training_float64_stays_on_numpy(native_calls):
    got = train_steps(bn_net(np.float64), np.random.default_rng(16).standard_normal((2, 6, 6, 3)))
    assert native_calls == []
    assert all(value.dtype == np.float64 for key, value in got.items() if "running" not in key)


def test_float64_gradcheck_stays_on_numpy(native_calls):
    """Central differences of the float64 forward against the backward, through the Tensor API."""
    rng = np.random.default_rng(17)
    arrays = [rng.standard_normal((3, 4, 4, 5)) + 3, rng.standard_normal(5), rng.standard_normal(5)]
    params = [Tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    r = rng.standard_normal((3, 4, 4, 5))

    def loss(*values) -> Tensor:
        return (
            F.batch_norm(*values[:1], None, None, *values[1:], training=True) * Tensor(r, dtype=np.float64)
        ).sum()

    loss(*params).backward()
    eps = 1e-6
    for k, p in enumerate(params):
        v = rng.standard_normal(p.shape)
        shifted = [
            [Tensor(a + (s * eps * v if i == k else 0.0), dtype=np.float64) for i, a in enumerate(arrays)]
            for s in (1, -1)
        ]
        numeric = (float(loss(*shifted[0]).data) - float(loss(*shifted[1]).data)) / (2 * eps)
        assert abs(float(np.sum(p.grad * v)) - numeric) <= 1e-6 * max(1.0, abs(numeric)), k
    assert native_calls == []
