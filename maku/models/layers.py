"""Building blocks shared by the MobileNet definitions: channel rounding, Conv-BN-activation, init."""

from __future__ import annotations

from maku import nn
from maku.nn import init
from maku.tensor import Tensor


def make_divisible(channels: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of `divisor`, never dropping below 90% of it
    (the rule of the MobileNetV2/V3 papers' reference code)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias, "same"-style symmetric padding) + BatchNorm2d + an optional activation."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: type | None = nn.ReLU,
    ) -> None:
        layers = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        super().__init__(*layers, *([activation()] if activation is not None else []))


class Residual(nn.Module):
    """`block(x)`, plus `x` when the block keeps the shape (stride 1, same channels)."""

    def __init__(self, block: nn.Sequential, use_residual: bool) -> None:
        super().__init__()
        self.block = block
        self.use_residual = use_residual

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.use_residual else y


def init_weights(model: nn.Module) -> None:
    """torchvision's MobileNet init: conv kaiming_normal(fan_out), BN 1/0, Linear N(0, 0.01) with zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            init.ones_(m.weight)
            init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            init.normal_(m.weight, 0.0, 0.01)
            init.zeros_(m.bias)
