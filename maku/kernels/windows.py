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


class Padder:
    """Copies an NHWC input into the interior of a buffer, allocated once, whose border holds `fill`."""

    def __init__(self, x_shape: tuple[int, ...], pads: Pads, dtype: np.dtype, fill: float = 0.0) -> None:
        n, h, w, c = x_shape
        top, left, bottom, right = pads
        self.needed = any(pads)
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
