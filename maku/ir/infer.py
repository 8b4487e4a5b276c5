"""Shape and dtype inference over a whole graph, with constant propagation.

Walks the nodes in order, fills `graph.values` with each tensor's dtype and shape, and returns
the tensors whose values are known without running the model: constants, and shape tensors
computed from shapes (a Shape of a tensor with a symbolic batch gives an object array holding
the symbol, e.g. ["N", 1280]). Constant folding and the planner both use this.
"""

from __future__ import annotations

import numpy as np

from maku.errors import MakuError, ShapeError
from maku.ir.graph import Graph, Node, Value
from maku.ir.ops import InferContext, resolved_attrs, schema

# ops whose output value is computed at inference time when all inputs are known
MAX_FOLD_ELEMENTS = 1 << 16  # do not materialize huge constants (e.g. an Expand to a big tensor)


def infer_graph(graph: Graph) -> dict[str, np.ndarray]:
    """Fill in every Value's dtype/shape; return the known (constant or symbolic) tensor values."""
    known: dict[str, np.ndarray] = dict(graph.constants)
    for name, arr in graph.constants.items():
        graph.values[name] = Value(name, arr.dtype, tuple(arr.shape))
    for node in graph.nodes:
        infer_node(graph, node, known)
    return known


def infer_node(graph: Graph, node: Node, known: dict[str, np.ndarray]) -> None:
    """Infer one node's outputs, and compute their values if its inputs are all known."""
    sch = schema(node.op)
    n_in = len(node.inputs)
    if not sch.inputs[0] <= n_in <= sch.inputs[1]:
        raise ShapeError(f"node {node.name!r} ({node.op}) has {n_in} inputs, expected {sch.inputs[0]}..{sch.inputs[1]}")
    ins = [graph.values.get(i) if i else None for i in node.inputs]
    if node.op == "Shape" and ins[0] is not None and ins[0].shape is not None:
        a = resolved_attrs(node)
        dims = list(ins[0].shape)[a["start"] : a["end"]]
        if None not in dims:
            known[node.outputs[0]] = np.array(dims, dtype=object if any(isinstance(d, str) for d in dims) else np.int64)
    ctx = InferContext(
        node=node,
        dtypes=[v.dtype if v is not None else None for v in ins],
        shapes=[v.shape if v is not None else None for v in ins],
        consts=[known.get(i) if i else None for i in node.inputs],
        attrs=resolved_attrs(node),
    )
    try:
        results = sch.infer(ctx)
    except MakuError:
        raise
    except Exception as exc:  # a bug or an unusual case in a shape function: name the node
        raise ShapeError(f"shape inference failed at node {node.name!r} ({node.op}): {exc}") from exc
    for out, (dtype, shape) in zip(node.outputs, results):
        if out:
            graph.values[out] = Value(out, None if dtype is None else np.dtype(dtype), None if shape is None else tuple(shape))
    _maybe_compute(graph, Node(node.op, node.name, node.inputs, node.outputs, ctx.attrs), sch, known)


def _maybe_compute(graph: Graph, node: Node, sch, known: dict[str, np.ndarray]) -> None:
    if sch.compute is None or node.outputs[0] in known:
        return
    if not all((not i) or i in known for i in node.inputs):
        return
    xs = [known[i] if i else None for i in node.inputs]
    if any(x is not None and x.size > MAX_FOLD_ELEMENTS and x.dtype == object for x in xs):
        return
    out_shape = graph.values[node.outputs[0]].shape
    if out_shape is not None and all(isinstance(d, int) for d in out_shape):
        if int(np.prod(out_shape)) > MAX_FOLD_ELEMENTS and not any(i in graph.constants for i in node.inputs):
            return
    try:
        values = sch.compute(node, xs)
    except (TypeError, ValueError) as exc:
        if any(x is not None and x.dtype == object for x in xs):
            return  # symbolic values this op cannot carry through
        raise ShapeError(f"cannot evaluate constant node {node.name!r} ({node.op}): {exc}") from exc
    for out, val in zip(node.outputs, values):
        if out:
            known[out] = np.asarray(val)
