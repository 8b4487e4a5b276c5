"""maku.set_num_threads / get_num_threads: the BLAS thread count for NumPy work."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

import maku
from maku.errors import InputError


def blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def restore_threads():
    before = maku.get_num_threads()
    yield
    maku.set_num_threads(before)


def test_set_num_threads_sets_every_blas_and_get_reads_it_back(restore_threads) -> None:
    maku.set_num_threads(1)
    assert maku.get_num_threads() == 1
    assert blas_threads() <= {1}
    maku.set_num_threads(2)
    assert maku.get_num_threads() == 2 or not blas_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_refuses_anything_but_a_positive_int(bad, restore_threads) -> None:
    before = maku.get_num_threads()
    with pytest.raises(InputError, match="threads must be a positive int"):
        maku.set_num_threads(bad)
    assert maku.get_num_threads() == before
