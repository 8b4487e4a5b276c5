"""The numpy backend: runs a Plan with every activation living in one arena.

Phases (as in XNNPACK): `NumpyExecutor(plan)` creates the arena and binds each tensor to its
planned view, then prepares one runner per node (weights packed once); `run(feeds)` copies the
inputs in, calls the runners in order and copies the outputs out. Nothing proportional to the
activations is allocated per run.
"""

from __future__ import annotations

import time

import numpy as np

from maku.backends.numpy.ops import PrepareContext, Runner, prepare
from maku.plan.planner import Plan, node_macs
from maku.threads import BLAS_LIBRARIES

ALIGNMENT = 64
# Below this many multiply-accumulates per BLAS thread a node runs on one thread: waking a second
# thread costs more than it saves, and on a busy machine a wake-up can take milliseconds.
MIN_MACS_PER_THREAD = 32_000_000


def aligned_arena(nbytes: int) -> np.ndarray:
    """A byte buffer of `nbytes` whose first byte is 64-byte aligned."""
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start : start + nbytes]


def _one_blas_thread(runner: Runner, threads: int) -> Runner:
    """`runner` with BLAS limited to one thread while it runs (then back to `threads`)."""

    def run() -> None:
        for blas in BLAS_LIBRARIES:
            blas.set_num_threads(1)
        try:
            runner()
        finally:
            for blas in BLAS_LIBRARIES:
                blas.set_num_threads(threads)

    return run


class NumpyExecutor:
    """A plan made runnable: arena, views, prepared kernels."""

    name = "numpy"

    def __init__(self, plan: Plan, *, poison: bool = False, threads: int | None = None):
        self.plan = plan
        self.arena = aligned_arena(max(plan.memory.arena_bytes, ALIGNMENT))
        self.views = {name: self._view(name, off) for name, off in plan.memory.offsets.items()}
        ctx = PrepareContext(self.views, plan.graph.constants)
        self.runners = [self.prepare_node(node, ctx) for node in plan.nodes]
        if threads and threads > 1:
            self.runners = [
                _one_blas_thread(r, threads) if 0 < node_macs(plan, n) < MIN_MACS_PER_THREAD * threads else r
                for r, n in zip(self.runners, plan.nodes)
            ]
        self.poison = [[self.views[n] for n in names] for names in plan.dead_after()] if poison else None

    def prepare_node(self, node, ctx: PrepareContext):
        """One node's runner; a faster backend overrides this with its own kernels."""
        return prepare(node, ctx)

    def _view(self, name: str, offset: int) -> np.ndarray:
        dtype, shape = self.plan.dtypes[name], self.plan.shapes[name]
        return self.arena[offset : offset + self.plan.nbytes(name)].view(dtype).reshape(shape)

    def run(self, feeds: dict[str, np.ndarray], *, timings: list[float] | None = None) -> dict[str, np.ndarray]:
        """Run once; outputs are fresh copies the caller owns. `timings` collects per-node seconds."""
        for name, x in feeds.items():
            np.copyto(self.views[name], x)
        run_steps(self.runners, timings, self.poison)
        return copy_outputs(self.plan, self.views)


def run_steps(steps: list[Runner], timings: list[float] | None, poison: list[list[np.ndarray]] | None) -> None:
    """Call each step; append its seconds to `timings`, and NaN-fill what died after it (`poison`)."""
    for i, step in enumerate(steps):
        if timings is not None:
            t0 = time.perf_counter()
            step()
            timings.append(time.perf_counter() - t0)
        else:
            step()
        for v in poison[i] if poison is not None else ():
            if v.dtype.kind == "f":
                v.fill(np.nan)


def copy_outputs(plan: Plan, views: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph outputs as fresh arrays the caller owns (an output folded to a constant too)."""
    return {
        v.name: views[v.name].copy() if v.name in views else np.array(plan.graph.constants[v.name])
        for v in plan.graph.outputs
    }
