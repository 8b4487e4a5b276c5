"""Fuse a conv's epilogue into it: a constant bias Add, one activation, then a residual Add.

conv → Add(conv, constant per-channel bias) folds into the conv's bias; conv → Relu | Clip(const, const) | HardSigmoid | HardSwish | Sigmoid becomes one node with
`activation` set; conv → Add(conv, skip) of the same shape becomes the conv's 4th input
(y = act(conv(x) + bias) + residual), so the kernel writes each output element once.
"""

from __future__ import annotations

import numpy as np

from maku.ir.graph import Graph, Node
from maku.ir.ops import resolved_attrs
from maku.passes.fuse_hardswish import scalar

FUSABLE = ("Relu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid")


def fuse_epilogues(graph: Graph) -> Graph:
    for node in list(graph.nodes):
        if node.op in ("maku.Conv", "maku.Gemm"):
            _fuse_bias(graph, node)
            _fuse_activation(graph, node)
    for node in list(graph.nodes):
        if node.op == "maku.Conv":
            _fuse_residual(graph, node)
    graph.toposort()  # a fused residual may be computed after the conv that now reads it
    return graph


def _absorb(graph: Graph, node: Node, follower: Node) -> None:
    """Remove `follower` (the only reader of node's output): node now writes follower's output,
    so the fused tensor keeps the name of the last op it contains (as in the ONNX model)."""
    node.outputs = [follower.outputs[0]]
    graph.nodes.remove(follower)


def _single_reader(graph: Graph, node: Node) -> Node | None:
    out = node.outputs[0]
    readers = graph.consumers().get(out, [])
    if len(readers) != 1 or out in graph.output_names:
        return None
    return readers[0]


def _fuse_bias(graph: Graph, node: Node) -> None:
    """conv(x) + c with c a constant of one value per output channel: add c to the bias."""
    add = _single_reader(graph, node)
    if add is None or add.op != "Add" or node.attrs.get("activation") or len(node.inputs) > 3:
        return
    out = node.outputs[0]
    const = add.inputs[1] if add.inputs[0] == out else add.inputs[0]
    c = graph.constants.get(const)
    channels = graph.constants[node.inputs[1]].shape[-1] if node.op == "maku.Conv" else None
    if c is None or channels is None or c.size not in (1, channels) or (c.size > 1 and c.shape[-1] != c.size):
        return
    old = graph.constants[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else 0.0
    bias = graph.fresh_name(f"{node.name}_bias")
    graph.constants[bias] = (np.broadcast_to(c.reshape(-1), (channels,)) + old).astype(np.float32)
    node.inputs = node.inputs[:2] + [bias]
    _absorb(graph, node, add)


def _fuse_activation(graph: Graph, node: Node) -> None:
    act = _single_reader(graph, node)
    if act is None or act.op not in FUSABLE or node.attrs.get("activation"):
        return
    if act.op == "Clip":
        lo = scalar(graph, act.inputs[1]) if len(act.inputs) > 1 and act.inputs[1] else float("-inf")
        hi = scalar(graph, act.inputs[2]) if len(act.inputs) > 2 and act.inputs[2] else float("inf")
        if lo is None or hi is None:
            return
        alpha, beta = lo, hi
    else:
        a = resolved_attrs(act)
        alpha, beta = a.get("alpha", 0.0), a.get("beta", 0.0)
    node.attrs.update(activation=act.op, act_alpha=float(alpha), act_beta=float(beta))
    _absorb(graph, node, act)


def _fuse_residual(graph: Graph, node: Node) -> None:
    add = _single_reader(graph, node)
    if add is None or add.op != "Add" or len(node.inputs) > 3:
        return
    out = node.outputs[0]
    skip = add.inputs[1] if add.inputs[0] == out else add.inputs[0]
    if skip == out or skip in graph.constants or graph.value(skip).shape != graph.value(out).shape:
        return
    if graph.value(out).shape is None:
        return
    node.inputs = node.inputs[:2] + [node.inputs[2] if len(node.inputs) > 2 else ""] + [skip]
    _absorb(graph, node, add)
