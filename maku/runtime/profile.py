"""Per-node and per-op-type run time of a Session, with GFLOP/s for convolutions and matmuls.

Times come from `Session.run(timings=...)` (one perf_counter pair per node); each node's time
is its median over several runs, so a noisy run does not skew the table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from maku.plan.planner import node_macs
from maku.runtime.session import Session

NAME_WIDTH = 60


@dataclass(frozen=True)
class NodeTime:
    step: int
    name: str
    op: str
    ms: float
    share: float  # of the total time
    macs: int

    @property
    def gflops(self) -> float | None:
        """Achieved GFLOP/s (2 flops per MAC); None for nodes without MACs."""
        return 2 * self.macs / (self.ms * 1e6) if self.macs and self.ms > 0 else None


@dataclass(frozen=True)
class OpTime:
    op: str
    count: int
    ms: float
    share: float


@dataclass
class Profile:
    batch: int
    runs: int
    total_ms: float
    nodes: list[NodeTime]

    def by_op(self) -> list[OpTime]:
        """Time per op type, largest first."""
        totals: dict[str, list[float]] = {}
        for n in self.nodes:
            totals.setdefault(n.op, []).append(n.ms)
        rows = [OpTime(op, len(t), sum(t), sum(t) / self.total_ms) for op, t in totals.items()]
        return sorted(rows, key=lambda r: -r.ms)


def profile_session(
    session: Session, feeds: dict[str, np.ndarray], *, runs: int = 10, warmup: int = 2
) -> Profile:
    """Run `warmup + runs` times collecting per-node times; median per node."""
    for _ in range(warmup):
        session.run(feeds)
    samples = []
    for _ in range(runs):
        timings: list[float] = []
        session.run(feeds, timings=timings)
        samples.append(timings)
    per_node_ms = np.median(np.asarray(samples), axis=0) * 1e3
    plan = session.executor_for(feeds).plan
    total = float(per_node_ms.sum())
    nodes = [
        NodeTime(i, node.name, node.op, float(ms), float(ms) / total, node_macs(plan, node))
        for i, (node, ms) in enumerate(zip(plan.nodes, per_node_ms))
    ]
    batch = next(iter(feeds.values())).shape[0] if feeds else 1
    return Profile(batch, runs, total, nodes)


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """A node name cut to fit a table (tf2onnx joins several names with ';': keep the first)."""
    name = name.split(";")[0]
    return name if len(name) <= width else "..." + name[-(width - 3) :]


def format_profile(profile: Profile, top: int | None = 20) -> str:
    """Tables: the slowest nodes, then time per op type."""
    lines = [
        f"total {profile.total_ms:.2f} ms per run (batch {profile.batch}, median of {profile.runs} runs per node)",
        "",
    ]
    lines.append(f"{'step':>4}  {'node':<{NAME_WIDTH}}  {'op':<22} {'ms':>8} {'%':>6} {'GFLOP/s':>8}")
    slowest = sorted(profile.nodes, key=lambda n: -n.ms)[:top]
    for n in slowest:
        gflops = "" if n.gflops is None else f"{n.gflops:8.2f}"
        lines.append(
            f"{n.step:>4}  {short_name(n.name):<{NAME_WIDTH}}  {n.op:<22} {n.ms:8.3f} {n.share:6.1%} {gflops:>8}"
        )
    if top is not None and len(profile.nodes) > top:
        lines.append(f"      ... {len(profile.nodes) - top} faster nodes not shown")
    lines += ["", f"{'op':<22} {'count':>5} {'ms':>8} {'%':>6}"]
    for r in profile.by_op():
        lines.append(f"{r.op:<22} {r.count:>5} {r.ms:8.3f} {r.share:6.1%}")
    return "\n".join(lines)


def plot_profile(profile: Profile, path: str | os.PathLike, top: int = 25) -> None:
    """A PNG with two bar charts: time per op type, and the `top` slowest nodes."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    ops = profile.by_op()
    slowest = sorted(profile.nodes, key=lambda n: -n.ms)[:top]
    fig = Figure(figsize=(14, max(4, 0.3 * len(slowest) + 1.5)))
    ax_ops, ax_nodes = fig.subplots(1, 2)
    ax_ops.barh([r.op for r in ops][::-1], [r.ms for r in ops][::-1], color="tab:blue")
    ax_ops.set_xlabel("ms per run")
    ax_ops.set_title("time per op type")
    labels = [f"{n.step}: {short_name(n.name, 40)}" for n in slowest][::-1]
    ax_nodes.barh(labels, [n.ms for n in slowest][::-1], color="tab:orange")
    ax_nodes.set_xlabel("ms per run")
    ax_nodes.set_title(f"{len(slowest)} slowest nodes")
    ax_nodes.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"maku profile: {profile.total_ms:.2f} ms per run, batch {profile.batch}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
