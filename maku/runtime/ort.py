"""ONNX Runtime as a peer: optional import and session creation with a fixed thread count.

onnxruntime is an optional extra (`maku[ort]`); commands that need it raise a MakuError that
says how to install it instead of an ImportError traceback.
"""

from __future__ import annotations

import os
from types import ModuleType

import onnx
from onnx import numpy_helper

from maku.errors import MakuError
from maku.plan.serialize import is_maku_file

INSTALL_HINT = "pip install 'maku[ort]'"


def require_onnxruntime(purpose: str = "this command") -> ModuleType:
    """Import onnxruntime, or explain how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise MakuError(
            f"{purpose} needs ONNX Runtime, which is not installed; install it with: {INSTALL_HINT}"
        ) from None
    return onnxruntime


def read_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Parse an ONNX file (external data included) for handing to ONNX Runtime."""
    if is_maku_file(path):
        raise MakuError(
            f"{path}: a compiled .maku file; ONNX Runtime needs the .onnx model it was built from"
        )
    try:
        return onnx.load(os.fspath(path))
    except FileNotFoundError:
        raise MakuError(f"{path}: no such file") from None
    except Exception as exc:  # protobuf decode errors and friends
        raise MakuError(f"{path}: ONNX Runtime cannot read this model ({exc})") from None


def ort_session(
    model: str | os.PathLike | onnx.ModelProto, threads: int | None = None, purpose: str = "this command"
):
    """A CPU InferenceSession; `threads` sets intra-op threads (None: ORT's default)."""
    ort = require_onnxruntime(purpose)
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else os.fspath(model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for unloadable models
        raise MakuError(f"ONNX Runtime cannot load the model: {exc}") from None


def ort_run(session, feeds: dict, output_names: list[str] | None = None) -> list:
    """`session.run`, with ORT's refusals (e.g. a batch size the model fixes) as one-line MakuErrors."""
    try:
        return session.run(output_names, feeds)
    except Exception as exc:  # ORT's pybind exception types are not importable by a stable name
        reason = " ".join(str(exc).split())
        raise MakuError(f"ONNX Runtime refused to run the model: {reason}") from None


def with_dynamic_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a batch-1 model that ORT runs at any batch size (maku generalizes such models itself).

    The inputs' and outputs' first dimension becomes symbolic, and Reshape targets that start
    with 1 start with 0 instead (ONNX: copy that dimension from the input, i.e. the batch).
    """
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in list(copy.graph.input) + list(copy.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].dim_param = "N"
    targets = {node.input[1] for node in copy.graph.node if node.op_type == "Reshape"}
    for init in copy.graph.initializer:
        if init.name in targets:
            shape = numpy_helper.to_array(init).copy()
            if shape.size and shape[0] == 1:
                shape[0] = 0
                init.CopyFrom(numpy_helper.from_array(shape, init.name))
    return copy
