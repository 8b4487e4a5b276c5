"""The native (C) kernels equal the numpy kernels of maku.kernels, computed in float64.

Shapes are odd on purpose: channel counts below, at and just above the vector width (4, 8
or 16 lanes) exercise the partial and overlapping channel blocks, widths with padding the
border paths, 3x3/5x5 the register-blocked interiors.
"""

from __future__ import annotations

import numpy as np
import pytest
from native_helpers import IN_CI, needs_native

from maku.backends import native
from maku.backends.native import build, loader
from maku.errors import BackendError
from maku.kernels.conv import conv2d

ACTIVATIONS = [
    (None, 0.0, 0.0),
    ("Relu", 0.0, 0.0),
    ("Clip", 0.0, 6.0),
    ("Clip", -0.5, 0.7),
    ("HardSigmoid", 0.2, 0.5),
    ("HardSwish", 0.0, 0.0),
    ("Sigmoid", 0.0, 0.0),
]

pytestmark = needs_native


@pytest.mark.skipif(not IN_CI, reason="CI only")
def test_native_kernels_build_in_ci():
    assert native.available(), "the native kernels must build in CI (is a C compiler installed?)"


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    """max abs error <= 1e-5 of the output's scale."""
    scale = max(float(np.abs(ref).max()), 1e-3)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    assert err <= 1e-5 * scale, f"max abs error {err:.3g} at output scale {scale:.3g}"


def reference_conv(x, w_hwio, bias, *, groups=1, residual=None, **kw) -> np.ndarray:
    def f64(a):
        return None if a is None else a.astype(np.float64)

    return conv2d(f64(x), f64(w_hwio), f64(bias), groups=groups, residual=f64(residual), **kw)


# (N, H, W, C, K, stride, pads (top, left, bottom, right), dilation)
DEPTHWISE_CASES = [
    (1, 9, 11, 16, 3, 1, (1, 1, 1, 1), 1),
    (2, 13, 10, 19, 3, 2, (1, 1, 1, 1), 1),
    (1, 12, 12, 40, 3, 2, (0, 0, 1, 1), 1),  # TF "SAME" style: pad only at the end
    (3, 7, 9, 5, 5, 1, (2, 2, 2, 2), 1),
    (1, 15, 14, 33, 5, 2, (2, 1, 2, 3), 1),
    (1, 10, 10, 24, 3, 1, (2, 2, 2, 2), 2),
    (1, 6, 8, 17, 3, 1, (0, 0, 0, 0), 1),
    (1, 5, 5, 8, 3, 1, (4, 3, 0, 5), 1),  # windows entirely in the padding
    (2, 11, 7, 3, 4, 3, (1, 2, 0, 1), 1),  # a kernel size without a fast path
]


@pytest.mark.parametrize("n, h, w, c, k, stride, pads, dil", DEPTHWISE_CASES)
def test_depthwise_geometry(n, h, w, c, k, stride, pads, dil):
    rng = np.random.default_rng(0)
    x, wt, b = rand(rng, n, h, w, c), rand(rng, k, k, c), rand(rng, c)
    geometry = dict(strides=(stride, stride), pads=pads, dilations=(dil, dil))
    got = native.depthwise_conv2d(x, wt, b, act="Clip", alpha=0.0, beta=6.0, **geometry)
    ref = reference_conv(
        x, wt[:, :, None, :], b, groups=c, activation="Clip", alpha=0.0, beta=6.0, **geometry
    )
    assert_close(got, ref)


@pytest.mark.parametrize("act, alpha, beta", ACTIVATIONS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_depthwise_activations(act, alpha, beta, with_bias):
    rng = np.random.default_rng(1)
    x, wt = rand(rng, 2, 8, 9, 21), rand(rng, 3, 3, 21)
    b = rand(rng, 21) if with_bias else None
    out = np.full((2, 4, 5, 21), np.nan, np.float32)
    geometry = dict(strides=(2, 2), pads=(1, 1, 1, 1))
    native.depthwise_conv2d(
        x, wt.reshape(3, 3, 1, 21), b, act=act, alpha=alpha, beta=beta, out=out, **geometry
    )
    ref = reference_conv(
        x, wt[:, :, None, :], b, groups=21, activation=act, alpha=alpha, beta=beta, **geometry
    )
    assert_close(out, ref)


# (M, K, N)
GEMM_SHAPES = [(1, 1, 1), (7, 3, 5), (13, 16, 33), (50, 37, 70), (200, 96, 24), (49, 320, 130)]


@pytest.mark.parametrize("m, k, n", GEMM_SHAPES)
@pytest.mark.parametrize("residual", ["none", "separate", "in_out"])
def test_pointwise_shapes_and_residual(m, k, n, residual):
    rng = np.random.default_rng(2)
    x, w, b, r = rand(rng, m, k), rand(rng, k, n), rand(rng, n), rand(rng, m, n)
    ref = reference_conv(
        x[None, :, None, :],
        w[None, None],
        b,
        activation="Relu",
        residual=None if residual == "none" else r[None, :, None, :],
    ).reshape(m, n)
    out = r.copy() if residual == "in_out" else np.empty((m, n), np.float32)
    res = {"none": None, "separate": r, "in_out": out}[residual]
    native.pointwise_conv(x, native.pack_gemm_weights(w), b, act="Relu", residual=res, out=out)
    assert_close(out, ref)


@pytest.mark.parametrize("act, alpha, beta", ACTIVATIONS)
def test_pointwise_activations(act, alpha, beta):
    rng = np.random.default_rng(3)
    x, w = rand(rng, 31, 24), rand(rng, 24, 45)
    got = native.pointwise_conv(x, w, None, act=act, alpha=alpha, beta=beta)
    ref = reference_conv(x[None, :, None, :], w[None, None], None, activation=act, alpha=alpha, beta=beta)
    assert_close(got, ref.reshape(31, 45))


# (N, H, W, Cin, Cout, K, stride, pads, dilation)
CONV_CASES = [
    (1, 32, 32, 3, 32, 3, 2, (0, 0, 1, 1), 1),  # MobileNetV2 stem, TF-style padding
    (2, 17, 15, 3, 16, 3, 2, (1, 1, 1, 1), 1),
    (1, 11, 13, 7, 9, 5, 1, (2, 2, 2, 2), 2),
    (1, 9, 9, 6, 20, 1, 2, (0, 0, 0, 0), 1),
    (3, 8, 10, 5, 40, 3, 1, (1, 0, 2, 1), 1),
]


@pytest.mark.parametrize("n, h, w, cin, cout, k, stride, pads, dil", CONV_CASES)
@pytest.mark.parametrize("with_residual", [False, True])
def test_conv2d_im2col(n, h, w, cin, cout, k, stride, pads, dil, with_residual):
    rng = np.random.default_rng(4)
    x, wt, b = rand(rng, n, h, w, cin), rand(rng, k, k, cin, cout), rand(rng, cout)
    geometry = dict(strides=(stride, stride), pads=pads, dilations=(dil, dil))
    ref_no_res = reference_conv(x, wt, b, activation="HardSwish", **geometry)
    r = rand(rng, *ref_no_res.shape) if with_residual else None
    ref = reference_conv(x, wt, b, activation="HardSwish", residual=r, **geometry)
    got = native.conv2d_im2col(x, native.pack_gemm_weights(wt), b, act="HardSwish", residual=r, **geometry)
    assert_close(got, ref)


@pytest.mark.parametrize("shape", [(1, 7, 7, 1280), (3, 5, 4, 19), (2, 1, 1, 3)])
def test_global_avg_pool(shape):
    x = rand(np.random.default_rng(5), *shape)
    out = native.global_avg_pool(x)
    assert out.shape == (shape[0], 1, 1, shape[3])
    assert_close(out, x.astype(np.float64).mean(axis=(1, 2), keepdims=True))


def test_threads_give_identical_results():
    rng = np.random.default_rng(6)
    x, wt, w1 = rand(rng, 2, 28, 28, 48), rand(rng, 3, 3, 48), rand(rng, 48, 72)
    runs = []
    for threads in (1, 2, 3):
        dw = native.depthwise_conv2d(x, wt, None, pads=(1, 1, 1, 1), act="Relu", threads=threads)
        pw = native.pointwise_conv(dw.reshape(-1, 48), w1, threads=threads)
        stem = native.conv2d_im2col(x, wt[:, :, :, None].repeat(8, 3).reshape(3, 3, 48, 8), threads=threads)
        runs.append((dw, pw, stem, native.global_avg_pool(x, threads=threads)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_thread_pool_under_many_small_calls():
    """Back-to-back calls with changing thread counts (workers spinning, sleeping, joining
    late, chunks taken over by the caller) all give the single-thread result."""
    rng = np.random.default_rng(9)
    x, w = rand(rng, 37, 20), native.pack_gemm_weights(rand(rng, 20, 50))
    expected = native.pointwise_conv(x, w, threads=1)
    out = np.empty_like(expected)
    calls = [native.bind(native.pointwise_conv, x, w, out=out, threads=t) for t in (2, 3, 4, 1)]
    for i in range(400):
        out[...] = np.nan
        calls[i % len(calls)]()
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, w: native.depthwise_conv2d(x.astype(np.float64), w), "float32"),
        (lambda x, w: native.depthwise_conv2d(x[:, :, ::2], w), "got a non-contiguous float32"),
        (lambda x, w: native.depthwise_conv2d(x, w[:, :, :3].copy()), "does not fit"),
        (lambda x, w: native.depthwise_conv2d(x, w, act="Elu"), "activation"),
        (lambda x, w: native.depthwise_conv2d(x, w, pads=(-1, 0, 0, 0)), "pads"),
        (lambda x, w: native.depthwise_conv2d(x, w, out=np.empty(3, np.float32)), "out has shape"),
        (lambda x, w: native.depthwise_conv2d(x[:, :2, :2].copy(), w), "empty output"),
        (lambda x, w: native.conv2d_im2col(x, np.ones((3, 3, 2, 4), np.float32)), "groups=1"),
        (lambda x, w: native.pointwise_conv(x.reshape(-1, 8), np.ones((4, 4), np.float32)), "does not fit"),
        (
            lambda x, w: native.pointwise_conv(
                x.reshape(-1, 8), np.ones((8, 4), np.float32), np.ones(3, np.float32)
            ),
            "bias",
        ),
    ],
)
def test_refuses_unsupported_cases(call, message):
    x, w = np.ones((1, 6, 6, 8), np.float32), np.ones((3, 3, 8), np.float32)
    with pytest.raises(BackendError, match=message):
        call(x, w)


@pytest.fixture
def fresh_library():
    """Forget the loaded library before and after the test, so each sees its own environment."""
    loader.library.cache_clear()
    yield
    loader.library.cache_clear()


def test_falls_back_to_numpy_with_one_warning(fresh_library, monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("MAKU_CACHE_DIR", str(tmp_path))
    with pytest.warns(native.NativeKernelsUnavailable, match="no C compiler found.*numpy kernels") as record:
        assert not native.available()
        assert not native.available()
    assert len(record) == 1
    rng = np.random.default_rng(7)
    x, wt, w1, b = rand(rng, 1, 9, 9, 6), rand(rng, 3, 3, 6), rand(rng, 6, 10), rand(rng, 6)
    geometry = dict(strides=(2, 2), pads=(1, 1, 1, 1))
    got = native.depthwise_conv2d(x, wt, b, act="Relu", **geometry)
    assert_close(got, reference_conv(x, wt[:, :, None, :], b, groups=6, activation="Relu", **geometry))
    packed = native.pack_gemm_weights(w1)
    assert not packed.packed
    out = rand(rng, 25, 10)
    expected = reference_conv(
        got.reshape(1, 25, 1, 6), w1[None, None], None, residual=out.reshape(1, 25, 1, 10)
    )
    native.pointwise_conv(got.reshape(25, 6), packed, residual=out, out=out)
    assert_close(out, expected.reshape(25, 10))
    assert_close(native.global_avg_pool(x), x.astype(np.float64).mean(axis=(1, 2), keepdims=True))


def test_disabled_by_environment_without_warning(fresh_library, monkeypatch, recwarn):
    monkeypatch.setenv("MAKU_NATIVE", "0")
    assert not native.available()
    assert not [w for w in recwarn if issubclass(w.category, native.NativeKernelsUnavailable)]


def test_compile_error_is_one_line(monkeypatch, tmp_path):
    source = tmp_path / "csrc"
    source.mkdir()
    for name in build.HOST_SOURCES:
        (source / name).write_text("this is not C;\n")
    monkeypatch.setattr(build, "SOURCE_DIR", source)
    monkeypatch.setenv("MAKU_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(BackendError, match="compiling the native kernels .* failed: .*error") as info:
        build.build_library()
    assert "\n" not in str(info.value)


def test_portable_builds_match(portable_native_build):
    """The 4- and 8-lane code paths (SSE, AVX2; wasm SIMD128 and NEON are 4 lanes too)."""
    test_depthwise_geometry(*DEPTHWISE_CASES[1])
    test_depthwise_geometry(*DEPTHWISE_CASES[4])
    test_pointwise_shapes_and_residual(50, 37, 70, "in_out")
    test_conv2d_im2col(*CONV_CASES[0], with_residual=True)
    test_global_avg_pool((3, 5, 4, 19))


def test_bound_call_reruns_on_new_contents():
    rng = np.random.default_rng(8)
    x, wt, w1 = rand(rng, 1, 10, 10, 24), rand(rng, 3, 3, 24), rand(rng, 24, 40)
    y, z = np.empty((1, 10, 10, 24), np.float32), np.empty((100, 40), np.float32)
    dw = native.bind(native.depthwise_conv2d, x, wt, None, pads=(1, 1, 1, 1), act="Relu", out=y)
    pw = native.bind(native.pointwise_conv, y.reshape(100, 24), native.pack_gemm_weights(w1), out=z)
    for _ in range(2):
        x[...] = rand(rng, *x.shape)
        assert dw() is y and pw() is z
        assert_close(
            y, reference_conv(x, wt[:, :, None, :], None, groups=24, pads=(1, 1, 1, 1), activation="Relu")
        )
        assert_close(z, y.reshape(100, 24).astype(np.float64) @ w1)


def test_bind_refuses_other_functions():
    with pytest.raises(BackendError, match="not a native kernel"):
        native.bind(np.add, 1, 2)
