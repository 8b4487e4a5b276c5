"""ONNX → maku IR import, using the `onnx` package for all protobuf work.

Opset differences are resolved here so that the IR sees one form per op: Clip's min/max,
Slice's starts/ends and Pad's pads become inputs; ReduceMean's and Squeeze/Unsqueeze's axes
become attributes; Softmax before opset 13 is marked `legacy`. Constant nodes become graph
constants. Unsupported ops are collected over the whole model and reported in one error.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import external_data_helper, helper, numpy_helper

from maku.errors import ModelFormatError, UnsupportedOpError
from maku.ir.graph import Graph, Node, Value
from maku.ir.ops import ONNX_OPS, OPS

MIN_OPSET, MAX_OPSET = 7, 22
# element types maku computes with; float8/int4/bfloat16 (ml_dtypes), strings and complex are refused
SUPPORTED_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64,
))


def load_onnx(source: str | os.PathLike | bytes, *, name: str | None = None) -> Graph:
    """Read an ONNX model from a path or bytes and convert it to a maku Graph."""
    model, origin, base_dir = _read_model(source)
    return import_model(model, origin=name or origin, base_dir=base_dir)


def _read_model(source) -> tuple[onnx.ModelProto, str, Path | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(bytes(source), "<bytes>"), "<bytes>", None
    path = Path(source)
    if not path.exists():
        raise ModelFormatError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFormatError(f"{path}: is a directory, not an ONNX model file")
    data = path.read_bytes()
    return _parse(data, str(path)), str(path), path.resolve().parent


def _parse(data: bytes, origin: str) -> onnx.ModelProto:
    if not data:
        raise ModelFormatError(f"{origin}: the file is empty")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFormatError(f"{origin}: not a valid ONNX model (protobuf parse failed: {exc})") from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.output:
        raise ModelFormatError(f"{origin}: not an ONNX model (no graph or no outputs; truncated or another format?)")
    return model


def import_model(model: onnx.ModelProto, *, origin: str = "<model>", base_dir: Path | None = None) -> Graph:
    """Convert a parsed ModelProto into a Graph (no optimization)."""
    opset = _default_opset(model, origin)
    g = model.graph
    domains = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
    _check_supported(g, opset, origin, domains)
    constants = {t.name: _tensor_to_array(t, base_dir, origin) for t in g.initializer}
    values: dict[str, Value] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        values[vi.name] = _merge_value(values.get(vi.name), _value_from_proto(vi))
    inputs = [values[vi.name] for vi in g.input if vi.name not in constants]
    outputs = [values[vi.name] for vi in g.output]
    nodes: list[Node] = []
    used_names: set[str] = set()
    for idx, proto in enumerate(g.node):
        name = proto.name or f"{proto.op_type}_{idx}"
        if name in used_names:
            name = f"{name}_{idx}"
        used_names.add(name)
        attrs = {a.name: _attr_value(a, base_dir, origin) for a in proto.attribute}
        node = Node(proto.op_type, name, list(proto.input), list(proto.output), attrs)
        if node.op == "Constant":
            constants[node.outputs[0]] = _constant_value(node, origin)
            continue
        nodes.append(_normalize(node, opset, constants, origin))
        if node.op == "Dropout" and len(node.outputs) > 1:
            nodes.extend(_dropout_mask(node, constants))
    _check_dtypes([(v.name, v.dtype) for v in inputs + outputs] + [(k, c.dtype) for k, c in constants.items()],
                  origin)
    metadata = {p.key: p.value for p in model.metadata_props}
    graph = Graph(nodes, inputs, outputs, constants, values, name=g.name or Path(origin).stem,
                  opset=opset, metadata=metadata)
    graph.metadata.setdefault("source", origin)
    graph.toposort()
    return graph


def _check_dtypes(tensors: list[tuple[str, np.dtype | None]], origin: str) -> None:
    """Refuse, in one error, graph inputs, outputs and constants of an element type maku cannot compute with."""
    bad = [f"{name!r} ({np.dtype(dtype).name})" for name, dtype in tensors
           if dtype is not None and np.dtype(dtype) not in SUPPORTED_DTYPES]
    if bad:
        raise UnsupportedOpError(
            f"{origin}: element type not supported for {', '.join(bad[:5])}{' and more' if len(bad) > 5 else ''}; "
            "maku computes with bool, integers and float16/32/64"
        )


def _default_opset(model: onnx.ModelProto, origin: str) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            if not MIN_OPSET <= imp.version <= MAX_OPSET:
                raise UnsupportedOpError(
                    f"{origin}: ONNX opset {imp.version} is not supported (maku reads opsets {MIN_OPSET}-{MAX_OPSET}); "
                    "convert it with onnx.version_converter"
                )
            return imp.version
    raise ModelFormatError(f"{origin}: the model imports no default-domain ONNX opset")


def _check_supported(g: onnx.GraphProto, opset: int, origin: str, domains: dict[str, int] | None = None) -> None:
    """Raise one UnsupportedOpError naming every op type maku cannot run (with its domain's opset)."""
    missing: Counter[str] = Counter()
    first_nodes: dict[str, list[str]] = {}
    versions: dict[str, int] = {}
    for idx, n in enumerate(g.node):
        op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        versions.setdefault(op, opset if n.domain in ("", "ai.onnx") else (domains or {}).get(n.domain, 0))
        problem = None
        if op != "Constant" and (op not in OPS or op.startswith("maku.")):
            problem = op
        elif op == "Pad" and _attr(n, "mode", b"constant") not in (b"constant", "constant"):
            problem = f"Pad(mode={_attr(n, 'mode', b'').decode()})"
        elif op == "MaxPool" and len(n.output) > 1 and n.output[1]:
            problem = "MaxPool(with Indices output)"
        elif op in ("Conv", "MaxPool", "AveragePool") and len(_attr(n, "kernel_shape", [0, 0]) or [0, 0]) != 2:
            problem = f"{op}(non-2D)"
        if problem:
            missing[problem] += 1
            first_nodes.setdefault(problem, []).append(n.name or f"{n.op_type}_{idx}")
            versions.setdefault(problem, versions[op])
    if missing:
        lines = [
            f"  {op} (opset {versions[op]}): {count} node{'s' if count > 1 else ''}, e.g. {', '.join(first_nodes[op][:3])}"
            for op, count in missing.most_common()
        ]
        raise UnsupportedOpError(
            f"{origin}: {len(missing)} unsupported op type{'s' if len(missing) > 1 else ''}:\n"
            + "\n".join(lines)
            + f"\nsupported ops: {', '.join(ONNX_OPS)}"
        )


def _attr(n: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in n.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _attr_value(a: onnx.AttributeProto, base_dir, origin) -> Any:
    if a.type == onnx.AttributeProto.TENSOR:
        return _tensor_to_array(a.t, base_dir, origin)
    if a.type == onnx.AttributeProto.SPARSE_TENSOR:
        return _sparse_to_array(a.sparse_tensor, base_dir, origin)
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def _constant_value(node: Node, origin: str) -> np.ndarray:
    a = node.attrs
    for key in ("value", "sparse_value"):
        if key in a:
            return a[key]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return np.array(a[key], dtype=dtype)
    raise UnsupportedOpError(f"{origin}: Constant node {node.name!r} uses an unsupported value form {sorted(a)}")


def _tensor_to_array(t: onnx.TensorProto, base_dir: Path | None, origin: str) -> np.ndarray:
    if external_data_helper.uses_external_data(t):
        _load_external(t, base_dir, origin)
    try:
        return numpy_helper.to_array(t).copy()
    except Exception as exc:
        raise ModelFormatError(f"{origin}: tensor {t.name!r} cannot be read: {exc}") from None


def _sparse_to_array(t: onnx.SparseTensorProto, base_dir: Path | None, origin: str) -> np.ndarray:
    """A SparseTensorProto as a dense array: indices are [NNZ] linear or [NNZ, rank] coordinates."""
    values = _tensor_to_array(t.values, base_dir, origin)
    indices = _tensor_to_array(t.indices, base_dir, origin).astype(np.int64)
    dense = np.zeros(tuple(t.dims), dtype=values.dtype)
    if indices.ndim == 2:
        indices = np.ravel_multi_index(tuple(indices.T), dense.shape) if indices.size else indices.reshape(-1)
    dense.reshape(-1)[indices] = values.reshape(-1)
    return dense


def _load_external(t: onnx.TensorProto, base_dir: Path | None, origin: str) -> None:
    """Read a tensor's external data, refusing any location outside the model's folder."""
    info = external_data_helper.ExternalDataInfo(t)
    if base_dir is None:
        raise ModelFormatError(f"{origin}: tensor {t.name!r} uses external data; load the model from a file path")
    target = (base_dir / info.location).resolve()
    if os.path.isabs(info.location) or not target.is_relative_to(base_dir):
        raise ModelFormatError(
            f"{origin}: tensor {t.name!r} points at external data {info.location!r} outside the model's folder; refused"
        )
    if not target.is_file():
        raise ModelFormatError(f"{origin}: external data file {info.location!r} for tensor {t.name!r} is missing")
    with open(target, "rb") as f:
        f.seek(info.offset or 0)
        data = f.read(info.length) if info.length else f.read()
    if info.length and len(data) != info.length:
        raise ModelFormatError(f"{origin}: external data for tensor {t.name!r} is truncated")
    t.raw_data = data
    del t.external_data[:]
    t.data_location = onnx.TensorProto.DEFAULT


def _merge_value(old: Value | None, new: Value) -> Value:
    """A tensor declared twice (an input that is also an output, value_info and output): an untyped or
    shapeless declaration must not erase what another one says."""
    if old is None:
        return new
    return Value(new.name, new.dtype if new.dtype is not None else old.dtype,
                 new.shape if new.shape is not None else old.shape)


def _value_from_proto(vi: onnx.ValueInfoProto) -> Value:
    tt = vi.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type) if tt.elem_type else None
    shape = None
    if tt.HasField("shape"):
        shape = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in tt.shape.dim
        )
    return Value(vi.name, None if dtype is None else np.dtype(dtype), shape)


# ----------------------------------------------------------------------------- opset normalization
def _normalize(node: Node, opset: int, constants: dict[str, np.ndarray], origin: str) -> Node:
    """Rewrite one node into the single form the registry describes."""
    a = node.attrs
    op = node.op

    def const_input(suffix: str, value: np.ndarray) -> str:
        name = f"{node.name}__{suffix}"
        constants[name] = value
        return name

    def axes_from_input(idx: int) -> None:
        if len(node.inputs) > idx and node.inputs[idx]:
            src = node.inputs[idx]
            if src not in constants:
                raise UnsupportedOpError(f"{origin}: node {node.name!r} ({op}) takes its axes from a computed tensor")
            a["axes"] = [int(v) for v in constants[src].reshape(-1)]
        node.inputs = node.inputs[:idx]

    if op == "Clip" and opset < 11:
        lo, hi = a.pop("min", None), a.pop("max", None)
        node.inputs = node.inputs[:1] + [
            const_input("min", np.float32(lo)) if lo is not None else "",
            const_input("max", np.float32(hi)) if hi is not None else "",
        ]
    elif op in ("Squeeze", "Unsqueeze") and opset >= 13:
        axes_from_input(1)
    elif op == "ReduceMean" and opset >= 18:
        axes_from_input(1)
        if not a.get("axes") and a.pop("noop_with_empty_axes", 0):
            node.op, node.attrs = "Identity", {}
    elif op == "Softmax" and opset < 13:
        a["legacy"] = 1
        a.setdefault("axis", 1)
    elif op == "Slice" and opset < 10:
        node.inputs = node.inputs[:1] + [
            const_input("starts", np.array(a.pop("starts"), dtype=np.int64)),
            const_input("ends", np.array(a.pop("ends"), dtype=np.int64)),
        ]
        if "axes" in a:
            node.inputs.append(const_input("axes", np.array(a.pop("axes"), dtype=np.int64)))
    elif op == "Pad" and opset < 11:
        node.inputs = node.inputs[:1] + [
            const_input("pads", np.array(a.pop("pads"), dtype=np.int64)),
            const_input("value", np.float32(a.pop("value", 0.0))),
        ]
    elif op == "Pad" and len(node.inputs) > 3:
        node.inputs = node.inputs[:3] if not node.inputs[3] else node.inputs
        if len(node.inputs) > 3:
            raise UnsupportedOpError(f"{origin}: node {node.name!r} (Pad) uses the axes input, which maku does not support")
    elif op in ("Cast", "CastLike"):
        a.pop("saturate", None)  # opset 19: only affects float8 targets, which maku refuses below
        if op == "Cast":
            to = np.dtype(helper.tensor_dtype_to_np_dtype(a["to"]))
            if to not in SUPPORTED_DTYPES:
                raise UnsupportedOpError(
                    f"{origin}: node {node.name!r} (Cast) casts to {onnx.TensorProto.DataType.Name(a['to'])}, "
                    "an element type maku does not support"
                )
            a["to"] = to.name
    elif op == "Dropout":
        if len(node.inputs) > 2 and node.inputs[2]:
            mode = constants.get(node.inputs[2])
            if mode is None or bool(np.asarray(mode).reshape(-1)[0]):
                raise UnsupportedOpError(
                    f"{origin}: node {node.name!r} (Dropout) runs in training mode (random); maku is inference-only"
                )
        node.inputs = node.inputs[:1]
        a.clear()
    elif op == "BatchNormalization":
        if a.get("training_mode") or any(node.outputs[1:]):
            raise UnsupportedOpError(
                f"{origin}: node {node.name!r} (BatchNormalization) runs in training mode (it outputs batch "
                "statistics); maku is inference-only"
            )
        node.outputs = node.outputs[:1]
        for legacy in ("spatial", "is_test", "consumed_inputs", "training_mode"):
            a.pop(legacy, None)
    elif op == "Gemm":
        a.pop("broadcast", None)
    elif op in ("Add", "Sub", "Mul", "Div"):
        _legacy_broadcast(node, constants, origin)
    unknown = set(a) - set(OPS[node.op].attrs)
    if unknown:
        raise UnsupportedOpError(f"{origin}: node {node.name!r} ({node.op}) has unsupported attributes {sorted(unknown)}")
    return node


def _dropout_mask(node: Node, constants: dict[str, np.ndarray]) -> list[Node]:
    """An inference Dropout's mask output is all True: Expand(True, Shape(x)), so the Dropout itself
    stays a one-output identity that the passes may drop."""
    mask = node.outputs[1]
    node.outputs = node.outputs[:1]
    if not mask:
        return []
    true, shape = f"{node.name}__true", f"{node.name}__shape"
    constants[true] = np.array(True)
    return [Node("Shape", f"{node.name}__mask_shape", [node.inputs[0]], [shape]),
            Node("Expand", f"{node.name}__mask", [true, shape], [mask])]


def _legacy_broadcast(node: Node, constants: dict[str, np.ndarray], origin: str) -> None:
    """Opset < 7 style `broadcast`/`axis` attributes: reshape the constant operand instead."""
    a = node.attrs
    if "broadcast" not in a and "axis" not in a:
        return
    a.pop("broadcast", None)
    axis = a.pop("axis", None)
    if axis is not None:
        raise UnsupportedOpError(f"{origin}: node {node.name!r} ({node.op}) uses legacy axis broadcasting")
