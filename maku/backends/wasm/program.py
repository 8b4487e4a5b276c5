"""A plan compiled for the wasm module: memory layout, program words, and which nodes run where.

Linear memory from the model's base address (64-byte aligned, above the module's own data):

    [0, blob)            constants, exactly the .maku blob (tensor table offsets)
    [arena, +arena)      every activation, at the planner's offsets
    [scratch, +scratch)  im2col patches of one output row
    [packed, +packed)    GEMM weights packed into panels by the init program
    [program, +words)    init words, then run words

The partition is the lowering itself: a node the wasm kernels cannot run (`Unsupported`) is
left to the numpy backend, with the reason kept for `maku info` and for the web build's refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from maku.backends.wasm.lowering import PACK, LowerContext, Unsupported, lower, op
from maku.plan.planner import Plan
from maku.plan.serialize import layout_constants

PANEL_WIDTH = 8  # maku_gemm_panel_width() of the wasm32 build (4 lanes x 2 vectors); checked at load
PROGRAM_VERSION = 1  # MAKU_PROGRAM_VERSION of csrc/program.h


def _align(n: int) -> int:
    return -(-n // 64) * 64


@dataclass
class WasmProgram:
    plan: Plan
    constant_table: list[dict]
    blob_bytes: int
    arena_base: int
    scratch_base: int
    packed_base: int
    program_base: int
    total_bytes: int
    init_words: list[int]
    run_words: list[int]
    node_words: list[tuple[int, int] | None]  # per node: [begin, end) in run_words, None: numpy
    unsupported: dict[str, str]  # node name -> why the wasm kernels cannot run it

    @property
    def words(self) -> list[int]:
        return self.init_words + self.run_words

    def placement(self) -> list[tuple[str, str]]:
        """(node name, "wasm" or "numpy: <why>") for every node in schedule order."""
        return [(n.name, "wasm" if r is not None else f"numpy: {self.unsupported[n.name]}")
                for n, r in zip(self.plan.nodes, self.node_words)]

    def manifest(self) -> dict:
        """What a browser host needs beyond the .maku file's tensor table (JSON-able)."""
        g = self.plan.graph

        def tensor(name: str) -> dict:
            return {"name": name, "dtype": self.plan.dtypes[name].name, "shape": list(self.plan.shapes[name]),
                    "address": self.arena_base + self.plan.memory.offsets[name]}

        return {
            "program_version": PROGRAM_VERSION,
            "panel_width": PANEL_WIDTH,
            "total_bytes": self.total_bytes,
            "program_base": self.program_base,
            "init_words": len(self.init_words),
            "words": self.words,
            "inputs": [tensor(n) for n in g.input_names],
            "outputs": [tensor(n) for n in g.output_names],
        }


def compile_program(plan: Plan) -> WasmProgram:
    """Lower every node it can; lay out memory for the result."""
    table, blob_bytes = layout_constants(plan.graph.constants)
    offsets = {t["name"]: t["offset"] for t in table}
    sizing = LowerContext(plan, offsets, PANEL_WIDTH)
    unsupported = {}
    for node in plan.nodes:
        try:
            lower(node, sizing)
        except Unsupported as why:
            unsupported[node.name] = str(why)
    arena_base = _align(blob_bytes)
    scratch_base = _align(arena_base + plan.memory.arena_bytes)
    packed_base = _align(scratch_base + sizing.scratch_floats * 4)
    ctx = LowerContext(plan, offsets, PANEL_WIDTH, arena_base, scratch_base, packed_base)
    run_words: list[int] = []
    node_words: list[tuple[int, int] | None] = []
    for node in plan.nodes:
        if node.name in unsupported:
            node_words.append(None)
            continue
        begin = len(run_words)
        run_words += lower(node, ctx)
        node_words.append((begin, len(run_words)))
    init_words = [w for weight, k, n, transposed, address in ctx.packs
                  for w in op(PACK, k, n, int(transposed), offsets[weight], address)]
    program_base = _align(packed_base + ctx.packed_bytes)
    total = program_base + 4 * (len(init_words) + len(run_words))
    return WasmProgram(plan, table, blob_bytes, arena_base, scratch_base, packed_base, program_base, total,
                       init_words, run_words, node_words, unsupported)
