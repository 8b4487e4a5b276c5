"""How many BLAS threads maku's NumPy work uses: training and the numpy backend.

NumPy's matrix products run on a BLAS (OpenBLAS, MKL) with its own thread pool; threadpoolctl
sets it for every BLAS loaded in the process. The cpu backend's C kernels have their own pool,
sized per session with `maku.load(..., threads=)`.
"""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

from maku.errors import InputError

_BLAS = ThreadpoolController().select(user_api="blas")


def set_num_threads(threads: int) -> None:
    """Use `threads` BLAS threads from now on (as `torch.set_num_threads`).

    One thread is the right choice on a machine with other busy processes: idle BLAS threads
    spin while they wait, and a training step with two threads on a half-busy 2-core machine
    was 8x slower than with one.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"set_num_threads: threads must be a positive int, got {threads!r}")
    _BLAS.limit(limits=threads)


def get_num_threads() -> int:
    """The BLAS thread count NumPy's matrix products use now (1 when no BLAS is loaded)."""
    return max((lib.num_threads for lib in _BLAS.lib_controllers), default=1)
