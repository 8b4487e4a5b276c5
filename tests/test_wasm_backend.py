"""The wasm backend equals the numpy backend: on every op table case and layout chain of the
runtime core, on test-built MobileNets, and on the float models of the shared test data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_data
from model_builders import Style, mobilenet_v2, mobilenet_v3
from test_op_tables import CHAINS, TABLE, XFAIL

import maku
from maku.backends.wasm.executor import WasmExecutor
from maku.backends.wasm.placement import placement_table
from maku.cli.build import compile_model
from maku.errors import MakuError

TOLERANCE = 1e-4
# cases whose numpy-backend result is itself undefined, so there is nothing to agree with
UNDEFINED_IN_NUMPY: dict[str, str] = {}

FLOAT_MODELS = {  # path under models/ -> input shape to plan for
    "imagenet_converted/mobilenet_v1_0.25_128_fp32_from_tflite_qat.onnx": None,
    "imagenet_converted/mobilenet_v2_1.0_224_fp32_from_tflite_qat.onnx": None,
    "imagenet_converted/mobilenet_v3_small_1.0_224_fp32_from_tflite_qat.onnx": None,
    "other/teachable_machine_mobilenetv2_fp32_nhwc.onnx": None,
    "other/ppocr_textdir_cls_mobilenetv3_fp32.onnx": "1,3,48,192",
}


def assert_backends_agree(model: bytes | str, feeds: dict[str, np.ndarray], **options) -> None:
    """Equal outputs, or the same error when the numpy backend rejects the case."""
    try:
        want = maku.load(model, **options).run(feeds)
    except MakuError as exc:
        with pytest.raises(type(exc)):
            maku.load(model, backend="wasm", **options).run(feeds)
        return
    got = maku.load(model, backend="wasm", **options).run(feeds)
    for name, expected in want.items():
        actual = got[name]
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, name
        if expected.dtype.kind == "f":
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE * scale, err_msg=name)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=name)


@pytest.mark.parametrize("case", [c for c in TABLE if f"{c.op}-{c.id}" not in {**XFAIL, **UNDEFINED_IN_NUMPY}], ids=lambda c: f"{c.op}-{c.id}")
def test_op_table_case(case):
    assert_backends_agree(case.model().SerializeToString(), dict(case.inputs))


@pytest.mark.parametrize("build", [c[1] for c in CHAINS], ids=[c[0] for c in CHAINS])
def test_layout_chain(build):
    model, feeds = build()
    assert_backends_agree(model.SerializeToString(), feeds)


def _all_in_wasm(model, input_shape=None) -> tuple[WasmExecutor, list]:
    _, plan = compile_model(model, input_shape=input_shape)
    executor = WasmExecutor(plan)
    return executor, [p for p in executor.placement() if p[1] != "wasm"]


@pytest.mark.parametrize("build", [
    lambda: mobilenet_v2(Style(batch=1), width=0.35, resolution=64),
    lambda: mobilenet_v3(Style(batch=1, bn="folded", hardswish="hardsigmoid"), "small", width=0.5, resolution=64),
    lambda: mobilenet_v3(Style(batch=1, hardswish="clip_div", gate="clip_div", head="reshape_matmul"), "large",
                         width=0.35, resolution=64),
], ids=["v2", "v3_small_pytorch", "v3_large_paddle"])
def test_built_mobilenets_run_fully_in_wasm(build):
    model = build().SerializeToString()
    executor, fallbacks = _all_in_wasm(model)
    assert fallbacks == []
    name = executor.plan.graph.input_names[0]
    x = np.random.default_rng(0).standard_normal(executor.plan.shapes[name]).astype(np.float32)
    assert_backends_agree(model, {name: x})


@pytest.mark.parametrize("relative", FLOAT_MODELS)
def test_float_models_from_test_data(relative):
    path = str(require_data("models", relative))
    executor, fallbacks = _all_in_wasm(path, FLOAT_MODELS[relative])
    assert fallbacks == []
    name = executor.plan.graph.input_names[0]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, executor.plan.shapes[name]).astype(executor.plan.dtypes[name])
    if x.dtype.kind == "f":
        x = x / np.float32(255)
    want = maku.load(path).run({name: x}) if FLOAT_MODELS[relative] is None else None
    got = executor.run({name: x})
    if want is None:  # a dynamic-size model: compare plans of the same shape
        from maku.backends.numpy.executor import NumpyExecutor

        want = NumpyExecutor(executor.plan).run({name: x})
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=TOLERANCE)


def test_unsupported_nodes_fall_back_to_numpy_in_place():
    case = next(c for c in TABLE if c.op == "Conv" and c.id == "grouped_2")
    _, plan = compile_model(case.model().SerializeToString())
    places = [where for _, where in WasmExecutor(plan).placement()]
    assert places == ["wasm", "numpy: grouped convolution (group=2)", "wasm"]
    assert placement_table(plan).splitlines()[-1] == "wasm runs 2 of 3 nodes; numpy fallback: maku.Conv 1"
    assert_backends_agree(case.model().SerializeToString(), dict(case.inputs))


def test_timings_and_poison_run_node_by_node():
    model = mobilenet_v2(Style(batch=1), width=0.35, resolution=64).SerializeToString()
    session = maku.load(model, backend="wasm", poison_freed=True)
    x = np.random.default_rng(1).standard_normal(session.inputs[0].shape[1:]).astype(np.float32)[None]
    timings: list[float] = []
    out = session.run({session.inputs[0].name: x}, timings=timings)
    assert len(timings) == len(session.executor_for({session.inputs[0].name: x}).plan.nodes)
    want = maku.load(model).run({session.inputs[0].name: x})
    for key in want:
        np.testing.assert_allclose(out[key], want[key], rtol=0, atol=TOLERANCE)
