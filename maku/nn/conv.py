"""Conv2d: channels-last (NHWC) 2-D convolution with an HWIO weight (KH, KW, Cin/groups, Cout)."""

from __future__ import annotations

import math

import numpy as np

from maku.nn import functional as F
from maku.nn import init
from maku.nn.module import Module, Parameter
from maku.tensor import Tensor

IntPair = int | tuple[int, int]


class Conv2d(Module):
    """y = conv(x, weight) + bias on (N, H, W, C) inputs.

    padding: an int, a (ph, pw) pair, "valid" or "same" (output size ceil(in / stride); any extra
    pixel of padding goes at the bottom/right). Weights start as PyTorch's do:
    kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias likewise.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair | str = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Conv2d {name} must be a positive integer, got {value!r}")
        if in_channels % groups:
            raise ValueError(f"Conv2d in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"Conv2d out_channels ({out_channels}) must be divisible by groups ({groups})")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Conv2d padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = (
            F._pair(kernel_size),
            F._pair(stride),
            F._pair(dilation),
        )
        if min(self.kernel_size + self.stride + self.dilation) <= 0:
            raise ValueError("Conv2d kernel_size, stride and dilation must be positive")
        self.padding = padding
        self.weight = Parameter(
            np.zeros((*self.kernel_size, in_channels // groups, out_channels), np.float32)
        )
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            fan_in = init.fan_in_and_out(self.weight.shape)[0]
            self.bias = Parameter(np.zeros(out_channels, np.float32))
            init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"]
        for name, default in (("stride", (1, 1)), ("dilation", (1, 1))):
            if getattr(self, name) != default:
                parts.append(f"{name}={getattr(self, name)}")
        if self.padding not in (0, (0, 0)):
            parts.append(f"padding={self.padding!r}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)
