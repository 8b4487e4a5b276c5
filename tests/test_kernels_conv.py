"""maku.kernels.conv against ONNX Runtime's Conv (NCHW/OIHW there, NHWC/HWIO here)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ort_helpers import (
    ACTIVATIONS,
    assert_close,
    nchw_to_nhwc,
    nhwc_to_nchw,
    oihw_to_hwio,
    ort_activation,
    run_node,
)

from maku.kernels.conv import Conv2d, conv2d, conv2d_output_shape, same_pads


def ort_conv(x, w_oihw, bias, strides, pads, dilations, groups) -> np.ndarray:
    """ONNX Runtime's Conv on NHWC input, returned as NHWC."""
    inputs = {"X": nhwc_to_nchw(x), "W": w_oihw}
    if bias is not None:
        inputs["B"] = bias
    y = run_node(
        "Conv", inputs, strides=list(strides), pads=list(pads), dilations=list(dilations), group=groups
    )
    return nchw_to_nhwc(y[0])


def random_conv(rng, n, cin, h, w, cout, k, groups, with_bias=True):
    """Random NHWC input, OIHW weight and bias for a conv."""
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    w_oihw = rng.standard_normal((cout, cin // groups, *k), dtype=np.float32)
    bias = rng.standard_normal(cout, dtype=np.float32) if with_bias else None
    return x, w_oihw, bias


# (N, Cin, H, W, Cout, kernel, strides, pads, dilations, groups, expected path)
CASES = [
    (2, 8, 5, 7, 16, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, "gemm"),
    (1, 8, 7, 7, 4, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1, "im2col"),
    (1, 4, 6, 6, 4, (1, 1), (1, 1), (1, 0, 0, 1), (1, 1), 1, "im2col"),
    (2, 3, 9, 7, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, "im2col"),
    (1, 3, 11, 11, 8, (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 1, "im2col"),
    (1, 5, 13, 10, 6, (5, 5), (2, 1), (2, 2, 2, 2), (1, 1), 1, "im2col"),
    (2, 4, 9, 9, 3, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, "im2col"),
    (1, 3, 15, 15, 8, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, "im2col"),
    (1, 2, 5, 6, 3, (3, 2), (1, 2), (0, 0, 0, 0), (1, 1), 1, "im2col"),
    (3, 6, 9, 9, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6, "depthwise_rows"),
    (1, 8, 11, 11, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 8, "depthwise"),
    (1, 8, 12, 12, 8, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1), 8, "depthwise"),
    (2, 5, 10, 9, 5, (5, 5), (1, 2), (2, 1, 2, 3), (1, 1), 5, "depthwise"),
    (1, 4, 9, 9, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 4, "depthwise_rows"),
    (1, 4, 7, 7, 4, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 4, "depthwise_rows"),
    (2, 6, 10, 8, 6, (3, 5), (2, 1), (1, 2, 0, 2), (1, 2), 6, "depthwise_rows"),
    (1, 6, 10, 8, 6, (3, 3), (1, 2), (1, 1, 1, 1), (2, 1), 6, "depthwise"),
    (1, 4, 7, 7, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4, "im2col"),
    (2, 8, 7, 9, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, "im2col"),
    (1, 8, 9, 9, 12, (3, 3), (2, 2), (1, 0, 1, 0), (1, 2), 4, "im2col"),
    (1, 8, 6, 6, 8, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 4, "im2col"),
]


@pytest.mark.parametrize("n,cin,h,w,cout,k,strides,pads,dil,groups,path", CASES)
def test_conv2d_matches_onnxruntime(n, cin, h, w, cout, k, strides, pads, dil, groups, path):
    x, w_oihw, bias = random_conv(np.random.default_rng(0), n, cin, h, w, cout, k, groups)
    conv = Conv2d(
        oihw_to_hwio(w_oihw), bias, x.shape, strides=strides, pads=pads, dilations=dil, groups=groups
    )
    assert conv.path == path
    out = np.full(conv.out_shape, np.nan, np.float32)
    conv.run(x, out)
    assert_close(out, ort_conv(x, w_oihw, bias, strides, pads, dil, groups))


@pytest.mark.parametrize("kind", [None, *ACTIVATIONS])
@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[9], CASES[10], CASES[18]], ids=lambda c: c[-1])
def test_fused_activation_and_residual(kind, case):
    n, cin, h, w, cout, k, strides, pads, dil, groups, _ = case
    rng = np.random.default_rng(1)
    x, w_oihw, bias = random_conv(rng, n, cin, h, w, cout, k, groups)
    _, lo, hi = ACTIVATIONS.get(kind, ({}, 0.0, 0.0))
    shape = conv2d_output_shape(x.shape, (*k, cin // groups, cout), strides, pads, dil)
    residual = rng.standard_normal(shape, dtype=np.float32)
    got = conv2d(
        x,
        oihw_to_hwio(w_oihw),
        bias,
        strides=strides,
        pads=pads,
        dilations=dil,
        groups=groups,
        activation=kind,
        alpha=lo,
        beta=hi,
        residual=residual,
    )
    expected = ort_activation(ort_conv(x, w_oihw, bias, strides, pads, dil, groups), kind) + residual
    assert_close(got, expected)


def test_conv2d_without_bias_writes_into_out():
    x, w_oihw, _ = random_conv(np.random.default_rng(2), 1, 4, 6, 6, 4, (3, 3), 1, with_bias=False)
    out = np.empty((1, 6, 6, 4), np.float32)
    got = conv2d(x, oihw_to_hwio(w_oihw), pads=(1, 1, 1, 1), out=out)
    assert got is out
    assert_close(out, ort_conv(x, w_oihw, None, (1, 1), (1, 1, 1, 1), (1, 1), 1))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    cin_g=st.integers(1, 3),
    cout_g=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
    hw=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    strides=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dil=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pads=st.tuples(*[st.integers(0, 2)] * 4),
    seed=st.integers(0, 2**16),
)
def test_conv2d_random_shapes(n, cin_g, cout_g, groups, hw, k, strides, dil, pads, seed):
    cin, cout = cin_g * groups, cout_g * groups
    w_shape = (*k, cin_g, cout)
    oh, ow = conv2d_output_shape((n, *hw, cin), w_shape, strides, pads, dil)[1:3]
    if oh < 1 or ow < 1 or min(pads[0], pads[2]) >= k[0] or min(pads[1], pads[3]) >= k[1]:
        return
    x, w_oihw, bias = random_conv(np.random.default_rng(seed), n, cin, *hw, cout, k, groups)
    got = conv2d(x, oihw_to_hwio(w_oihw), bias, strides=strides, pads=pads, dilations=dil, groups=groups)
    assert_close(got, ort_conv(x, w_oihw, bias, strides, pads, dil, groups))


@pytest.mark.parametrize(
    "case,kind",
    [
        (CASES[0], "HardSwish"),
        (CASES[3], "Relu"),
        (CASES[9], "Clip"),
        (CASES[10], "HardSwish"),
        (CASES[19], "Clip"),
    ],
    ids=["gemm", "im2col", "depthwise_rows", "depthwise", "grouped"],
)
def test_prepared_run_allocates_little(case, kind):
    """run() uses scratch made in __init__: the traced peak (numpy's fixed ~32 KB ufunc buffer for
    the broadcast bias add) stays far below one output's size."""
    _, cin, _, _, cout, k, strides, pads, dil, groups, _ = case
    x, w_oihw, bias = random_conv(np.random.default_rng(3), 4, cin * 4, 64, 64, cout * 4, k, groups)
    conv = Conv2d(
        oihw_to_hwio(w_oihw),
        bias,
        x.shape,
        strides=strides,
        pads=pads,
        dilations=dil,
        groups=groups,
        activation=kind,
        alpha=0.0,
        beta=6.0,
        has_residual=True,
    )
    out = np.empty(conv.out_shape, np.float32)
    residual = np.ones(conv.out_shape, np.float32)
    conv.run(x, out, residual)
    tracemalloc.start()
    conv.run(x, out, residual)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < out.nbytes / 10, f"peak {peak} bytes for an output of {out.nbytes}"


def test_run_rejects_other_shapes():
    conv = Conv2d(np.ones((1, 1, 2, 3), np.float32), None, (1, 4, 4, 2))
    with pytest.raises(ValueError, match="prepared for"):
        conv.run(np.ones((2, 4, 4, 2), np.float32), np.empty((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        conv.run(np.ones((1, 4, 4, 2), np.float32), np.empty((1, 4, 4, 6), np.float32)[..., ::2])


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("hw,k,s,d", [((7, 8), (3, 3), (2, 2), (1, 1)), ((6, 5), (4, 2), (1, 3), (1, 1))])
def test_same_pads_match_onnxruntime_auto_pad(mode, hw, k, s, d):
    x, w_oihw, _ = random_conv(np.random.default_rng(4), 1, 2, *hw, 3, k, 1, with_bias=False)
    pads = same_pads(hw, k, s, d, mode)
    y = run_node(
        "Conv", {"X": nhwc_to_nchw(x), "W": w_oihw}, auto_pad=mode, strides=list(s), dilations=list(d)
    )
    got = conv2d(x, oihw_to_hwio(w_oihw), strides=s, pads=pads, dilations=d)
    assert_close(got, nchw_to_nhwc(y[0]))


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[9], CASES[10], CASES[17]], ids=lambda c: c[-1])
def test_conv2d_float64_for_gradcheck(case):
    """Training's gradcheck runs the same kernels in float64; every path keeps the dtype."""
    n, cin, h, w, cout, k, strides, pads, dil, groups, _ = case
    x, w_oihw, bias = random_conv(np.random.default_rng(5), n, cin, h, w, cout, k, groups)
    got = conv2d(
        x.astype(np.float64),
        oihw_to_hwio(w_oihw).astype(np.float64),
        bias.astype(np.float64),
        strides=strides,
        pads=pads,
        dilations=dil,
        groups=groups,
    )
    assert got.dtype == np.float64
    assert_close(got, ort_conv(x, w_oihw, bias, strides, pads, dil, groups))


@given(
    size=st.integers(1, 30),
    k=st.integers(1, 7),
    s=st.integers(1, 4),
    d=st.integers(1, 3),
    mode=st.sampled_from(["SAME_UPPER", "SAME_LOWER"]),
)
def test_same_pads_give_ceil_output_with_dilation(size, k, s, d, mode):
    """ORT rejects SAME with dilation, so check the ONNX rule directly: output = ceil(in / stride)."""
    pads = same_pads((size, size), (k, k), (s, s), (d, d), mode)
    out_hw = conv2d_output_shape((1, size, size, 1), (k, k, 1, 1), (s, s), pads, (d, d))[1:3]
    assert out_hw == (-(-size // s),) * 2
    assert abs(pads[0] - pads[2]) <= 1 and (pads[2] >= pads[0]) == (
        mode == "SAME_UPPER" or pads[0] == pads[2]
    )
    with pytest.raises(ValueError, match="SAME_UPPER"):
        same_pads((4, 4), (3, 3), (1, 1), (1, 1), "VALID")


@pytest.mark.parametrize("case", [CASES[0], CASES[8], CASES[14], CASES[12], CASES[17]], ids=lambda c: c[-1])
def test_conv2d_reads_non_contiguous_input(case):
    """An input view with arbitrary strides (here every other channel) gives the same result."""
    n, cin, h, w, cout, k, strides, pads, dil, groups, _ = case
    x, w_oihw, bias = random_conv(np.random.default_rng(6), n, cin, h, w, cout, k, groups)
    x_strided = np.repeat(x, 2, axis=3)[..., ::2]
    assert not x_strided.flags.c_contiguous
    got = conv2d(
        x_strided, oihw_to_hwio(w_oihw), bias, strides=strides, pads=pads, dilations=dil, groups=groups
    )
    assert_close(got, ort_conv(x, w_oihw, bias, strides, pads, dil, groups))
