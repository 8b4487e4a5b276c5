"""Trained models shipped inside the package as ONNX files (they run offline on a fresh install)."""

from __future__ import annotations

from pathlib import Path

from maku.assets import asset_path
from maku.errors import InputError

# name -> file under maku/assets/models/; each takes raw uint8 RGB pixels NHWC and normalizes
# inside the graph; its metadata_props hold the class names, the recipe and the test accuracy
PRETRAINED = {"mobilenet_v1_cifar10": "mobilenet_v1_0.5_cifar10.onnx"}


def pretrained(name: str) -> Path:
    """The path of a bundled trained model, e.g. pretrained("mobilenet_v1_cifar10")."""
    if name not in PRETRAINED:
        raise InputError(f"no pretrained model {name!r}; bundled: {sorted(PRETRAINED)}")
    path = asset_path("models", PRETRAINED[name])
    if not path.exists():
        raise InputError(
            f"{path} is missing from this install; train it with `maku train` (docs/training.md)"
        )
    return path
