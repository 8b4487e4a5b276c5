"""`maku compare MODEL`: maku vs ONNX Runtime on one input; names the first diverging node."""

from __future__ import annotations

import argparse
import json

import maku
from maku.backends import BACKENDS
from maku.runtime.compare import DEFAULT_TOLERANCE, compare_with_ort, format_comparison
from maku.runtime.feeds import parse_feeds, random_feeds
from maku.runtime.ort import require_onnxruntime


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare maku with ONNX Runtime (needs maku[ort])")
    p.add_argument("model", help="ONNX model file")
    p.add_argument(
        "--backend", choices=sorted(BACKENDS), default="numpy", help="maku backend (default numpy)"
    )
    p.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=FILE.npy",
        help="input arrays (default: seeded random inputs)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size of random inputs (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs (default 0)")
    p.add_argument(
        "--tol",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"allowed max abs error relative to max(1, max |ORT|) (default {DEFAULT_TOLERANCE:g})",
    )
    p.add_argument("--threads", type=int, help="threads for both runtimes")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    require_onnxruntime("maku compare")
    session = maku.load(args.model)
    feeds = parse_feeds(args.input, session) if args.input else random_feeds(session, args.batch, args.seed)
    result = compare_with_ort(args.model, feeds, backend=args.backend, threads=args.threads, tol=args.tol)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_comparison(result))
    return 0 if result.agree else 1
