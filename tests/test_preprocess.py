"""Image preprocessing: the test data's exact crops, the three pixel encodings, layout detection."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from maku.errors import InputError
from maku.runtime.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    center_crop,
    encode,
    input_spec,
    load_rgb,
    preprocess,
    resize_size,
)

# MANIFEST.md, images/: every 25th staged file, in this order
VERIFICATION_IMAGES = [
    "n01440764_tench.JPEG", "n01698640_American_alligator.JPEG", "n01860187_black_swan.JPEG",
    "n02077923_sea_lion.JPEG", "n02097474_Tibetan_terrier.JPEG", "n02110185_Siberian_husky.JPEG",
    "n02165105_tiger_beetle.JPEG", "n02417914_ibex.JPEG", "n02669723_academic_gown.JPEG",
    "n02860847_bobsled.JPEG", "n03042490_cliff_dwelling.JPEG", "n03297495_espresso_maker.JPEG",
    "n03532672_hook.JPEG", "n03759954_microphone.JPEG", "n03887697_paper_towel.JPEG",
    "n04033995_quilt.JPEG", "n04243546_slot.JPEG", "n04399382_teddy.JPEG",
    "n04562935_water_tower.JPEG", "n07747607_orange.JPEG",
]  # fmt: skip


@pytest.mark.parametrize("crop", [224, 128])
def test_crops_equal_the_reference_crops(test_data, crop):
    expected = np.load(test_data / "reference" / f"imagenet20_crops{crop}_uint8.npy")
    images = test_data / "images" / "imagenet_samples"
    crops = np.stack([center_crop(load_rgb(images / name), crop) for name in VERIFICATION_IMAGES])
    assert crops.dtype == np.uint8
    np.testing.assert_array_equal(crops, expected)


def test_resize_keeps_the_standard_central_fraction():
    assert resize_size(224) == 256
    assert resize_size(128) == 146


def test_crop_of_a_landscape_and_a_portrait_image():
    wide = Image.fromarray(np.arange(300 * 600 * 3, dtype=np.uint32).reshape(300, 600, 3).astype(np.uint8))
    assert center_crop(wide, 224).shape == (224, 224, 3)
    assert center_crop(wide.transpose(Image.Transpose.TRANSPOSE), 128).shape == (128, 128, 3)


def test_encodings():
    pixels = np.array([[[0, 128, 255]]], dtype=np.uint8)
    assert encode(pixels, "uint8") is pixels
    np.testing.assert_allclose(encode(pixels, "inception"), [[[-1.0, 128 / 127.5 - 1, 1.0]]], atol=1e-6)
    expected = (np.array([0, 128, 255]) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(encode(pixels, "imagenet")[0, 0], expected, rtol=1e-6)
    assert encode(pixels, "imagenet").dtype == np.float32
    with pytest.raises(InputError, match="unknown preprocessing"):
        encode(pixels, "caffe")


@pytest.mark.parametrize(
    ("shape", "dtype", "expected"),
    [
        ((1, 3, 224, 224), np.uint8, InputSpec("NCHW", 224, "uint8")),
        (("N", 3, 224, 224), np.float32, InputSpec("NCHW", 224, "imagenet")),
        ((None, 128, 128, 3), np.float32, InputSpec("NHWC", 128, "imagenet")),
        (("N", 3, "H", "W"), np.float32, InputSpec("NCHW", 224, "imagenet")),
    ],
)
def test_input_spec_reads_layout_size_and_mode(shape, dtype, expected):
    assert input_spec(shape, np.dtype(dtype)) == expected


def test_input_spec_mode_override_and_errors():
    assert input_spec((1, 224, 224, 3), np.dtype(np.float32), "inception").mode == "inception"
    with pytest.raises(InputError, match="not an image batch"):
        input_spec((1, 1001), np.dtype(np.float32))
    with pytest.raises(InputError, match="channel axis"):
        input_spec((1, 4, 224, 224), np.dtype(np.float32))
    with pytest.raises(InputError, match="not square"):
        input_spec((1, 3, 48, 192), np.dtype(np.float32))


def test_preprocess_layout_dtype_and_greyscale(tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((40, 60), 200, dtype=np.uint8), mode="L").save(grey)
    nchw = preprocess(grey, InputSpec("NCHW", 32, "uint8"))
    assert nchw.shape == (1, 3, 32, 32) and nchw.dtype == np.uint8 and nchw.flags.c_contiguous
    assert (nchw == 200).all()
    nhwc = preprocess(grey, InputSpec("NHWC", 32, "inception"))
    assert nhwc.shape == (1, 32, 32, 3) and nhwc.dtype == np.float32


def test_unreadable_images_name_the_file(tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="junk.jpg: not a readable image"):
        load_rgb(junk)
    truncated = tmp_path / "truncated.png"
    Image.new("RGB", (64, 64), "red").save(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(InputError, match="truncated.png"):
        load_rgb(truncated)
    with pytest.raises(InputError, match="missing.jpg: no such image file"):
        load_rgb(tmp_path / "missing.jpg")
