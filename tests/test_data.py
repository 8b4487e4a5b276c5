"""maku.data: CIFAR-10 readers (JPEG zip, python pickle, .npy cache), transforms and the DataLoader."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maku.data import CIFAR10, DataLoader, TensorDataset, transforms
from maku.data.cifar10 import CLASSES
from maku.errors import InputError, ShapeError
from maku.rng import manual_seed


def write_jpeg_zip(path: Path, split: str, per_class: int) -> np.ndarray:
    """A tiny CIFAR-style zip of solid-color JPEGs; returns the colors per member in sorted order."""
    colors = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for label, name in enumerate(CLASSES):
            for i in range(per_class):
                color = (label * 25, i * 40, 128)
                buffer = io.BytesIO()
                Image.new("RGB", (32, 32), color).save(buffer, "JPEG", quality=95)
                archive.writestr(f"{split}/{name}/{i:04d}.jpg", buffer.getvalue())
                colors.append(color)
    return np.array(colors)


def test_jpeg_zip_is_decoded_labelled_and_cached(tmp_path: Path) -> None:
    colors = write_jpeg_zip(tmp_path / "cifar10_test_jpeg.zip", "test", 2)
    data = CIFAR10(tmp_path, train=False, cache_dir=tmp_path / "cache")
    assert len(data) == 20 and data.images.shape == (20, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.labels.tolist() == [i // 2 for i in range(20)]
    np.testing.assert_allclose(data.images[:, 16, 16].astype(float), colors, atol=3)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    (tmp_path / "cifar10_test_jpeg.zip").rename(tmp_path / "moved.zip")  # the cache alone is not enough:
    with pytest.raises(InputError, match="no CIFAR-10 data"):  # the zip's size is part of the key
        CIFAR10(tmp_path, train=False, cache_dir=tmp_path / "cache")


def test_second_load_reads_the_npy_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_jpeg_zip(tmp_path / "cifar10_train_full_jpeg.zip", "train", 1)
    first = CIFAR10(tmp_path, train=True, cache_dir=tmp_path / "cache")
    monkeypatch.setattr("maku.data.cifar10.decode_jpeg_zip", lambda path: pytest.fail("decoded again"))
    second = CIFAR10(tmp_path, train=True, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.images, second.images)


def test_python_pickle_batches_are_read_as_nhwc(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    chw = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": chw.reshape(3, -1), b"labels": [4, 0, 9]}, f)
    data = CIFAR10(tmp_path, train=False)
    np.testing.assert_array_equal(data.images, chw.transpose(0, 2, 3, 1))
    assert data.labels.tolist() == [4, 0, 9]


def test_bad_zip_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "cifar10_test_jpeg.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable zip"):
        CIFAR10(tmp_path, train=False, cache_dir=tmp_path / "cache")


def test_real_cifar10_test_set(test_data: Path, tmp_path: Path) -> None:
    data = CIFAR10(test_data / "datasets" / "cifar10", train=False, cache_dir=tmp_path)
    assert data.images.shape == (10000, 32, 32, 3)
    assert np.bincount(data.labels).tolist() == [1000] * 10
    np.testing.assert_allclose(data.images.reshape(-1, 3).mean(0), [125.99, 123.69, 114.85], atol=0.01)


def test_transforms_pipeline_is_channels_last() -> None:
    manual_seed(0)
    image = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    pipeline = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(1.0),
            transforms.ToTensor(),
            transforms.Normalize((0.5,) * 3, (0.25,) * 3),
        ]
    )
    out = pipeline(image)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    plain = transforms.Normalize((0.5,) * 3, (0.25,) * 3)(transforms.ToTensor()(image))
    np.testing.assert_allclose(plain, (image / 255 - 0.5) / 0.25, atol=1e-6)


def test_random_crop_moves_content_within_the_padding() -> None:
    manual_seed(1)
    image = np.zeros((8, 8, 1), np.uint8)
    image[0, 0] = 255
    for _ in range(10):
        crop = transforms.RandomCrop(8, padding=2)(image)
        ys, xs = np.nonzero(crop[:, :, 0])
        assert crop.shape == (8, 8, 1) and (len(ys) == 0 or (ys[0] <= 2 and xs[0] <= 2))


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda: transforms.RandomCrop(0), ValueError, "size > 0"),
        (lambda: transforms.RandomCrop(40)(np.zeros((32, 32, 3))), ShapeError, "does not fit"),
        (lambda: transforms.Normalize((0.5,), (0.0,)), ValueError, "std must be positive"),
        (
            lambda: transforms.Normalize((0.5,) * 3, (1.0,) * 3)(np.zeros((3, 32, 32))),
            ShapeError,
            "channels-last",
        ),
    ],
)
def test_transform_errors(make, error, message) -> None:
    with pytest.raises(error, match=message):
        make()


def test_loader_batches_shuffles_reproducibly_and_drops_last() -> None:
    data = TensorDataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    loader = DataLoader(data, batch_size=4, shuffle=True, generator=np.random.default_rng(0))
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2] and len(loader) == 3
    assert sorted(np.concatenate([y.numpy() for _, y in batches]).tolist()) == list(range(10))
    again = list(DataLoader(data, batch_size=4, shuffle=True, generator=np.random.default_rng(0)))
    assert all((a[1].numpy() == b[1].numpy()).all() for a, b in zip(batches, again))
    dropped = DataLoader(data, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [y.numpy().tolist() for _, y in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    x, y = batches[0]
    assert x.dtype == np.float32 and y.dtype == np.int64


def test_worker_processes_give_the_same_batches_in_order() -> None:
    data = TensorDataset(np.arange(50, dtype=np.float32).reshape(25, 2), np.arange(25))
    plain = [y.numpy().tolist() for _, y in DataLoader(data, batch_size=4)]
    workers = [
        y.numpy().tolist() for _, y in DataLoader(data, batch_size=4, num_workers=2, prefetch_factor=1)
    ]
    assert plain == workers


def test_custom_collate_and_loader_errors() -> None:
    data = TensorDataset(np.arange(4))
    assert list(DataLoader(data, batch_size=2, collate_fn=lambda s: len(s))) == [2, 2]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(data, batch_size=0)
    with pytest.raises(ShapeError, match="differ in length"):
        TensorDataset(np.zeros(3), np.zeros(4))
