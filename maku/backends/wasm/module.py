"""maku.wasm under wasmtime: one instance per executor, its linear memory seen as NumPy bytes.

The module is compiled once per process. Each instance gets its own memory, grown once to the
model's size before any NumPy view is taken (a later grow could move the memory and leave the
views dangling, so nothing grows it afterwards).
"""

from __future__ import annotations

import atexit
import functools
from pathlib import Path

import numpy as np

from maku.errors import BackendError

WASM_PATH = Path(__file__).with_name("maku.wasm")
PAGE = 65536


@functools.cache
def _compiled():
    try:
        import wasmtime
    except ImportError:
        raise BackendError("the wasm backend needs the 'wasmtime' package: pip install wasmtime") from None
    engine = wasmtime.Engine()
    try:
        return wasmtime, engine, wasmtime.Module.from_file(engine, str(WASM_PATH))
    except (OSError, wasmtime.WasmtimeError) as exc:
        raise BackendError(f"cannot load {WASM_PATH}: {exc}") from None


# free the compiled module before interpreter teardown unloads wasmtime's native library
atexit.register(_compiled.cache_clear)


class WasmInstance:
    """An instance of maku.wasm with at least `nbytes` of free linear memory from `base`."""

    def __init__(self, nbytes: int):
        self._wasmtime, engine, module = _compiled()
        self.store = self._wasmtime.Store(engine)
        instance = self._wasmtime.Instance(self.store, module, [])
        self.exports = instance.exports(self.store)
        memory = self.exports["memory"]
        self.base = -(-self.exports["__heap_base"].value(self.store) // 64) * 64
        missing = self.base + nbytes - memory.data_len(self.store)
        if missing > 0:
            memory.grow(self.store, -(-missing // PAGE))
        self.memory = np.ctypeslib.as_array(memory.data_ptr(self.store), shape=(memory.data_len(self.store),))

    def call(self, name: str, *args: int) -> int:
        try:
            return self.exports[name](self.store, *args)
        except self._wasmtime.Trap as exc:
            raise BackendError(f"the wasm module trapped in {name}: {exc}") from None

    def region(self, offset: int, nbytes: int) -> np.ndarray:
        """Bytes [offset, offset + nbytes) from the base, as a uint8 view (no copy)."""
        return self.memory[self.base + offset : self.base + offset + nbytes]
