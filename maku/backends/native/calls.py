"""Validated kernel calls: argument checks, and `BoundCall`, a call whose checks are done.

Checking arrays and turning them into pointers costs more than a small kernel (numpy's
`.ctypes.data` alone is ~1-2 us per array), so each wrapper in kernels.py first prepares a
BoundCall: the C function with its arguments converted once. Calling the wrapper runs that
at once; `bind(wrapper, ...)` returns it instead, to be run again and again on the same
arrays (whose contents may change), which is what a plan's per-node runners want.
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable

import numpy as np

from maku.errors import BackendError

ACTIVATION_CODES = {None: 0, "Relu": 1, "Clip": 2, "HardSigmoid": 3, "HardSwish": 4, "Sigmoid": 5}


class BoundCall:
    """A prepared kernel call: `call()` runs it and returns its `out` array."""

    __slots__ = ("_fn", "_args", "_keep", "out")

    def __init__(self, fn: Callable[..., object], args: tuple, out: np.ndarray, keep: tuple = ()):
        self._fn, self._args, self.out, self._keep = fn, args, out, keep

    def __call__(self) -> np.ndarray:
        self._fn(*self._args)
        return self.out


def native_call(cfunc: Callable[..., None], args: tuple, out: np.ndarray) -> BoundCall:
    """A BoundCall of a C function: arrays among `args` become pointers (None: NULL) and
    are kept alive by the call; ctypes structures are passed by reference."""
    converted = tuple(
        a.ctypes.data
        if isinstance(a, np.ndarray)
        else ctypes.byref(a)
        if isinstance(a, ctypes.Structure)
        else a
        for a in args
    )
    return BoundCall(cfunc, converted, out, keep=args)


def numpy_call(fn: Callable[[], object], out: np.ndarray) -> BoundCall:
    """A BoundCall computing with the numpy kernels (the library is unavailable)."""
    return BoundCall(fn, (), out)


_PREPARERS: dict[Callable[..., np.ndarray], Callable[..., BoundCall]] = {}


def runs_at_once(prepare: Callable[..., BoundCall]) -> Callable[..., np.ndarray]:
    """Turns a preparer into the public kernel that prepares and runs the call, returning
    `out`; `bind(kernel, ...)` gets the prepared call instead."""

    @functools.wraps(prepare)
    def kernel(*args, **kwargs) -> np.ndarray:
        return prepare(*args, **kwargs)()

    _PREPARERS[kernel] = prepare
    return kernel


def bind(kernel: Callable[..., np.ndarray], *args, **kwargs) -> BoundCall:
    """`kernel(*args, **kwargs)` checked once and ready to run again: call the result."""
    if kernel not in _PREPARERS:
        raise BackendError(f"{getattr(kernel, '__name__', kernel)!r} is not a native kernel")
    return _PREPARERS[kernel](*args, **kwargs)


def check_array(a: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> None:
    """BackendError unless `a` is a C-contiguous float32 array (of `shape`, when given)."""
    if not isinstance(a, np.ndarray):
        raise BackendError(f"native kernels need {name} as a float32 array, got {type(a).__name__}")
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        layout = "C-contiguous" if a.flags.c_contiguous else "non-contiguous"
        raise BackendError(
            f"native kernels need {name} as a C-contiguous float32 array, got a {layout} {a.dtype} one"
        )
    if shape is not None and a.shape != tuple(shape):
        raise BackendError(f"{name} has shape {a.shape}, expected {tuple(shape)}")


def check_optional(a: np.ndarray | None, name: str, shape: tuple[int, ...]) -> None:
    if a is not None:
        check_array(a, name, shape)


def output_array(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """`out` checked against `shape`, or a new array; any shape with the same size is accepted
    (e.g. (N, C) for a pool's (N, 1, 1, C))."""
    if out is None:
        return np.empty(shape, np.float32)
    check_array(out, "out")
    if out.size != math.prod(shape):
        raise BackendError(f"out has shape {out.shape}, expected {shape}")
    return out


def activation_code(act: str | None) -> int:
    if act not in ACTIVATION_CODES:
        raise BackendError(
            f"native kernels do not fuse activation {act!r}; expected one of {list(ACTIVATION_CODES)}"
        )
    return ACTIVATION_CODES[act]
