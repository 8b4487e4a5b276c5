"""Planning: specialize an optimized graph to concrete input shapes and lay out its memory.

A Plan is made once per set of input shapes (in practice: per batch size) and cached by the
Session. It holds the schedule (the graph's node order), every tensor's concrete shape and
dtype, and one arena with an offset per activation tensor. Kernel preparation (weight packing,
scratch buffers) is the backend's job and happens once per plan, never per run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maku.errors import InputError, PlanError
from maku.ir.graph import Graph, Node
from maku.ir.ops import schema
from maku.ir.shapes import is_static
from maku.passes.fold_constants import fold_constants
from maku.plan.memory import MemoryPlan, TensorLife, compute_lifetimes, dead_after, plan_memory

# ops whose output is the input's bytes reinterpreted: they may share the input's memory
VIEW_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")


@dataclass
class Plan:
    """Everything a backend needs to run a graph for fixed input shapes."""

    graph: Graph  # specialized: static shapes everywhere, shape chains folded
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    memory: MemoryPlan
    lives: list[TensorLife]

    @property
    def nodes(self) -> list[Node]:
        return self.graph.nodes

    def nbytes(self, name: str) -> int:
        return int(np.prod(self.shapes[name], dtype=np.int64)) * self.dtypes[name].itemsize

    def dead_after(self) -> list[list[str]]:
        return dead_after(self.lives, len(self.graph.nodes))


def make_plan(graph: Graph, input_shapes: dict[str, tuple[int, ...]], *, reuse: bool = True) -> Plan:
    """Specialize `graph` to `input_shapes` and plan one arena for all its activations."""
    g = graph.copy()
    for v in g.inputs:
        v.shape = tuple(input_shapes[v.name])
        g.values[v.name].shape = v.shape
    fold_constants(g)
    shapes, dtypes = _static_types(g)
    planned = {n: shapes[n] for n in shapes if n not in g.constants}
    nbytes = {n: int(np.prod(s, dtype=np.int64)) * dtypes[n].itemsize for n, s in planned.items()}
    steps = [([i for i in n.inputs if i], [o for o in n.outputs if o]) for n in g.nodes]
    lives = compute_lifetimes(steps, g.input_names, g.output_names, nbytes, _inplace_candidates(g, shapes, dtypes))
    return Plan(g, shapes, dtypes, plan_memory(lives, reuse=reuse), lives)


def _static_types(g: Graph) -> tuple[dict[str, tuple[int, ...]], dict[str, np.dtype]]:
    producers = g.producers()
    shapes, dtypes = {}, {}
    for name, v in g.values.items():
        if name not in producers and name not in g.constants and name not in g.input_names:
            continue
        if not is_static(v.shape) or v.dtype is None:
            node = producers.get(name)
            where = f"node {node.name!r} ({node.op})" if node else f"tensor {name!r}"
            raise PlanError(f"the shape of {name!r} made by {where} is still unknown ({v.shape}) after planning")
        shapes[name], dtypes[name] = tuple(int(d) for d in v.shape), np.dtype(v.dtype)
    return shapes, dtypes


def _inplace_candidates(g: Graph, shapes, dtypes) -> dict[int, list[tuple[str, str]]]:
    """Elementwise and view ops may write their output over an input of the same size."""
    candidates: dict[int, list[tuple[str, str]]] = {}
    for i, node in enumerate(g.nodes):
        if not (schema(node.op).elementwise or node.op in VIEW_OPS):
            continue
        out = node.outputs[0]
        data_inputs = node.inputs[:1] if node.op in VIEW_OPS or node.op == "Clip" else node.inputs
        for x in data_inputs:
            if x and x in shapes and x not in g.constants and dtypes[x] == dtypes[out]:
                if node.op in VIEW_OPS or shapes[x] == shapes[out]:
                    candidates.setdefault(i, []).append((out, x))
    return candidates


def check_feeds(graph: Graph, feeds: dict[str, np.ndarray], origin: str = "model") -> dict[str, tuple[int, ...]]:
    """Validate inputs against the graph's declared inputs; returns their concrete shapes."""
    expected = {v.name: v for v in graph.inputs}
    unknown = set(feeds) - set(expected)
    if unknown:
        raise InputError(f"{origin}: unknown input {sorted(unknown)}; the model's inputs are {sorted(expected)}")
    missing = set(expected) - set(feeds)
    if missing:
        raise InputError(f"{origin}: missing input {sorted(missing)}")
    shapes = {}
    for name, v in expected.items():
        x = feeds[name]
        if not isinstance(x, np.ndarray):
            raise InputError(f"{origin}: input {name!r} must be a numpy array, got {type(x).__name__}")
        if v.dtype is not None and x.dtype != v.dtype:
            raise InputError(f"{origin}: input {name!r} must have dtype {np.dtype(v.dtype).name}, got {x.dtype.name}")
        if v.shape is not None:
            if x.ndim != len(v.shape):
                raise InputError(f"{origin}: input {name!r} must have rank {len(v.shape)} {_fmt(v.shape)}, got {list(x.shape)}")
            for axis, (want, got) in enumerate(zip(v.shape, x.shape)):
                if isinstance(want, int) and want != got:
                    raise InputError(
                        f"{origin}: input {name!r} must have shape {_fmt(v.shape)}, got {list(x.shape)} (axis {axis})"
                    )
        shapes[name] = tuple(x.shape)
    return shapes


def _fmt(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


MATMUL_OPS = ("maku.Gemm", "Gemm", "MatMul")


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
