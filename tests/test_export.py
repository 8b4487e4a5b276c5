"""maku.export: trained models -> ONNX that onnxruntime and maku's own runtime run with the same
outputs as the Tensor forward (within 1e-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import maku
from maku import models, nn
from maku.autograd import no_grad
from maku.errors import UnsupportedOpError
from maku.onnx.export import export_classifier
from maku.rng import manual_seed
from maku.tensor import Tensor

ort = pytest.importorskip("onnxruntime")


def randomize_batchnorm(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, as after training."""
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.running_mean[:] = rng.normal(0, 0.1, m.num_features)
            m.running_var[:] = rng.uniform(0.5, 1.5, m.num_features)
            m.weight.data[:] = rng.uniform(0.8, 1.2, m.num_features)
            m.bias.data[:] = rng.normal(0, 0.1, m.num_features)


def forward(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with no_grad():
        return model(Tensor(x)).numpy()


MODELS = [
    ("mobilenet_v1_cifar", lambda: models.mobilenet_v1_cifar(10, 0.25), 32),
    ("mobilenet_v2", lambda: models.mobilenet_v2(10, 0.35), 64),
    ("mobilenet_v3_small", lambda: models.mobilenet_v3_small(10, 0.5), 64),
]


@pytest.mark.parametrize("name,make,size", MODELS, ids=[m[0] for m in MODELS])
def test_exported_model_matches_in_onnxruntime_and_maku(tmp_path: Path, name, make, size) -> None:
    manual_seed(0)
    model = make()
    randomize_batchnorm(model)
    x = np.random.default_rng(0).standard_normal((3, size, size, 3)).astype(np.float32)
    path = tmp_path / f"{name}.onnx"
    graph = maku.export(model, x[:1], path)
    expected = forward(model, x)
    assert np.abs(expected).max() > 1e-3  # the comparison is not between two near-zero outputs
    got_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got_ort, expected, atol=1e-4, rtol=1e-4)
    got_maku = maku.load(path).run({"input": x})["output"]
    np.testing.assert_allclose(got_maku, expected, atol=1e-4, rtol=1e-4)
    assert graph.op_histogram().get("Transpose", 0) == 1  # one NHWC -> NCHW at the start


def test_export_restores_training_mode_and_checks_onnx(tmp_path: Path) -> None:
    model = models.mobilenet_v1_cifar(10, 0.25).train()
    maku.export(model, np.zeros((1, 32, 32, 3), np.float32), tmp_path / "m.onnx")
    assert model.training
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")), full_check=True)


def test_weights_are_written_oihw(tmp_path: Path) -> None:
    conv = nn.Conv2d(3, 5, (2, 3), bias=False)
    maku.export(nn.Sequential(conv), np.zeros((1, 4, 4, 3), np.float32), tmp_path / "c.onnx")
    (weight,) = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "c.onnx")).graph.initializer]
    np.testing.assert_array_equal(weight, conv.weight.numpy().transpose(3, 2, 0, 1))


class Mixed(nn.Module):
    """Ops beyond MobileNet: pooling, elementwise with constants, concat, softmax, reductions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.linear = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> Tensor:
        y = nn.functional.hardswish(self.bn(self.conv(x)))
        pooled = nn.functional.max_pool2d(y, 2) + nn.functional.avg_pool2d(y, 3, 2, 1) * 0.5
        joined = maku.tensor.concat([pooled, nn.functional.relu6(pooled - 0.1)], axis=-1)
        features = joined.mean(axis=(1, 2)) / np.arange(1, 9, dtype=np.float32)
        return nn.functional.softmax(self.linear(features.sigmoid()), -1)


def test_export_of_mixed_ops_matches_onnxruntime(tmp_path: Path) -> None:
    manual_seed(0)
    model = Mixed()
    randomize_batchnorm(model)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    maku.export(model, x[:1], tmp_path / "mixed.onnx")
    got = ort.InferenceSession(str(tmp_path / "mixed.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )
    np.testing.assert_allclose(got[0], forward(model, x), atol=1e-5)


def test_classifier_export_takes_raw_uint8_pixels_and_carries_metadata(tmp_path: Path) -> None:
    manual_seed(0)
    model = models.mobilenet_v1_cifar(10, 0.25)
    randomize_batchnorm(model)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    export_classifier(model, tmp_path / "c.onnx", (32, 32, 3), mean, std, {"classes": "a,b"})
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    got = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": pixels}
    )
    expected = forward(model, ((pixels / 255 - np.array(mean)) / np.array(std)).astype(np.float32))
    np.testing.assert_allclose(got[0], expected, atol=1e-4)
    proto = onnx.load(str(tmp_path / "c.onnx"))
    assert {p.key: p.value for p in proto.metadata_props}["classes"] == "a,b"
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


def test_training_mode_ops_cannot_be_exported(tmp_path: Path) -> None:
    class AlwaysTrainingBN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x: Tensor) -> Tensor:
            return nn.functional.batch_norm(x, None, None, self.bn.weight, self.bn.bias, training=True)

    with pytest.raises(UnsupportedOpError, match="training mode"):
        maku.export(AlwaysTrainingBN(), np.zeros((1, 2, 2, 3), np.float32), tmp_path / "x.onnx")


@pytest.mark.parametrize(
    "axis,keepdims", [((1, 2), False), (1, False), (-1, False), (2, True), (None, False)]
)
def test_reductions_of_nchw_activations_keep_maku_axis_order(tmp_path: Path, axis, keepdims) -> None:
    class Reduce(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x: Tensor) -> Tensor:
            y = self.conv(x)
            return y.mean(axis=axis, keepdims=keepdims) + y.sum(axis=axis, keepdims=keepdims)

    model = Reduce()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 3)).astype(np.float32)
    maku.export(model, x[:1], tmp_path / "r.onnx")
    got = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )
    np.testing.assert_allclose(got[0], forward(model, x), atol=1e-5)
