"""Export a maku.nn model to ONNX: trace one eval-mode forward into maku's IR, then write it.

The trace is the autograd graph itself: every op records its name and attributes (see
`maku.autograd.record`), so running the model once on an input that requires grad yields the
whole dataflow. Layout: maku models are channels-last, ONNX convolutions are NCHW. The exported
graph takes the same NHWC input as the maku model and returns the same output; it transposes a
4-D activation to NCHW just before the first op that needs it (Conv, pooling, BatchNormalization)
and keeps it NCHW through layout-agnostic ops, remapping axes and constants, so a MobileNet has a
single Transpose at its start. HWIO conv weights are written as OIHW.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maku.autograd import _topological_order
from maku.errors import ShapeError, UnsupportedOpError
from maku.ir.graph import Graph, Node, Value

OPSET = 17
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
UNARY = {
    "Relu": "Relu",
    "Sigmoid": "Sigmoid",
    "HardSwish": "HardSwish",
    "Neg": "Neg",
    "Exp": "Exp",
    "Log": "Log",
    "Sqrt": "Sqrt",
    "Tanh": "Tanh",
    "Abs": "Abs",
}
BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div"}
NEEDS_NCHW = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization"}


class _Tracer:
    """Turns a recorded autograd graph into IR nodes, tracking which values are NCHW."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.constants: dict[str, np.ndarray] = {}
        self.names: dict[int, str] = {}  # id(tensor) -> IR value name
        self.nchw: set[str] = set()  # values stored NCHW in the graph (4-D NHWC in maku)
        self.ndim: dict[str, int] = {}
        self._count = 0

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def emit(self, op: str, inputs: list[str], ndim: int, nchw: bool = False, **attrs: Any) -> str:
        out = self.fresh(op.lower())
        self.nodes.append(Node(op, self.fresh(f"{op}_node"), inputs, [out], attrs))
        self.ndim[out] = ndim
        if nchw:
            self.nchw.add(out)
        return out

    def constant(self, array: np.ndarray, base: str = "const") -> str:
        name = self.fresh(base)
        self.constants[name] = np.asarray(array)
        self.ndim[name] = np.ndim(array)
        return name

    def to_layout(self, name: str, nchw: bool) -> str:
        """`name` in the wanted layout, transposing (or re-laying a constant) when needed."""
        if (name in self.nchw) == nchw or self.ndim[name] != 4:
            return name
        if name in self.constants:
            return self.constant(self.constants[name].transpose(TO_NCHW if nchw else TO_NHWC))
        return self.emit("Transpose", [name], 4, nchw, perm=list(TO_NCHW if nchw else TO_NHWC))

    def operand_for(self, name: str, partner: str) -> str:
        """A binary-op operand laid out to broadcast against `partner` as it did in maku."""
        if partner not in self.nchw:
            return self.to_layout(name, False)
        if name in self.constants:  # numpy-broadcast to rank 4, then into NCHW order
            array = self.constants[name]
            if array.ndim < 4:
                array = array.reshape((1,) * (4 - array.ndim) + array.shape)
            return self.constant(array.transpose(TO_NCHW))
        if self.ndim[name] == 4:
            return self.to_layout(name, True)
        raise UnsupportedOpError(
            f"export: broadcasting a rank-{self.ndim[name]} activation against an NCHW one"
        )

    def axis(self, name: str, axis: int) -> int:
        """Map a maku (NHWC) axis to the graph's axis for value `name`."""
        ndim = self.ndim[name]
        axis %= ndim
        return TO_NHWC[axis] if name in self.nchw else axis


def _attr_pairs(values: Sequence[int]) -> list[int]:
    return [int(v) for v in values]


def _convert(tracer: _Tracer, tensor: Any, parents: list[str]) -> str:
    """Emit the IR nodes for one recorded op; returns its output's name."""
    op, attrs, ndim = tensor._op, tensor._attrs, tensor.ndim
    if op in UNARY:
        x = parents[0]
        return tracer.emit(UNARY[op], [x], ndim, x in tracer.nchw)
    if op in BINARY:
        a, b = parents
        big = a if tracer.ndim[a] >= tracer.ndim[b] and a not in tracer.constants else b
        a, b = tracer.operand_for(a, big), tracer.operand_for(b, big)
        return tracer.emit(BINARY[op], [a, b], ndim, big in tracer.nchw)
    if op == "Pow":
        x = parents[0]
        return tracer.emit(
            "Pow", [x, tracer.constant(np.asarray(attrs["exponent"], np.float32))], ndim, x in tracer.nchw
        )
    if op == "Clip":
        x = parents[0]
        bounds = [tracer.constant(np.asarray(attrs[k], np.float32)) for k in ("min", "max")]
        return tracer.emit("Clip", [x, *bounds], ndim, x in tracer.nchw)
    if op == "HardSigmoid":
        x = parents[0]
        return tracer.emit(
            "HardSigmoid", [x], ndim, x in tracer.nchw, alpha=attrs["alpha"], beta=attrs["beta"]
        )
    if op in ("Softmax", "LogSoftmax"):
        x = parents[0]
        return tracer.emit(op, [x], ndim, x in tracer.nchw, axis=tracer.axis(x, attrs["axis"]))
    if op == "Conv":
        x = tracer.to_layout(parents[0], True)
        w = tracer.constant(tracer.constants[parents[1]].transpose(3, 2, 0, 1), "weight_oihw")
        return tracer.emit(
            "Conv",
            [x, w, *parents[2:]],
            4,
            True,
            strides=_attr_pairs(attrs["strides"]),
            pads=_attr_pairs(attrs["pads"]),
            dilations=_attr_pairs(attrs["dilations"]),
            group=int(attrs["groups"]),
        )
    if op == "BatchNormalization":
        x = tracer.to_layout(parents[0], True) if ndim == 4 else parents[0]
        stats = [tracer.constant(attrs[k].astype(np.float32), k) for k in ("mean", "var")]
        return tracer.emit(
            "BatchNormalization",
            [x, parents[1], parents[2], *stats],
            ndim,
            ndim == 4,
            epsilon=float(attrs["epsilon"]),
        )
    if op in ("MaxPool", "AveragePool"):
        x = tracer.to_layout(parents[0], True)
        spec = dict(
            kernel_shape=_attr_pairs(attrs["kernel_shape"]),
            strides=_attr_pairs(attrs["strides"]),
            pads=_attr_pairs(attrs["pads"]),
            ceil_mode=int(attrs["ceil_mode"]),
        )
        if op == "MaxPool":
            spec["dilations"] = _attr_pairs(attrs["dilations"])
        else:
            spec["count_include_pad"] = int(attrs["count_include_pad"])
        return tracer.emit(op, [x], 4, True, **spec)
    if op == "GlobalAveragePool":
        return tracer.emit(op, [tracer.to_layout(parents[0], True)], 4, True)
    if op == "ReduceMean" or op == "ReduceSum":
        x = parents[0]
        rank = tracer.ndim[x]
        axes = {
            int(a) % rank for a in (range(rank) if attrs["axis"] is None else np.atleast_1d(attrs["axis"]))
        }
        if x in tracer.nchw and not attrs["keepdims"]:
            kept_maku = [a for a in range(rank) if a not in axes]
            kept_graph = [a for a in TO_NCHW if a not in axes]
            if kept_maku != kept_graph:  # dropping axes would leave them in another order than maku's
                x = tracer.to_layout(x, False)
        mapped = sorted(tracer.axis(x, a) for a in axes)
        nchw = x in tracer.nchw and bool(attrs["keepdims"])
        if op == "ReduceSum":
            return tracer.emit(
                op,
                [x, tracer.constant(np.asarray(mapped, np.int64))],
                ndim,
                nchw,
                keepdims=int(attrs["keepdims"]),
            )
        return tracer.emit(op, [x], ndim, nchw, axes=mapped, keepdims=int(attrs["keepdims"]))
    if op == "Reshape":
        x = parents[0]
        if x in tracer.nchw and not (tracer.ndim[x] == 4 and tensor._parents[0].shape[1:3] == (1, 1)):
            x = tracer.to_layout(x, False)  # NCHW and NHWC orders differ: go back to maku's order
        shape = list(attrs["shape"])
        if tensor._parents[0].shape[0] == shape[0]:
            shape[0] = 0  # keep the batch dimension symbolic (ONNX: 0 copies the input's dim)
        return tracer.emit("Reshape", [x, tracer.constant(np.asarray(shape, np.int64), "shape")], ndim)
    if op == "Transpose":
        x = tracer.to_layout(parents[0], False)
        return tracer.emit("Transpose", [x], ndim, perm=[int(p) for p in attrs["perm"]])
    if op == "Concat":
        first = next((p for p in parents if p not in tracer.constants), parents[0])
        nchw = first in tracer.nchw
        inputs = [tracer.to_layout(p, nchw) for p in parents]
        return tracer.emit("Concat", inputs, ndim, nchw, axis=tracer.axis(first, attrs["axis"]))
    if op == "Gemm":
        x = tracer.to_layout(parents[0], False)
        if tracer.ndim[x] == 2:
            return tracer.emit("Gemm", [x, *parents[1:]], 2, transB=1)
        w_t = tracer.constant(tracer.constants[parents[1]].T, "weight_t")
        y = tracer.emit("MatMul", [x, w_t], ndim)
        return tracer.emit("Add", [y, parents[2]], ndim) if len(parents) > 2 else y
    if op == "BatchNormTrain":
        raise UnsupportedOpError("export: BatchNorm ran in training mode; the model must be in eval mode")
    raise UnsupportedOpError(
        f"export: op {op!r} has no ONNX mapping; supported: {sorted(set(UNARY) | set(BINARY) | NEEDS_NCHW)} "
        "and Clip, HardSigmoid, Softmax, LogSoftmax, Pow, ReduceMean, ReduceSum, Reshape, Transpose, Concat, Gemm"
    )


def trace(
    model: Any,
    example_input: np.ndarray,
    input_name: str = "input",
    output_name: str = "output",
    input_dtype: np.dtype | None = None,
) -> Graph:
    """Run `model` once in eval mode and return its dataflow as a maku IR Graph (ONNX op names).

    The graph input has the example's shape with a symbolic batch dimension "N"; with
    `input_dtype` (e.g. uint8) the input has that type and is cast to float32 first.
    """
    from maku.autograd import is_grad_enabled
    from maku.tensor import Tensor

    if not is_grad_enabled():
        raise ShapeError("export: tracing needs grad mode; do not call it inside maku.no_grad()")
    was_training = model.training
    model.eval()
    x = Tensor(np.asarray(example_input, np.float32), requires_grad=True)
    try:
        y = model(x)
    finally:
        model.train(was_training)
    if not y.requires_grad:
        raise ShapeError("export: the model's output does not depend on its input or parameters")
    tracer = _Tracer()
    param_names = {id(p): name for name, p in model.named_parameters()}
    graph_input = Value(input_name, np.dtype(input_dtype or np.float32), ("N", *x.shape[1:]))
    tracer.ndim[input_name] = x.ndim
    if input_dtype is not None and np.dtype(input_dtype) != np.float32:
        tracer.names[id(x)] = tracer.emit("Cast", [input_name], x.ndim, to=np.dtype(np.float32))
    else:
        tracer.names[id(x)] = input_name

    def name_of(t: Tensor) -> str:
        """The value name of a traced tensor; leaves (parameters, constant operands) become constants."""
        if id(t) not in tracer.names:
            tracer.names[id(t)] = tracer.constant(t.data, param_names.get(id(t), "const"))
        return tracer.names[id(t)]

    for node in _topological_order(y):
        if node._op is not None and id(node) not in tracer.names:
            tracer.names[id(node)] = _convert(tracer, node, [name_of(p) for p in node._parents])
    result = tracer.to_layout(name_of(y), False)
    tracer.nodes.append(Node("Identity", output_name + "_node", [result], [output_name]))
    batched = y.ndim > 0 and y.shape[0] == x.shape[0]
    outputs = [Value(output_name, np.dtype(np.float32), ("N", *y.shape[1:]) if batched else y.shape)]
    graph = Graph(
        tracer.nodes, [graph_input], outputs, tracer.constants, name=type(model).__name__, opset=OPSET
    )
    graph.remove_unused()  # e.g. HWIO weights replaced by their OIHW copies
    graph.validate()
    return graph


def graph_to_onnx(graph: Graph) -> Any:
    """An onnx ModelProto for an IR graph whose ops are ONNX ops."""
    import onnx
    from onnx import helper, numpy_helper

    def value_info(v: Value) -> Any:
        dims = None if v.shape is None else [d if d is not None else "?" for d in v.shape]
        return helper.make_tensor_value_info(v.name, helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype)), dims)

    def attribute(value: Any) -> Any:
        if isinstance(value, np.dtype):
            return helper.np_dtype_to_tensor_dtype(value)
        return value

    nodes = [
        helper.make_node(n.op, n.inputs, n.outputs, n.name, **{k: attribute(v) for k, v in n.attrs.items()})
        for n in graph.nodes
    ]
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(a), name) for name, a in graph.constants.items()
    ]
    onnx_graph = helper.make_graph(
        nodes,
        graph.name,
        [value_info(v) for v in graph.inputs],
        [value_info(v) for v in graph.outputs],
        initializers,
    )
    model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", graph.opset)], producer_name="maku"
    )
    model.ir_version = 8
    helper.set_model_props(model, dict(graph.metadata))
    onnx.checker.check_model(model)
    return model


def export(
    model: Any,
    example_input: np.ndarray,
    path: str | Path,
    metadata: Mapping[str, str] | None = None,
    input_dtype: np.dtype | None = None,
) -> Graph:
    """Trace `model` (eval mode) on `example_input` (NHWC) and write ONNX to `path`; returns the IR.

    The ONNX model takes the same NHWC input and gives the same output as the maku model.
    """
    import onnx

    graph = trace(model, example_input, input_dtype=input_dtype)
    graph.metadata.update(metadata or {})
    onnx.save(graph_to_onnx(graph), str(path))
    return graph


def export_classifier(
    model: Any,
    path: str | Path,
    image_shape: tuple[int, int, int],
    mean: Sequence[float],
    std: Sequence[float],
    metadata: Mapping[str, str] | None = None,
) -> Graph:
    """Export an image classifier that takes raw uint8 RGB pixels (N, H, W, C) and normalizes them
    inside the graph: x -> (x / 255 - mean) / std -> model."""
    from maku.nn.module import Module

    class RawPixels(Module):
        def __init__(self, inner: Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            scaled = x * np.float32(1 / 255)
            return self.inner((scaled - np.asarray(mean, np.float32)) / np.asarray(std, np.float32))

    wrapper = RawPixels(model).train(model.training)  # export restores this mode afterwards
    example = np.zeros((1, *image_shape), np.float32)
    return export(wrapper, example, path, metadata, input_dtype=np.uint8)
