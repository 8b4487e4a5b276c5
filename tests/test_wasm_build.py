"""maku.wasm is reproducible from its C sources, small, and needs nothing from its host."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from maku.backends.wasm.module import WASM_PATH

REPO = Path(__file__).resolve().parent.parent
SIZE_GOAL = 100 * 1024


def test_shipped_module_is_small_and_self_contained():
    import wasmtime

    module = wasmtime.Module.from_file(wasmtime.Engine(), str(WASM_PATH))
    assert WASM_PATH.stat().st_size <= SIZE_GOAL
    assert list(module.imports) == []
    assert {"memory", "maku_exec", "__heap_base"} <= {e.name for e in module.exports}


def test_rebuild_from_source_is_byte_identical(tmp_path):
    if not (shutil.which("clang") and shutil.which("wasm-ld")):
        message = "clang and lld are needed to rebuild maku.wasm (apt-get install -y clang lld)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path / "maku.wasm"
    subprocess.run([str(REPO / "tools" / "build_wasm.sh"), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == WASM_PATH.read_bytes(), (
        "maku/backends/wasm/maku.wasm is stale: run tools/build_wasm.sh and commit the result"
    )
