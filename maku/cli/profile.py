"""`maku profile MODEL`: where the time goes, per node and per op type, with an optional PNG chart."""

from __future__ import annotations

import argparse

from maku.cli import options
from maku.runtime.feeds import random_feeds
from maku.runtime.profile import format_profile, plot_profile, profile_session


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("profile", help="per-node and per-op time, GFLOP/s per conv, PNG chart")
    options.add_session(p, threads=1)
    options.add_batch(p)
    p.add_argument(
        "--runs", type=int, default=10, help="timed runs; each node's median is shown (default 10)"
    )
    p.add_argument("--top", type=int, default=20, help="slowest nodes to list (default 20)")
    p.add_argument("--png", metavar="FILE", help="also save a bar chart here")


def run(args: argparse.Namespace) -> int:
    session = options.load_session(args)
    profile = profile_session(session, random_feeds(session, args.batch), runs=args.runs)
    print(format_profile(profile, args.top))
    if args.png:
        plot_profile(profile, args.png)
        print(f"chart saved to {args.png}")
    return 0
