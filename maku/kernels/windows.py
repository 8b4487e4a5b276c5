"""Shared helpers for window-based NHWC kernels (conv, pooling): a padded copy made into a buffer
allocated once, and a zero-copy view of every kernel window."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


def sliding_windows(xp: np.ndarray, kernel: Pair, strides: Pair, dilations: Pair, out_hw: Pair) -> np.ndarray:
    """A read-only (N, OH, OW, KH, KW, C) view of the windows of an already padded NHWC array."""
    sn, sh, sw, sc = xp.strides
    shape = (xp.shape[0], *out_hw, *kernel, xp.shape[3])
    strides_bytes = (sn, sh * strides[0], sw * strides[1], sh * dilations[0], sw * dilations[1], sc)
    return as_strided(xp, shape, strides_bytes, writeable=False)


def row_windows(xp: np.ndarray, kernel: Pair, stride_h: int, dilations: Pair, out_hw: Pair) -> np.ndarray:
    """For a width stride of 1: a read-only (N, OH, KH, KW, OW*C) view in which each tap's output
    row is one contiguous run of OW*C values, so per-channel products vectorize over whole rows.
    `xp` must be contiguous along W and C."""
    sn, sh, sw, sc = xp.strides
    shape = (xp.shape[0], out_hw[0], *kernel, out_hw[1] * xp.shape[3])
    return as_strided(
        xp, shape, (sn, sh * stride_h, sh * dilations[0], sw * dilations[1], sc), writeable=False
    )


class Padder:
    """Copies an NHWC input into the interior of a buffer, allocated once, whose border holds `fill`.
    Without pads the input is used as is, unless `always_copy` (for callers needing contiguity)."""

    def __init__(
        self,
        x_shape: tuple[int, ...],
        pads: Pads,
        dtype: np.dtype,
        fill: float = 0.0,
        always_copy: bool = False,
    ) -> None:
        n, h, w, c = x_shape
        top, left, bottom, right = pads
        self.needed = any(pads) or always_copy
        self.buffer = (
            np.full((n, h + top + bottom, w + left + right, c), fill, dtype) if self.needed else None
        )
        self.interior = (slice(None), slice(top, top + h), slice(left, left + w))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The padded input (the same buffer every call), or `x` itself when there are no pads."""
        if not self.needed:
            return x
        self.buffer[self.interior] = x
        return self.buffer
