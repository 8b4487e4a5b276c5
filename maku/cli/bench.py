"""`maku bench MODEL`: median and p90 latency after warm-up, optionally against ONNX Runtime."""

from __future__ import annotations

import argparse
import json

from maku.cli import options
from maku.runtime.feeds import random_feeds
from maku.runtime.ort import ort_run, ort_session, read_onnx, require_onnxruntime, with_dynamic_batch
from maku.runtime.timing import time_alternating


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="latency (median, p90) of a model, optionally vs ONNX Runtime")
    options.add_session(p, threads=1)
    options.add_batch(p)
    p.add_argument("--runs", type=int, default=30, help="timed runs (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--vs", choices=["onnxruntime"], help="also time this runtime, alternating runs")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    session = options.load_session(args)
    feeds = random_feeds(session, args.batch)
    contenders = {"maku": lambda: session.run(feeds)}
    if args.vs == "onnxruntime":
        require_onnxruntime("maku bench --vs onnxruntime")
        model = read_onnx(args.model)
        if args.batch > 1:  # a model declared with batch 1 runs in ORT with its batch made symbolic
            model = with_dynamic_batch(model)
        ort = ort_session(model, args.threads)
        contenders["onnxruntime"] = lambda: ort_run(ort, feeds)
    results = time_alternating(contenders, runs=args.runs, warmup=args.warmup, progress="bench")
    if args.json:
        report = {
            "model": args.model,
            "backend": session.backend,
            "batch": args.batch,
            "threads": args.threads,
        }
        print(json.dumps({**report, **{name: r.to_dict() for name, r in results.items()}}, indent=2))
        return 0
    print(
        f"{args.model}: {session.backend} backend, batch {args.batch}, {args.threads} thread(s), {args.runs} runs"
    )
    for name, r in results.items():
        ratio = "" if name == "maku" else f"  (maku / {name}: {results['maku'].median_ms / r.median_ms:.2f}x)"
        print(f"  {name:<12} median {r.median_ms:8.2f} ms   p90 {r.p90_ms:8.2f} ms{ratio}")
    return 0
