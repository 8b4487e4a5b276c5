"""Files shipped inside the package: a pretrained model, demo photos and label lists.

They make `maku classify` work offline on a fresh install. Sources and licences: NOTICE.md
in this folder. maku is installed as plain files (not zipped), so these are ordinary paths.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from maku.errors import InputError

DEFAULT_MODEL = "mobilenet_v2_1.0_224_fp32_from_tflite_qat.onnx"
DEMO_IMAGES = ("grace_hopper.jpg", "cat.jpg")
# label-set name -> file under labels/
LABEL_FILES = {
    "imagenet": "imagenet_classes.txt",
    "imagenet_background": "imagenet_labels_1001_with_background.txt",
    "cifar10": "cifar10_classes.txt",
}


def asset_path(*parts: str) -> Path:
    """The path of a bundled file, e.g. asset_path("images", "cat.jpg")."""
    return Path(str(files(__name__).joinpath(*parts)))


def default_model() -> Path:
    """The bundled MobileNetV2 1.0/224 (uint8 NCHW input, 1001 softmax outputs)."""
    return asset_path("models", DEFAULT_MODEL)


def demo_images() -> list[Path]:
    """The bundled demo photos (Grace Hopper, a cat)."""
    return [asset_path("images", name) for name in DEMO_IMAGES]


def read_labels(path: str | Path) -> list[str]:
    """Class names from a text file, one per line (blank trailing lines ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such label file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read labels ({exc})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def labels(name: str) -> list[str]:
    """A bundled label list by name: "imagenet" (1000), "imagenet_background" (1001), "cifar10"."""
    if name not in LABEL_FILES:
        raise InputError(f"unknown label set {name!r}; bundled sets: {', '.join(LABEL_FILES)}")
    return read_labels(asset_path("labels", LABEL_FILES[name]))
