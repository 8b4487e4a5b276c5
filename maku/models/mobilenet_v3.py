"""MobileNetV3 Small and Large (Howard et al. 2019): inverted residuals with squeeze-and-excite
and hard-swish, from the paper's Tables 1 and 2."""

from __future__ import annotations

from maku import nn
from maku.models.layers import ConvBNAct, Residual, init_weights, make_divisible
from maku.tensor import Tensor

RE, HS = nn.ReLU, nn.Hardswish
# (kernel, expanded channels, output channels, squeeze-excite, activation, stride)
LARGE = [
    (3, 16, 16, False, RE, 1),
    (3, 64, 24, False, RE, 2),
    (3, 72, 24, False, RE, 1),
    (5, 72, 40, True, RE, 2),
    (5, 120, 40, True, RE, 1),
    (5, 120, 40, True, RE, 1),
    (3, 240, 80, False, HS, 2),
    (3, 200, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1),
    (3, 480, 112, True, HS, 1),
    (3, 672, 112, True, HS, 1),
    (5, 672, 160, True, HS, 2),
    (5, 960, 160, True, HS, 1),
    (5, 960, 160, True, HS, 1),
]
SMALL = [
    (3, 16, 16, True, RE, 2),
    (3, 72, 24, False, RE, 2),
    (3, 88, 24, False, RE, 1),
    (5, 96, 40, True, HS, 2),
    (5, 240, 40, True, HS, 1),
    (5, 240, 40, True, HS, 1),
    (5, 120, 48, True, HS, 1),
    (5, 144, 48, True, HS, 1),
    (5, 288, 96, True, HS, 2),
    (5, 576, 96, True, HS, 1),
    (5, 576, 96, True, HS, 1),
]


class SqueezeExcite(nn.Module):
    """Channel attention: global pool -> 1x1 (ReLU) -> 1x1 (hard-sigmoid) -> scale the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = make_divisible(channels // 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


class InvertedResidualSE(Residual):
    """Expand (unless expanded == input) -> depthwise -> optional SE -> project, plus residual."""

    def __init__(
        self, cin: int, kernel: int, expanded: int, cout: int, se: bool, activation: type, stride: int
    ):
        layers: list[nn.Module] = (
            [] if expanded == cin else [ConvBNAct(cin, expanded, 1, activation=activation)]
        )
        layers.append(ConvBNAct(expanded, expanded, kernel, stride, groups=expanded, activation=activation))
        if se:
            layers.append(SqueezeExcite(expanded))
        layers.append(ConvBNAct(expanded, cout, 1, activation=None))
        super().__init__(nn.Sequential(*layers), use_residual=stride == 1 and cin == cout)


class MobileNetV3(nn.Module):
    """MobileNetV3 on NHWC images from a block table (LARGE or SMALL)."""

    def __init__(
        self,
        blocks: list[tuple],
        last_channels: int,
        num_classes: int = 1000,
        width: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"MobileNetV3 width must be positive, got {width}")
        cin = make_divisible(16 * width)
        layers: list[nn.Module] = [ConvBNAct(3, cin, 3, 2, activation=HS)]
        for kernel, expanded, cout, se, activation, stride in blocks:
            cout = make_divisible(cout * width)
            layers.append(
                InvertedResidualSE(
                    cin, kernel, make_divisible(expanded * width), cout, se, activation, stride
                )
            )
            cin = cout
        head = 6 * cin
        layers.append(ConvBNAct(cin, head, 1, activation=HS))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(head, last_channels),
            nn.Hardswish(),
            nn.Dropout(dropout),
            nn.Linear(last_channels, num_classes),
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


def mobilenet_v3_large(num_classes: int = 1000, width: float = 1.0) -> MobileNetV3:
    return MobileNetV3(LARGE, make_divisible(1280 * max(1.0, width)), num_classes, width)


def mobilenet_v3_small(num_classes: int = 1000, width: float = 1.0) -> MobileNetV3:
    return MobileNetV3(SMALL, make_divisible(1024 * max(1.0, width)), num_classes, width)
