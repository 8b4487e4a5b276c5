"""maku.kernels.pool against ONNX Runtime's MaxPool / AveragePool / GlobalAveragePool."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ort_helpers import assert_close, nchw_to_nhwc, nhwc_to_nchw, run_node

from maku.kernels.pool import Pool2d, avg_pool2d, global_avg_pool2d, max_pool2d

# (N, H, W, C, kernel, strides, pads, ceil_mode)
CASES = [
    (1, 8, 8, 3, (2, 2), (2, 2), (0, 0, 0, 0), False),
    (2, 7, 9, 4, (3, 3), (2, 2), (1, 1, 1, 1), False),
    (2, 7, 9, 4, (3, 3), (2, 2), (1, 1, 1, 1), True),
    (1, 6, 6, 2, (3, 3), (2, 2), (0, 0, 0, 0), True),
    (1, 5, 8, 2, (2, 3), (2, 3), (1, 0, 0, 2), True),
    (1, 10, 11, 3, (3, 2), (3, 2), (0, 1, 2, 1), True),
    (3, 5, 5, 1, (5, 5), (1, 1), (2, 2, 2, 2), False),
    (1, 9, 9, 2, (3, 3), (1, 2), (1, 0, 1, 1), True),
    (1, 4, 4, 2, (2, 2), (3, 3), (1, 1, 1, 1), True),
]


def nhwc_input(n, h, w, c, seed=0):
    return np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32)


@pytest.mark.parametrize("n,h,w,c,kernel,strides,pads,ceil", CASES)
@pytest.mark.parametrize("dilations", [(1, 1), (2, 1)])
def test_max_pool2d_matches_onnxruntime(n, h, w, c, kernel, strides, pads, ceil, dilations):
    x = nhwc_input(n, h, w, c)
    attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=list(pads), dilations=list(dilations))
    (expected,) = run_node("MaxPool", {"X": nhwc_to_nchw(x)}, ceil_mode=int(ceil), **attrs)
    assert_close(max_pool2d(x, kernel, strides, pads, dilations, ceil), nchw_to_nhwc(expected))


@pytest.mark.parametrize("n,h,w,c,kernel,strides,pads,ceil", CASES)
@pytest.mark.parametrize("include_pad", [False, True])
def test_avg_pool2d_matches_onnxruntime(n, h, w, c, kernel, strides, pads, ceil, include_pad):
    x = nhwc_input(n, h, w, c)
    attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=list(pads), ceil_mode=int(ceil))
    (expected,) = run_node("AveragePool", {"X": nhwc_to_nchw(x)}, count_include_pad=int(include_pad), **attrs)
    got = avg_pool2d(x, kernel, strides, pads, ceil_mode=ceil, count_include_pad=include_pad)
    assert_close(got, nchw_to_nhwc(expected))


@pytest.mark.parametrize("shape", [(1, 7, 7, 16), (3, 5, 9, 2), (2, 1, 1, 4)])
def test_global_avg_pool2d_matches_onnxruntime(shape):
    x = nhwc_input(*shape)
    out = np.empty((shape[0], 1, 1, shape[3]), np.float32)
    assert global_avg_pool2d(x, out=out) is out
    (expected,) = run_node("GlobalAveragePool", {"X": nhwc_to_nchw(x)})
    assert_close(out, nchw_to_nhwc(expected))


def test_prepared_pool_reuses_buffers_and_checks_shapes():
    pool = Pool2d("max", (1, 6, 6, 2), (3, 3), (2, 2), (1, 1, 1, 1))
    out = np.empty(pool.out_shape, np.float32)
    for seed in range(2):
        x = nhwc_input(1, 6, 6, 2, seed)
        assert_close(pool.run(x, out), max_pool2d(x, (3, 3), (2, 2), (1, 1, 1, 1)))
    with pytest.raises(ValueError, match="prepared for"):
        pool.run(nhwc_input(1, 5, 6, 2), out)
    with pytest.raises(ValueError, match="kind"):
        Pool2d("min", (1, 6, 6, 2), (3, 3), (2, 2), (1, 1, 1, 1))


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["MaxPool", "AveragePool"]),
    hw=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad_fractions=st.tuples(*[st.floats(0, 0.99)] * 4),
    ceil=st.booleans(),
    include_pad=st.booleans(),
)
def test_pools_random_shapes(kind, hw, kernel, strides, pad_fractions, ceil, include_pad):
    pads = tuple(int(f * kernel[i % 2]) for i, f in enumerate(pad_fractions))  # ONNX: pad < kernel
    if any(size + pads[i] + pads[i + 2] < kernel[i] for i, size in enumerate(hw)):
        return
    x = nhwc_input(2, *hw, 3)
    attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=list(pads), ceil_mode=int(ceil))
    if kind == "MaxPool":
        got = max_pool2d(x, kernel, strides, pads, ceil_mode=ceil)
    else:
        attrs["count_include_pad"] = int(include_pad)
        got = avg_pool2d(x, kernel, strides, pads, ceil_mode=ceil, count_include_pad=include_pad)
    (expected,) = run_node(kind, {"X": nhwc_to_nchw(x)}, **attrs)
    assert_close(got, nchw_to_nhwc(expected))
