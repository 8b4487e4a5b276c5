"""The web target of `maku build`: a static folder that classifies photos in the browser.

    model.maku   the compiled model, with the wasm program and the page's preprocessing
    maku.wasm    the kernels (the same module the Python wasm backend runs)
    maku.js      the ES-module loader;  index.html  the demo page;  labels.json  class names

A browser cannot fall back to numpy, so a model with any node the wasm kernels cannot run is
refused here, with the list of those nodes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from maku.backends.wasm.module import WASM_PATH
from maku.backends.wasm.program import compile_program
from maku.errors import InputError, UnsupportedOpError
from maku.plan.planner import Plan
from maku.plan.serialize import write_maku
from maku.runtime.classify import class_labels
from maku.runtime.preprocess import input_spec, resize_size
from maku.runtime.session import Session

WEB_DIR = Path(__file__).parent
STATIC_FILES = ("maku.js", "index.html")


def build_site(session: Session, plan: Plan, out: Path, *, model_path: str, labels: str | None = None,
               preprocess: str | None = None) -> list[Path]:
    """Write the site into `out` (created); returns the files written."""
    program = compile_program(plan)
    if program.unsupported:
        nodes = {n.name: n for n in plan.nodes}
        listing = "; ".join(f"{name} ({nodes[name].op}): {why}" for name, why in program.unsupported.items())
        raise UnsupportedOpError(f"{model_path}: the browser runtime cannot run {len(program.unsupported)} "
                                 f"node(s): {listing}")
    if len(plan.graph.inputs) != 1 or len(plan.graph.outputs) != 1:
        raise InputError(f"{model_path}: the web page needs one image input and one score output")
    x = plan.graph.inputs[0]
    spec = input_spec(plan.shapes[x.name], plan.dtypes[x.name], preprocess, model_path)
    n_classes = int(np.prod(plan.shapes[plan.graph.outputs[0].name]))
    web = {
        "model_name": Path(model_path).stem,
        "preprocess": {"layout": spec.layout, "size": spec.size, "resize": resize_size(spec.size), "mode": spec.mode},
    }
    out.mkdir(parents=True, exist_ok=True)
    write_maku(out / "model.maku", plan, declared=session.graph, extra={"wasm": program.manifest(), "web": web})
    (out / "labels.json").write_text(json.dumps(class_labels(n_classes, labels)), encoding="utf-8")
    shutil.copyfile(WASM_PATH, out / "maku.wasm")
    for name in STATIC_FILES:
        shutil.copyfile(WEB_DIR / name, out / name)
    return [out / name for name in ("model.maku", "maku.wasm", *STATIC_FILES, "labels.json")]
