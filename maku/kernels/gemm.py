"""Matrix products: ONNX Gemm (with a fused activation) and MatMul."""

from __future__ import annotations

import numpy as np

from .activation import apply_activation


def gemm(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray | None = None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    trans_a: bool = False,
    trans_b: bool = False,
    activation: str | None = None,
    act_alpha: float = 0.0,
    act_beta: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """act(alpha * A' @ B' + beta * C), A' = A.T when trans_a (likewise B); C broadcasts to (M, N)."""
    y = np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)
    if alpha != 1.0:
        np.multiply(y, alpha, out=y)
    if c is not None and beta != 0.0:
        np.add(y, c if beta == 1.0 else beta * c, out=y)
    return apply_activation(y, activation, act_alpha, act_beta)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX MatMul: numpy.matmul semantics (batch dims broadcast, 1-D operands promoted)."""
    return np.matmul(a, b, out=out)
