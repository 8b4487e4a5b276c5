"""maku's numpy backend vs ONNX Runtime vs onnx.reference on MobileNetV2 and V3-Small (issue 2).

    python benchmarks/runtime_vs_ort.py [--runs 20] [--batch-runs 5] [--reference-runs 3]

For each model, batch (1, 32) and thread count (1, 2): median latency of maku (numpy backend,
and the cpu backend when its native library loads) and ORT, timed in alternating runs after
warm-up; `onnx.reference.ReferenceEvaluator` only at batch 1 and for a few runs (~300 ms each).
The TF-converted models declare batch 1: ORT gets a copy with the batch made symbolic (maku
generalizes such models itself), and the outputs are checked equal before timing.
Shared machines are noisy: read the ratios, not the last digit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import maku
from maku import assets
from maku.errors import MakuError
from maku.runtime.feeds import random_feeds
from maku.runtime.ort import ort_run, ort_session, read_onnx, with_dynamic_batch
from maku.runtime.timing import summarize, time_alternating

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MAKU_TEST_DATA", REPO.parent / "shared" / "data"))
MODELS = {
    "MobileNetV2 1.0": assets.default_model(),
    "MobileNetV3-Small": DATA
    / "models/imagenet_converted/mobilenet_v3_small_1.0_224_fp32_from_tflite_qat.onnx",
}
BATCHES = (1, 32)
THREADS = (1, 2)


def maku_sessions(path: Path, threads: int) -> dict[str, maku.Session]:
    """The maku contenders: numpy always, cpu when its native kernels are available."""
    sessions = {"maku numpy": maku.load(path, backend="numpy", threads=threads)}
    try:
        sessions["maku cpu"] = maku.load(path, backend="cpu", threads=threads)
    except MakuError as exc:
        print(f"  (maku cpu backend unavailable: {exc})")
    return sessions


def time_reference(path: Path, feeds: dict[str, np.ndarray], threads: int, runs: int) -> float:
    """Median ms of onnx.reference on `feeds` (one warm-up run)."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))
    with threadpool_limits(limits=threads, user_api="blas"):
        evaluator.run(None, feeds)
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            evaluator.run(None, feeds)
            seconds.append(time.perf_counter() - start)
    return summarize(seconds).median_ms


def measure(
    name: str, path: Path, batch: int, threads: int, args: argparse.Namespace
) -> dict[str, float] | None:
    """Median ms per contender for one configuration; None (with a note) when it cannot run."""
    sessions = maku_sessions(path, threads)
    try:
        feeds = random_feeds(sessions["maku numpy"], batch)
    except MakuError as exc:
        print(f"  skipped {name} batch {batch}: {exc}")
        return None
    ort = ort_session(with_dynamic_batch(read_onnx(path)), threads)
    expected = ort_run(ort, feeds)[0]
    for label, session in sessions.items():
        got = next(iter(session.run(feeds).values()))
        error = float(np.max(np.abs(got - expected)))
        if error > 1e-4:
            print(f"  warning: {label} differs from ORT by {error:.3g} on {name} batch {batch}")
    contenders = {label: (lambda s=s: s.run(feeds)) for label, s in sessions.items()}
    contenders["onnxruntime"] = lambda: ort_run(ort, feeds)
    runs = args.runs if batch == 1 else args.batch_runs
    results = {k: v.median_ms for k, v in time_alternating(contenders, runs=runs, warmup=2).items()}
    if batch == 1 and args.reference_runs > 0:
        results["onnx.reference"] = time_reference(path, feeds, threads, args.reference_runs)
    return results


def table(rows: list[tuple[str, int, int, dict[str, float]]]) -> str:
    """One line per configuration: medians in ms and the ratios that matter."""
    columns = ["maku numpy", "maku cpu", "onnxruntime", "onnx.reference"]
    header = (
        f"{'model':<18} {'batch':>5} {'thr':>3} "
        + " ".join(f"{c:>14}" for c in columns)
        + f" {'numpy/ORT':>9} {'cpu/ORT':>8} {'ref/numpy':>9}"
    )
    lines = [header, "-" * len(header)]
    for name, batch, threads, r in rows:
        cells = " ".join(f"{r[c]:>11.1f} ms" if c in r else f"{'-':>14}" for c in columns)
        ort = r["onnxruntime"]
        numpy_ratio = f"{r['maku numpy'] / ort:>8.2f}x"
        cpu_ratio = f"{r['maku cpu'] / ort:>7.2f}x" if "maku cpu" in r else f"{'-':>8}"
        ref_ratio = (
            f"{r['onnx.reference'] / r['maku numpy']:>8.1f}x" if "onnx.reference" in r else f"{'-':>9}"
        )
        lines.append(f"{name:<18} {batch:>5} {threads:>3} {cells} {numpy_ratio} {cpu_ratio} {ref_ratio}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs at batch 1 (default 20)")
    parser.add_argument("--batch-runs", type=int, default=5, help="timed runs at batch 32 (default 5)")
    parser.add_argument(
        "--reference-runs", type=int, default=3, help="onnx.reference runs, 0 to skip (default 3)"
    )
    args = parser.parse_args()
    rows = []
    for name, path in MODELS.items():
        if not Path(path).exists():
            print(f"skipped {name}: {path} is missing (set MAKU_TEST_DATA)")
            continue
        for batch in BATCHES:
            for threads in THREADS:
                print(f"{name}, batch {batch}, {threads} thread(s) ...", file=sys.stderr)
                results = measure(name, Path(path), batch, threads, args)
                if results is not None:
                    rows.append((name, batch, threads, results))
    print(f"\nmedian latency per run (numpy {np.__version__}, {os.cpu_count()} CPUs, alternating runs)")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
