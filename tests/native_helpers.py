"""What the tests of maku's C kernels share: when they may skip, and a spy on training's calls.

Without a C compiler only the numpy fallbacks can be tested; in CI (CI=true) a missing
library is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest

import maku
from maku.backends import native

IN_CI = os.environ.get("CI") == "true"
needs_native = pytest.mark.skipif(
    not native.available() and not IN_CI, reason="native kernels cannot be built here"
)


def spy_on_kernels(monkeypatch: pytest.MonkeyPatch, module: ModuleType, names: tuple[str, ...]) -> list:
    """Wraps module.<name> for each name so that every call records (name, threads) in the list returned."""
    calls: list[tuple[str, int]] = []
    for name in names:
        kernel = getattr(module, name)

        def spy(*args, _kernel=kernel, _name=name, **kwargs):
            calls.append((_name, kwargs["threads"]))
            return _kernel(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return calls


@contextmanager
def training_threads(threads: int) -> Iterator[None]:
    """maku.set_num_threads(threads) for the block, then the count from before."""
    before = maku.get_num_threads()
    maku.set_num_threads(threads)
    try:
        yield
    finally:
        maku.set_num_threads(before)
