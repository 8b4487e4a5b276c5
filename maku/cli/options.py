"""Command-line options shared by several subcommands, defined once so they read the same everywhere."""

from __future__ import annotations

import argparse

import maku
from maku.backends import BACKENDS


def add_session(parser: argparse.ArgumentParser, threads: int | None = None) -> None:
    """MODEL, --backend and --threads: what `load_session` needs."""
    parser.add_argument("model", help="ONNX (or .maku) model file")
    add_backend(parser)
    shown = "the library's" if threads is None else threads
    parser.add_argument(
        "--threads", type=int, default=threads, help=f"threads for every runtime (default {shown})"
    )


def add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=["auto", *sorted(BACKENDS)],
        default="auto",
        help="maku backend (default auto: the compiled cpu kernels where they build, else numpy)",
    )


def add_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=1, help="batch size of the random input (default 1)")


def add_inputs(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=FILE.npy",
        help=f"an input array; repeat for several inputs, NAME= may be left out for one input (default: {default})",
    )


def load_session(args: argparse.Namespace) -> maku.Session:
    """The Session that MODEL, --backend and --threads ask for."""
    return maku.load(args.model, backend=args.backend, threads=args.threads)
