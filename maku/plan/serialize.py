"""The `.maku` file: a compiled model (specialized graph, plan, weights) in one file.

Layout (all integers little-endian; docs/maku_format.md):

    magic  8 bytes  b"\\x89MAKU\\r\\n\\x1a"
    u32 format version, u32 header length, u32 CRC-32 of the header, u32 CRC-32 of the blob
    header: UTF-8 JSON (graph nodes, plan, tensor table, model metadata)
    zero padding to a multiple of 64 bytes
    blob: every constant tensor, each at a 64-byte aligned offset given by the tensor table

Weights are stored in the graph's own (HWIO) form, which the numpy backend uses as is; the
wasm module packs them for its GEMM once at load, because the panel width belongs to the
target. Reading checks the checksums and every offset, size, dtype and name against the file
before any array is made, so a truncated or corrupted file is a `ModelFormatError` naming it.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from typing import Any

import numpy as np

from maku.errors import MakuError, ModelFormatError
from maku.ir.graph import Graph, Node, Value
from maku.ir.ops import OPS
from maku.plan.memory import MemoryPlan, TensorLife
from maku.plan.planner import Plan

MAGIC = b"\x89MAKU\r\n\x1a"
FORMAT_VERSION = 1
PREAMBLE = struct.Struct("<8sIIII")  # magic, version, header length, header crc, blob crc
ALIGNMENT = 64
DTYPES = ("float32", "float64", "int64", "int32", "uint8", "int8", "bool")
MAX_HEADER_BYTES = 1 << 28


def is_maku_file(path: str | os.PathLike | bytes) -> bool:
    """True when `path` names a file that starts with the `.maku` magic."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


# -- writing ---------------------------------------------------------------------------------
def layout_constants(constants: dict[str, np.ndarray]) -> tuple[list[dict], int]:
    """The tensor table (name, dtype, shape, offset, nbytes; 64-aligned offsets) and blob size."""
    table, offset = [], 0
    for name, arr in constants.items():
        arr = np.asarray(arr)
        if arr.dtype.name not in DTYPES:
            raise MakuError(f"constant {name!r} has dtype {arr.dtype}, which a .maku file cannot hold")
        table.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "offset": offset,
                      "nbytes": int(arr.nbytes)})
        offset = _align(offset + int(arr.nbytes))
    return table, offset


def pack_constants(constants: dict[str, np.ndarray], table: list[dict], blob_bytes: int) -> bytearray:
    """The blob: each constant's little-endian bytes at its table offset."""
    blob = bytearray(blob_bytes)
    for entry in table:
        arr = np.asarray(constants[entry["name"]])
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        blob[entry["offset"] : entry["offset"] + len(data)] = data
    return blob


def maku_bytes(plan: Plan, *, declared: Graph | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """Serialize a plan (and its specialized graph) to the bytes of a `.maku` file.

    declared: the graph before specialization, whose input/output shapes (with symbolic batch)
    are recorded as metadata. extra: more header sections (e.g. the web target's wasm program).
    """
    g = plan.graph
    table, blob_bytes = layout_constants(g.constants)
    header = {
        "format": "maku",
        "version": FORMAT_VERSION,
        "model": {"name": g.name, "opset": g.opset, "metadata": dict(g.metadata)},
        "graph": {
            "inputs": g.input_names,
            "outputs": g.output_names,
            "declared": _declared(declared or g),
            "nodes": [{"op": n.op, "name": n.name, "inputs": list(n.inputs), "outputs": list(n.outputs),
                       "attrs": {k: _encode(v) for k, v in n.attrs.items()}} for n in g.nodes],
        },
        "plan": {
            "arena_bytes": plan.memory.arena_bytes,
            "total_bytes": plan.memory.total_bytes,
            "lower_bound": plan.memory.lower_bound,
            "alignment": plan.memory.alignment,
            "tensors": [{"name": name, "dtype": plan.dtypes[name].name, "shape": list(plan.shapes[name]),
                         "offset": plan.memory.offsets[name]} for name in plan.memory.offsets],
            "lives": [[t.name, t.nbytes, t.first, t.last, t.inplace_of] for t in plan.lives],
        },
        "tensors": table,
        "blob_bytes": blob_bytes,
        **(extra or {}),
    }
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    blob = pack_constants(g.constants, table, blob_bytes)
    preamble = PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(head), zlib.crc32(head), zlib.crc32(blob))
    padding = bytes(_align(len(preamble) + len(head)) - len(preamble) - len(head))
    return preamble + head + padding + bytes(blob)


def write_maku(path: str | os.PathLike, plan: Plan, **kwargs) -> int:
    """Write a `.maku` file; returns its size in bytes."""
    data = maku_bytes(plan, **kwargs)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def _declared(g: Graph) -> dict[str, dict]:
    return {v.name: {"dtype": None if g.value(v.name).dtype is None else np.dtype(g.value(v.name).dtype).name,
                     "shape": None if g.value(v.name).shape is None else list(g.value(v.name).shape)}
            for v in g.inputs + g.outputs}


def _encode(v: Any) -> Any:
    """Attribute values as JSON: numpy scalars and arrays become numbers and lists; non-finite
    floats become {"float": "inf"} because JSON (and the browser's parser) has no inf or NaN."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    elif isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise MakuError(f"attribute value {v!r} ({type(v).__name__}) cannot be stored in a .maku file")


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, dict):
        return float(v["float"])
    return v


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


# -- reading ---------------------------------------------------------------------------------
def read_maku(path: str | os.PathLike) -> tuple[Graph, Plan]:
    """Read and validate a `.maku` file; returns the specialized graph and its plan."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_maku(data, str(path))


def parse_maku(data: bytes, origin: str = "<bytes>") -> tuple[Graph, Plan]:
    """Validate `.maku` bytes and build (Graph, Plan); ModelFormatError names `origin`."""
    header, blob = split_maku(data, origin)
    try:
        return _build(header, blob, origin)
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, MakuError) as exc:
        raise ModelFormatError(f"{origin}: corrupted .maku header ({type(exc).__name__}: {exc})") from None


def split_maku(data: bytes, origin: str) -> tuple[dict, memoryview]:
    """Check the preamble, checksums and section sizes; returns the parsed header and the blob."""
    def bad(why: str) -> ModelFormatError:
        return ModelFormatError(f"{origin}: not a valid .maku file: {why}")

    if len(data) < PREAMBLE.size:
        raise bad(f"{len(data)} bytes is shorter than the {PREAMBLE.size}-byte preamble (truncated?)")
    magic, version, head_len, head_crc, blob_crc = PREAMBLE.unpack_from(data)
    if magic != MAGIC:
        raise bad("wrong magic bytes")
    if version != FORMAT_VERSION:
        raise bad(f"format version {version}; this maku reads version {FORMAT_VERSION} (rebuild the file)")
    if head_len > min(MAX_HEADER_BYTES, len(data) - PREAMBLE.size):
        raise bad(f"the header claims {head_len} bytes but the file has {len(data)} (truncated?)")
    head = bytes(data[PREAMBLE.size : PREAMBLE.size + head_len])
    if zlib.crc32(head) != head_crc:
        raise bad("the header checksum does not match (corrupted)")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"the header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != "maku":
        raise bad("the header is not a maku header")
    start = _align(PREAMBLE.size + head_len)
    blob_bytes = header.get("blob_bytes")
    if not _is_count(blob_bytes) or start + blob_bytes != len(data):
        raise bad(f"the file has {len(data)} bytes, the header says {start} + {blob_bytes} (truncated or extended)")
    if any(data[PREAMBLE.size + head_len : start]):
        raise bad("the padding after the header is not zero")
    blob = memoryview(data)[start:]
    if zlib.crc32(blob) != blob_crc:
        raise bad("the weights checksum does not match (corrupted)")
    return header, blob


def _build(header: dict, blob: memoryview, origin: str) -> tuple[Graph, Plan]:
    def bad(why: str) -> ModelFormatError:
        return ModelFormatError(f"{origin}: corrupted .maku file: {why}")

    constants = {}
    for t in header["tensors"]:
        dtype, shape = _dtype(t["dtype"], bad), _shape(t["shape"], bad)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        off = t["offset"]
        if not _is_count(off) or off % ALIGNMENT or t["nbytes"] != nbytes or off + nbytes > len(blob):
            raise bad(f"tensor {t['name']!r} ({nbytes} bytes at {off}) does not lie in the {len(blob)}-byte blob")
        arr = np.frombuffer(blob, dtype=dtype.newbyteorder("<"), count=nbytes // dtype.itemsize, offset=off)
        constants[str(t["name"])] = arr.astype(dtype, copy=False).reshape(shape)

    p = header["plan"]
    arena, alignment = p["arena_bytes"], p["alignment"]
    if not _is_count(arena) or alignment != ALIGNMENT:
        raise bad(f"arena size {arena!r} or alignment {alignment!r}")
    shapes, dtypes, offsets = {}, {}, {}
    for t in p["tensors"]:
        name, dtype, shape, off = str(t["name"]), _dtype(t["dtype"], bad), _shape(t["shape"], bad), t["offset"]
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not _is_count(off) or off % ALIGNMENT or off + nbytes > arena or name in constants:
            raise bad(f"planned tensor {name!r} ({nbytes} bytes at {off}) does not lie in the {arena}-byte arena")
        shapes[name], dtypes[name], offsets[name] = shape, dtype, off
    for name, arr in constants.items():
        shapes[name], dtypes[name] = tuple(arr.shape), arr.dtype

    gh = header["graph"]
    nodes = []
    for n in gh["nodes"]:
        if n["op"] not in OPS:
            raise bad(f"node {n['name']!r} has unknown op {n['op']!r}")
        for name in n["inputs"] + n["outputs"]:
            if name and name not in shapes:
                raise bad(f"node {n['name']!r} ({n['op']}) refers to tensor {name!r}, which the plan does not hold")
        nodes.append(Node(str(n["op"]), str(n["name"]), list(n["inputs"]), list(n["outputs"]),
                          {str(k): _decode(v) for k, v in n["attrs"].items()}))
    for name in gh["inputs"] + gh["outputs"]:
        if name not in shapes:
            raise bad(f"graph input/output {name!r} is not in the plan")
    values = {name: Value(name, dtypes[name], shapes[name]) for name in shapes}
    model = header["model"]
    graph = Graph(nodes, [Value(name, dtypes[name], shapes[name]) for name in gh["inputs"]],
                  [Value(name, dtypes[name], shapes[name]) for name in gh["outputs"]], constants, values,
                  name=str(model["name"]), opset=int(model["opset"]), metadata=dict(model["metadata"]))
    graph.validate()
    lives = [TensorLife(str(a), int(b), int(c), int(d), e) for a, b, c, d, e in p["lives"]]
    if {t.name for t in lives} != set(offsets):
        raise bad("the plan's lifetimes and offsets name different tensors")
    memory = MemoryPlan(offsets, arena, int(p["total_bytes"]), int(p["lower_bound"]), alignment)
    return graph, Plan(graph, shapes, dtypes, memory, lives)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _dtype(name: Any, bad) -> np.dtype:
    if name not in DTYPES:
        raise bad(f"unknown dtype {name!r}")
    return np.dtype(name)


def _shape(dims: Any, bad) -> tuple[int, ...]:
    if not isinstance(dims, list) or not all(_is_count(d) for d in dims) or len(dims) > 8:
        raise bad(f"bad shape {dims!r}")
    if int(np.prod(dims, dtype=np.float64)) > 1 << 40:
        raise bad(f"shape {dims} is too large")
    return tuple(dims)
