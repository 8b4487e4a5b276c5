"""The bundled CIFAR-10 MobileNetV1 (maku.models.pretrained): its format, its metadata, and its
test accuracy measured independently with onnxruntime on the whole CIFAR-10 test set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import maku
from maku.data import CIFAR10
from maku.data.cifar10 import CLASSES
from maku.models import pretrained

ort = pytest.importorskip("onnxruntime")
MODEL = pretrained("mobilenet_v1_cifar10")


def metadata() -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(MODEL)).metadata_props}


def test_bundled_model_is_small_takes_raw_pixels_and_names_its_classes() -> None:
    assert MODEL.stat().st_size <= 8 * 2**20
    proto = onnx.load(str(MODEL))
    tensor_type = proto.graph.input[0].type.tensor_type
    assert tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in tensor_type.shape.dim] == ["N", 32, 32, 3]
    meta = metadata()
    assert json.loads(meta["classes"]) == list(CLASSES)
    recipe = json.loads(meta["recipe"])
    assert recipe["model"] == "mobilenet_v1" and recipe["width"] == 0.5


def test_maku_train_defaults_are_the_bundled_models_recipe() -> None:
    import argparse

    from maku.cli import train

    parser = argparse.ArgumentParser()
    train.add_parser(parser.add_subparsers(dest="command"))
    defaults = vars(parser.parse_args(["train", "mobilenet_v1", "--data", "d", "--out", "o"]))
    recipe = json.loads(metadata()["recipe"])
    assert {key: defaults[key] for key in recipe} == recipe


def test_test_accuracy_measured_with_onnxruntime_matches_the_claim(test_data: Path, tmp_path: Path) -> None:
    test = CIFAR10(test_data / "datasets" / "cifar10", train=False, cache_dir=tmp_path)
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    predictions = np.concatenate(
        [
            session.run(None, {"input": test.images[i : i + 1000]})[0].argmax(axis=1)
            for i in range(0, len(test), 1000)
        ]
    )
    accuracy = float((predictions == test.labels).mean())
    assert abs(accuracy - float(metadata()["test_accuracy"])) < 2e-3
    assert accuracy >= 0.85  # the goal the recipe was run for (docs/training.md)
    maku_predictions = maku.load(MODEL).run({"input": test.images[:200]})["output"].argmax(axis=1)
    assert (maku_predictions == predictions[:200]).mean() >= 0.99
