"""`maku build`: compile a model once into a `.maku` file, or into a static web site.

    maku build model.onnx -o model.maku                  # for maku.load("model.maku")
    maku build model.onnx --target web -o site/          # model.maku, maku.wasm, maku.js, index.html

The plan is made for one batch size (--batch, default 1); symbolic image sizes take
--input-shape. The web target refuses, listing the nodes, a model the wasm kernels cannot run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from maku.errors import InputError
from maku.plan.planner import Plan, make_plan
from maku.plan.serialize import write_maku
from maku.runtime.feeds import concrete_shape
from maku.runtime.session import Session, load


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build", help="compile a model to a .maku file or a web site", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="an .onnx (or .maku) model file")
    p.add_argument("-o", "--output", required=True, help="the .maku file (python target) or the site folder (web)")
    p.add_argument("--target", choices=("python", "web"), default="python")
    p.add_argument("--batch", type=int, default=1, help="batch size to plan for (default 1)")
    p.add_argument("--input-shape", metavar="D0,D1,...", help="the input's full shape when it has symbolic sizes")
    p.add_argument("--labels", default=None, help="web: 'imagenet' or a text file with one class name per line")
    p.add_argument("--preprocess", choices=("imagenet", "inception", "uint8"), default=None,
                   help="web: pixel encoding (default: uint8 for uint8 inputs, else imagenet)")


def compile_model(model: str, *, batch: int = 1, input_shape: str | None = None) -> tuple[Session, Plan]:
    """Load and optimize `model`, then plan it for concrete input shapes."""
    session = load(model)
    if input_shape and len(session.inputs) != 1:
        raise InputError("--input-shape applies to single-input models only")
    shapes = {}
    for info in session.inputs:
        if input_shape:
            try:
                shapes[info.name] = tuple(int(d) for d in input_shape.split(","))
            except ValueError:
                raise InputError(f"--input-shape must be integers separated by commas, got {input_shape!r}") from None
        else:
            shapes[info.name] = concrete_shape(info, batch)
    return session, make_plan(session.graph, shapes)


def run(args: argparse.Namespace) -> int:
    session, plan = compile_model(args.model, batch=args.batch, input_shape=args.input_shape)
    if args.target == "web":
        from maku.web.site import build_site

        paths = build_site(session, plan, Path(args.output), model_path=args.model, labels=args.labels,
                           preprocess=args.preprocess)
        for path in paths:
            print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0
    size = write_maku(args.output, plan, declared=session.graph)
    print(f"wrote {args.output} ({size} bytes; {len(plan.nodes)} nodes, arena {plan.memory.arena_bytes} bytes)")
    return 0
