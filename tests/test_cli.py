"""The `maku` command, called through `maku.cli.main`: outputs and exit codes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import maku
from maku import assets
from maku.cli import main
from maku.runtime.classify import as_probabilities, class_labels

MODEL = str(assets.default_model())
REPO = Path(__file__).resolve().parent.parent


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def blocks(text: str) -> dict[str, list[str]]:
    """classify output -> {image path: [label lines]}."""
    result: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(" "):
            lines.append(line.strip())
        else:
            lines = result.setdefault(line, [])
    return result


# ----------------------------------------------------------------------------- classify


def test_classify_with_no_arguments_uses_the_bundled_model_and_photos(capsys):
    code, out, _ = run_cli(capsys, "classify")
    assert code == 0
    found = blocks(out)
    hopper, cat = (found[str(p)] for p in assets.demo_images())
    assert len(hopper) == len(cat) == 5
    # with the standard 87.5% center crop the cap wins; the uniform is a close second
    assert any(line.endswith("  military uniform") for line in hopper[:3])
    assert cat[0].endswith("  Egyptian cat")
    assert float(cat[0].split("%")[0]) > 90


def test_classify_model_and_image_arguments(capsys):
    cat = str(assets.demo_images()[1])
    code, out, _ = run_cli(capsys, "classify", MODEL, cat, "--top", "2", "--labels", "imagenet")
    assert code == 0
    assert blocks(out)[cat][0].endswith("Egyptian cat") and len(blocks(out)[cat]) == 2


def test_classify_an_image_without_a_model_argument(capsys):
    cat = str(assets.demo_images()[1])
    code, out, _ = run_cli(capsys, "classify", cat, "--top", "1")
    assert code == 0 and list(blocks(out)) == [cat]


def test_classify_random_bytes_fails_in_one_line_naming_the_file(tmp_path, capsys):
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    code, out, err = run_cli(capsys, "classify", str(junk))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(junk) in err and "Traceback" not in err


def test_classify_with_wrong_label_count(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n")
    code, _, err = run_cli(capsys, "classify", "--labels", str(labels))
    assert code == 2 and "3 labels for a model with 1001 classes" in err


def test_label_sets_and_softmax():
    assert class_labels(1001)[0] == "background" and class_labels(1001, "imagenet")[1] == "tench, Tinca tinca"
    assert class_labels(1000)[0] == "tench" and class_labels(10)[-1] == "truck"
    assert class_labels(3) == ["class 0", "class 1", "class 2"]
    probabilities = np.array([0.2, 0.8])
    np.testing.assert_array_equal(as_probabilities(probabilities), probabilities)
    np.testing.assert_allclose(as_probabilities(np.array([0.0, np.log(3.0)])), [0.25, 0.75])


# ----------------------------------------------------------------------------- errors


def test_missing_model_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "info", str(tmp_path / "nope.onnx"))
    assert code == 2 and err.strip() == f"maku info: error: {tmp_path / 'nope.onnx'}: no such file"


def test_random_bytes_model(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    code, _, err = run_cli(capsys, "classify", str(bad))
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(bad) in err


@pytest.mark.parametrize("command", ["info", "run", "classify", "compare", "bench", "profile"])
@pytest.mark.parametrize("content", ["empty", "truncated"])
def test_bad_model_files_fail_in_one_line(tmp_path, capsys, command, content):
    bad = tmp_path / f"{content}.onnx"
    bad.write_bytes(b"" if content == "empty" else assets.default_model().read_bytes()[:5000])
    code, _, err = run_cli(capsys, command, str(bad))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"maku {command}: error: {bad}")


def test_unsupported_op_is_named(tmp_path, capsys):
    from onnx import TensorProto, helper

    node = helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,ij->ij")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
    )
    path = tmp_path / "einsum.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    )
    code, _, err = run_cli(capsys, "info", str(path))
    assert code == 2 and "Einsum" in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(maku.errors.MakuError):
        main(["--debug", "info", str(tmp_path / "nope.onnx")])


def test_commands_needing_onnxruntime_say_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    for argv in (["compare", MODEL], ["bench", MODEL, "--vs", "onnxruntime", "--runs", "1"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "pip install 'maku[ort]'" in err


# ----------------------------------------------------------------------------- info, run


def test_info_json(capsys):
    code, out, _ = run_cli(capsys, "info", MODEL, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["nodes_imported"] == 105 and info["nodes_optimized"] < 105
    assert info["ops_imported"]["Conv"] == 53 and "BatchNormalization" not in info["ops_optimized"]
    assert info["macs"] == 300_775_552  # MobileNetV2 1.0/224 with a 1001-way 1x1-conv classifier
    assert 3_400_000 < info["parameters"] < 3_600_000
    assert info["lower_bound_bytes"] <= info["arena_bytes"] < info["intermediate_bytes"]


def test_info_text(capsys):
    code, out, _ = run_cli(capsys, "info", MODEL)
    assert code == 0
    assert "105 imported ->" in out and "300.8 M" in out and "lower bound" in out


def test_run_saves_outputs(tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, (1, 3, 224, 224), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    out_file = tmp_path / "out.npz"
    code, out, _ = run_cli(
        capsys, "run", MODEL, "--input", f"input={tmp_path / 'x.npy'}", "-o", str(out_file)
    )
    assert code == 0 and "saved 1 output" in out
    saved = np.load(out_file)
    expected = maku.load(MODEL)(x)
    np.testing.assert_array_equal(saved["MobilenetV2/Predictions/Softmax_prequant"], expected)


def test_run_input_errors(tmp_path, capsys):
    np.save(tmp_path / "wrong.npy", np.zeros((1, 3, 224, 224), np.float32))
    code, _, err = run_cli(capsys, "run", MODEL, "--input", str(tmp_path / "wrong.npy"))
    assert code == 2 and "dtype uint8" in err
    code, _, err = run_cli(capsys, "run", MODEL, "--input", f"input={tmp_path / 'missing.npy'}")
    assert code == 2 and "missing.npy: no such file" in err


# ----------------------------------------------------------------------------- compare, bench, profile


def test_compare_reports_agreement(capsys):
    code, out, _ = run_cli(capsys, "compare", MODEL, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["agree"] and result["outputs"][0]["top1_agreement"] == 1.0


def test_bench_json_against_onnxruntime(capsys):
    code, out, _ = run_cli(
        capsys, "bench", MODEL, "--runs", "2", "--warmup", "1", "--vs", "onnxruntime", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["maku"]["runs"] == result["onnxruntime"]["runs"] == 2
    assert 0 < result["maku"]["median_ms"] <= result["maku"]["p90_ms"]
    code, out, _ = run_cli(capsys, "bench", MODEL, "--runs", "2", "--warmup", "0", "--backend", "numpy")
    assert code == 0 and "numpy backend" in out and "median" in out and "p90" in out


def test_profile_table_and_png(tmp_path, capsys):
    png = tmp_path / "profile.png"
    code, out, _ = run_cli(capsys, "profile", MODEL, "--runs", "2", "--top", "5", "--png", str(png))
    assert code == 0
    assert "maku.Conv" in out and "GFLOP/s" in out and "%" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_ops_table_is_generated_from_the_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ops_table", REPO / "tools" / "ops_table.py")
    ops_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ops_table)
    assert ops_table.replace_table(readme, ops_table.ops_table()) == readme, (
        "run python tools/ops_table.py --write"
    )


def test_readme_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest -q\n```" in (REPO / "README.md").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == "python -m pytest -q"


def test_classify_with_the_bundled_cifar10_model(test_data, tmp_path, capsys):
    """`--model cifar10`: the MobileNetV1 maku trained, on CIFAR-10 test photos (32x32, whole image)."""
    import zipfile

    with zipfile.ZipFile(test_data / "datasets" / "cifar10" / "cifar10_test_jpeg.zip") as z:
        photos = {cls: tmp_path / f"{cls}.jpg" for cls in ("cat", "ship", "truck")}
        for cls, path in photos.items():
            path.write_bytes(z.read(f"test/{cls}/0001.jpg"))
    assert main(["classify", "--model", "cifar10", *map(str, photos.values()), "--top", "1"]) == 0
    lines = capsys.readouterr().out.split("\n")
    top1 = [lines[i + 1].split()[-1] for i, line in enumerate(lines) if line.endswith(".jpg")]
    assert sum(label == cls for label, cls in zip(top1, photos)) >= 2  # an 85.7%-accurate model
