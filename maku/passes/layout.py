"""Channels-last conversion: convolutions and pools run on NHWC tensors.

Walks the graph once, tracking which 4-D tensors physically hold NHWC data. Conv and pools
become maku.* ops (HWIO weights, explicit pads); elementwise ops, Concat, ReduceMean, Pad
and Transpose follow the layout of their inputs (constants are re-laid-out at compile time);
any other op gets its input transposed back. Transposes are therefore inserted only at the
boundaries, and `cancel_transposes` then composes and removes the pairs that meet.
"""

from __future__ import annotations

import numpy as np

from maku.errors import UnsupportedOpError
from maku.ir.graph import Graph, Node
from maku.ir.infer import infer_graph
from maku.ir.ops import OPS, resolved_attrs
from maku.kernels.conv import same_pads

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
NCHW_AXIS_TO_NHWC = (0, 3, 1, 2)  # ONNX axis a lives at physical axis NCHW_AXIS_TO_NHWC[a]
LAYOUT_AGNOSTIC = ("Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip", "Add", "Sub", "Mul", "Div", "Cast")


class _Converter:
    def __init__(self, graph: Graph):
        self.g = graph
        self.nhwc: set[str] = set()  # tensors holding NHWC data of a 4-D ONNX tensor
        self.cache: dict[tuple[str, tuple], str] = {}
        self.out: list[Node] = []

    # -- layout helpers ----------------------------------------------------------------
    def rank(self, name: str) -> int | None:
        shape = self.g.value(name).shape
        return None if shape is None else len(shape)

    def onnx_shape(self, name: str):
        return self.g.value(name).shape  # shapes below are inferred before conversion (ONNX layout)

    def transposed(self, name: str, perm: tuple) -> str:
        """`name` transposed by perm: a new constant, or a (cached) Transpose node."""
        key = (name, perm)
        if key not in self.cache:
            if name in self.g.constants:
                new = self.g.fresh_name(f"{name}_t")
                self.g.constants[new] = np.ascontiguousarray(self.g.constants[name].transpose(perm))
            else:
                new = self.g.fresh_name(f"{name}_{'nhwc' if perm == TO_NHWC else 'nchw'}")
                self.out.append(Node("Transpose", self.g.fresh_name("transpose"), [name], [new], {"perm": list(perm)}))
            self.cache[key] = new
        return self.cache[key]

    def as_nhwc(self, name: str) -> str:
        return name if name in self.nhwc else self.transposed(name, TO_NHWC)

    def as_nchw(self, name: str) -> str:
        return self.transposed(name, TO_NCHW) if name in self.nhwc else name

    def emit(self, node: Node, nhwc_out: bool) -> None:
        self.out.append(node)
        if nhwc_out:
            self.nhwc.update(o for o in node.outputs if o)

    # -- per-op conversion -------------------------------------------------------------
    def convert(self, node: Node) -> None:
        handler = getattr(self, f"_{node.op}", None)
        if handler is not None and handler(node):
            return
        if node.op in LAYOUT_AGNOSTIC and self._elementwise(node):
            return
        node.inputs = [self.as_nchw(i) if i else i for i in node.inputs]
        self.emit(node, False)

    def _pads(self, node: Node, kernel: list[int], strides, dilations) -> list[int]:
        a = resolved_attrs(node)
        if a["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
            shape = self.onnx_shape(node.inputs[0])
            if shape is None or not all(isinstance(d, int) for d in shape[2:]):
                raise UnsupportedOpError(f"node {node.name!r} ({node.op}): auto_pad needs static spatial sizes")
            return list(same_pads(tuple(shape[2:]), kernel, strides, dilations, a["auto_pad"]))
        if a["auto_pad"] == "VALID" or not a["pads"]:
            return [0, 0, 0, 0]
        return list(a["pads"])

    def _Conv(self, node: Node) -> bool:
        a = resolved_attrs(node)
        if node.inputs[1] not in self.g.constants:
            raise UnsupportedOpError(f"node {node.name!r} (Conv): weights computed at run time are not supported")
        w = self.g.constants[node.inputs[1]]
        kernel = list(w.shape[2:])
        strides, dilations = a["strides"] or [1, 1], a["dilations"] or [1, 1]
        w_name = self.g.fresh_name(f"{node.inputs[1]}_hwio")
        self.g.constants[w_name] = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
        attrs = {"strides": list(strides), "pads": self._pads(node, kernel, strides, dilations),
                 "dilations": list(dilations), "group": a["group"]}
        inputs = [self.as_nhwc(node.inputs[0]), w_name] + node.inputs[2:3]
        self.emit(Node("maku.Conv", node.name, inputs, node.outputs, attrs), True)
        return True

    def _pool(self, node: Node, op: str, extra: tuple[str, ...]) -> bool:
        a = resolved_attrs(node)
        kernel = list(a["kernel_shape"])
        strides = list(a["strides"] or [1, 1])
        dilations = list(a.get("dilations") or [1, 1])
        attrs = {"kernel_shape": kernel, "strides": strides, "pads": self._pads(node, kernel, strides, dilations),
                 **{k: a[k] for k in extra}}
        self.emit(Node(op, node.name, [self.as_nhwc(node.inputs[0])], node.outputs[:1], attrs), True)
        return True

    def _MaxPool(self, node: Node) -> bool:
        node.attrs.setdefault("dilations", [1, 1])
        return self._pool(node, "maku.MaxPool", ("ceil_mode", "dilations"))

    def _AveragePool(self, node: Node) -> bool:
        if self._covers_whole_input(node):  # TF's global pooling: one mean per channel
            self.emit(Node("maku.GlobalAveragePool", node.name, [self.as_nhwc(node.inputs[0])], node.outputs[:1]), True)
            return True
        return self._pool(node, "maku.AveragePool", ("ceil_mode", "count_include_pad"))

    def _covers_whole_input(self, node: Node) -> bool:
        a = resolved_attrs(node)
        shape = self.onnx_shape(node.inputs[0])
        no_pads = a["auto_pad"] in ("NOTSET", "VALID") and not any(a["pads"] or [])
        return bool(shape) and len(shape) == 4 and list(shape[2:]) == list(a["kernel_shape"]) and no_pads

    def _GlobalAveragePool(self, node: Node) -> bool:
        if self.rank(node.inputs[0]) != 4:
            return False
        self.emit(Node("maku.GlobalAveragePool", node.name, [self.as_nhwc(node.inputs[0])], node.outputs), True)
        return True

    def _elementwise(self, node: Node) -> bool:
        n_data = 1 if node.op == "Clip" else len(node.inputs)
        data = node.inputs[:n_data]
        if not any(i in self.nhwc for i in data):
            return False
        new_inputs = []
        for i in data:
            if i in self.nhwc:
                new_inputs.append(i)
            elif i in self.g.constants:
                new_inputs.append(self._constant_as_nhwc(i))
            elif self.rank(i) == 4:
                new_inputs.append(self.as_nhwc(i))
            else:
                return False  # a computed operand of lower rank: keep ONNX layout
        node.inputs = new_inputs + node.inputs[n_data:]
        self.emit(node, True)
        return True

    def _constant_as_nhwc(self, name: str) -> str:
        c = self.g.constants[name]
        if c.size == 1:
            return name
        key = (name, "nhwc-broadcast")
        if key not in self.cache:
            new = self.g.fresh_name(f"{name}_nhwc")
            self.g.constants[new] = np.ascontiguousarray(c.reshape((1,) * (4 - c.ndim) + c.shape).transpose(TO_NHWC))
            self.cache[key] = new
        return self.cache[key]

    def _Concat(self, node: Node) -> bool:
        if not all(i in self.nhwc for i in node.inputs):
            return False
        node.attrs["axis"] = NCHW_AXIS_TO_NHWC[node.attrs["axis"] % 4]
        self.emit(node, True)
        return True

    def _ReduceMean(self, node: Node) -> bool:
        x = node.inputs[0]
        a = resolved_attrs(node)
        if x not in self.nhwc or not a["axes"]:
            return False
        axes = {ax % 4 for ax in a["axes"]}
        kept = [ax for ax in range(4) if ax not in axes]
        if not a["keepdims"] and not (set(kept) <= {0, 1} or set(kept) <= {0, 2, 3}):
            return False  # the kept axes would come out in a different order
        node.attrs["axes"] = sorted(NCHW_AXIS_TO_NHWC[ax] for ax in axes)
        self.emit(node, bool(a["keepdims"]))
        return True

    def _Transpose(self, node: Node) -> bool:
        x = node.inputs[0]
        if x not in self.nhwc:
            return False
        perm = resolved_attrs(node)["perm"] or [3, 2, 1, 0]
        node.attrs["perm"] = [NCHW_AXIS_TO_NHWC[p] for p in perm]
        self.emit(node, False)
        return True

    def _Pad(self, node: Node) -> bool:
        x, pads = node.inputs[0], node.inputs[1]
        if x not in self.nhwc or pads not in self.g.constants:
            return False
        p = self.g.constants[pads].reshape(2, 4)
        new = self.g.fresh_name(f"{pads}_nhwc")
        self.g.constants[new] = np.ascontiguousarray(p[:, list(TO_NHWC)].reshape(-1))
        node.inputs = [x, new] + node.inputs[2:]
        self.emit(node, True)
        return True

    def _spatial_is_1x1(self, name: str) -> bool:
        shape = self.onnx_shape(name)
        return shape is not None and len(shape) == 4 and shape[2] == 1 and shape[3] == 1

    def _Flatten(self, node: Node) -> bool:
        if node.inputs[0] not in self.nhwc or not self._spatial_is_1x1(node.inputs[0]):
            return False
        if resolved_attrs(node)["axis"] != 1:
            return False
        self.emit(node, False)  # (N,1,1,C) and (N,C,1,1) hold the same bytes in the same order
        return True

    def _Reshape(self, node: Node) -> bool:
        x, target = node.inputs
        if x not in self.nhwc or not self._spatial_is_1x1(x) or target not in self.g.constants:
            return False
        if any(int(d) == 0 for d in self.g.constants[target].reshape(-1)[1:]):
            return False
        self.emit(node, False)
        return True

    def _Squeeze(self, node: Node) -> bool:
        axes = resolved_attrs(node)["axes"]
        if node.inputs[0] not in self.nhwc or axes is None or {a % 4 for a in axes} != {2, 3}:
            return False
        node.attrs["axes"] = [1, 2]
        self.emit(node, False)
        return True


def to_channels_last(graph: Graph) -> Graph:
    """Convert the graph to NHWC convolutions with transposes only at layout boundaries."""
    infer_graph(graph)
    conv = _Converter(graph)
    for node in graph.nodes:
        if node.op not in OPS:
            raise UnsupportedOpError(f"node {node.name!r}: op {node.op!r} is not supported")
        conv.convert(node)
    for v in graph.outputs:
        if v.name in conv.nhwc:
            _expose_as_nchw(graph, conv, v.name)
    graph.nodes = conv.out
    graph.toposort()
    infer_graph(graph)
    return graph


def _expose_as_nchw(graph: Graph, conv: _Converter, public: str) -> None:
    """A graph output keeps its ONNX (NCHW) layout: its producer writes a private NHWC tensor."""
    private = graph.fresh_name(f"{public}_nhwc")
    for n in conv.out:
        n.outputs = [private if o == public else o for o in n.outputs]
        n.inputs = [private if i == public else i for i in n.inputs]
    conv.out.append(Node("Transpose", graph.fresh_name("to_nchw"), [private], [public], {"perm": list(TO_NCHW)}))
