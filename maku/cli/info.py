"""`maku info MODEL`: what the model is and what running it costs."""

from __future__ import annotations

import argparse
import json

import maku
from maku.cli import options
from maku.runtime.feeds import random_feeds
from maku.runtime.stats import model_summary

MIB = 1 << 20


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("info", help="op histogram, node counts, parameters, MACs, memory plan")
    p.add_argument("model", help="ONNX (or .maku) model file")
    options.add_batch(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--backend",
        choices=("auto", "cpu", "numpy", "wasm"),
        default="auto",
        help="with wasm: also show which nodes run in WebAssembly and which fall back to numpy",
    )


def run(args: argparse.Namespace) -> int:
    session = maku.load(args.model)
    feeds = random_feeds(session, args.batch)
    summary = model_summary(session, feeds)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary, args.batch))
    if args.backend == "wasm" and not args.json:
        from maku.backends.wasm.placement import placement_table

        print(placement_table(session.executor_for(feeds).plan))
    return 0


def format_summary(s: dict, batch: int) -> str:
    def tensors(items: list[dict]) -> str:
        return ", ".join(f"{t['name']} {t['dtype']}{t['shape']}" for t in items)

    def histogram(ops: dict[str, int]) -> str:
        return ", ".join(f"{op} {count}" for op, count in ops.items())

    return "\n".join(
        [
            f"model       {s['model']}",
            f"inputs      {tensors(s['inputs'])}",
            f"outputs     {tensors(s['outputs'])}",
            f"nodes       {s['nodes_imported']} imported -> {s['nodes_optimized']} after optimization",
            f"parameters  {s['parameters']:,}",
            f"MACs        {s['macs'] / 1e6:,.1f} M per run at batch {batch} (conv and matmul)",
            f"memory      arena {s['arena_bytes'] / MIB:.2f} MiB, sum of intermediates "
            f"{s['intermediate_bytes'] / MIB:.2f} MiB, lower bound {s['lower_bound_bytes'] / MIB:.2f} MiB",
            f"ops (ONNX)  {histogram(s['ops_imported'])}",
            f"ops (maku)  {histogram(s['ops_optimized'])}",
        ]
    )
