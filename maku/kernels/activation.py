"""Activation functions, in place or into `out=`, as fused into conv/gemm (docs/architecture.md).

Each writes through numpy ufuncs with `out=` so a fused activation costs no temporary array.
"""

from __future__ import annotations

import numpy as np

ACTIVATION_KINDS = ("Relu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid", None)


def _target(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """The array to write into: `out`, or a fresh array shaped like `x`."""
    return np.empty_like(x) if out is None else out


def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(x, 0, out=_target(x, out))


def clip(x: np.ndarray, lo: float, hi: float, out: np.ndarray | None = None) -> np.ndarray:
    """min(max(x, lo), hi); Relu6 is clip(x, 0, 6)."""
    return np.clip(x, lo, hi, out=_target(x, out))


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)), computed in place on the output buffer."""
    y = np.negative(x, out=_target(x, out))
    np.exp(y, out=y)
    np.add(y, 1, out=y)
    return np.reciprocal(y, out=y)


def hard_sigmoid(
    x: np.ndarray, alpha: float = 0.2, beta: float = 0.5, out: np.ndarray | None = None
) -> np.ndarray:
    """max(0, min(1, alpha*x + beta)) (ONNX HardSigmoid defaults)."""
    y = np.multiply(x, alpha, out=_target(x, out))
    np.add(y, beta, out=y)
    return np.clip(y, 0, 1, out=y)


def hard_swish(x: np.ndarray, out: np.ndarray | None = None, scratch: np.ndarray | None = None) -> np.ndarray:
    """x * max(0, min(1, x/6 + 1/2)). In place (`out is x`) the gate needs a buffer: pass
    `scratch` (shaped like x) to avoid allocating one."""
    y = _target(x, out)
    gate = scratch if y is x else y
    gate = hard_sigmoid(x, 1.0 / 6.0, 0.5, out=gate)
    return np.multiply(x, gate, out=y)


def apply_activation(
    y: np.ndarray, kind: str | None, alpha: float = 0.0, beta: float = 0.0, scratch: np.ndarray | None = None
) -> np.ndarray:
    """Apply the fused activation `kind` to `y` in place and return `y`. `scratch` (shaped like y)
    is used only by HardSwish, so that prepared kernels allocate nothing per call."""
    if kind is None:
        return y
    if kind == "Relu":
        return relu(y, out=y)
    if kind == "Clip":
        return clip(y, alpha, beta, out=y)
    if kind == "HardSigmoid":
        return hard_sigmoid(y, alpha, beta, out=y)
    if kind == "HardSwish":
        return hard_swish(y, out=y, scratch=scratch)
    if kind == "Sigmoid":
        return sigmoid(y, out=y)
    raise ValueError(f"unknown activation {kind!r}; expected one of {ACTIVATION_KINDS}")
