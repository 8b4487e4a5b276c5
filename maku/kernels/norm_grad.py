"""Batch normalization in training mode (statistics of the batch) and its backward, channels last.

Sums over the N*H*W rows are matrix-vector products with a ones vector: BLAS does them in
blocks, which is faster than numpy's axis-0 reduction and accumulates more accurately.
"""

from __future__ import annotations

import numpy as np


def _column_sums(x2: np.ndarray) -> np.ndarray:
    return np.ones(x2.shape[0], x2.dtype) @ x2


def batch_norm_train(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """y = (x - mean) / sqrt(var + eps) * gamma + beta over all axes but the last.

    Returns (y, mean, biased var, centered x, 1/sqrt(var + eps)); the last two feed the backward.
    """
    c = x.shape[-1]
    x2 = x.reshape(-1, c)
    rows = x2.shape[0]
    mean = _column_sums(x2) / rows
    centered = x2 - mean
    y = np.multiply(centered, centered)
    var = _column_sums(y) / rows
    inv_std = 1.0 / np.sqrt(var + eps)
    np.multiply(centered, inv_std * gamma, out=y)
    y += beta
    return y.reshape(x.shape), mean, var, centered, inv_std


def batch_norm_train_grad(
    grad: np.ndarray, centered: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d_x, d_gamma, d_beta) of `batch_norm_train`, from its saved centered input and 1/std."""
    c = grad.shape[-1]
    g2 = grad.reshape(-1, c)
    rows = g2.shape[0]
    d_beta = _column_sums(g2)
    scratch = np.multiply(g2, centered)
    d_gamma = _column_sums(scratch) * inv_std
    scale = gamma * inv_std
    # dx = scale * (g - mean(g) - xhat * mean(g * xhat)), with xhat = centered * inv_std
    dx = np.multiply(g2, scale)
    np.multiply(centered, scale * inv_std * d_gamma / rows, out=scratch)
    dx -= scratch
    dx -= scale * d_beta / rows
    return dx.reshape(grad.shape), d_gamma, d_beta
