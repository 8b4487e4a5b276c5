"""How many threads training uses: NumPy's BLAS and, for training's C kernels, maku's own pool.

NumPy's matrix products run on a BLAS (OpenBLAS, MKL) with its own thread pool; threadpoolctl
sets it for every BLAS loaded in the process. Training's C kernels (maku/nn/native_dispatch.py)
read the same count. Inference sessions are sized separately, with `maku.load(..., threads=)`.
"""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

from maku.errors import InputError

# every BLAS loaded in this process (usually one); the numpy backend also sets them per node
BLAS_LIBRARIES = ThreadpoolController().select(user_api="blas").lib_controllers


def set_num_threads(threads: int) -> None:
    """Train with `threads` threads from now on (as `torch.set_num_threads`).

    One thread is the right choice on a machine with other busy processes: idle threads spin
    while they wait, and a training step with two threads on a 2-core machine with one busy
    core was 2.2x slower than with one.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"set_num_threads: threads must be a positive int, got {threads!r}")
    for blas in BLAS_LIBRARIES:
        blas.set_num_threads(threads)


def get_num_threads() -> int:
    """The BLAS thread count NumPy's matrix products use now (1 when no BLAS is loaded)."""
    return max((blas.num_threads for blas in BLAS_LIBRARIES), default=1)
