"""The pretrained models in the shared test data (see its MANIFEST.md), end to end against ORT.

Float models: maku's outputs equal ONNX Runtime's (max abs <= 1e-4) on the 20 reference crops
(and the stored ORT outputs), or on seeded random inputs for the non-ImageNet models. Quantized
models must be refused with one UnsupportedOpError naming their quantized ops. The slow test
runs all 500 labelled photos through the ImageNet models and checks top-1 against ORT and the
MANIFEST's accuracy figures.
"""

from __future__ import annotations

import csv
import functools
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_builders import BACKENDS, ort_session
from PIL import Image

import maku
from maku.errors import UnsupportedOpError
from maku.ir.ops import ONNX_OPS

TOL = 1e-4
QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger",
                 "QLinearConv", "QLinearMatMul"}


# ImageNet models converted from TFLite: uint8 NCHW input, 1001 softmax scores (index 0 = background).
# name -> (crop side, shorter side before the crop, top-1 and top-5 on the 500 photos per MANIFEST.md)
IMAGENET_FP32 = {
    "mobilenet_v1_0.25_128_fp32_from_tflite_qat": (128, 146, 231, 359),
    "mobilenet_v2_1.0_224_fp32_from_tflite_qat": (224, 256, 449, 490),
    "mobilenet_v3_small_1.0_224_fp32_from_tflite_qat": (224, 256, 375, 459),
}
# non-ImageNet float models: input shapes to try (dynamic dims exercised), and how inputs are scaled
OTHER_FP32 = {
    "ppocr_textdir_cls_mobilenetv3_fp32": [(1, 3, 48, 192), (3, 3, 48, 192), (2, 3, 32, 100)],  # 32: a 2x2 pool over H=1
    "teachable_machine_mobilenetv2_fp32_nhwc": [(1, 224, 224, 3), (2, 224, 224, 3)],
}


def model_path(test_data: Path, name: str) -> Path:
    (path,) = test_data.glob(f"models/*/{name}.onnx")
    return path


def is_quantized(path: Path) -> bool:
    return any(n.op_type in QUANTIZED_OPS for n in onnx.load(str(path), load_external_data=False).graph.node)


def test_every_float_model_is_checked(test_data):
    """A float model added to the data folder must be added to the tables above."""
    floats = {p.stem for p in test_data.glob("models/*/*.onnx") if not is_quantized(p)}
    assert floats == set(IMAGENET_FP32) | set(OTHER_FP32)


# ----------------------------------------------------------------------------- preprocessing, as MANIFEST.md says
def center_crop(path: Path, short: int, crop: int) -> np.ndarray:
    """Pillow BILINEAR resize of the shorter side to `short`, then a centered `crop` square: uint8 HWC RGB."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    scale = short / min(w, h)
    size = (short, round(h * scale)) if w <= h else (round(w * scale), short)
    img = img.resize(size, Image.BILINEAR)
    left, top = (size[0] - crop) // 2, (size[1] - crop) // 2
    return np.asarray(img.crop((left, top, left + crop, top + crop)))


def labelled_photos(test_data: Path) -> list[tuple[Path, int]]:
    with open(test_data / "images" / "imagenet_samples_labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [(test_data / "images" / "imagenet_samples" / r["filename"], int(r["class_index"])) for r in rows]


@pytest.mark.parametrize("crop,short", [(224, 256), (128, 146)])
def test_preprocessing_reproduces_the_reference_crops(test_data, crop, short):
    photos = sorted(labelled_photos(test_data))[::25]
    assert len(photos) == 20
    expected = np.load(test_data / "reference" / f"imagenet20_crops{crop}_uint8.npy")
    actual = np.stack([center_crop(path, short, crop) for path, _ in photos])
    np.testing.assert_array_equal(actual, expected)


# ----------------------------------------------------------------------------- float models vs ORT
def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", IMAGENET_FP32)
def test_imagenet_model_matches_onnxruntime_on_reference_crops(test_data, name, backend):
    crop = IMAGENET_FP32[name][0]
    path = model_path(test_data, name)
    crops = np.load(test_data / "reference" / f"imagenet20_crops{crop}_uint8.npy")
    stored = np.load(test_data / "reference" / f"ort_out20_{name}.npy")
    session, ort = maku.load(path, backend=backend), ort_session(path.read_bytes())
    input_name = session.inputs[0].name
    assert session.inputs[0].dtype == np.uint8
    nchw = np.ascontiguousarray(crops.transpose(0, 3, 1, 2))
    batched = session(nchw)  # exported at batch 1; maku runs any batch (one plan per batch size)
    assert max_abs(batched, stored) <= TOL, f"batch of 20: {max_abs(batched, stored):.3g} vs stored ORT"
    step = 1 if backend == BACKENDS[-1] else 4  # the slower numpy backend checks every 4th crop one by one
    for i, hwc in list(enumerate(crops))[::step]:
        x = np.ascontiguousarray(hwc.transpose(2, 0, 1)[None])  # the model takes uint8 NCHW
        ours = session(x)
        (theirs,) = ort.run(None, {input_name: x})
        assert ours.shape == theirs.shape == (1, 1001)
        assert max_abs(ours, theirs) <= TOL, f"crop {i}: {max_abs(ours, theirs):.3g} vs live ORT"
        assert max_abs(ours[0], stored[i]) <= TOL, f"crop {i}: {max_abs(ours[0], stored[i]):.3g} vs stored ORT"
        assert ours.argmax() == theirs.argmax() == stored[i].argmax()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_threads_give_the_same_answers(test_data, backend):
    name = "mobilenet_v2_1.0_224_fp32_from_tflite_qat"
    crops = np.load(test_data / "reference" / "imagenet20_crops224_uint8.npy")[:4]
    stored = np.load(test_data / "reference" / f"ort_out20_{name}.npy")[:4]
    session = maku.load(model_path(test_data, name), backend=backend, threads=2)
    assert max_abs(session(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))), stored) <= TOL


@pytest.mark.parametrize("name", IMAGENET_FP32)
def test_imagenet_model_on_extreme_images(test_data, name):
    """Black, white, saturated-colour and noise images (softmax near one-hot or flat) still equal ORT."""
    crop = IMAGENET_FP32[name][0]
    path = model_path(test_data, name)
    session, ort = maku.load(path), ort_session(path.read_bytes())
    rng = np.random.default_rng(0)
    images = [np.zeros((3, crop, crop), np.uint8), np.full((3, crop, crop), 255, np.uint8),
              np.stack([np.full((crop, crop), v, np.uint8) for v in (255, 0, 0)]),
              rng.integers(0, 256, (3, crop, crop), dtype=np.uint8)]
    for i, img in enumerate(images):
        x = img[None]
        (theirs,) = ort.run(None, {session.inputs[0].name: x})
        assert max_abs(session(x), theirs) <= TOL, f"image {i}"


def test_nhwc_input_layout_takes_the_crops_as_they_are(test_data):
    """input_layout="NHWC": the uint8 NHWC crops go in without a transpose, and the outputs do not change."""
    name = "mobilenet_v2_1.0_224_fp32_from_tflite_qat"
    session = maku.load(model_path(test_data, name), input_layout="NHWC")
    assert session.inputs[0].shape[1:] == (224, 224, 3)
    crops = np.load(test_data / "reference" / "imagenet20_crops224_uint8.npy")
    stored = np.load(test_data / "reference" / f"ort_out20_{name}.npy")
    assert max_abs(session(crops[:1]), stored[:1]) <= TOL
    assert max_abs(session(crops[5:10]), stored[5:10]) <= TOL  # the batch-1 model at batch 5


def test_nhwc_input_layout_leaves_no_transpose_on_tf_converted_model(test_data):
    session = maku.load(model_path(test_data, "mobilenet_v2_1.0_224_fp32_from_tflite_qat"), input_layout="NHWC")
    assert "Transpose" not in session.graph.op_histogram()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", OTHER_FP32)
def test_other_float_model_matches_onnxruntime_on_random_inputs(test_data, name, backend):
    path = model_path(test_data, name)
    session, ort = maku.load(path, backend=backend), ort_session(path.read_bytes())
    input_name = session.inputs[0].name
    rng = np.random.default_rng(0)
    for shape in OTHER_FP32[name]:
        x = rng.uniform(-1.0, 1.0, shape).astype(np.float32)  # both models normalise pixels to [-1, 1]
        ours = session.run({input_name: x})
        theirs = ort.run(None, {input_name: x})
        assert list(ours) == [o.name for o in ort.get_outputs()]
        for a, b in zip(ours.values(), theirs):
            assert a.shape == b.shape and a.shape[0] == shape[0]
            assert max_abs(a, b) <= TOL, f"input {shape}: max abs {max_abs(a, b):.3g}"
            assert (a.argmax(-1) == b.argmax(-1)).all()


# model -> (ops that must be gone after optimization, most Transposes left, most Reshapes left)
OPTIMIZED = {
    # BN folded; x*Clip(x+3,0,6)/6 and the HardSigmoid gates fused; the dynamic flatten stays until plan time
    "ppocr_textdir_cls_mobilenetv3_fp32": ({"BatchNormalization", "Clip", "HardSigmoid", "Div", "Relu", "Constant",
                                            "Conv", "Identity"}, 2, 1),
    # tf2onnx: explicit Pad folded into the convs, ReLU6 fused, the Dense+Relu head in one Gemm, NHWC input
    "teachable_machine_mobilenetv2_fp32_nhwc": ({"Pad", "Clip", "Relu", "Conv", "MatMul", "Add"}, 0, 0),
    "mobilenet_v1_0.25_128_fp32_from_tflite_qat": ({"Clip", "Conv", "AveragePool"}, 1, 1),
    "mobilenet_v2_1.0_224_fp32_from_tflite_qat": ({"Clip", "Conv", "AveragePool", "Add"}, 1, 1),
    # tf2onnx leaves 44 Transposes and 31 Reshapes (NHWC leftovers): all but the input boundary must go
    "mobilenet_v3_small_1.0_224_fp32_from_tflite_qat": ({"Conv", "HardSwish", "AveragePool"}, 1, 1),
}


@pytest.mark.parametrize("name", OPTIMIZED)
def test_real_model_is_optimized(test_data, name):
    gone, transposes, reshapes = OPTIMIZED[name]
    model = onnx.load(str(model_path(test_data, name)))
    hist = maku.load(model_path(test_data, name)).graph.op_histogram()
    assert not gone & set(hist), hist
    assert hist.get("Transpose", 0) <= transposes and hist.get("Reshape", 0) <= reshapes, hist
    assert hist["maku.Conv"] == sum(n.op_type == "Conv" for n in model.graph.node)


# ----------------------------------------------------------------------------- quantized models are refused
QUANTIZED = [
    "mobilenet_v1_0.25_128_uint8_qdq_from_tflite", "mobilenet_v2_1.0_224_uint8_qdq_from_tflite",
    "mobilenet_v3_small_1.0_224_uint8_qdq_from_tflite", "mobilenet_v2_int8_dynamic_opset18",
    "mobilenet_v2_int8_qdq_opset12", "mobilenet_v2_int8_qdq_opset18", "mobilenetv2-7_int8_qdq",
    "colon_tissue_mobilenetv3_small_int8_dynamic",
]


@pytest.mark.parametrize("name", QUANTIZED)
def test_quantized_model_raises_one_unsupported_op_error(test_data, name):
    path = model_path(test_data, name)
    model = onnx.load(str(path))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    unsupported = Counter(n.op_type for n in model.graph.node if n.op_type not in ONNX_OPS)
    assert unsupported and set(unsupported) <= QUANTIZED_OPS
    with pytest.raises(UnsupportedOpError) as info:
        maku.load(path)
    message = str(info.value)
    assert str(path) in message
    for op, count in unsupported.items():
        assert f"{op} (opset {opset}): {count} node" in message, message
    assert "supported ops:" in message and "Conv" in message


def test_every_quantized_model_is_checked(test_data):
    assert {p.stem for p in test_data.glob("models/*/*.onnx") if is_quantized(p)} == set(QUANTIZED)


# ----------------------------------------------------------------------------- 500 photos
@functools.cache
def photo_batch(test_data: Path, crop: int, short: int) -> tuple[list[np.ndarray], np.ndarray]:
    """All 500 labelled photos as uint8 NCHW crops (batch 1 each, as the models are fixed at batch 1),
    and their labels as model output indices (output 0 is "background")."""
    photos = labelled_photos(test_data)
    assert len(photos) == 500
    crops = [np.ascontiguousarray(center_crop(path, short, crop).transpose(2, 0, 1)[None]) for path, _ in photos]
    return crops, np.array([label for _, label in photos]) + 1


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGENET_FP32)
def test_top1_on_500_photos_equals_onnxruntime(test_data, name, capsys):
    """Every labelled photo: maku's top-1 is ORT's, and the accuracy is the MANIFEST's figure.

    ORT runs the batch-1 model photo by photo; maku runs it at batch 50 (its batch generalization)."""
    crop, short, manifest_top1, manifest_top5 = IMAGENET_FP32[name]
    crops, labels = photo_batch(test_data, crop, short)
    path = model_path(test_data, name)
    session, ort = maku.load(path), ort_session(path.read_bytes())
    input_name = session.inputs[0].name
    scores = np.concatenate([session(np.concatenate(crops[i : i + 50])) for i in range(0, 500, 50)])
    ours = scores.argmax(1)
    theirs = np.array([ort.run(None, {input_name: x})[0].argmax() for x in crops])
    top5 = int((np.argsort(-scores, axis=1, kind="stable")[:, :5] == labels[:, None]).any(1).sum())
    differ = np.flatnonzero(ours != theirs)
    report = (f"{name}: top-1 maku {(ours == labels).sum()}/500, ORT {(theirs == labels).sum()}/500, "
              f"MANIFEST {manifest_top1}/500; top-5 maku {top5}/500, MANIFEST {manifest_top5}/500; "
              f"top-1 disagreements with ORT {len(differ)}")
    with capsys.disabled():  # the figures belong in every CI log, captured or not
        print(f"\n{report}")
    assert len(differ) == 0, f"{report}: {[labelled_photos(test_data)[i][0].name for i in differ]}"
    assert (ours == labels).sum() == manifest_top1 and top5 == manifest_top5, report


def test_float_pixels_for_a_uint8_model_are_refused(test_data):
    """The common mistake with the TF-converted models: normalised float input. The error says what they take."""
    session = maku.load(model_path(test_data, "mobilenet_v2_1.0_224_fp32_from_tflite_qat"))
    with pytest.raises(maku.errors.InputError, match="must have dtype uint8, got float32"):
        session(np.zeros((1, 3, 224, 224), np.float32))
    with pytest.raises(maku.errors.InputError, match=r"224, 224\], got \[1, 224, 224, 3\]"):
        session(np.zeros((1, 224, 224, 3), np.uint8))  # NHWC crop without input_layout="NHWC"
