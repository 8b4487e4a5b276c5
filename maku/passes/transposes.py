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
        infer_graph(graph)
        changed = (
            _compose_pairs(graph)
            | _drop_identities(graph)
            | _hoist_over_elementwise(graph)
            | _transposes_as_reshapes(graph)
            | _merge_reshapes(graph)
        )
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
    """Rewrite op(x, scalars) → Transpose into Transpose(x) → op, when op feeds only it and x
    comes from a graph input or another transpose: the boundary transpose lands on the (uint8)
    input, or meets the other transpose and cancels."""
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
        if not _fed_by_input(graph, x, producers):
            continue  # only worth it when the transpose then lands on a graph input
        moved = graph.fresh_name(f"{x}_t")
        new_t = Node("Transpose", t.name, [x], [moved], dict(t.attrs))
        op.inputs = [moved if i == x else i for i in op.inputs]
        op.outputs = [t.outputs[0]]
        graph.nodes.remove(t)
        graph.nodes.insert(graph.nodes.index(op), new_t)
        return True
    return False


def _transposes_as_reshapes(graph: Graph) -> bool:
    """A transpose that only moves size-1 axes keeps the byte order: it is a (free) Reshape."""
    changed = False
    for t in graph.nodes:
        if t.op != "Transpose":
            continue
        shape = graph.value(t.inputs[0]).shape
        if shape is None or any(d is None for d in shape):
            continue
        perm = _perm(t, len(shape))
        moved = [p for p in perm if shape[p] != 1]
        if moved != sorted(moved) or any(isinstance(shape[p], str) and p != i for i, p in enumerate(perm)):
            continue
        target = [0 if isinstance(shape[p], str) else shape[p] for p in perm]
        name = graph.fresh_name(f"{t.name}_shape")
        graph.constants[name] = np.array(target, dtype=np.int64)
        t.op, t.attrs, t.inputs = "Reshape", {}, [t.inputs[0], name]
        changed = True
    return changed


def _merge_reshapes(graph: Graph) -> bool:
    """Reshape(Reshape(x, a), b) → Reshape(x, b); a Reshape to the shape it already has → removed."""
    producers, consumers = graph.producers(), graph.consumers()
    for r in graph.nodes:
        if r.op != "Reshape" or r.inputs[1] not in graph.constants:
            continue
        x_shape, y_shape = graph.value(r.inputs[0]).shape, graph.value(r.outputs[0]).shape
        if x_shape is not None and x_shape == y_shape and None not in x_shape:
            if not (r.outputs[0] in graph.output_names and r.inputs[0] in graph.input_names):
                bypass(graph, r, r.inputs[0])
                return True
        inner = producers.get(r.inputs[0])
        target = graph.constants[r.inputs[1]].reshape(-1)
        if inner is None or inner.op != "Reshape" or len(consumers.get(inner.outputs[0], [])) != 1:
            continue
        if inner.outputs[0] in graph.output_names or any(d == 0 for d in target[1:]):
            continue
        src_shape = graph.value(inner.inputs[0]).shape
        if target[0] == 0 and (src_shape is None or graph.value(inner.outputs[0]).shape[0] != src_shape[0]):
            continue
        r.inputs = [inner.inputs[0], r.inputs[1]]
        return True
    return False


def _fed_by_input(graph: Graph, name: str, producers: dict[str, Node]) -> bool:
    """True if `name` is a graph input or a Transpose (which the moved one then meets), possibly
    reached through movable single-input ops."""
    while name not in graph.input_names:
        node = producers.get(name)
        if node is not None and node.op == "Transpose":
            return True
        if node is None or node.op not in _MOVABLE:
            return False
        data = [i for i in node.inputs[: 1 if node.op == "Clip" else None] if i and not _is_scalar(graph, i)]
        if len(data) != 1:
            return False
        name = data[0]
    return True


def _is_scalar(graph: Graph, name: str) -> bool:
    c = graph.constants.get(name)
    return c is not None and np.size(c) == 1
