"""Pooling layers on channels-last images: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1)."""

from __future__ import annotations

from maku.nn import functional as F
from maku.nn.module import Module
from maku.tensor import Tensor

IntPair = int | tuple[int, int]


class _Pool2d(Module):
    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
    ):
        super().__init__()
        kernel = F._pair(kernel_size)
        if min(kernel) <= 0:
            raise ValueError(f"{type(self).__name__} kernel_size must be positive, got {kernel_size!r}")
        pads = F._pair(padding)
        if min(pads) < 0 or pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
            raise ValueError(
                f"{type(self).__name__} padding must be between 0 and half the kernel size, got {padding!r}"
            )
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, 1, self.ceil_mode)


class AvgPool2d(_Pool2d):
    """Average pooling; the zero padding counts in the average (PyTorch's default)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class AdaptiveAvgPool2d(Module):
    """Global average pooling: (N, H, W, C) -> (N, 1, 1, C). Only output_size=1 is supported."""

    def __init__(self, output_size: IntPair = 1) -> None:
        super().__init__()
        if F._pair(output_size) != (1, 1):
            raise ValueError(f"AdaptiveAvgPool2d supports output_size=1 only, got {output_size!r}")
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, 1)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
