"""Liveness and the arena memory planner.

Every planned tensor (activations, graph inputs and outputs) gets an offset in one arena. Liveness
is a reference count over the schedule: a tensor dies after its last reader, as in TFLite's arena
planner. An elementwise op may write its output over an input that dies at that step (XNNPACK's
in-place reuse); such a chain of tensors is one block. Blocks are placed largest first into the
best-fitting gap among blocks whose lifetimes overlap. The algorithm is described in docs/planner.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from maku.errors import PlanError

Step = tuple[Sequence[str], Sequence[str]]  # (input names, output names) of one scheduled node


@dataclass
class TensorLife:
    """A planned tensor and the steps during which its memory is in use (both ends inclusive)."""

    name: str
    nbytes: int
    first: int  # index of the step that writes it; -1 for graph inputs
    last: int  # index of the last step that reads it; n_steps for graph inputs and outputs
    inplace_of: str | None = None  # shares the memory of this input, which dies at step `first`


@dataclass
class MemoryPlan:
    """Arena offsets of every planned tensor and the numbers that say how good they are."""

    offsets: dict[str, int]
    arena_bytes: int  # the arena size: the largest offset + aligned size
    total_bytes: int  # what no reuse at all would need: the sum of aligned block sizes
    lower_bound: int  # what any planner needs: the largest total of blocks live at one step
    alignment: int = 64

    def report(self) -> str:
        """One line comparing the arena with the lower bound and with no reuse."""
        over = self.arena_bytes / self.lower_bound if self.lower_bound else 1.0
        saved = self.total_bytes / self.arena_bytes if self.arena_bytes else 1.0
        return (
            f"arena {_human(self.arena_bytes)} ({over:.2f}x the lower bound {_human(self.lower_bound)}; "
            f"{saved:.2f}x smaller than no reuse, {_human(self.total_bytes)})"
        )


@dataclass
class _Block:
    """Tensors that share one arena region: one tensor, or an in-place chain."""

    name: str  # the chain's first tensor
    size: int  # aligned
    first: int
    last: int
    members: list[str] = field(default_factory=list)
    offset: int = 0


def compute_lifetimes(
    steps: Sequence[Step],
    graph_inputs: Iterable[str],
    graph_outputs: Iterable[str],
    nbytes: dict[str, int],
    inplace_candidates: dict[int, list[tuple[str, str]]] | None = None,
) -> list[TensorLife]:
    """Refcount liveness over the schedule, then accept the in-place pairs that are safe.

    Only names in `nbytes` are planned; others (weights, omitted inputs "") are ignored.
    `inplace_candidates[i]` lists (output, input) pairs step i could compute in place.
    """
    graph_inputs, graph_outputs = list(graph_inputs), list(graph_outputs)
    for name, size in nbytes.items():
        if size < 0:
            raise PlanError(f"tensor {name!r} has a negative size ({size} bytes)")
    lives: dict[str, TensorLife] = {}

    def write(name: str, step: int) -> None:
        if name in lives:
            by = [f"step {s}" if s >= 0 else "a graph input" for s in (lives[name].first, step)]
            raise PlanError(f"tensor {name!r} is written twice: by {by[0]} and by {by[1]}")
        lives[name] = TensorLife(name, nbytes[name], step, step)

    for name in graph_inputs:
        if name in nbytes:
            write(name, -1)
    for i, (inputs, outputs) in enumerate(steps):
        for name in inputs:
            if name in nbytes:
                if name not in lives:
                    raise PlanError(f"step {i} reads tensor {name!r} before any step writes it")
                lives[name].last = i
        for name in outputs:
            if name in nbytes:
                write(name, i)
    for name in graph_outputs:
        if name in nbytes and name not in lives:
            raise PlanError(f"graph output {name!r} is not written by any step")
    for name in graph_inputs + graph_outputs:
        if name in lives:
            lives[name].last = len(steps)

    overwritten: set[str] = set()
    for i, pairs in sorted((inplace_candidates or {}).items()):
        for out, inp in pairs:
            o, x = lives.get(out), lives.get(inp)
            # Step i must be x's last reader (so x is no graph input or output, which live to n_steps)
            # and x must not be taken over by another output of step i already.
            if (
                o is not None
                and x is not None
                and o.first == i
                and o.inplace_of is None
                and x.first < i == x.last
                and o.nbytes == x.nbytes
                and inp not in overwritten
            ):
                o.inplace_of = inp
                overwritten.add(inp)
    return list(lives.values())


def plan_memory(lives: Sequence[TensorLife], *, reuse: bool = True, alignment: int = 64) -> MemoryPlan:
    """Give every tensor an arena offset: best fit, largest first (TFLite/XNNPACK style).

    `reuse=False` (a debug mode) gives every tensor its own region, in-place chains included,
    so every intermediate can be inspected after a run.
    """
    blocks = _blocks(lives, alignment, inplace=reuse)
    if reuse:
        placed: list[_Block] = []
        for block in sorted(blocks, key=lambda b: (-b.size, b.first, b.name)):
            block.offset = _best_fit(block, placed)
            placed.append(block)
    else:
        end = 0
        for block in sorted(blocks, key=lambda b: (b.first, b.name)):
            block.offset, end = end, end + block.size
    starts = {b.first for b in blocks}  # the live total can only peak where a block starts
    return MemoryPlan(
        offsets={name: b.offset for b in blocks for name in b.members},
        arena_bytes=max((b.offset + b.size for b in blocks), default=0),
        total_bytes=sum(b.size for b in blocks),
        lower_bound=max((sum(b.size for b in blocks if b.first <= t <= b.last) for t in starts), default=0),
        alignment=alignment,
    )


def dead_after(lives: Sequence[TensorLife], n_steps: int) -> list[list[str]]:
    """For each step, the tensors whose memory nobody uses afterwards (debug mode "poison" fills them
    with NaN); a tensor that an in-place output took over is not listed."""
    overwritten = {life.inplace_of for life in lives}
    dead: list[list[str]] = [[] for _ in range(n_steps)]
    for life in lives:
        if life.name not in overwritten and 0 <= life.last < n_steps:
            dead[life.last].append(life.name)
    return dead


def check_no_overlap(lives: Sequence[TensorLife], plan: MemoryPlan) -> None:
    """Raise PlanError if a tensor lies outside the arena or two tensors live at the same step share
    bytes (an in-place chain placed at one offset excepted). O(n^2): tests and debug runs."""
    by_name = {life.name: life for life in lives}
    for life in lives:
        off = plan.offsets.get(life.name)
        if off is None or off < 0 or off % plan.alignment or off + life.nbytes > plan.arena_bytes:
            raise PlanError(
                f"tensor {life.name!r} has no valid arena offset ({off}, arena {plan.arena_bytes})"
            )
    for i, a in enumerate(lives):
        for b in lives[i + 1 :]:
            oa, ob = plan.offsets[a.name], plan.offsets[b.name]
            same_block = oa == ob and _root(a, by_name) == _root(b, by_name)
            if (
                a.first <= b.last
                and b.first <= a.last
                and oa < ob + b.nbytes
                and ob < oa + a.nbytes
                and min(a.nbytes, b.nbytes) > 0
                and not same_block
            ):
                raise PlanError(
                    f"tensors {a.name!r} (steps {a.first}..{a.last}) and {b.name!r} (steps {b.first}..{b.last})"
                    " are alive at the same step and share arena bytes"
                )


def _root(life: TensorLife, by_name: dict[str, TensorLife]) -> str:
    """The first tensor of `life`'s in-place chain."""
    while life.inplace_of is not None:
        life = by_name[life.inplace_of]
    return life.name


def _blocks(lives: Sequence[TensorLife], alignment: int, *, inplace: bool) -> list[_Block]:
    """Group tensors into blocks (in-place chains when `inplace`); a block lives for the union of its
    members' lifetimes."""
    by_name = {life.name: life for life in lives}
    for life in lives:
        src = by_name.get(life.inplace_of or "")
        # Requiring an earlier writer keeps chains acyclic, so _root terminates.
        if life.inplace_of is not None and (
            src is None or src.nbytes != life.nbytes or src.first >= life.first
        ):
            raise PlanError(
                f"tensor {life.name!r} is in place of {life.inplace_of!r}, which is not an earlier tensor "
                "of the same size"
            )
    blocks: dict[str, _Block] = {}
    for life in lives:
        root = _root(life, by_name) if inplace else life.name
        size = -(-life.nbytes // alignment) * alignment
        block = blocks.setdefault(root, _Block(root, size, life.first, life.last))
        block.first, block.last = min(block.first, life.first), max(block.last, life.last)
        block.members.append(life.name)
    return list(blocks.values())


def _best_fit(block: _Block, placed: list[_Block]) -> int:
    """The offset of the smallest gap that holds `block` among placed blocks alive at the same time,
    or the end of them if no gap does."""
    best, best_gap, end = -1, 0, 0
    overlapping = [p for p in placed if p.first <= block.last and block.first <= p.last]
    for p in sorted(overlapping, key=lambda p: p.offset):
        gap = p.offset - end
        if gap >= block.size and (best < 0 or gap < best_gap):
            best, best_gap = end, gap
        end = max(end, p.offset + p.size)
    return end if best < 0 else best


def _human(n: int) -> str:
    """Bytes in B, KiB or MiB."""
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 2**20 else f"{n / 2**20:.2f} MiB"
