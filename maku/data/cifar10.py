"""CIFAR-10 from the JPEG zips of ../shared/data (members `train|test/<class>/NNNN.jpg`) or from
the standard python-pickle batches (`cifar-10-batches-py`). Decoded arrays are cached as .npy
files so later runs (and epochs) never decode JPEGs again."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maku.data.dataset import Dataset
from maku.errors import InputError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
JPEG_ZIPS = {True: "cifar10_train_full_jpeg.zip", False: "cifar10_test_jpeg.zip"}
PICKLE_BATCHES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}


def default_cache_dir() -> Path:
    """$MAKU_CACHE, else ~/.cache/maku."""
    return Path(os.environ.get("MAKU_CACHE", Path.home() / ".cache" / "maku"))


def decode_jpeg_zip(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 32, 32, 3), int64 labels) from a zip of `<split>/<class>/<file>.jpg`, sorted by name."""
    images, labels = [], []
    try:
        with zipfile.ZipFile(path) as archive:
            for name in sorted(
                n for n in archive.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png"))
            ):
                class_name = name.split("/")[-2]
                if class_name not in CLASSES:
                    raise InputError(f"{path}: member {name!r} is not in a CIFAR-10 class folder")
                with Image.open(io.BytesIO(archive.read(name))) as img:
                    images.append(np.asarray(img.convert("RGB")))
                labels.append(CLASSES.index(class_name))
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path} is not a readable zip file: {exc}") from None
    return np.stack(images), np.asarray(labels, np.int64)


def read_pickle_batches(folder: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images NHWC uint8, labels) from the python-pickle batches (rows are CHW-flattened 3072 bytes)."""
    images, labels = [], []
    for name in PICKLE_BATCHES[train]:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # noqa: S301 - the standard CIFAR format is a pickle
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], np.int64))
    return np.concatenate(images), np.concatenate(labels)


class CIFAR10(Dataset):
    """CIFAR-10 as (image, label) pairs; images are uint8 (32, 32, 3) before `transform`.

    `root` is a folder holding the JPEG zips or a `cifar-10-batches-py` folder (or that folder).
    """

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Callable[[np.ndarray], Any] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.root, self.train, self.transform = Path(root), train, transform
        self.images, self.labels = self._load(Path(cache_dir) if cache_dir else default_cache_dir())

    def _load(self, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        zip_path = self.root / JPEG_ZIPS[self.train]
        for folder in (self.root, self.root / "cifar-10-batches-py"):
            if (folder / PICKLE_BATCHES[self.train][0]).exists():
                return read_pickle_batches(folder, self.train)
        if not zip_path.exists():
            raise InputError(
                f"no CIFAR-10 data in {self.root}: expected {JPEG_ZIPS[self.train]} or cifar-10-batches-py/"
            )
        stat = zip_path.stat()
        stem = cache_dir / f"cifar10-{zip_path.stem}-{stat.st_size}"
        images_file, labels_file = Path(f"{stem}.images.npy"), Path(f"{stem}.labels.npy")
        if images_file.exists() and labels_file.exists():
            return np.load(images_file), np.load(labels_file)
        images, labels = decode_jpeg_zip(zip_path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        for target, array in ((images_file, images), (labels_file, labels)):
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            with open(partial, "wb") as f:
                np.save(f, array)
            partial.replace(target)  # atomic: a concurrent reader never sees half a file
        return images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.images[index]
        return (self.transform(image) if self.transform else image), int(self.labels[index])
