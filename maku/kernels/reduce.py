"""Reductions along axes: ReduceMean, Softmax, LogSoftmax (ONNX opset >= 13 semantics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def reduce_mean(
    x: np.ndarray, axes: Sequence[int] | None = None, keepdims: bool = True, out: np.ndarray | None = None
) -> np.ndarray:
    """ONNX ReduceMean: mean over `axes` (all axes when None or empty), keepdims by default."""
    axis = tuple(axes) if axes else None
    return np.mean(x, axis=axis, keepdims=bool(keepdims), out=out)


def softmax(x: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along one axis; subtracting the max keeps exp finite."""
    y = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(y, out=y)
    return np.divide(y, y.sum(axis=axis, keepdims=True), out=y)


def log_softmax(x: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) along one axis."""
    y = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    return np.subtract(y, np.log(np.exp(y).sum(axis=axis, keepdims=True)), out=y)
