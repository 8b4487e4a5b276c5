"""Whole MobileNetV2 / V3-Small / V3-Large graphs, written as different exporters write them.

Each model (random weights, width 0.35, 96x96, batch 2) must give ORT's logits, and the
optimizer must have done its job: BatchNormalization folded, every activation that follows a
convolution fused into it, decomposed hardswish recognized, shape chains folded, and no
Transpose left but the one at the input boundary.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_builders import BACKENDS, MOBILENET_V3, Style, mobilenet_v2, mobilenet_v3, run_ort
from ort_helpers import assert_close

import maku

PYTORCH_LEGACY = Style(opset=11, bn="folded", head="shape_chain", batch="batch_size")
STYLES_V2 = {
    "pytorch_opset9_clip_attr_bn_kept": Style(opset=9, bn="kept", head="flatten_gemm"),
    "pytorch_legacy_opset11_shape_chain": PYTORCH_LEGACY,
    "zoo_opset10_clip_attr_reshape_matmul": Style(opset=10, bn="folded", head="reshape_matmul"),
    "pytorch_opset13_bn_kept_dynamic": Style(opset=13, bn="kept", batch="N"),
    "dynamo_opset18_reducemean_input": Style(opset=18, bn="folded", pool="reducemean", dropout=False, batch="s0"),
    "tf2onnx_nhwc_reducemean": Style(opset=13, bn="folded", pool="reducemean", head="reshape_matmul",
                                     nhwc_input=True, dropout=False, batch="unk__606"),
    "paddle_constant_nodes_opset10": Style(opset=10, bn="kept", head="shape_chain", constant_nodes=True),
}
STYLES_V3 = {
    "pytorch_opset14_native": Style(opset=14, bn="folded", hardswish="native"),
    "pytorch_opset13_x_hardsigmoid": Style(opset=13, bn="kept", hardswish="hardsigmoid", head="shape_chain",
                                           batch="batch_size"),
    "pytorch_opset11_x_hardsigmoid_reducemean": Style(opset=11, bn="folded", hardswish="hardsigmoid",
                                                      pool="reducemean"),
    "paddle_opset10_clip_div": Style(opset=10, bn="kept", hardswish="clip_div", gate="clip_div",
                                     head="shape_chain", constant_nodes=True, batch="N"),
    "paddle_opset10_hardsigmoid_0.2_gate": Style(opset=10, bn="kept", hardswish="clip_div", gate_alpha=0.2,
                                                 head="reshape_matmul", constant_nodes=True),
    "tf2onnx_nhwc_relu6_mul_sixth": Style(opset=13, bn="folded", hardswish="mul_sixth", gate="clip_div",
                                          pool="reducemean", head="reshape_matmul", nhwc_input=True, dropout=False),
    "dynamo_opset18_native_reducemean": Style(opset=18, bn="folded", hardswish="native", pool="reducemean",
                                              batch="s0", dropout=False),
}
# folded away or fused into maku.Conv / maku.Gemm: none of these may survive optimization
GONE = ("BatchNormalization", "Relu", "Clip", "HardSigmoid", "HardSwish", "Div", "Add", "Sub", "Shape", "Gather",
        "Unsqueeze", "Concat", "Dropout", "Identity", "Constant", "Conv", "Gemm", "MatMul", "GlobalAveragePool")

CASES = (
    [pytest.param("v2", None, s, id=f"v2-{k}") for k, s in STYLES_V2.items()]
    + [pytest.param("v3", "small", s, id=f"v3small-{k}") for k, s in STYLES_V3.items()]
    + [pytest.param("v3", "large", STYLES_V3[k], id=f"v3large-{k}")
       for k in ("pytorch_opset13_x_hardsigmoid", "paddle_opset10_clip_div", "tf2onnx_nhwc_relu6_mul_sixth")]
)


def build(arch: str, size: str | None, style: Style):
    return mobilenet_v2(style) if arch == "v2" else mobilenet_v3(style, size)


def image(style: Style, batch: int = 2, seed: int = 1) -> np.ndarray:
    shape = (batch, 96, 96, 3) if style.nhwc_input else (batch, 3, 96, 96)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def expectations(arch: str, size: str | None) -> dict:
    """SE multiplies, and which fused activations the optimized graph must hold."""
    if arch == "v2":
        return {"Mul": 0, "activations": {"Clip", ""}, "gemm_activation": ""}
    se_blocks = sum(1 for block in MOBILENET_V3[size][0] if block[3])
    return {"Mul": se_blocks, "activations": {"Relu", "HardSwish", "HardSigmoid", ""}, "gemm_activation": "HardSwish"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch,size,style", CASES)
def test_exporter_style_matches_onnxruntime_and_is_optimized(arch, size, style, backend):
    model = build(arch, size, style)
    session = maku.load(model.SerializeToString(), backend=backend)
    batches = (2, 3) if isinstance(style.batch, str) else (style.batch,)
    for batch in batches:  # a dynamic batch gets one plan per batch size
        x = image(style, batch)
        (expected,) = run_ort(model, {"input": x})
        actual = session(x)
        assert actual.shape == expected.shape == (batch, 1000)
        err = float(np.max(np.abs(actual - expected)))
        assert err <= 1e-4, f"batch {batch}: max abs logit difference {err:.3g} (logits up to {np.abs(expected).max():.3g})"
        assert (actual.argmax(1) == expected.argmax(1)).all()

    hist = session.graph.op_histogram()
    want = expectations(arch, size)
    left = {op: hist[op] for op in GONE if op in hist}
    assert not left, f"ops the optimizer should have removed or fused: {left} (histogram {hist})"
    assert hist["maku.Conv"] == sum(n.op_type == "Conv" for n in model.graph.node), hist
    assert hist.get("Mul", 0) == want["Mul"], f"only the SE scaling multiplies may stay: {hist}"
    assert hist.get("Transpose", 0) == (0 if style.nhwc_input else 1), f"only the input boundary transposes: {hist}"
    convs = [n for n in session.graph.nodes if n.op == "maku.Conv"]
    assert {n.attrs.get("activation", "") for n in convs} == want["activations"]
    for n in convs:
        if n.attrs.get("activation") == "Clip":
            assert (n.attrs["act_alpha"], n.attrs["act_beta"]) == (0.0, 6.0), n
        if n.attrs.get("activation") == "HardSigmoid":  # the SE gate, whichever way it was written
            alpha = 1 / 6 if style.gate == "clip_div" else style.gate_alpha
            assert n.attrs["act_alpha"] == pytest.approx(alpha) and n.attrs["act_beta"] == pytest.approx(0.5), n
    gemms = [n for n in session.graph.nodes if n.op == "maku.Gemm"]
    assert [n.attrs.get("activation", "") for n in gemms][0] == want["gemm_activation"]


def test_decomposed_hardswish_becomes_the_same_graph_as_native():
    """Every hardswish spelling optimizes to the same op histogram and fused activations as HardSwish."""
    base = Style(opset=13, bn="folded")

    def signature(style):
        g = maku.load(mobilenet_v3(style, "small").SerializeToString()).graph
        return g.op_histogram(), [n.attrs.get("activation", "") for n in g.nodes]

    native = signature(base.with_(opset=14, hardswish="native"))
    for kind in ("hardsigmoid", "clip_div", "mul_sixth"):
        assert signature(base.with_(hardswish=kind, gate="clip_div")) == native, kind


def test_nhwc_input_layout_option_removes_the_input_transpose():
    """input_layout="NHWC" on an NCHW model: the caller's NHWC image goes straight into the first conv."""
    style = Style(opset=13, bn="folded")
    model = mobilenet_v2(style)
    x = image(style)
    (expected,) = run_ort(model, {"input": x})
    session = maku.load(model.SerializeToString(), input_layout="NHWC")
    assert session.inputs[0].shape == (2, 96, 96, 3)
    assert "Transpose" not in session.graph.op_histogram()
    assert_close(session(np.ascontiguousarray(x.transpose(0, 2, 3, 1))), expected, 1e-5)


@pytest.mark.parametrize("options", [dict(optimize=False), dict(reuse_memory=False), dict(poison_freed=True),
                                     dict(threads=1)], ids=lambda o: next(iter(o)))
def test_debug_and_unoptimized_runs_agree(options):
    """The unoptimized graph and the debug memory modes give the same logits as the default run."""
    style = STYLES_V3["pytorch_opset13_x_hardsigmoid"]
    model = mobilenet_v3(style, "small")
    x = image(style)
    (expected,) = run_ort(model, {"input": x})
    actual = maku.load(model.SerializeToString(), **options)(x)
    assert float(np.max(np.abs(actual - expected))) <= 1e-4


def test_one_session_called_from_several_threads():
    """Concurrent calls (two batch sizes, so two plans) each get their own correct logits."""
    style = STYLES_V2["pytorch_opset13_bn_kept_dynamic"]
    model = mobilenet_v2(style)
    session = maku.load(model.SerializeToString())
    inputs = [image(style, batch=1 + i % 2, seed=i) for i in range(8)]
    expected = [run_ort(model, {"input": x})[0] for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(session, inputs * 2))
    for i, got in enumerate(results):
        assert_close(got, expected[i % len(inputs)], 1e-5)


@st.composite
def styles(draw) -> Style:
    opset = draw(st.sampled_from([9, 10, 11, 12, 13, 14, 15, 17, 18, 21]))
    return Style(
        opset=opset, bn=draw(st.sampled_from(["kept", "folded"])),
        hardswish=draw(st.sampled_from(["hardsigmoid", "clip_div", "mul_sixth"] + (["native"] if opset >= 14 else []))),
        gate=draw(st.sampled_from(["hardsigmoid", "clip_div"])), gate_alpha=draw(st.sampled_from([1 / 6, 0.2])),
        pool=draw(st.sampled_from(["gap", "reducemean"])),
        head=draw(st.sampled_from(["flatten_gemm", "shape_chain", "reshape_matmul"])),
        batch=draw(st.sampled_from([1, 2, "N"])), nhwc_input=draw(st.booleans()),
        constant_nodes=draw(st.booleans()), dropout=draw(st.booleans()),
    )


@settings(max_examples=12, deadline=None, derandomize=True)
@given(styles(), st.sampled_from([("v2", None), ("v3", "small"), ("v3", "large")]), st.sampled_from(BACKENDS))
def test_random_exporter_style(style, arch_size, backend):
    """Any mix of the exporter habits above: equal to ORT, and optimized as well as the named styles."""
    test_exporter_style_matches_onnxruntime_and_is_optimized(*arch_size, style, backend)


@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc_input"])
def test_dynamic_height_and_width(nhwc):
    """Inputs [N, 3, H, W] (or tf2onnx's [N, H, W, 3]): one session, odd and even sizes, a plan for each."""
    style = Style(opset=13, hardswish="hardsigmoid", head="shape_chain", batch="N", nhwc_input=nhwc)
    model = mobilenet_v3(style, "small")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for axis, symbol in zip((1, 2) if nhwc else (2, 3), "HW"):
        dims[axis].dim_param = symbol
    session = maku.load(model.SerializeToString())
    for side in (33, 64, 97):
        shape = (2, side, side + 7, 3) if nhwc else (2, 3, side, side + 7)
        x = np.random.default_rng(side).standard_normal(shape).astype(np.float32)
        assert_close(session(x), run_ort(model, {"input": x})[0], 1e-4)
