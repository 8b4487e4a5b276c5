"""`maku run MODEL --input NAME=file.npy ... -o out.npz`: run a model on arrays from files."""

from __future__ import annotations

import argparse

import numpy as np

from maku.cli import options
from maku.errors import InputError
from maku.runtime.feeds import parse_feeds


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("run", help="run a model on .npy inputs and save the outputs")
    options.add_session(p)
    options.add_inputs(p, default="none")
    p.add_argument("-o", "--output", metavar="OUT.npz", help="save every output into this .npz file")


def run(args: argparse.Namespace) -> int:
    session = options.load_session(args)
    outputs = session.run(parse_feeds(args.input, session))
    for name, y in outputs.items():
        print(
            f"{name}: {y.dtype.name}{list(y.shape)}  min {y.min():.6g}  max {y.max():.6g}  mean {y.mean():.6g}"
        )
    if args.output:
        try:
            np.savez(args.output, **outputs)
        except OSError as exc:
            raise InputError(f"{args.output}: cannot write the outputs ({exc.strerror})") from None
        print(f"saved {len(outputs)} output(s) to {args.output}")
    return 0
