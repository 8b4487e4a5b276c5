"""Dropout: zeroes elements with probability p while training (inverted scaling), identity in eval."""

from __future__ import annotations

from maku.nn import functional as F
from maku.nn.module import Module
from maku.tensor import Tensor


class Dropout(Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
