"""`maku profile MODEL`: where the time goes, per node and per op type, with an optional PNG chart."""

from __future__ import annotations

import argparse

import maku
from maku.backends import BACKENDS
from maku.runtime.feeds import random_feeds
from maku.runtime.profile import format_profile, plot_profile, profile_session


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("profile", help="per-node and per-op time, GFLOP/s per conv, PNG chart")
    p.add_argument("model", help="ONNX model file")
    p.add_argument(
        "--backend", choices=sorted(BACKENDS), default="numpy", help="maku backend (default numpy)"
    )
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument(
        "--runs", type=int, default=10, help="timed runs; each node's median is shown (default 10)"
    )
    p.add_argument("--top", type=int, default=20, help="slowest nodes to list (default 20)")
    p.add_argument("--png", metavar="FILE", help="also save a bar chart here")


def run(args: argparse.Namespace) -> int:
    session = maku.load(args.model, backend=args.backend, threads=args.threads)
    profile = profile_session(session, random_feeds(session, args.batch), runs=args.runs)
    print(format_profile(profile, args.top))
    if args.png:
        plot_profile(profile, args.png)
        print(f"chart saved to {args.png}")
    return 0
