"""Shared fixtures. Large test data lives outside the repo (see ../shared/data/MANIFEST.md).

MAKU_TEST_DATA points at it (default: ../shared/data beside the repository). Tests that need
it skip when it is missing locally, but FAIL under CI=true: CI must never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_data_root() -> Path:
    return Path(os.environ.get("MAKU_TEST_DATA", REPO.parent / "shared" / "data"))


def require_data(*relative: str) -> Path:
    """The path under the test data root; fail under CI=true, skip otherwise, when missing."""
    path = test_data_root().joinpath(*relative)
    if not path.exists():
        message = f"test data {path} is missing (set MAKU_TEST_DATA to the shared data folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The shared test data folder (see MANIFEST.md there)."""
    return require_data()


@pytest.fixture(params=[("x86-64-v2", 4), ("x86-64-v3", 8)], ids=["sse-4-lanes", "avx2-8-lanes"])
def portable_native_build(request, monkeypatch):
    """maku's C kernels built for an older x86 target (4 or 8 vector lanes) and made the ones the
    native wrappers call, so that the narrower code paths run on this machine too."""
    import platform

    from maku.backends.native import kernels, loader

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("portable builds are x86 targets")
    arch, lanes = request.param
    monkeypatch.setenv("MAKU_NATIVE_ARCH", arch)
    library = loader.load_library()
    assert library.maku_vector_lanes() == lanes
    monkeypatch.setattr(kernels, "library", lambda: library)
    return library
