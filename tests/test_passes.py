"""Each optimization pass: the graph it leaves behind, and outputs equal to ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from graph_builder import OnnxGraph

import maku


def run_both(model, feeds: dict[str, np.ndarray], **load_options):
    """maku's output and ORT's for the same model and inputs; also returns the Session."""
    data = model.SerializeToString()
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    session = maku.load(data, **load_options)
    out = session.run(feeds)
    return [out[o.name] for o in model.graph.output], ref, session


def assert_close(got, want, tol=1e-5):
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.abs(g - w).max() <= tol * max(1.0, float(np.abs(w).max()))


def image(n=2, c=8, h=9, w=7, seed=1):
    return {"x": np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)}


def ops_of(session) -> dict[str, int]:
    return session.graph.op_histogram()


def test_batchnorm_after_conv_is_folded_away():
    b = OnnxGraph()
    y = b.batchnorm(b.conv("x", 8, 16), 16)
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert "BatchNormalization" not in ops_of(s) and ops_of(s)["maku.Conv"] == 1


def test_standalone_batchnorm_becomes_scale_and_shift():
    b = OnnxGraph()
    y = b.batchnorm("x", 8)
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert "BatchNormalization" not in ops_of(s)


def test_flatten_chain_of_shape_ops_is_folded_for_any_batch():
    b = OnnxGraph(opset=11)
    pooled = b.op("GlobalAveragePool", b.conv("x", 8, 16))
    batch = b.op("Unsqueeze", b.op("Gather", b.op("Shape", pooled), b.const(np.int64(0))), axes=[0])
    target = b.op("Concat", batch, b.const(np.array([-1], np.int64)), axis=0)
    y = b.op("Gemm", b.op("Reshape", pooled, target), b.weight(10, 16), b.weight(10), transB=1)
    model = b.model({"x": ("N", 8, 9, 7)}, [y])
    for n in (1, 3):
        got, want, s = run_both(model, image(n=n))
        assert_close(got, want)
    assert not {"Shape", "Gather", "Unsqueeze", "Concat"} & set(ops_of(s))


def test_castlike_and_expand_of_constants_fold():
    b = OnnxGraph(opset=15)
    scale = b.op("Expand", b.op("CastLike", b.const(np.float64(0.5)), "x"), b.const(np.array([1, 8, 1, 1], np.int64)))
    y = b.op("Mul", b.conv("x", 8, 8), scale)
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert not {"CastLike", "Expand"} & set(ops_of(s))


def test_identity_and_dropout_are_removed():
    b = OnnxGraph()
    y = b.op("Identity", b.op("Dropout", b.op("Relu", b.conv("x", 8, 8))))
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert ops_of(s) == {"Transpose": 2, "maku.Conv": 1}  # Relu fused; transposes only at the boundaries


def hardswish_forms(b: OnnxGraph, x: str) -> list[str]:
    """The three ways exporters write hardswish."""
    relu6 = b.op("Clip", b.op("Add", x, b.const(np.float32(3))), b.const(np.float32(0)), b.const(np.float32(6)))
    return [
        b.op("Mul", x, b.op("HardSigmoid", x, alpha=1 / 6, beta=0.5)),
        b.op("Div", b.op("Mul", x, relu6), b.const(np.float32(6))),
        b.op("Mul", b.op("Mul", x, relu6), b.const(np.float32(1 / 6))),
    ]


@pytest.mark.parametrize("form", range(3))
def test_decomposed_hardswish_is_recognized_and_fused(form):
    b = OnnxGraph()
    y = hardswish_forms(b, b.conv("x", 8, 8))[form]
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    (conv,) = [n for n in s.graph.nodes if n.op == "maku.Conv"]
    assert conv.attrs["activation"] == "HardSwish"
    assert set(ops_of(s)) == {"maku.Conv", "Transpose"}


@pytest.mark.parametrize("act", ["Relu", "Clip", "HardSigmoid", "Sigmoid", "HardSwish"])
def test_activation_fuses_into_conv(act):
    b = OnnxGraph(opset=14)
    conv = b.conv("x", 8, 8, group=8)
    extra = (b.const(np.float32(0)), b.const(np.float32(6))) if act == "Clip" else ()
    y = b.op(act, conv, *extra)
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert act not in ops_of(s)


def test_inverted_residual_add_fuses_into_projection_conv():
    b = OnnxGraph()
    expand = b.op("Clip", b.conv("x", 8, 24, k=1), b.const(np.float32(0)), b.const(np.float32(6)))
    depthwise = b.op("Relu", b.conv(expand, 24, 24, group=24))
    y = b.op("Add", b.conv(depthwise, 24, 8, k=1), "x")
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert ops_of(s) == {"maku.Conv": 3, "Transpose": 2}
    project = s.graph.nodes[-2]
    assert project.op == "maku.Conv" and len(project.inputs) == 4  # x, w, bias, residual


def test_tf2onnx_transpose_pairs_cancel_and_nhwc_input_needs_none():
    b = OnnxGraph(opset=13)
    nchw = b.op("Transpose", "x", perm=[0, 3, 1, 2])  # tf2onnx: NHWC input, then to NCHW
    mid = b.op("Transpose", b.conv(nchw, 8, 8), perm=[0, 2, 3, 1])  # an NHWC op in between
    y = b.op("Transpose", b.op("Relu", mid), perm=[0, 3, 1, 2])
    y = b.op("GlobalAveragePool", b.conv(y, 8, 4, k=1))
    x = {"x": np.random.default_rng(0).standard_normal((2, 9, 7, 8)).astype(np.float32)}
    got, want, s = run_both(b.model({"x": (2, 9, 7, 8)}, [y]), x)
    assert_close(got, want)
    # the only transpose left is the one back to the NCHW output layout, on a 1x1 map: a reshape
    assert "Transpose" not in ops_of(s)


def test_input_layout_nhwc_drops_the_boundary_transpose():
    b = OnnxGraph()
    y = b.op("GlobalAveragePool", b.conv(b.conv("x", 8, 8), 8, 8))
    model = b.model({"x": (2, 8, 9, 7)}, [y])
    feeds = image()
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    s = maku.load(model.SerializeToString(), input_layout="NHWC")
    got = s(np.ascontiguousarray(feeds["x"].transpose(0, 2, 3, 1)))
    assert_close([got], [want])
    assert "Transpose" not in ops_of(s)


def test_matmul_plus_bias_becomes_one_gemm_with_fused_relu():
    b = OnnxGraph()
    flat = b.op("Flatten", b.op("GlobalAveragePool", b.conv("x", 8, 16)))
    y = b.op("Relu", b.op("Add", b.op("MatMul", flat, b.weight(16, 10)), b.weight(10)))
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    gemm = [n for n in s.graph.nodes if n.op == "maku.Gemm"]
    assert len(gemm) == 1 and gemm[0].attrs["activation"] == "Relu"
    assert not {"MatMul", "Add", "Relu"} & set(ops_of(s))


def test_fixed_batch_reshape_generalizes_to_any_batch():
    b = OnnxGraph()
    pooled = b.op("AveragePool", b.conv("x", 8, 16), kernel_shape=[9, 7])
    y = b.op("Softmax", b.op("Reshape", pooled, b.const(np.array([1, 16], np.int64))), axis=-1)
    model = b.model({"x": (1, 8, 9, 7)}, [y])
    session = maku.load(model.SerializeToString())
    assert session.inputs[0].shape == ("N", 8, 9, 7)
    feeds = image(n=4)
    ref_session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = np.concatenate([ref_session.run(None, {"x": feeds["x"][i : i + 1]})[0] for i in range(4)])
    assert_close([session(feeds["x"])], [want])


def test_explicit_zero_pad_folds_into_the_conv_after_it():
    b = OnnxGraph(opset=13)
    padded = b.op("Pad", "x", b.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)))
    y = b.op("Conv", padded, b.weight(8, 8, 3, 3), kernel_shape=[3, 3], strides=[2, 2])
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert "Pad" not in ops_of(s)
    (conv,) = [n for n in s.graph.nodes if n.op == "maku.Conv"]
    assert conv.attrs["pads"] == [0, 0, 1, 1]


def test_average_pool_over_the_whole_map_becomes_global_pooling():
    b = OnnxGraph()
    y = b.op("AveragePool", b.conv("x", 8, 8), kernel_shape=[9, 7])
    got, want, s = run_both(b.model({"x": (2, 8, 9, 7)}, [y]), image())
    assert_close(got, want)
    assert "maku.GlobalAveragePool" in ops_of(s) and "maku.AveragePool" not in ops_of(s)
