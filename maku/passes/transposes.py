"""Transpose clean-up: compose chains, drop identities, and move transposes towards inputs.

After the layout pass, an exporter's own NHWC↔NCHW transposes meet maku's boundary
transposes; composing them usually gives the identity, which is removed. A transpose that
follows a cheap elementwise op (Cast, or arithmetic with a scalar) is moved before it, so the
boundary transpose of an image input lands on the input itself, where `input_layout="NHWC"`
can drop it.
"""

from __future__ import annotations

import numpy as np

from maku.ir.graph import Graph, Node
from maku.ir.infer import infer_graph
from maku.passes.eliminate import bypass

_MOVABLE = ("Cast", "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip", "Add", "Sub", "Mul", "Div")


def cancel_transposes(graph: Graph) -> Graph:
    changed = True
    while changed:
        changed = _compose_pairs(graph) | _drop_identities(graph) | _hoist_over_elementwise(graph)
    graph.remove_unused()
    infer_graph(graph)
    return graph


def _perm(node: Node, rank: int) -> list[int]:
    return list(node.attrs.get("perm") or range(rank)[::-1])


def _compose_pairs(graph: Graph) -> bool:
    changed = False
    producers = graph.producers()
    for node in graph.nodes:
        if node.op != "Transpose":
            continue
        inner = producers.get(node.inputs[0])
        if inner is None or inner.op != "Transpose":
            continue
        p_inner = _perm(inner, len(node.attrs.get("perm") or []))
        node.attrs["perm"] = [p_inner[p] for p in _perm(node, len(p_inner))]
        node.inputs = [inner.inputs[0]]
        changed = True
    if changed:
        graph.remove_unused()
    return changed


def _drop_identities(graph: Graph) -> bool:
    changed = False
    for node in list(graph.nodes):
        if node.op == "Transpose" and node.attrs.get("perm") == sorted(node.attrs.get("perm") or [0, -1]):
            if node.outputs[0] in graph.output_names and node.inputs[0] in graph.input_names:
                continue
            bypass(graph, node, node.inputs[0])
            changed = True
    return changed


def _hoist_over_elementwise(graph: Graph) -> bool:
    """Rewrite op(x, scalars) → Transpose into Transpose(x) → op, when op feeds only it."""
    producers, consumers = graph.producers(), graph.consumers()
    for t in graph.nodes:
        if t.op != "Transpose":
            continue
        op = producers.get(t.inputs[0])
        if op is None or op.op not in _MOVABLE or len(consumers.get(op.outputs[0], [])) != 1:
            continue
        if op.outputs[0] in graph.output_names:
            continue
        data = [i for i in op.inputs[: 1 if op.op == "Clip" else None] if i and not _is_scalar(graph, i)]
        if len(data) != 1:
            continue
        x = data[0]
        moved = graph.fresh_name(f"{x}_t")
        new_t = Node("Transpose", t.name, [x], [moved], dict(t.attrs))
        op.inputs = [moved if i == x else i for i in op.inputs]
        op.outputs = [t.outputs[0]]
        graph.nodes.remove(t)
        graph.nodes.insert(graph.nodes.index(op), new_t)
        return True
    return False


def _is_scalar(graph: Graph, name: str) -> bool:
    c = graph.constants.get(name)
    return c is not None and np.size(c) == 1
