"""Backward of the NHWC pooling kernels in `pool.py`.

The windows of the output are found again from the gradient's shape; the bottom/right pads
grow to cover ceil_mode's overhanging windows exactly as the forward does.
"""

from __future__ import annotations

import numpy as np

from .conv_grad import pad_nhwc, unpad_nhwc, window_tap
from .windows import Pads, Pair


def _covering_pads(
    x_shape: tuple[int, ...], out_hw: Pair, kernel: Pair, strides: Pair, pads: Pads, dilations: Pair
) -> Pads:
    """`pads` with bottom/right grown so every one of the `out_hw` windows lies inside."""
    grown = []
    for axis in range(2):
        reach = (out_hw[axis] - 1) * strides[axis] + dilations[axis] * (kernel[axis] - 1) + 1
        grown.append(max(pads[axis + 2], reach - x_shape[axis + 1] - pads[axis]))
    return (pads[0], pads[1], grown[0], grown[1])


def max_pool2d_grad(
    x: np.ndarray,
    y: np.ndarray,
    grad: np.ndarray,
    kernel: Pair,
    strides: Pair,
    pads: Pads,
    dilations: Pair = (1, 1),
) -> np.ndarray:
    """dL/dx of y = max_pool2d(x): each window's gradient goes to its first maximal element."""
    out_hw = y.shape[1:3]
    full_pads = _covering_pads(x.shape, out_hw, kernel, strides, pads, dilations)
    xp = pad_nhwc(x, full_pads, fill=-np.inf)
    dxp = np.zeros_like(xp)
    taken = np.zeros(y.shape, bool)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            tap = window_tap(i, j, strides, dilations, out_hw)
            winner = (xp[tap] == y) & ~taken
            taken |= winner
            dxp[tap] += grad * winner
    return unpad_nhwc(dxp, full_pads)


def avg_pool2d_grad(
    x_shape: tuple[int, ...], grad: np.ndarray, kernel: Pair, strides: Pair, pads: Pads, divisor: np.ndarray
) -> np.ndarray:
    """dL/dx of average pooling; `divisor` (broadcastable to the output) is the forward's."""
    out_hw = grad.shape[1:3]
    full_pads = _covering_pads(x_shape, out_hw, kernel, strides, pads, (1, 1))
    n, h, w, c = x_shape
    dxp = np.zeros((n, h + full_pads[0] + full_pads[2], w + full_pads[1] + full_pads[3], c), grad.dtype)
    share = grad / divisor
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            dxp[window_tap(i, j, strides, (1, 1), out_hw)] += share
    return unpad_nhwc(dxp, full_pads)


def global_avg_pool2d_grad(x_shape: tuple[int, ...], grad: np.ndarray) -> np.ndarray:
    """dL/dx of the mean over H and W: the gradient spread evenly."""
    return np.broadcast_to(grad / (x_shape[1] * x_shape[2]), x_shape).copy()
