"""The `maku` command: one module per subcommand, each with `add_parser` and `run`.

Errors from maku print as one line and exit 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from maku.errors import MakuError

# subcommand name -> module under maku.cli (an explicit, greppable list)
COMMANDS = {
    "info": "info",
    "run": "run",
    "classify": "classify",
    "compare": "compare",
    "bench": "bench",
    "profile": "profile",
    "build": "build",
    "serve": "serve",
    "train": "train",
    "eval": "eval",
}


def _available_commands() -> dict[str, object]:
    modules = {}
    for name, module in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"maku.cli.{module}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != f"maku.cli.{module}":
                raise
    return modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="maku", description="Run and train mobile CNNs.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = _available_commands()
    for module in modules.values():
        module.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        return modules[args.command].run(args) or 0
    except MakuError as exc:
        if args.debug:
            raise
        print(f"maku {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `maku info model.onnx | head -1`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
