"""Weight initializers, in place on a Parameter, drawing from maku's seedable generator.

Fan-in and fan-out of an HWIO conv weight (KH, KW, Cin/groups, Cout) are KH*KW*Cin/groups and
KH*KW*Cout; of a Linear weight (out, in) they are `in` and `out`.
Defaults: kaiming_* use mode="fan_in" and nonlinearity="relu" (gain sqrt(2)) unless told;
xavier_* use gain 1.
"""

from __future__ import annotations

import math

import numpy as np

from maku.rng import generator
from maku.tensor import Tensor


def fan_in_and_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) for a Linear (out, in) or HWIO conv weight shape."""
    if len(shape) == 2:
        return shape[1], shape[0]
    if len(shape) == 4:
        receptive = shape[0] * shape[1]
        return receptive * shape[2], receptive * shape[3]
    raise ValueError(f"fan in/out needs a 2-D (out, in) or 4-D HWIO shape, got {shape}")


def _gain(nonlinearity: str, a: float) -> float:
    gains = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0)}
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity not in gains:
        raise ValueError(
            f"unknown nonlinearity {nonlinearity!r}; expected one of {sorted(gains) + ['leaky_relu']}"
        )
    return gains[nonlinearity]


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    tensor.data[...] = values.astype(tensor.dtype)
    return tensor


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"
) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan) (He et al. 2015)."""
    std = _gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return _fill(tensor, generator().normal(0.0, std, tensor.shape))


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"
) -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan)."""
    bound = _gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return _fill(tensor, generator().uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    return _fill(tensor, generator().normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), tensor.shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, generator().uniform(-bound, bound, tensor.shape))


def uniform_(tensor: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    return _fill(tensor, generator().uniform(low, high, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(tensor, generator().normal(mean, std, tensor.shape))


def zeros_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 0
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 1
    return tensor


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    return fan_in if mode == "fan_in" else fan_out
