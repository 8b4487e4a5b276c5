"""Build a one-node ONNX model with onnx.helper and run it in ONNX Runtime: the oracle for kernels.

    y, = run_node("Relu", {"X": x})
    y, = run_node("Conv", {"X": x, "W": w}, strides=[2, 2], pads=[1, 1, 1, 1])
Inputs become graph inputs in the order given (an empty name "" skips an optional input).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

OPSET = 18


# fused-activation kinds -> (ONNX attributes, maku alpha, maku beta)
ACTIVATIONS = {
    "Relu": ({}, 0.0, 0.0),
    "Clip": ({}, 0.0, 6.0),
    "HardSigmoid": ({"alpha": 0.3, "beta": 0.4}, 0.3, 0.4),
    "HardSwish": ({}, 0.0, 0.0),
    "Sigmoid": ({}, 0.0, 0.0),
}


def ort_activation(y: np.ndarray, kind: str | None) -> np.ndarray:
    """The activation `kind` applied by ONNX Runtime (Clip's bounds as inputs, as in opset >= 11)."""
    if kind is None:
        return y
    attrs, lo, hi = ACTIVATIONS[kind]
    if kind == "Clip":
        return run_node("Clip", {"X": y, "min": np.float32(lo), "max": np.float32(hi)})[0]
    return run_node(kind, {"X": y}, **attrs)[0]


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C), contiguous."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W), contiguous."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    """ONNX conv weight (Cout, Cin/G, KH, KW) -> maku's (KH, KW, Cin/G, Cout)."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def one_node_model(
    op_type: str, inputs: dict[str, np.ndarray], n_outputs: int = 1, opset: int = OPSET, **attrs: Any
) -> onnx.ModelProto:
    """A model holding one `op_type` node whose inputs are graph inputs named as in `inputs`."""
    out_names = [f"Y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, list(inputs), out_names, **attrs)
    graph_inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for name, a in inputs.items()
        if name
    ]
    graph_outputs = [helper.make_empty_tensor_value_info(name) for name in out_names]
    graph = helper.make_graph([node], f"one_{op_type}", graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def run_node(
    op_type: str, inputs: dict[str, np.ndarray], n_outputs: int = 1, opset: int = OPSET, **attrs: Any
) -> list[np.ndarray]:
    """Run one ONNX node in ONNX Runtime (CPU) and return its outputs."""
    inputs = {name: np.asarray(a) for name, a in inputs.items()}
    model = one_node_model(op_type, inputs, n_outputs, opset, **attrs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {name: a for name, a in inputs.items() if name})


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float = 1e-5) -> None:
    """Same shape, and max |actual - expected| <= rel * max(1, max |expected|)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if expected.size == 0:
        return
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
    assert err <= rel * scale, f"max abs diff {err:.3g} > {rel:g} * {scale:.3g}"
