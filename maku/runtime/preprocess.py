"""Image preprocessing: photo file -> the tensor an ImageNet classifier expects.

The one resize/crop recipe used for every figure in the test data (Pillow, RGB, shorter side
to crop/0.875 with BILINEAR, center crop), followed by one of the three pixel encodings the
models in the wild expect: `imagenet` (torchvision mean/std), `inception` (x/127.5-1) or `uint8`
(raw pixels; TF-converted models normalize inside the graph).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from maku.errors import InputError

MODES = ("imagenet", "inception", "uint8")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CROP_FRACTION = 0.875  # 224 of 256: the standard central crop


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its image: layout, crop size and pixel encoding."""

    layout: str  # "NCHW" or "NHWC"
    size: int  # square crop side
    mode: str  # one of MODES

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.mode == "uint8" else np.float32)


SMALL_INPUT = 64  # CIFAR-style models see the whole (square) image, without the 87.5% crop margin


def resize_size(crop: int) -> int:
    """The shorter-side length to resize to before a `crop` center crop (256 for 224, 146 for 128,
    32 for 32: small CIFAR-style inputs keep the whole image)."""
    return crop if crop <= SMALL_INPUT else int(round(crop / CROP_FRACTION))


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open any image file Pillow reads and convert it to RGB; InputError naming the file otherwise."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None


def center_crop(image: Image.Image, crop: int) -> np.ndarray:
    """Resize the shorter side to `resize_size(crop)` (BILINEAR), then center crop: uint8 (crop, crop, 3)."""
    width, height = image.size
    short = resize_size(crop)
    if width <= height:
        new_size = (short, int(round(height * short / width)))
    else:
        new_size = (int(round(width * short / height)), short)
    resized = image.resize(new_size, Image.BILINEAR)
    left, top = (new_size[0] - crop) // 2, (new_size[1] - crop) // 2
    return np.asarray(resized.crop((left, top, left + crop, top + crop)), dtype=np.uint8)


def encode(crop_hwc: np.ndarray, mode: str) -> np.ndarray:
    """uint8 (H, W, 3) -> the pixel encoding `mode`, still HWC."""
    if mode == "uint8":
        return crop_hwc
    x = crop_hwc.astype(np.float32)
    if mode == "imagenet":
        return (x / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    if mode == "inception":
        return x / 127.5 - 1.0
    raise InputError(f"unknown preprocessing {mode!r}; choose one of {', '.join(MODES)}")


def preprocess(path: str | os.PathLike, spec: InputSpec) -> np.ndarray:
    """One image file -> a batch-1 tensor in the spec's layout, size and encoding."""
    x = encode(center_crop(load_rgb(path), spec.size), spec.mode)[None]
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=spec.dtype)


def input_spec(shape: tuple, dtype: np.dtype, mode: str | None = None, origin: str = "model") -> InputSpec:
    """Read layout and crop size from a model's image input; mode defaults from its dtype.

    The channel axis is the one of size 3 (axis 1: NCHW, axis 3: NHWC). A uint8 input means raw
    pixels; anything else gets the torchvision ImageNet normalization unless `mode` says otherwise.
    """
    if len(shape) != 4:
        raise InputError(
            f"{origin}: the input has shape {list(shape)}, not an image batch (N, C, H, W) or (N, H, W, C)"
        )
    if shape[1] == 3:
        layout, spatial = "NCHW", shape[2:]
    elif shape[3] == 3:
        layout, spatial = "NHWC", shape[1:3]
    else:
        raise InputError(
            f"{origin}: cannot tell the channel axis of input shape {list(shape)} (no axis of size 3)"
        )
    sizes = {d for d in spatial if isinstance(d, int) and d > 0}
    if len(sizes) > 1:
        raise InputError(
            f"{origin}: the input is not square ({list(shape)}); only square crops are supported"
        )
    size = sizes.pop() if sizes else 224
    if mode is None:
        mode = "uint8" if np.dtype(dtype) == np.uint8 else "imagenet"
    if mode not in MODES:
        raise InputError(f"unknown preprocessing {mode!r}; choose one of {', '.join(MODES)}")
    return InputSpec(layout, size, mode)
