"""The demo page in real headless Chromium: a photo uploaded through the file input gets the
same top-5 (labels and probabilities) as the Python runtime; bad files show a message."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import require_data
from PIL import Image

import maku
from maku.cli import main as cli_main
from maku.runtime.classify import Classifier
from maku.web.chromium import browser_context, chromium_path, served

MODEL = ("models", "imagenet_converted", "mobilenet_v1_0.25_128_fp32_from_tflite_qat.onnx")
PHOTO = ("images", "demo", "parrot.jpg")


def _require_browser() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install playwright; no browser download)"
    else:
        missing = None if chromium_path() else "Chromium (apt-get install -y chromium)"
    if missing:
        message = f"browser tests need {missing}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _require_browser()
    model = require_data(*MODEL)
    out = tmp_path_factory.mktemp("web")
    assert cli_main(["build", str(model), "--target", "web", "--labels", "imagenet", "-o", str(out / "site")]) == 0
    # a lossless copy of the photo (no colour profile), so the browser decodes the very pixels Pillow does
    photo = out / "photo.png"
    with Image.open(require_data(*PHOTO)) as im:
        Image.fromarray(np.asarray(im.convert("RGB"))).save(photo)
    (out / "notes.txt").write_text("not an image")
    return model, out / "site", photo, out / "notes.txt"


@pytest.fixture(scope="module")
def context():
    _require_browser()
    with browser_context() as context:
        yield context


@pytest.fixture(scope="module")
def page(site, context):
    _, folder, _, _ = site
    with served(folder) as url:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=30000)
        yield page
        assert errors == []


def _upload(page, path) -> None:
    runs = int(page.evaluate("document.body.dataset.runs || 0"))
    page.set_input_files("#file", str(path))
    page.wait_for_selector(f"body[data-runs='{runs + 1}']", timeout=30000)


def test_page_top5_equals_the_python_runtime(site, page):
    model, _, photo, _ = site
    expected = Classifier(maku.load(str(model)), labels="imagenet").classify(photo, k=5)
    _upload(page, photo)
    rows = page.eval_on_selector_all(
        "#results li", "rows => rows.map(r => [Number(r.dataset.index), r.dataset.label, Number(r.dataset.probability)])")
    assert [r[1] for r in rows][0] == expected[0].label
    assert [r[0] for r in rows] == [p.index for p in expected]
    np.testing.assert_allclose([r[2] for r in rows], [p.probability for p in expected], rtol=0, atol=1e-3)
    assert page.is_visible("#photo") and "ms per run" in page.inner_text("#latency")
    assert "KiB" in page.inner_text("#model")


def test_a_non_image_shows_a_message_and_the_page_keeps_working(site, page):
    _, _, photo, notes = site
    _upload(page, notes)
    assert page.is_visible("#error") and "not an image" in page.inner_text("#error")
    _upload(page, photo)
    assert not page.is_visible("#error") and page.eval_on_selector_all("#results li", "rows => rows.length") == 5


def test_a_corrupted_model_file_is_reported_on_the_page(site, context, tmp_path):
    _, folder, _, _ = site
    broken = tmp_path / "site"
    broken.mkdir()
    for f in folder.iterdir():
        data = f.read_bytes()
        (broken / f.name).write_bytes(data[: len(data) - 1000] if f.name == "model.maku" else data)
    with served(broken) as url:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#error:not([hidden])", timeout=30000)
        assert "could not be loaded" in page.inner_text("#error") and "model.maku" in page.inner_text("#error")
