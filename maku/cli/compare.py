"""`maku compare MODEL`: maku vs ONNX Runtime on one input; names the first diverging node."""

from __future__ import annotations

import argparse
import json

from maku.cli import options
from maku.runtime.compare import DEFAULT_TOLERANCE, compare_with_ort, format_comparison
from maku.runtime.feeds import parse_feeds, random_feeds
from maku.runtime.ort import require_onnxruntime


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare maku with ONNX Runtime (needs maku[ort])")
    options.add_session(p)
    options.add_inputs(p, default="seeded random inputs")
    options.add_batch(p)
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs (default 0)")
    p.add_argument(
        "--tol",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"allowed max abs error relative to max(1, max |ORT|) (default {DEFAULT_TOLERANCE:g})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    require_onnxruntime("maku compare")
    session = options.load_session(args)
    feeds = parse_feeds(args.input, session) if args.input else random_feeds(session, args.batch, args.seed)
    result = compare_with_ort(args.model, feeds, backend=args.backend, threads=args.threads, tol=args.tol)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_comparison(result))
    return 0 if result.agree else 1
