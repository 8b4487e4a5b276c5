"""Backward of the activations in `activation.py`: dL/dx from dL/dy and the saved input or output.

Each takes the forward's input `x` (or output `y` where that is cheaper) and the upstream
gradient `grad`, and returns a new array shaped like `grad`.
"""

from __future__ import annotations

import numpy as np


def relu_grad(y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Gradient of max(x, 0) from its output: passes where y > 0."""
    return grad * (y > 0)


def clip_grad(x: np.ndarray, grad: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Gradient of clip(x, lo, hi): passes strictly inside (lo, hi), as PyTorch's hardtanh."""
    return grad * ((x > lo) & (x < hi))


def sigmoid_grad(y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Gradient of the sigmoid from its output: y * (1 - y)."""
    return grad * y * (1 - y)


def hard_sigmoid_grad(x: np.ndarray, grad: np.ndarray, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    """Gradient of max(0, min(1, alpha*x + beta)): alpha where the ramp is not clipped."""
    z = alpha * x + beta
    return grad * (alpha * ((z > 0) & (z < 1)))


def hard_swish_grad(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Gradient of x * max(0, min(1, x/6 + 1/2)): 0 below -3, 1 above 3, x/3 + 1/2 between."""
    slope = np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, x / 3 + 0.5)).astype(grad.dtype)
    return grad * slope
