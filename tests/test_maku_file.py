"""The .maku file: round trip, every truncation and header corruption is a ModelFormatError."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from model_builders import Style, mobilenet_v2

import maku
from maku.backends.numpy.executor import NumpyExecutor
from maku.cli import main as cli_main
from maku.cli.build import compile_model
from maku.errors import ModelFormatError
from maku.plan.serialize import PREAMBLE, is_maku_file, maku_bytes, parse_maku, read_maku


@pytest.fixture(scope="module")
def compiled():
    """A small MobileNetV2 (batch 1, 64x64): its session, plan and .maku bytes."""
    session, plan = compile_model(mobilenet_v2(Style(batch=1), width=0.35, resolution=64).SerializeToString())
    return session, plan, maku_bytes(plan, declared=session.graph)


def _sections(data: bytes) -> dict[str, int]:
    head_len = PREAMBLE.unpack_from(data)[2]
    blob_start = len(data) - json.loads(data[PREAMBLE.size : PREAMBLE.size + head_len])["blob_bytes"]
    return {"preamble": PREAMBLE.size, "header": PREAMBLE.size + head_len, "padding": blob_start,
            "blob": len(data)}


def test_round_trip_keeps_plan_and_outputs(compiled):
    session, plan, data = compiled
    graph, loaded = parse_maku(data)
    assert loaded.memory.offsets == plan.memory.offsets
    assert loaded.memory.arena_bytes == plan.memory.arena_bytes
    assert [n.op for n in graph.nodes] == [n.op for n in plan.nodes]
    name = graph.input_names[0]
    x = np.random.default_rng(0).standard_normal(plan.shapes[name]).astype(np.float32)
    want = NumpyExecutor(plan).run({name: x})
    got = NumpyExecutor(loaded).run({name: x})
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])


def test_layout_is_aligned_and_declares_symbolic_shapes(compiled):
    _, _, data = compiled
    sections = _sections(data)
    assert sections["padding"] % 64 == 0
    header = json.loads(data[PREAMBLE.size : sections["header"]])
    assert all(t["offset"] % 64 == 0 for t in header["tensors"])
    assert header["graph"]["declared"][header["graph"]["inputs"][0]]["shape"][1:] == [3, 64, 64]


@pytest.mark.parametrize("section", ["preamble", "header", "padding", "blob"])
def test_every_truncation_is_a_format_error(compiled, tmp_path, section):
    _, _, data = compiled
    sections = _sections(data)
    starts = {"preamble": 0, "header": PREAMBLE.size, "padding": sections["header"], "blob": sections["padding"]}
    lo, hi = starts[section], sections[section]
    cuts = sorted({lo, (lo + hi) // 2, hi - 1} | {lo + i for i in range(0, hi - lo, max(1, (hi - lo) // 16))})
    path = tmp_path / "cut.maku"
    for cut in cuts:
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError, match="cut.maku"):
            read_maku(path)


def test_random_byte_flips_are_format_errors(compiled):
    _, _, data = compiled
    rng = np.random.default_rng(1)
    end = _sections(data)["header"]
    for pos in rng.integers(0, end, 300).tolist() + rng.integers(end, len(data), 30).tolist():
        bad = bytearray(data)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ModelFormatError):
            parse_maku(bytes(bad), "flipped.maku")


def _rewrite_header(data: bytes, edit) -> bytes:
    """The file with its header edited by `edit(header)` and the checksum recomputed, as a
    crafted (not accidentally corrupted) file would be."""
    _, version, head_len, _, blob_crc = PREAMBLE.unpack_from(data)
    header = json.loads(data[PREAMBLE.size : PREAMBLE.size + head_len])
    blob = data[len(data) - header["blob_bytes"] :]
    edit(header)
    head = json.dumps(header).encode()
    preamble = PREAMBLE.pack(data[:8], version, len(head), zlib.crc32(head), blob_crc)
    pad = bytes(-(len(preamble) + len(head)) % 64)
    return preamble + head + pad + blob


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["tensors"][0].update(offset=h["blob_bytes"]), "does not lie in the"),
    (lambda h: h["tensors"][0].update(offset=3), "does not lie in the"),
    (lambda h: h["tensors"][0].update(shape=[10**6, 10**6]), "does not lie in the"),
    (lambda h: h["tensors"][0].update(dtype="complex64"), "unknown dtype"),
    (lambda h: h["plan"]["tensors"][0].update(offset=h["plan"]["arena_bytes"]), "arena"),
    (lambda h: h["plan"].update(arena_bytes=-1), "arena size"),
    (lambda h: h["graph"]["nodes"][0].update(op="NoSuchOp"), "unknown op"),
    (lambda h: h["graph"]["nodes"][0]["inputs"].append("ghost"), "ghost"),
    (lambda h: h["graph"]["nodes"].reverse(), "corrupted"),
    (lambda h: h.pop("plan"), "corrupted"),
    (lambda h: h.update(blob_bytes=h["blob_bytes"] + 64), "truncated or extended"),
])
def test_inconsistent_header_with_valid_checksum(compiled, edit, message):
    _, _, data = compiled
    with pytest.raises(ModelFormatError, match=message):
        parse_maku(_rewrite_header(data, edit), "crafted.maku")


def test_wrong_version_and_magic(compiled):
    _, _, data = compiled
    with pytest.raises(ModelFormatError, match="version 99"):
        parse_maku(data[:8] + struct.pack("<I", 99) + data[12:])
    with pytest.raises(ModelFormatError, match="magic"):
        parse_maku(b"NOTMAKU!" + data[8:])


def test_cli_build_writes_a_loadable_file(compiled, tmp_path):
    session, plan, _ = compiled
    onnx_path, out = tmp_path / "m.onnx", tmp_path / "m.maku"
    onnx_path.write_bytes(mobilenet_v2(Style(batch=1), width=0.35, resolution=64).SerializeToString())
    assert cli_main(["build", str(onnx_path), "-o", str(out)]) == 0
    assert is_maku_file(out) and not is_maku_file(onnx_path)
    graph, loaded = read_maku(out)
    assert loaded.memory.offsets == plan.memory.offsets
    x = np.random.default_rng(2).standard_normal(plan.shapes[graph.input_names[0]]).astype(np.float32)
    np.testing.assert_array_equal(maku.load(str(out))(x), maku.load(str(onnx_path))(x))
