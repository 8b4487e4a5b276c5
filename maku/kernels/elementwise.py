"""Elementwise ONNX ops with numpy (multidirectional) broadcasting, and inference BatchNorm."""

from __future__ import annotations

import numpy as np


def add(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Add."""
    return np.add(a, b, out=out)


def sub(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Sub."""
    return np.subtract(a, b, out=out)


def mul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Mul."""
    return np.multiply(a, b, out=out)


def div(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Div; integer division truncates toward zero (as ONNX Runtime does), unlike numpy's //."""
    if not np.issubdtype(np.result_type(a, b), np.integer):
        return np.divide(a, b, out=out)
    quotient = np.abs(a) // np.abs(b) * (np.sign(a) * np.sign(b))
    if out is None:
        return quotient
    out[...] = quotient
    return out


def batchnorm_inference(
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float = 1e-5,
    channel_axis: int = -1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * scale + bias per channel, as one multiply-add."""
    factor = (scale / np.sqrt(var + eps)).astype(x.dtype)
    shift = (bias - mean * factor).astype(x.dtype)
    per_channel = [1] * x.ndim
    per_channel[channel_axis] = -1
    y = np.multiply(x, factor.reshape(per_channel), out=out)
    return np.add(y, shift.reshape(per_channel), out=y)
