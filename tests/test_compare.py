"""maku vs ONNX Runtime: output errors, and the first diverging node when something is broken."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from model_builders import Style, mobilenet_v2, mobilenet_v3

import maku
from maku import assets
from maku.backends.numpy import ops as numpy_ops
from maku.errors import MakuError
from maku.onnx.importer import load_onnx
from maku.runtime import compare as compare_module
from maku.runtime.compare import (
    compare_with_ort,
    diff_output,
    first_divergence,
    format_comparison,
    onnx_layouts,
    with_intermediates_as_outputs,
)
from maku.runtime.feeds import random_feeds
from maku.runtime.ort import require_onnxruntime

BUILT_MODELS = {
    "v2 kept-BN": lambda: mobilenet_v2(Style()),
    "v3-small native hardswish": lambda: mobilenet_v3(Style(opset=14)),
    "v3-small paddle style": lambda: mobilenet_v3(
        Style(opset=11, hardswish="clip_div", gate="clip_div", head="reshape_matmul", constant_nodes=True)
    ),
    "v3-large TF style, NHWC input": lambda: mobilenet_v3(
        Style(hardswish="mul_sixth", nhwc_input=True, bn="folded"), size="large"
    ),
}


@pytest.fixture(scope="module")
def bundled_feeds() -> dict[str, np.ndarray]:
    return random_feeds(maku.load(assets.default_model()), seed=1)


def save(model: onnx.ModelProto, tmp_path) -> str:
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    return str(path)


def test_bundled_model_agrees_with_ort(bundled_feeds):
    result = compare_with_ort(assets.default_model(), bundled_feeds)
    assert result.agree and result.divergence is None
    (out,) = result.outputs
    assert out.shape == [1, 1001] and out.top1_agreement == 1.0 and out.max_abs < 1e-5
    assert "agree" in format_comparison(result)
    assert result.to_dict()["agree"] is True


def test_edited_weight_is_named_as_the_first_diverging_node(bundled_feeds):
    graph = load_onnx(assets.default_model())
    broken = [n for n in graph.nodes if n.op == "Conv"][10]
    weight = graph.constants[broken.inputs[1]].copy()
    weight[0] += 0.5
    graph.constants[broken.inputs[1]] = weight
    result = compare_with_ort(assets.default_model(), bundled_feeds, graph=graph)
    assert not result.agree
    assert result.divergence.node == broken.name and result.divergence.op == "maku.Conv"
    # the fused conv writes the tensor of the last op it absorbed (here its Clip), as ONNX names it
    (activation,) = [n for n in graph.nodes if broken.outputs[0] in n.inputs]
    assert result.divergence.tensor == activation.outputs[0] and result.divergence.onnx_node == activation.name
    assert result.tensors_compared > 5  # the nodes before it were checked and agreed
    assert f"first diverging node: {broken.name!r}" in format_comparison(result)


@pytest.mark.parametrize("name", BUILT_MODELS)
def test_no_false_divergence_through_fused_epilogues(name):
    """BN folding, activation and residual fusion keep a conv's tensor name but change its value."""
    model = BUILT_MODELS[name]()
    session = maku.load(model.SerializeToString(), reuse_memory=False)
    divergence, compared = first_divergence(model, random_feeds(session, batch=2), session)
    assert divergence is None
    assert compared > 40


def test_broken_kernel_is_named(tmp_path, monkeypatch):
    """A wrong Mul kernel (the SE blocks' scaling) is caught at the first Mul maku runs."""
    model = BUILT_MODELS["v3-small native hardswish"]()
    path = save(model, tmp_path)
    feeds = random_feeds(maku.load(path), batch=2)
    good_mul = numpy_ops.PREPARERS["Mul"]

    def off_by_one_mul(node, ctx):
        run, out = good_mul(node, ctx), ctx.get(node.outputs[0])

        def broken() -> None:
            run()
            np.add(out, 1.0, out=out)

        return broken

    monkeypatch.setitem(numpy_ops.PREPARERS, "Mul", off_by_one_mul)
    result = compare_with_ort(path, feeds)
    first_mul = next(n for n in maku.load(path).graph.nodes if n.op == "Mul")
    assert result.divergence is not None
    assert (result.divergence.node, result.divergence.op) == (first_mul.name, "Mul")


def test_memory_plan_is_suspected_when_only_the_planned_run_differs(monkeypatch, bundled_feeds):
    real_load = compare_module.load

    def load_with_a_bad_plan(model, **options):
        session = real_load(model, **options)
        if options.get("reuse_memory", True):
            planned_run = session.run
            session.run = lambda feeds, **kw: {k: v + 1.0 for k, v in planned_run(feeds, **kw).items()}
        return session

    monkeypatch.setattr(compare_module, "load", load_with_a_bad_plan)
    result = compare_with_ort(assets.default_model(), bundled_feeds)
    assert not result.agree and result.divergence is None
    assert any("memory plan" in note for note in result.notes)


def test_intermediates_become_outputs_once():
    model = BUILT_MODELS["v2 kept-BN"]()
    exposed = with_intermediates_as_outputs(model)
    names = [v.name for v in exposed.graph.output]
    assert len(names) == len(set(names)) == sum(len(n.output) for n in model.graph.node)
    assert len(model.graph.output) == 1  # the original is untouched


def test_layouts_and_output_diffs():
    nhwc = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    (view,) = onnx_layouts(nhwc, (2, 3, 4, 5))
    np.testing.assert_array_equal(view, nhwc.transpose(0, 3, 1, 2))
    assert len(onnx_layouts(np.zeros((1, 6, 6, 6)), (1, 6, 6, 6))) == 2  # C == H == W: both are tried
    assert onnx_layouts(nhwc, (2, 7)) == []
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], dtype=np.float32)
    d = diff_output("y", scores + np.float32(1e-6), scores, 1e-4)
    assert d.within_tolerance and d.top1_agreement == 1.0
    swapped = diff_output("y", scores[:, ::-1].copy(), scores, 1e-4)
    assert not swapped.within_tolerance and swapped.top1_agreement == 0.5
    assert not diff_output("y", scores[:1], scores, 1e-4).within_tolerance


def test_missing_onnxruntime_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MakuError, match=r"pip install 'maku\[ort\]'"):
        require_onnxruntime("maku compare")
