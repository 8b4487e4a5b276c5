"""Constant folding: evaluate every node whose inputs are known before the model runs.

Exporters emit Shape → Gather → Unsqueeze → Concat → Reshape chains and CastLike/Expand
chains; with the batch as a symbol those evaluate to shape tensors like ["N", -1]. A Reshape
whose target holds the input's own symbols gets them replaced by 0 ("copy this dimension"),
so the whole chain disappears and the Reshape keeps working for every batch size.
"""

from __future__ import annotations

import numpy as np

from maku.ir.graph import Graph, Node
from maku.ir.infer import infer_graph


def fold_constants(graph: Graph) -> Graph:
    known = infer_graph(graph)
    if _castlike_to_cast(graph):
        known = infer_graph(graph)
    kept: list[Node] = []
    for node in graph.nodes:
        if node.op == "Reshape" and node.inputs[1] in known and node.inputs[1] not in graph.constants:
            _make_static_reshape(graph, node, known[node.inputs[1]])
        if all(o in known and known[o].dtype != object for o in node.outputs if o) and not any(
            o in graph.output_names for o in node.outputs
        ):
            for o in node.outputs:
                if o:
                    graph.constants[o] = np.ascontiguousarray(known[o])
            continue
        kept.append(node)
    graph.nodes = kept
    graph.remove_unused()
    infer_graph(graph)
    return graph


def _castlike_to_cast(graph: Graph) -> bool:
    """CastLike needs only its second input's dtype: once that is known it is a plain Cast."""
    changed = False
    for node in graph.nodes:
        dtype = graph.value(node.inputs[1]).dtype if node.op == "CastLike" else None
        if dtype is not None:
            node.op, node.inputs, node.attrs = "Cast", node.inputs[:1], {"to": np.dtype(dtype).name}
            changed = True
    return changed


def _make_static_reshape(graph: Graph, node: Node, target: np.ndarray) -> None:
    """Turn a symbolic Reshape target into a constant one using 0 (copy) and -1 (infer)."""
    x_shape = graph.values[node.inputs[0]].shape
    dims = list(target.reshape(-1))
    symbolic = [i for i, d in enumerate(dims) if isinstance(d, str)]
    if not symbolic:
        resolved = [int(d) for d in dims]
    else:
        resolved = []
        for i, d in enumerate(dims):
            if isinstance(d, str):
                if x_shape is not None and i < len(x_shape) and x_shape[i] == d and not node.attrs.get("allowzero"):
                    resolved.append(0)
                elif -1 not in dims and sum(isinstance(e, str) for e in dims) == 1:
                    resolved.append(-1)
                else:
                    return  # cannot express statically; stays computed at plan time
            else:
                resolved.append(int(d))
    name = graph.fresh_name(f"{node.name}_shape")
    graph.constants[name] = np.array(resolved, dtype=np.int64)
    node.inputs = [node.inputs[0], name]
