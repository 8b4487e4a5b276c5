"""maku versus ONNX Runtime on the same input: output errors and the first diverging node.

When the outputs disagree beyond tolerance, both runtimes are run again with every intermediate
kept: ORT with each node output added as a graph output, maku with memory reuse off so every
tensor survives in the executor's views. Walking maku's schedule in order, the first tensor
whose value differs from ORT's tensor of the same name is the culprit (maku's NHWC tensors are
transposed back to ONNX's NCHW first). A fused conv/gemm writes the tensor of the last op it
absorbed (activation, residual Add), so names match ONNX's throughout.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx

from maku.ir.graph import Graph
from maku.runtime.ort import ort_run, ort_session, read_onnx
from maku.runtime.session import Session, load

DEFAULT_TOLERANCE = 1e-4  # max abs error allowed, relative to max(1, max |ORT value|)
NHWC_TO_NCHW = (0, 3, 1, 2)


@dataclass
class OutputDiff:
    """How one model output differs between maku and ORT."""

    name: str
    shape: list[int]
    max_abs: float
    max_rel: float  # max_abs / max |ORT value|
    top1_agreement: float | None  # fraction of rows with the same argmax; None if not a score vector
    within_tolerance: bool


@dataclass
class Divergence:
    """The first tensor, in maku's schedule order, that differs from ORT's."""

    node: str  # maku node name (a fused node keeps the name of the conv/gemm it grew from)
    op: str
    tensor: str
    onnx_node: str | None  # the ONNX node that writes this tensor in the original model
    step: int  # position in maku's schedule
    max_abs: float
    scale: float  # max(1, max |ORT value|): the tolerance is relative to this


@dataclass
class Comparison:
    """The result of `compare_with_ort`."""

    model: str
    tolerance: float
    outputs: list[OutputDiff]
    divergence: Divergence | None = None
    tensors_compared: int | None = None  # intermediates matched by name, when a search ran
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return all(o.within_tolerance for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agree": self.agree}


def error_scale(reference: np.ndarray) -> float:
    """The magnitude errors are measured against: max(1, max |reference|)."""
    return max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0


def diff_output(name: str, ours: np.ndarray, theirs: np.ndarray, tol: float) -> OutputDiff:
    """Max abs / rel error and top-1 agreement of one output."""
    if ours.shape != theirs.shape:
        return OutputDiff(name, list(theirs.shape), float("inf"), float("inf"), None, False)
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    peak = float(np.max(np.abs(b))) if b.size else 0.0
    max_rel = max_abs / peak if peak > 0 else max_abs
    top1 = None
    if b.ndim >= 1 and b.shape[-1] > 1:
        rows_a, rows_b = a.reshape(-1, b.shape[-1]), b.reshape(-1, b.shape[-1])
        top1 = float(np.mean(rows_a.argmax(axis=1) == rows_b.argmax(axis=1)))
    return OutputDiff(name, list(theirs.shape), max_abs, max_rel, top1, max_abs <= tol * error_scale(b))


def with_intermediates_as_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose graph also outputs every node output (ORT infers their types)."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    taken = {v.name for v in exposed.graph.output} | {v.name for v in exposed.graph.input}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in taken:
                exposed.graph.output.append(onnx.ValueInfoProto(name=name))
                taken.add(name)
    return exposed


def onnx_layouts(ours: np.ndarray, onnx_shape: tuple[int, ...]) -> list[np.ndarray]:
    """maku's tensor read in ONNX's layout: as is and/or NHWC transposed to NCHW, whichever fit.

    Both fit when C == H == W (e.g. 48x48x48): the caller then takes the closer one.
    """
    views = [ours] if ours.shape == tuple(onnx_shape) else []
    if ours.ndim == 4 and tuple(ours.shape[i] for i in NHWC_TO_NCHW) == tuple(onnx_shape):
        views.append(ours.transpose(NHWC_TO_NCHW))
    return views


def run_ort(
    model: onnx.ModelProto, feeds: dict[str, np.ndarray], threads: int | None = None
) -> dict[str, np.ndarray]:
    """Run ORT on `feeds`; {output name: array}."""
    session = ort_session(model, threads, purpose="maku compare")
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, ort_run(session, feeds, names)))


def first_divergence(
    model: onnx.ModelProto,
    feeds: dict[str, np.ndarray],
    debug_session: Session,
    tol: float = DEFAULT_TOLERANCE,
) -> tuple[Divergence | None, int]:
    """The first tensor in maku's schedule that differs from ORT, and how many tensors were compared.

    `debug_session` must be made with `reuse_memory=False`, so every intermediate survives the run.
    """
    theirs = run_ort(with_intermediates_as_outputs(model), feeds)
    writers = {name: node for node in model.graph.node for name in node.output}
    debug_session.run(feeds)
    executor = debug_session.executor_for(feeds)
    compared = 0
    for step, node in enumerate(executor.plan.nodes):
        for name in node.outputs:
            error = _error(executor.views[name], theirs[name]) if name in executor.views and name in theirs else None
            if error is None:
                continue
            compared += 1
            max_abs, scale = error
            if not max_abs <= tol * scale:  # also catches NaN
                writer = writers.get(name)
                return Divergence(
                    node.name, node.op, name, writer and writer.name, step, max_abs, scale
                ), compared
    return None, compared


def _error(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float] | None:
    """(max abs difference, error scale) of maku's tensor against ORT's; None if the shapes do not fit."""
    reference = theirs.astype(np.float64)
    if not reference.size:
        return None
    diffs = [
        float(np.max(np.abs(view.astype(np.float64) - reference)))
        for view in onnx_layouts(ours, theirs.shape)
    ]
    if not diffs:
        return None
    max_abs = min(d if d == d else float("inf") for d in diffs)  # NaN counts as the worst error
    return max_abs, error_scale(reference)


def compare_with_ort(
    model_path: str | os.PathLike,
    feeds: dict[str, np.ndarray],
    *,
    graph: Graph | None = None,
    backend: str = "auto",
    threads: int | None = None,
    tol: float = DEFAULT_TOLERANCE,
    locate: bool = True,
) -> Comparison:
    """Run maku and ORT on `feeds` and compare every output.

    `graph` replaces the maku side (e.g. an edited graph) while ORT runs the file. With
    `locate`, a disagreement triggers the search for the first diverging node.
    """
    model = read_onnx(model_path)
    maku_model = graph if graph is not None else model_path
    ours = load(maku_model, backend=backend, threads=threads).run(feeds)
    theirs = run_ort(model, feeds, threads)
    result = Comparison(str(model_path), tol, [diff_output(n, ours[n], theirs[n], tol) for n in theirs])
    if result.agree or not locate:
        return result
    debug_session = load(maku_model, backend=backend, threads=threads, reuse_memory=False)
    result.divergence, result.tensors_compared = first_divergence(model, feeds, debug_session, tol)
    if result.divergence is None:
        no_reuse = debug_session.run(feeds)
        if all(diff_output(n, no_reuse[n], theirs[n], tol).within_tolerance for n in theirs):
            result.notes.append("with memory reuse off maku agrees with ORT: suspect the memory plan")
        else:
            result.notes.append(
                f"no intermediate of the {result.tensors_compared} matched by name diverges; "
                "the difference arises in tensors that exist in only one runtime"
            )
    return result


def format_comparison(result: Comparison) -> str:
    """A human-readable report of a Comparison."""
    lines = [f"maku vs ONNX Runtime on {result.model} (tolerance {result.tolerance:g} x max(1, max |ORT|))"]
    for o in result.outputs:
        top1 = "" if o.top1_agreement is None else f"  top-1 agreement {o.top1_agreement:.0%}"
        verdict = "ok" if o.within_tolerance else "DIFFERS"
        lines.append(
            f"  {o.name} {o.shape}: max abs {o.max_abs:.3g}, max rel {o.max_rel:.3g}{top1}  {verdict}"
        )
    if result.agree:
        lines.append("agree: every output is within tolerance")
        return "\n".join(lines)
    d = result.divergence
    if d is not None:
        onnx_node = f" (ONNX node {d.onnx_node!r})" if d.onnx_node and d.onnx_node != d.node else ""
        lines.append(
            f"first diverging node: {d.node!r} ({d.op}, step {d.step}){onnx_node}: tensor {d.tensor!r} "
            f"max abs {d.max_abs:.3g} (scale {d.scale:.3g}); checked {result.tensors_compared} tensors"
        )
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
