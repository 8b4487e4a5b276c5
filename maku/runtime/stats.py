"""Model statistics: parameters, multiply-accumulates per node, memory plan figures.

MACs come from `maku.plan.planner.node_macs`: convolutions and matrix products at the plan's
concrete shapes, so they are per run at the plan's batch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maku.ir.graph import Graph
from maku.plan.planner import node_macs
from maku.runtime.session import Session


def count_parameters(graph: Graph) -> int:
    """Number of floating-point constant elements (weights and biases, not shape tensors)."""
    return sum(int(a.size) for a in graph.constants.values() if np.asarray(a).dtype.kind == "f")


def model_summary(session: Session, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """What `maku info` reports: I/O, node counts, op histograms, parameters, MACs and memory."""
    plan = session.executor_for(feeds).plan
    memory = plan.memory
    return {
        "model": session.origin,
        "inputs": [_io(i.name, i.dtype, i.shape) for i in session.inputs],
        "outputs": [_io(o.name, o.dtype, o.shape) for o in session.outputs],
        "input_shapes": {name: list(x.shape) for name, x in feeds.items()},
        "nodes_imported": len(session.source_graph.nodes),
        "nodes_optimized": len(session.graph.nodes),
        "ops_imported": session.source_graph.op_histogram(),
        "ops_optimized": session.graph.op_histogram(),
        "parameters": count_parameters(session.source_graph),
        "macs": sum(node_macs(plan, n) for n in plan.nodes),
        "arena_bytes": memory.arena_bytes,
        "intermediate_bytes": memory.total_bytes,
        "lower_bound_bytes": memory.lower_bound,
    }


def _io(name: str, dtype, shape) -> dict[str, Any]:
    return {
        "name": name,
        "dtype": None if dtype is None else np.dtype(dtype).name,
        "shape": None if shape is None else [d if isinstance(d, (int, str)) else "?" for d in shape],
    }
