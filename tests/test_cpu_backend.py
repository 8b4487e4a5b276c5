"""The cpu backend (compiled C kernels for convolutions) equals the numpy backend and ORT."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_data
from graph_builder import OnnxGraph

import maku
import maku.backends.native

pytestmark = pytest.mark.skipif(not maku.backends.native.available(), reason="no C compiler for the cpu backend")


def mixed_conv_model() -> bytes:
    """Every conv path: dense stem (stride 2), depthwise 3x3 and 5x5, 1x1 with residual, grouped."""
    b = OnnxGraph()
    stem = b.op("Relu", b.conv("x", 3, 16, stride=2))
    dw3 = b.op("Clip", b.conv(stem, 16, 16, group=16), b.const(np.float32(0)), b.const(np.float32(6)))
    dw5 = b.op("HardSigmoid", b.conv(dw3, 16, 16, k=5, stride=2, group=16), alpha=0.3, beta=0.4)
    project = b.op("Add", b.conv(dw5, 16, 16, k=1), dw5)
    grouped = b.op("Sigmoid", b.conv(project, 16, 8, group=4))
    y = b.op("GlobalAveragePool", grouped)
    return b.model({"x": ("N", 3, 33, 31)}, [y]).SerializeToString()


@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_equals_numpy_on_every_conv_path(threads):
    model = mixed_conv_model()
    x = np.random.default_rng(0).standard_normal((3, 3, 33, 31)).astype(np.float32)
    want = maku.load(model)(x)
    got = maku.load(model, backend="cpu", threads=threads)(x)
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))


@pytest.mark.parametrize(
    "name", ["mobilenet_v2_1.0_224_fp32_from_tflite_qat.onnx", "mobilenet_v3_small_1.0_224_fp32_from_tflite_qat.onnx"]
)
def test_cpu_backend_matches_stored_ort_outputs_on_reference_crops(name):
    model = require_data("models", "imagenet_converted", name)
    crops = np.load(require_data("reference", "imagenet20_crops224_uint8.npy"))[:4]
    want = np.load(require_data("reference", "ort_out20_" + name.replace(".onnx", ".npy")))[:4]
    got = maku.load(model, backend="cpu")(np.ascontiguousarray(crops.transpose(0, 3, 1, 2)))
    assert np.abs(got - want).max() <= 1e-4
