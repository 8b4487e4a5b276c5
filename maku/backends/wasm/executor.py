"""The wasm backend: runs a Plan in maku.wasm, with the numpy backend for what it lacks.

Phases as in the numpy executor: `WasmExecutor(plan)` compiles the program, lays weights and
program into linear memory, packs the GEMM weights once (the init program), binds a NumPy view
of the arena for every tensor and prepares numpy runners for the nodes the wasm kernels cannot
run; these compute in place on the same wasm memory, so nothing is copied between backends.
`run(feeds)` writes the inputs, runs each stretch of wasm nodes in one `maku_exec` call and
each fallback node in between, and copies the outputs out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from maku.backends.numpy.executor import copy_outputs, run_steps
from maku.backends.numpy.ops import PrepareContext, prepare
from maku.backends.wasm.module import WasmInstance
from maku.backends.wasm.program import PANEL_WIDTH, PROGRAM_VERSION, compile_program
from maku.errors import BackendError
from maku.plan.planner import Plan
from maku.plan.serialize import pack_constants


class WasmExecutor:
    """A plan made runnable in a wasm instance (single-threaded: `threads` is accepted and ignored)."""

    name = "wasm"

    def __init__(self, plan: Plan, *, poison: bool = False, threads: int | None = None):
        self.plan = plan
        self.program = program = compile_program(plan)
        self.wasm = wasm = WasmInstance(program.total_bytes)
        if wasm.call("maku_gemm_panel_width") != PANEL_WIDTH or wasm.call("maku_program_version") != PROGRAM_VERSION:
            raise BackendError("maku.wasm does not match this maku version (rebuild it with tools/build_wasm.sh)")
        wasm.region(0, program.blob_bytes)[:] = pack_constants(plan.graph.constants, program.constant_table,
                                                                program.blob_bytes)
        words = np.asarray(program.words, dtype="<i4")
        wasm.region(program.program_base, words.nbytes)[:] = words.view(np.uint8)
        self._exec(0, len(program.init_words))
        self.views = {name: self._view(name, off) for name, off in plan.memory.offsets.items()}
        ctx = PrepareContext(self.views, plan.graph.constants)
        first_run_word = len(program.init_words)
        self.steps: list[Callable[[], None]] = []
        for node, words in zip(plan.nodes, program.node_words):
            if words is None:
                self.steps.append(prepare(node, ctx))
            else:
                begin, end = words
                self.steps.append(lambda b=begin, e=end: self._exec(first_run_word + b, e - b))
        self.stretches = self._stretches(first_run_word)
        self.poison = [[self.views[n] for n in names] for names in plan.dead_after()] if poison else None

    def _stretches(self, first_run_word: int) -> list[Callable[[], None]]:
        """The steps with each run of consecutive wasm nodes merged into one call."""
        stretches, pending = [], None
        for words, step in zip(self.program.node_words, self.steps):
            if words is None:
                pending = None
                stretches.append(step)
            elif pending is None:
                pending = list(words)
                stretches.append(lambda p=pending: self._exec(first_run_word + p[0], p[1] - p[0]))
            else:
                pending[1] = words[1]
        return stretches

    def _exec(self, word: int, count: int) -> None:
        if count:
            status = self.wasm.call("maku_exec", self.wasm.base, self.wasm.base + self.program.program_base + 4 * word,
                                    count)
            if status:
                raise BackendError(f"maku.wasm rejected program word {word + status - 1}")

    def _view(self, name: str, offset: int) -> np.ndarray:
        dtype, shape = self.plan.dtypes[name], self.plan.shapes[name]
        raw = self.wasm.region(self.program.arena_base + offset, self.plan.nbytes(name))
        return raw.view(dtype).reshape(shape)

    def placement(self) -> list[tuple[str, str]]:
        return self.program.placement()

    def run(self, feeds: dict[str, np.ndarray], *, timings: list[float] | None = None) -> dict[str, np.ndarray]:
        """Run once; outputs are fresh copies. `timings` (or poisoning) runs node by node."""
        for name, x in feeds.items():
            np.copyto(self.views[name], x)
        if timings is None and self.poison is None:
            for stretch in self.stretches:
                stretch()
        else:
            run_steps(self.steps, timings, self.poison)
        return copy_outputs(self.plan, self.views)
