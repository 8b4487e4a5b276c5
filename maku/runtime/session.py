"""Session: load → optimize → plan → run, the object users hold.

`maku.load(...)` imports and optimizes the model once; a plan (arena layout and prepared
kernels) is made per distinct set of input shapes and cached. A Session may be called from
several threads: runs are serialized by a lock, because a plan's arena is shared.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from maku.backends import executor_class, resolve_backend
from maku.errors import InputError, MakuError
from maku.ir.graph import Graph, Node, Value
from maku.onnx.importer import load_onnx
from maku.passes import optimize as optimize_graph
from maku.plan.planner import check_feeds, make_plan
from maku.plan.serialize import is_maku_file, read_maku

_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output as the caller sees it."""

    name: str
    shape: tuple | None  # ints, symbols such as "N", None where unknown
    dtype: np.dtype | None


class Session:
    """A loaded, optimized model ready to run."""

    def __init__(
        self,
        graph: Graph,
        *,
        backend: str = "auto",
        optimize: bool = True,
        threads: int | None = None,
        input_layout: str | None = None,
        reuse_memory: bool = True,
        poison_freed: bool = False,
    ):
        backend = resolve_backend(backend)
        self._executor_class = executor_class(backend)
        if input_layout not in (None, "NCHW", "NHWC"):
            raise MakuError(f"input_layout must be 'NCHW' or 'NHWC', got {input_layout!r}")
        if threads is not None and threads < 1:
            raise MakuError(f"threads must be a positive number, got {threads}")
        self.source_graph = graph
        if input_layout == "NHWC":
            graph = _nhwc_inputs(graph)
        self.graph = optimize_graph(graph) if optimize else graph
        self.backend = backend
        self.threads = threads
        self._reuse, self._poison = reuse_memory, poison_freed
        self._executors: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self.origin = graph.metadata.get("source", graph.name)

    # -- introspection -----------------------------------------------------------------
    @property
    def inputs(self) -> list[TensorInfo]:
        return [_info(v) for v in self.graph.inputs]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [_info(self.graph.value(v.name)) for v in self.graph.outputs]

    def executor_for(self, feeds: dict[str, np.ndarray]):
        """The prepared executor for these input shapes (planned on first use, then cached)."""
        shapes = check_feeds(self.graph, feeds, self.origin)
        key = tuple(sorted(shapes.items()))
        if key not in self._executors:
            plan = make_plan(self.graph, shapes, reuse=self._reuse)
            self._executors[key] = self._executor_class(plan, poison=self._poison, threads=self.threads)
        return self._executors[key]

    # -- running -----------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray], *, timings: list[float] | None = None) -> dict[str, np.ndarray]:
        """Run the model; returns {output name: array}, arrays owned by the caller."""
        if not isinstance(feeds, dict):
            raise InputError(f"{self.origin}: run() takes a dict of input name -> array, got {type(feeds).__name__}")
        with self._lock, _BLAS.limit(limits=self.threads, user_api="blas"):
            executor = self.executor_for(feeds)
            return executor.run(feeds, timings=timings)

    def __call__(self, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """Single-input models: run on `x` and return the output (a tuple if several)."""
        if len(self.graph.inputs) != 1:
            raise InputError(f"{self.origin}: the model has {len(self.graph.inputs)} inputs; use run({{name: array}})")
        out = self.run({self.graph.inputs[0].name: x})
        values = tuple(out[v.name] for v in self.graph.outputs)
        return values[0] if len(values) == 1 else values


def _info(v: Value) -> TensorInfo:
    return TensorInfo(v.name, None if v.shape is None else tuple(v.shape), None if v.dtype is None else np.dtype(v.dtype))


def _nhwc_inputs(graph: Graph) -> Graph:
    """Declare 4-D inputs as NHWC; a Transpose to the model's NCHW is cancelled by the layout pass."""
    g = graph.copy()
    for v in g.inputs:
        if v.shape is None or len(v.shape) != 4:
            continue
        nchw = g.fresh_name(f"{v.name}_nchw")
        g.replace_uses(v.name, nchw)
        g.nodes.insert(0, Node("Transpose", g.fresh_name("input_to_nchw"), [v.name], [nchw], {"perm": [0, 3, 1, 2]}))
        n, c, h, w = v.shape
        v.shape = (n, h, w, c)
        g.values[v.name] = Value(v.name, v.dtype, v.shape)
    return g


def load(
    model: str | os.PathLike | bytes | Graph,
    *,
    backend: str = "auto",
    optimize: bool = True,
    threads: int | None = None,
    input_layout: str | None = None,
    **debug,
) -> Session:
    """Load an ONNX model (path, bytes, or a maku Graph) or a `.maku` file and return a ready Session.

    backend: "auto" (the compiled "cpu" backend when its C kernels build here, else "numpy"),
    "cpu" or "numpy". threads: BLAS/kernel threads (None: the library default; 1 for C kernels). input_layout="NHWC" lets an
    NCHW image model take NHWC input with no transpose at all. debug options: reuse_memory=False
    (every tensor gets its own memory), poison_freed=True (freed memory is filled with NaN).
    """
    if is_maku_file(model):  # compiled by `maku build`: already optimized, shapes fixed
        graph, _ = read_maku(model)
        optimize = False
    else:
        graph = model if isinstance(model, Graph) else load_onnx(model)
    return Session(graph, backend=backend, optimize=optimize, threads=threads, input_layout=input_layout, **debug)
