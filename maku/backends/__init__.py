"""Backends: executors of a Plan. One explicit table, imported lazily by name.

Every executor class takes `(plan, *, poison=False)` and has `run(feeds, timings=None)`,
`plan` and `views`. A backend that cannot work on this machine (no native library, no
wasmtime) raises BackendError with the reason when it is asked for; "auto" never fails.
"""

from __future__ import annotations

import importlib

from maku.errors import BackendError

# backend name -> "module:ExecutorClass"
BACKENDS = {
    "numpy": "maku.backends.numpy.executor:NumpyExecutor",
    "cpu": "maku.backends.cpu:CpuExecutor",
    "wasm": "maku.backends.wasm.executor:WasmExecutor",
}


def resolve_backend(name: str) -> str:
    """'auto' means the compiled cpu backend when its C kernels are usable here, else numpy."""
    if name != "auto":
        return name
    from maku.backends import native

    return "cpu" if native.available() else "numpy"


def executor_class(name: str) -> type:
    """The executor class of backend `name`."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; available backends: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)
