"""Checkpoints: safetensors round trip of nested training state, exact resume, and typed errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import maku
from maku import models, nn, optim
from maku.errors import CheckpointError
from maku.optim import lr_scheduler
from maku.rng import get_rng_state, manual_seed, set_rng_state
from maku.tensor import Tensor


def make_training(seed: int = 0):
    manual_seed(seed)
    model = models.mobilenet_v1_cifar(10, 0.25)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    return model, opt, sched


def train_steps(model, opt, sched, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        rng = maku.rng.generator()  # data drawn from maku's generator, so RNG state matters
        x = Tensor(rng.standard_normal((4, 32, 32, 3)))
        y = rng.integers(0, 10, 4)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def snapshot(model, opt, sched, epoch: int) -> dict:
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": get_rng_state(),
        "epoch": epoch,
        "note": "test",
        "list": [1, 2.5, None, "x"],
    }


def test_round_trip_keeps_structure_values_and_dtypes(tmp_path: Path) -> None:
    model, opt, sched = make_training()
    train_steps(model, opt, sched, 1)
    state = snapshot(model, opt, sched, 3)
    maku.save(state, tmp_path / "c.safetensors")
    loaded = maku.load_checkpoint(tmp_path / "c.safetensors")
    assert loaded["epoch"] == 3 and loaded["note"] == "test" and loaded["list"] == [1, 2.5, None, "x"]
    for key, value in state["model"].items():
        assert loaded["model"][key].dtype == value.dtype
        np.testing.assert_array_equal(loaded["model"][key], value)
    assert loaded["rng"] == state["rng"]


def test_resume_from_checkpoint_continues_exactly(tmp_path: Path) -> None:
    model, opt, sched = make_training()
    train_steps(model, opt, sched, 2)
    maku.save(snapshot(model, opt, sched, 2), tmp_path / "c.safetensors")
    expected = train_steps(model, opt, sched, 2)

    model2, opt2, sched2 = make_training(seed=123)  # different init and RNG: all must be restored
    state = maku.load_checkpoint(tmp_path / "c.safetensors")
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    assert train_steps(model2, opt2, sched2, 2) == expected


def test_truncated_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    model, opt, sched = make_training()
    path = tmp_path / "c.safetensors"
    maku.save(snapshot(model, opt, sched, 0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        maku.load_checkpoint(path)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "corrupted or truncated"),
        (b"not a checkpoint at all", "corrupted or truncated"),
    ],
)
def test_garbage_files_are_checkpoint_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        maku.load_checkpoint(path)


def test_missing_file_and_foreign_safetensors_are_explained(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    with pytest.raises(CheckpointError, match="does not exist"):
        maku.load_checkpoint(tmp_path / "nope.safetensors")
    save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not a maku checkpoint"):
        maku.load_checkpoint(tmp_path / "plain.safetensors")


def test_checkpoint_of_another_model_says_what_differs(tmp_path: Path) -> None:
    maku.save({"model": models.mobilenet_v1_cifar(10, 0.5).state_dict()}, tmp_path / "c.safetensors")
    state = maku.load_checkpoint(tmp_path / "c.safetensors")
    with pytest.raises(
        CheckpointError, match=r"features.0.0.weight: checkpoint \(3, 3, 3, 16\) vs model \(3, 3, 3, 8\)"
    ):
        models.mobilenet_v1_cifar(10, 0.25).load_state_dict(state["model"])


def test_unsupported_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot save set"):
        maku.save({"bad": {1, 2}}, tmp_path / "c.safetensors")
