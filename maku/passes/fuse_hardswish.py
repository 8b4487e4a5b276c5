"""Recognize activations that exporters write out as arithmetic.

relu6(x + 3) / 6 (or * 1/6) becomes HardSigmoid(alpha=1/6, beta=1/2); x * HardSigmoid(x)
becomes HardSwish(x); (x * relu6(x + 3)) / 6 becomes HardSwish(x) directly. relu6 is Clip
with constant bounds 0 and 6. Replaced intermediates die and are removed as dead code.
"""

from __future__ import annotations

import numpy as np

from maku.ir.graph import Graph, Node
from maku.ir.ops import resolved_attrs

SIXTH = 1.0 / 6.0


def fuse_hardswish(graph: Graph) -> Graph:
    for node in list(graph.nodes):
        if node.op in ("Div", "Mul"):
            x = _relu6_plus3_over6(graph, node)
            if x is not None:
                _replace(graph, node, Node("HardSigmoid", node.name, [x], list(node.outputs), {"alpha": SIXTH, "beta": 0.5}))
                continue
            x = _x_times_relu6_plus3_over6(graph, node)
            if x is not None:
                _replace(graph, node, Node("HardSwish", node.name, [x], list(node.outputs)))
    for node in list(graph.nodes):
        if node.op == "Mul":
            x = _x_times_hardsigmoid(graph, node)
            if x is not None:
                _replace(graph, node, Node("HardSwish", node.name, [x], list(node.outputs)))
    graph.remove_unused()
    return graph


def _replace(graph: Graph, old: Node, new: Node) -> None:
    graph.nodes[graph.nodes.index(old)] = new


def scalar(graph: Graph, name: str) -> float | None:
    """The value of a constant whose elements are all equal, else None."""
    c = graph.constants.get(name)
    if c is None or c.size == 0 or c.dtype == object:
        return None
    flat = c.reshape(-1)
    return float(flat[0]) if np.all(flat == flat[0]) else None


def _producer(graph: Graph, name: str, op: str) -> Node | None:
    n = graph.producers().get(name)
    return n if n is not None and n.op == op else None


def _over_six(graph: Graph, node: Node) -> str | None:
    """If node is t / 6 or t * (1/6) (either operand order for Mul), return t."""
    a, b = node.inputs
    if node.op == "Div":
        return a if _close(scalar(graph, b), 6.0) else None
    if _close(scalar(graph, b), SIXTH):
        return a
    if _close(scalar(graph, a), SIXTH):
        return b
    return None


def _relu6_of_x_plus3(graph: Graph, name: str) -> str | None:
    """If `name` is Clip(x + 3, 0, 6) (or Relu6 written so), return x."""
    clip = _producer(graph, name, "Clip")
    if clip is None or len(clip.inputs) < 3:
        return None
    if not (_close(scalar(graph, clip.inputs[1]), 0.0) and _close(scalar(graph, clip.inputs[2]), 6.0)):
        return None
    add = _producer(graph, clip.inputs[0], "Add")
    if add is None:
        return None
    a, b = add.inputs
    if _close(scalar(graph, b), 3.0):
        return a
    if _close(scalar(graph, a), 3.0):
        return b
    return None


def _relu6_plus3_over6(graph: Graph, node: Node) -> str | None:
    t = _over_six(graph, node)
    return None if t is None else _relu6_of_x_plus3(graph, t)


def _x_times_relu6_plus3_over6(graph: Graph, node: Node) -> str | None:
    t = _over_six(graph, node)
    mul = None if t is None else _producer(graph, t, "Mul")
    if mul is None:
        return None
    for x, other in (mul.inputs, mul.inputs[::-1]):
        if _relu6_of_x_plus3(graph, other) == x:
            return x
    return None


def _x_times_hardsigmoid(graph: Graph, node: Node) -> str | None:
    for x, other in (node.inputs, node.inputs[::-1]):
        hs = _producer(graph, other, "HardSigmoid")
        if hs is not None and hs.inputs[0] == x:
            a = resolved_attrs(hs)
            if _close(a["alpha"], SIXTH) and _close(a["beta"], 0.5):
                return x
    return None


def _close(v: float | None, target: float) -> bool:
    return v is not None and abs(v - target) <= 1e-6 * max(1.0, abs(target))
