"""MobileNetV2 (Sandler et al. 2018): inverted residual blocks with linear bottlenecks, ReLU6."""

from __future__ import annotations

from maku import nn
from maku.models.layers import ConvBNAct, Residual, init_weights, make_divisible
from maku.tensor import Tensor

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2
SETTINGS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class InvertedResidual(Residual):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 project (linear), plus the input when
    the shapes allow (stride 1, same channels)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        hidden = cin * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [ConvBNAct(cin, hidden, 1, activation=nn.ReLU6)]
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            ConvBNAct(hidden, cout, 1, activation=None),
        ]
        super().__init__(nn.Sequential(*layers), use_residual=stride == 1 and cin == cout)


class MobileNetV2(nn.Module):
    """MobileNetV2 on NHWC images; `width` scales every layer's channels (the last conv keeps at
    least 1280, as in the paper)."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"MobileNetV2 width must be positive, got {width}")
        cin = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [ConvBNAct(3, cin, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in SETTINGS:
            cout = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(ConvBNAct(cin, last, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


def mobilenet_v2(num_classes: int = 1000, width: float = 1.0) -> MobileNetV2:
    return MobileNetV2(num_classes, width)
