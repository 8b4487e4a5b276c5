"""Activation layers: thin Modules over `maku.nn.functional`."""

from __future__ import annotations

from maku.nn import functional as F
from maku.nn.module import Module
from maku.tensor import Tensor


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class ReLU6(Module):
    """min(max(x, 0), 6), MobileNet's activation."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x)


class Hardswish(Module):
    """x * relu6(x + 3) / 6, MobileNetV3's activation."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x)


class GELU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)


class Softmax(Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
