"""The official ONNX backend node tests (`onnx.backend.test`) for the ops maku claims.

The onnx wheel no longer ships the generated `data/node/*/model.onnx` + `test_data_set_*/*.pb`
files, so the cases are made the way `backend-test-tools generate-data` makes them: importing
`onnx.backend.test.case.node.<op>` runs each `expect(...)`, which records the model and its
inputs and expected outputs (computed by onnx's own reference code). Each case is run through
`maku.load` and compared with the expected outputs (rtol 1e-4, atol 1e-5). The model tests the
wheel does ship as files (data/pytorch-converted, pytorch-operator, simple) run the same way.

Two adaptations, both how real exporters write models:
- maku needs weights, shapes, axes, pads and slice bounds to be constants; the node tests feed
  them as graph inputs, so those inputs become initializers (FROZEN_INPUTS).
- maku reads opsets 7-22. A case generated at a newer opset is relabelled 22 when its model
  passes onnx's full check (attributes, strict type-checking shape inference) at opset 22: the later versions of the ops
  maku claims (Cast-23..28, Reshape-23..25, ...) only add element types, so for the types the
  case uses the semantics are the same. Cases whose types need the newer opset are left out.
"""

from __future__ import annotations

import fnmatch
import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_builders import BACKENDS
from onnx import numpy_helper, version_converter

import maku
from maku.errors import UnsupportedOpError
from maku.ir.ops import ONNX_OPS

MAX_OPSET = 22
SHIPPED = ("pytorch-converted", "pytorch-operator", "simple")
# onnx.backend.test.case.node modules holding the cases of the claimed ops
MODULES = ["add", "averagepool", "batch_normalization", "cast", "castlike", "clip", "concat", "constant", "conv",
           "div", "dropout", "expand", "flatten", "gather", "gemm", "globalaveragepool", "hardsigmoid", "hardswish",
           "identity", "matmul", "maxpool", "mul", "pad", "reducemean", "relu", "reshape", "shape", "sigmoid", "slice",
           "softmax", "squeeze", "sub", "transpose", "unsqueeze"]
# op -> input positions maku needs as constants
FROZEN_INPUTS = {"Conv": {1, 2}, "BatchNormalization": {1, 2, 3, 4}, "Reshape": {1}, "Expand": {1},
                 "Slice": {1, 2, 3, 4}, "Pad": {1, 2, 3}, "Squeeze": {1}, "Unsqueeze": {1}, "ReduceMean": {1},
                 "Dropout": {1, 2}}

# case name (fnmatch pattern) -> why maku does not run it; each must match a case (test_selection_is_substantial)
EXCLUDE = {
    "test_cast*FLOAT8*": "float8 element types: quantization formats, refused at import",
    "test_cast*INT4*": "int4/uint4 element types: quantization formats, refused at import",
    "test_cast*BFLOAT16*": "bfloat16: a training type, refused at import",
    "test_castlike*FLOAT8*": "float8 element types: quantization formats, refused at import",
    "test_castlike*INT4*": "int4/uint4 element types: quantization formats, refused at import",
    "test_castlike*BFLOAT16*": "bfloat16: a training type, refused at import",
    "test_averagepool_1d_*": "1-D pooling: maku runs 2-D image models (refused with UnsupportedOpError)",
    "test_averagepool_3d_*": "3-D pooling: maku runs 2-D image models (refused with UnsupportedOpError)",
    "test_maxpool_1d_*": "1-D pooling: maku runs 2-D image models (refused with UnsupportedOpError)",
    "test_maxpool_3d_*": "3-D pooling: maku runs 2-D image models (refused with UnsupportedOpError)",
    "test_averagepool_2d_dilations": "AveragePool dilations (opset 19): not implemented, refused at import",
    "test_maxpool_with_argmax_*": "MaxPool's Indices output: not implemented, refused at import",
    "test_batchnorm_*_training_mode": "training-mode BatchNormalization (batch statistics): maku is inference-only, "
                                      "refused at import",
    "test_training_dropout*": "training-mode Dropout (random): maku is inference-only, refused at import",
    "test_edge_pad": "Pad mode=edge: only constant padding is claimed, refused at import",
    "test_reflect_pad": "Pad mode=reflect: only constant padding is claimed, refused at import",
    "test_wrap_pad": "Pad mode=wrap: only constant padding is claimed, refused at import",
    "test_constant_pad*axes": "Pad's axes input (opset 18): not implemented, refused at import",
    "pytorch-*/test_*Conv1d*": "1-D convolution: maku runs 2-D image models (refused with UnsupportedOpError)",
    "pytorch-*/test_*Conv3d*": "3-D convolution: maku runs 2-D image models (refused with UnsupportedOpError)",
    "pytorch-*/test_*Pool3d*": "3-D pooling: maku runs 2-D image models (refused with UnsupportedOpError)",
    "pytorch-*/test_MaxPool1d*": "1-D pooling: maku runs 2-D image models (refused with UnsupportedOpError)",
    "pytorch-operator/test_operator_maxpool": "1-D pooling: maku runs 2-D image models (refused with "
                                              "UnsupportedOpError)",
    "pytorch-*/test_ReflectionPad2d": "Pad mode=reflect: only constant padding is claimed, refused at import",
    "pytorch-operator/test_operator_pad": "Pad mode=reflect: only constant padding is claimed, refused at import",
    "pytorch-*/test_ReplicationPad2d": "Pad mode=edge: only constant padding is claimed, refused at import",
    "test_identity_opt": "optional-typed values: maku runs tensors only",
    "test_identity_sequence": "sequence-typed values: maku runs tensors only",
}
# bugs outside the importer and registry, kept visible (strict) until fixed
XFAIL: dict[str, str] = {}
# expected outputs written with fewer digits than our tolerance: (rtol, atol) of the case itself
TOLERANCE = {
    "test_averagepool_2d_ceil_last_window_starts_on_pad": (1e-3, 1e-7),  # given to 4 digits; maku equals ORT
}


def collect_cases() -> list:
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own overflow warnings (float8 casts and such)
        for module in MODULES:
            importlib.import_module(f"onnx.backend.test.case.node.{module}")
    return [c for c in node._NodeTestCases if all(n.op_type in ONNX_OPS or n.op_type == "Constant"
                                                   for n in c.model.graph.node)]


@dataclass
class ShippedCase:
    name: str
    model: onnx.ModelProto
    data_sets: list


def collect_shipped() -> list[ShippedCase]:
    """The model tests the onnx wheel still ships as files (PyTorch-converted layers and operators, simple
    models), opset-6 ones converted to opset 7 with onnx.version_converter as maku's error message advises."""
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    cases = []
    for sub in SHIPPED:
        for folder in sorted((root / sub).iterdir()):
            model = onnx.load(str(folder / "model.onnx"))
            if not all(n.op_type in ONNX_OPS or n.op_type == "Constant" for n in model.graph.node):
                continue
            if default_opset(model) < 7:
                model = version_converter.convert_version(model, 7)
            data_sets = [([onnx.load_tensor(str(p)) for p in sorted(d.glob("input_*.pb"))],
                          [onnx.load_tensor(str(p)) for p in sorted(d.glob("output_*.pb"))])
                         for d in sorted(folder.glob("test_data_set_*"))]
            cases.append(ShippedCase(f"{sub}/{folder.name}", model, data_sets))
    return cases


def as_array(value) -> np.ndarray:
    """The cases hold arrays, numpy scalars, or TensorProtos (for types numpy lacks)."""
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def default_opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def prepare(case) -> tuple[onnx.ModelProto, list[dict[str, np.ndarray]], list[list[np.ndarray]]] | None:
    """The case's model with parameters frozen and the opset relabelled; None if it needs an opset > 22."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    frozen = {name for n in model.graph.node for i, name in enumerate(n.input)
              if name and i in FROZEN_INPUTS.get(n.op_type, ())}
    weights = {t.name for t in model.graph.initializer}  # old IR versions list them as inputs too
    graph_inputs = [vi.name for vi in model.graph.input if vi.name not in weights]
    feeds, expected = [], []
    for inputs, outputs in case.data_sets:
        feeds.append(dict(zip(graph_inputs, map(as_array, inputs))))
        expected.append([as_array(o) for o in outputs])
    keep = [vi for vi in model.graph.input if vi.name not in frozen]
    for name in frozen & set(graph_inputs):
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(feeds[0][name]), name))
    del model.graph.input[:]
    model.graph.input.extend(keep)
    feeds = [{k: v for k, v in f.items() if k not in frozen} for f in feeds]
    if default_opset(model) > MAX_OPSET:
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = MAX_OPSET
        try:
            onnx.checker.check_model(model, full_check=True)  # attributes, and strictly typed shape inference
        except Exception:
            return None
    return model, feeds, expected


CASES = collect_cases() + collect_shipped()
PREPARED = {c.name: prepare(c) for c in CASES}
RUNNABLE = sorted(name for name, p in PREPARED.items() if p is not None)


def exclusion(name: str) -> str | None:
    return next((why for pattern, why in EXCLUDE.items() if fnmatch.fnmatchcase(name, pattern)), None)


def test_selection_is_substantial():
    """Guard against an onnx upgrade (or a bad filter) silently emptying this file."""
    ops = {n.op_type for name in RUNNABLE for n in PREPARED[name][0].graph.node}
    assert len(RUNNABLE) >= 250, len(RUNNABLE)
    assert ops >= set(ONNX_OPS) - {"HardSwish"} or ops >= set(ONNX_OPS), set(ONNX_OPS) - ops
    assert all(any(fnmatch.fnmatchcase(n, p) for n in RUNNABLE) for p in EXCLUDE), "stale EXCLUDE entries"


def params(backend: str) -> list:
    out = []
    for name in RUNNABLE:
        marks = []
        if exclusion(name):
            marks.append(pytest.mark.skip(reason=exclusion(name)))
        elif name in XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[name]))
        out.append(pytest.param(name, backend, marks=marks, id=f"{name}-{backend}"))
    return out


@pytest.mark.parametrize("name,backend", [p for backend in BACKENDS for p in params(backend)])
def test_onnx_node_case(name, backend):
    model, feeds, expected = PREPARED[name]
    rtol, atol = TOLERANCE.get(name, (1e-4, 1e-5))
    session = maku.load(model.SerializeToString(), backend=backend)
    for data_set, (feed, outputs) in enumerate(zip(feeds, expected)):
        actual = session.run(feed)
        assert len(actual) == len(outputs), f"{len(actual)} outputs, expected {len(outputs)}"
        for (out_name, got), want in zip(actual.items(), outputs):
            where = f"data set {data_set}, output {out_name!r}"
            assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} != {want.dtype}"
            assert got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}"
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=where)


@pytest.mark.parametrize("name", sorted(n for n in RUNNABLE if exclusion(n) and "refused" in exclusion(n)))
def test_excluded_case_is_refused_with_a_typed_error(name):
    """What maku does not run, it refuses at load with UnsupportedOpError naming the node, never a crash."""
    model = PREPARED[name][0]
    with pytest.raises(UnsupportedOpError) as info:
        maku.load(model.SerializeToString())
    named = {n.name for n in model.graph.node if n.name} | {n.op_type for n in model.graph.node}
    named |= {vi.name for vi in [*model.graph.input, *model.graph.output]}  # an unsupported element type
    assert any(f"{x}" in str(info.value) for x in named), str(info.value)
