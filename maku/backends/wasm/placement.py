"""Which nodes of a plan run in the wasm kernels and which fall back to numpy, as text
(for `maku info --backend wasm`)."""

from __future__ import annotations

from collections import Counter

from maku.backends.wasm.program import compile_program
from maku.plan.planner import Plan

NAME_WIDTH = 40


def _short(name: str) -> str:
    """Long exporter names keep their distinctive tail."""
    return name if len(name) <= NAME_WIDTH else "..." + name[-(NAME_WIDTH - 3) :]


def placement_table(plan: Plan) -> str:
    """One line per node (schedule order, op, where it runs), then a summary line."""
    program = compile_program(plan)
    rows = [(str(i), node.op, _short(node.name), where) for i, (node, (_, where)) in
            enumerate(zip(plan.nodes, program.placement()))]
    widths = [max(len(r[k]) for r in rows + [("#", "op", "node", "")]) for k in range(3)]
    lines = [f"{'#':>{widths[0]}}  {'op':<{widths[1]}}  {'node':<{widths[2]}}  runs on"]
    lines += [f"{i:>{widths[0]}}  {op:<{widths[1]}}  {name:<{widths[2]}}  {where}" for i, op, name, where in rows]
    fallback = Counter(plan.nodes[i].op for i, r in enumerate(program.node_words) if r is None)
    summary = ", ".join(f"{op} {n}" for op, n in fallback.most_common()) or "none"
    lines.append(f"wasm runs {len(rows) - sum(fallback.values())} of {len(rows)} nodes; numpy fallback: {summary}")
    return "\n".join(lines)
