"""maku.models: MobileNet definitions for training (NHWC), each with `width` and `num_classes`."""

from collections.abc import Callable

from maku.models.mobilenet_v1 import MobileNetV1, mobilenet_v1, mobilenet_v1_cifar
from maku.models.mobilenet_v2 import MobileNetV2, mobilenet_v2
from maku.models.mobilenet_v3 import MobileNetV3, mobilenet_v3_large, mobilenet_v3_small
from maku.models.pretrained import PRETRAINED, pretrained
from maku.nn.module import Module

# name -> constructor(num_classes=..., width=...), for the CLI
MODELS: dict[str, Callable[..., Module]] = {
    "mobilenet_v1": mobilenet_v1_cifar,
    "mobilenet_v1_imagenet": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "mobilenet_v3_large": mobilenet_v3_large,
}


def get_model(name: str, num_classes: int, width: float = 1.0) -> Module:
    """Build a model by its CLI name (see MODELS)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return MODELS[name](num_classes=num_classes, width=width)


__all__ = [
    "MODELS",
    "get_model",
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV3",
    "mobilenet_v1",
    "mobilenet_v1_cifar",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "PRETRAINED",
    "pretrained",
]
