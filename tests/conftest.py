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
