"""Per-sample image transforms on channels-last (H, W, C) arrays, drawing from maku's generator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from maku.errors import ShapeError
from maku.rng import generator


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Any) -> Any:
        for t in self.transforms:
            image = t(image)
        return image

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class RandomCrop:
    """Zero-pad by `padding` on every side, then cut a random size x size window."""

    def __init__(self, size: int, padding: int = 0) -> None:
        if size <= 0 or padding < 0:
            raise ValueError(f"RandomCrop needs size > 0 and padding >= 0, got {size}, {padding}")
        self.size, self.padding = size, padding

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.ndim != 3:
            raise ShapeError(f"RandomCrop expects an (H, W, C) image, got shape {image.shape}")
        p = self.padding
        padded = np.pad(image, ((p, p), (p, p), (0, 0))) if p else image
        h, w = padded.shape[:2]
        if h < self.size or w < self.size:
            raise ShapeError(f"RandomCrop of {self.size} does not fit a padded image of {h}x{w}")
        top, left = generator().integers(0, h - self.size + 1), generator().integers(0, w - self.size + 1)
        return padded[top : top + self.size, left : left + self.size]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability p."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return image[:, ::-1] if generator().random() < self.p else image

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class ToTensor:
    """uint8 (H, W, C) in 0..255 -> float32 (H, W, C) in [0, 1]; stays channels-last (the loader
    stacks samples into an NHWC batch), unlike torchvision's CHW."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.dtype == np.uint8:
            return image.astype(np.float32) * np.float32(1 / 255)
        return image.astype(np.float32)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(x - mean) / std per channel (the last axis)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize std must be positive, got {list(std)}")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.shape[-1] != len(self.mean):
            raise ShapeError(
                f"Normalize has {len(self.mean)} channels but the image (channels-last) has shape {image.shape}"
            )
        return (image - self.mean) / self.std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"
