"""Recognize fully connected tails as one GEMM: Gemm, and MatMul (+ Add bias) by a constant.

The result is maku.Gemm, whose kernel is one BLAS call with the bias and any activation
applied in place; 1×1 convolutions need no pass, as the conv kernel picks its GEMM path.
"""

from __future__ import annotations

from maku.ir.graph import Graph, Node
from maku.passes.eliminate import bypass


def recognize_gemm(graph: Graph) -> Graph:
    consumers = graph.consumers()
    for node in list(graph.nodes):
        if node.op == "Gemm":
            node.op = "maku.Gemm"
        elif node.op == "MatMul" and _is_2d_by_constant(graph, node):
            node.op = "maku.Gemm"
            bias_add = _bias_add(graph, node, consumers)
            if bias_add is not None:
                bias = bias_add.inputs[1] if bias_add.inputs[0] == node.outputs[0] else bias_add.inputs[0]
                node.inputs = node.inputs + [bias]
                bypass(graph, bias_add, node.outputs[0])
                consumers = graph.consumers()
    return graph


def _is_2d_by_constant(graph: Graph, node: Node) -> bool:
    a, b = node.inputs
    shape = graph.value(a).shape
    return b in graph.constants and graph.constants[b].ndim == 2 and shape is not None and len(shape) == 2


def _bias_add(graph: Graph, node: Node, consumers) -> Node | None:
    out = node.outputs[0]
    readers = consumers.get(out, [])
    if len(readers) != 1 or readers[0].op != "Add" or out in graph.output_names:
        return None
    add = readers[0]
    other = add.inputs[1] if add.inputs[0] == out else add.inputs[0]
    n = graph.constants[node.inputs[1]].shape[1]
    c = graph.constants.get(other)
    if c is None or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
        return None
    return add
