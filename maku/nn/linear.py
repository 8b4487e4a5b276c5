"""Linear: y = x @ weight.T + bias, weight shaped (out_features, in_features) as in PyTorch."""

from __future__ import annotations

import math

import numpy as np

from maku.nn import functional as F
from maku.nn import init
from maku.nn.module import Module, Parameter
from maku.tensor import Tensor


class Linear(Module):
    """Fully connected layer; weights and bias start U(-1/sqrt(in), 1/sqrt(in)) as PyTorch's."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Linear {name} must be a positive integer, got {value!r}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = init.uniform_(
            Parameter(np.zeros((out_features, in_features), np.float32)), -bound, bound
        )
        if bias:
            self.bias = init.uniform_(Parameter(np.zeros(out_features, np.float32)), -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + (
            "" if self.bias is not None else ", bias=False"
        )
