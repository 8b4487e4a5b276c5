"""Model statistics: parameters, multiply-accumulates per node, memory plan figures.

MACs are counted for the ops that dominate a CNN (convolutions and matrix products) from the
plan's concrete shapes, so they are per run at the plan's batch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maku.ir.graph import Graph, Node
from maku.plan.planner import Plan
from maku.runtime.session import Session

CONV_OPS = ("maku.Conv", "Conv")
MATMUL_OPS = ("maku.Gemm", "Gemm", "MatMul")


def count_parameters(graph: Graph) -> int:
    """Number of floating-point constant elements (weights and biases, not shape tensors)."""
    return sum(int(a.size) for a in graph.constants.values() if np.asarray(a).dtype.kind == "f")


def node_macs(plan: Plan, node: Node) -> int:
    """Multiply-accumulates of one node at the plan's shapes; 0 for ops that are not conv/matmul."""
    if node.op == "maku.Conv":  # NHWC output, HWIO weight (KH, KW, Cin/groups, Cout)
        kh, kw, cin_per_group, _ = _shape(plan, node.inputs[1])
        return _size(_shape(plan, node.outputs[0])) * kh * kw * cin_per_group
    if node.op == "Conv":  # NCHW output, OIHW weight
        _, cin_per_group, *kernel = _shape(plan, node.inputs[1])
        return _size(_shape(plan, node.outputs[0])) * cin_per_group * _size(kernel)
    if node.op in MATMUL_OPS:
        a = _shape(plan, node.inputs[0])
        trans_a = node.op != "MatMul" and node.attrs.get("transA", 0)
        inner = a[-2] if trans_a else a[-1]
        return _size(_shape(plan, node.outputs[0])) * inner
    return 0


def _shape(plan: Plan, name: str) -> tuple[int, ...]:
    return tuple(plan.graph.constants[name].shape) if name in plan.graph.constants else plan.shapes[name]


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


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
