"""`maku train` and `maku eval` end to end on a tiny CIFAR-format dataset made by the test."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest

import maku
from maku.cli import main
from maku.cli.train import CIFAR_MEAN, CIFAR_STD


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cifar-10-batches-py with 5 x 40 train and 60 test images: class k is brighter in channel k % 3."""
    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def batch(n: int) -> dict:
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 100, (n, 3, 32, 32))
        images[np.arange(n), labels % 3] += 100
        return {b"data": images.astype(np.uint8).reshape(n, -1), b"labels": labels.tolist()}

    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        with open(folder / name, "wb") as f:
            pickle.dump(batch(40), f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch(60), f)
    return folder.parent


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "mobilenet_v1",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--width",
        "0.25",
        "--lr",
        "0.05",
        "--no-progress",
        "--threads",
        "1",
        *extra,
    ]


def test_train_writes_metrics_plot_checkpoints_and_onnx(tiny_cifar: Path, tmp_path: Path, capsys) -> None:
    assert main(train_args(tiny_cifar, tmp_path / "run")) == 0
    run = tmp_path / "run"
    for name in (
        "metrics.csv",
        "curves.png",
        "last.safetensors",
        "best.safetensors",
        "model.onnx",
        "args.json",
    ):
        assert (run / name).exists(), name
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and 0 <= float(rows[-1]["test_acc"]) <= 1
    assert "epoch 2/2" in capsys.readouterr().out
    meta = {p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}
    recipe = json.loads(meta["recipe"])
    assert recipe["epochs"] == 2 and recipe["width"] == 0.25 and recipe["lr"] == 0.05
    assert not {"data", "out", "threads", "no_progress"} & set(recipe)  # the recipe, not this machine's
    best = max(rows, key=lambda r: float(r["test_acc"]))
    assert meta["epoch"] == best["epoch"] and abs(float(meta["test_accuracy"]) - float(best["test_acc"])) < 1e-4

    assert main(["eval", str(run), "--data", str(tiny_cifar)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "airplane" in out and (run / "confusion.png").exists()
    checkpoint_line = out.splitlines()[0]

    # the exported model, run by maku's runtime on raw pixels, scores what the checkpoint scores
    (run / "confusion.png").unlink()
    assert main(["eval", str(run / "model.onnx"), "--data", str(tiny_cifar)]) == 0
    onnx_line = capsys.readouterr().out.splitlines()[0]
    assert "maku runtime" in onnx_line and (run / "confusion.png").exists()
    assert checkpoint_line.split("test accuracy")[1] == onnx_line.split("test accuracy")[1]


def test_resume_after_interruption_gives_the_same_model(
    tiny_cifar: Path, tmp_path: Path, monkeypatch
) -> None:
    assert main(train_args(tiny_cifar, tmp_path / "straight", "--no-export")) == 0

    import maku.cli.train as train_cli

    real_save = train_cli.save

    def save_then_stop(state: dict, path: Path) -> None:
        real_save(state, path)
        if Path(path).name == "last.safetensors":
            raise KeyboardInterrupt  # as if the machine went away after epoch 1

    monkeypatch.setattr(train_cli, "save", save_then_stop)
    assert main(train_args(tiny_cifar, tmp_path / "resumed", "--no-export")) == 130
    monkeypatch.setattr(train_cli, "save", real_save)
    assert main(train_args(tiny_cifar, tmp_path / "resumed", "--no-export", "--resume")) == 0

    straight = maku.load_checkpoint(tmp_path / "straight" / "last.safetensors")
    resumed = maku.load_checkpoint(tmp_path / "resumed" / "last.safetensors")
    assert resumed["epoch"] == straight["epoch"] == 2
    for key, value in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][key], value, err_msg=key)


def test_resuming_a_finished_run_only_exports_it_again(tiny_cifar: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(train_args(tiny_cifar, run, "--no-export")) == 0
    assert not (run / "model.onnx").exists()
    before = (run / "metrics.csv").read_text()
    assert main(train_args(tiny_cifar, run, "--resume")) == 0
    assert (run / "metrics.csv").read_text() == before  # no epoch was trained again
    assert "finished all 2 epochs; nothing to train" in capsys.readouterr().out
    best = maku.load_checkpoint(run / "best.safetensors")
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    logits = maku.load(run / "model.onnx").run({"input": x})["output"]
    model = maku.models.get_model("mobilenet_v1", num_classes=10, width=0.25)
    model.load_state_dict(best["model"])
    with maku.no_grad():
        expected = model.eval()(maku.Tensor(((x / 255.0 - CIFAR_MEAN) / CIFAR_STD).astype(np.float32)))
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4)


def test_errors_are_one_line(tiny_cifar: Path, tmp_path: Path, capsys) -> None:
    assert main(train_args(tiny_cifar, tmp_path / "none", "--resume")) == 2
    assert "no " in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.safetensors"), "--data", str(tiny_cifar)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(train_args(tmp_path, tmp_path / "run2")) == 2
    assert "no CIFAR-10 data" in capsys.readouterr().err
    imagenet_model = maku.assets.default_model()
    assert main(["eval", str(imagenet_model), "--data", str(tiny_cifar)]) == 2
    assert "raw uint8 NHWC pixels [N, 32, 32, 3]" in capsys.readouterr().err


@pytest.mark.parametrize("schedule", ["step", "onecycle"])
def test_every_schedule_trains_to_the_end(tiny_cifar: Path, tmp_path: Path, schedule: str) -> None:
    assert main(train_args(tiny_cifar, tmp_path / schedule, "--no-export", "--schedule", schedule)) == 0
    assert len(list(csv.DictReader(open(tmp_path / schedule / "metrics.csv")))) == 2
