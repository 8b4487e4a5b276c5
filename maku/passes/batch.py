"""Let models exported with a fixed batch of 1 run at any batch size.

Exporters often declare image inputs as [1, 3, 224, 224] and bake the 1 into Reshape targets
([1, 1001], [1, C, 1, 1]). This pass renames the batch dimension of 4-D inputs to the symbol
"N" and rewrites such Reshape targets to copy the batch (0) instead. If the graph does not
then carry "N" through to every output, the original graph is kept: batch stays fixed.
"""

from __future__ import annotations

import numpy as np

from maku.errors import ShapeError
from maku.ir.graph import Graph
from maku.ir.infer import infer_graph

BATCH = "N"


def generalize_batch(graph: Graph) -> Graph:
    candidate = graph.copy()
    changed = False
    for v in candidate.inputs:
        if v.shape is not None and len(v.shape) == 4 and v.shape[0] == 1:
            v.shape = (BATCH,) + tuple(v.shape[1:])
            candidate.values[v.name] = v
            changed = True
    if not changed:
        return graph
    try:
        _rewrite_reshapes(candidate)
        infer_graph(candidate)
    except ShapeError:
        return graph
    for out in candidate.outputs:
        shape = candidate.value(out.name).shape
        if not shape or shape[0] != BATCH:
            return graph
        out.shape = shape
    return candidate


def _rewrite_reshapes(graph: Graph) -> None:
    """Reshape(x: [N, ...], target [1, rest...]) → target [0, rest...] when the rest matches."""
    infer_graph(graph)
    for node in graph.nodes:
        if node.op != "Reshape" or node.inputs[1] not in graph.constants:
            continue
        target = graph.constants[node.inputs[1]].astype(np.int64).reshape(-1)
        shape = graph.value(node.inputs[0]).shape
        if len(target) == 0 or target[0] != 1 or not shape or shape[0] != BATCH:
            continue
        rest_in = shape[1:]
        if not all(isinstance(d, int) for d in rest_in):
            continue
        rest = [d for d in target[1:] if d != -1]
        if -1 not in target[1:] and int(np.prod(rest)) != int(np.prod(rest_in)):
            continue
        new = graph.fresh_name(f"{node.inputs[1]}_batch")
        graph.constants[new] = np.concatenate([[0], target[1:]]).astype(np.int64)
        node.inputs = [node.inputs[0], new]
        # later nodes see the new batch symbol once inference runs again
        infer_graph(graph)
