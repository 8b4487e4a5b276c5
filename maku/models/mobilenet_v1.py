"""MobileNetV1 (Howard et al. 2017): a 3x3 conv, 13 depthwise-separable blocks, global pool, Linear.

Two variants share the blocks. The ImageNet one starts with a stride-2 conv (224 -> 7x7 at the
end). The CIFAR one starts with a stride-1 conv, so a 32x32 image ends at 2x2 after the four
stride-2 blocks; a stride-2 stem would leave 1x1 and lose accuracy. The resolution multiplier of
the paper is a property of the input (the network is fully convolutional): feed smaller images.
"""

from __future__ import annotations

from maku import nn
from maku.models.layers import ConvBNAct, init_weights, make_divisible
from maku.tensor import Tensor

# (output channels, stride) of the 13 depthwise-separable blocks
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise Conv-BN-ReLU, then 1x1 pointwise Conv-BN-ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(ConvBNAct(cin, cin, 3, stride, groups=cin), ConvBNAct(cin, cout, 1))


class MobileNetV1(nn.Module):
    """MobileNetV1 on NHWC images; `width` scales every layer's channels."""

    def __init__(
        self, num_classes: int = 1000, width: float = 1.0, cifar_stem: bool = False, dropout: float = 0.0
    ):
        super().__init__()
        if width <= 0:
            raise ValueError(f"MobileNetV1 width must be positive, got {width}")
        if not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f"MobileNetV1 num_classes must be a positive integer, got {num_classes!r}")
        cin = make_divisible(32 * width)
        layers: list[nn.Module] = [ConvBNAct(3, cin, 3, 1 if cifar_stem else 2)]
        for channels, stride in BLOCKS:
            cout = make_divisible(channels * width)
            layers.append(DepthwiseSeparable(cin, cout, stride))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.flatten(self.pool(self.features(x)))))


def mobilenet_v1(num_classes: int = 1000, width: float = 1.0) -> MobileNetV1:
    """ImageNet MobileNetV1 (stride-2 stem, 224x224 inputs)."""
    return MobileNetV1(num_classes, width, cifar_stem=False)


def mobilenet_v1_cifar(num_classes: int = 10, width: float = 1.0) -> MobileNetV1:
    """CIFAR MobileNetV1 (stride-1 stem, 32x32 inputs)."""
    return MobileNetV1(num_classes, width, cifar_stem=True)
