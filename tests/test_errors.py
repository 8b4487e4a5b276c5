"""Bad models and bad inputs: each gets its typed MakuError, with a message naming the file, node or input.

Never a crash (a bare ValueError, a protobuf DecodeError, a KeyError), never a silent result.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from model_builders import GraphBuilder, Style, mobilenet_v2, run_ort
from onnx import external_data_helper, helper, numpy_helper
from ort_helpers import assert_close

import maku
from maku.errors import GraphError, InputError, MakuError, ModelFormatError, ShapeError, UnsupportedOpError
from maku.ir.ops import ONNX_OPS


def small_model(opset: int = 13, batch="N") -> onnx.ModelProto:
    """x[N,3,8,8] -> Conv -> Relu -> GlobalAveragePool -> Flatten -> y[N,4]."""
    b = GraphBuilder(opset)
    x = b.input("x", [batch, 3, 8, 8])
    y = b.node("Relu", [b.node("Conv", [x, b.init(b.randn(4, 3, 3, 3)), b.init(b.randn(4))], pads=[1, 1, 1, 1])])
    b.output(b.node("Flatten", [b.node("GlobalAveragePool", [y])]), np.float32, [batch, 4])
    return b.model()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------- unreadable files
def test_truncated_files_raise_model_format_error_naming_the_file(tmp_path):
    data = mobilenet_v2(Style()).SerializeToString()
    for cut in (1, 7, 100, len(data) // 3, len(data) // 2, len(data) - 1):
        path = write(tmp_path, f"cut{cut}.onnx", data[:cut])
        with pytest.raises(ModelFormatError) as info:
            maku.load(path)
        assert str(path) in str(info.value), f"cut at {cut}: {info.value}"


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_raise_model_format_error(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = write(tmp_path, "random.onnx", rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8).tobytes())
    with pytest.raises(ModelFormatError) as info:
        maku.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a model\n", b"\x89PNG\r\n\x1a\n" + bytes(64),
                                     np.lib.format.magic(1, 0) + bytes(100)], ids=["empty", "text", "png", "npy"])
def test_non_onnx_files_raise_model_format_error(tmp_path, content):
    path = write(tmp_path, "model.onnx", content)
    with pytest.raises(ModelFormatError) as info:
        maku.load(path)
    assert str(path) in str(info.value)
    if not content:
        assert "empty" in str(info.value)


def test_empty_bytes_raise_model_format_error():
    with pytest.raises(ModelFormatError, match="empty"):
        maku.load(b"")


def test_directory_and_missing_path(tmp_path):
    with pytest.raises(ModelFormatError, match="directory") as info:
        maku.load(tmp_path)
    assert str(tmp_path) in str(info.value)
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelFormatError, match="no such file") as info:
        maku.load(missing)
    assert str(missing) in str(info.value)


def test_model_without_default_opset_raises_model_format_error():
    model = small_model()
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(ModelFormatError, match="opset"):
        maku.load(model.SerializeToString())


# ----------------------------------------------------------------------------- unsupported content
def test_unknown_ops_are_listed_in_one_error_before_anything_runs():
    b = GraphBuilder(13)
    x = b.input("x", [1, 4])
    y = x
    for i in range(3):
        y = b.node("Erf", [y], name=f"erf_{i}")
    y = b.node("LeakyRelu", [b.node("Relu", [y])], name="leaky")
    y = b.node("Softmax", [y])
    fused = helper.make_node("FusedGemm", [y], ["fused_out"], name="ms_fused", domain="com.microsoft")
    b.nodes.append(fused)
    b.output("fused_out")
    model = b.model()
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOpError) as info:
        maku.load(model.SerializeToString())
    message = str(info.value)
    assert "3 unsupported op types" in message
    assert "Erf (opset 13): 3 nodes, e.g. erf_0, erf_1, erf_2" in message
    assert "LeakyRelu (opset 13): 1 node, e.g. leaky" in message
    assert "com.microsoft.FusedGemm (opset 1): 1 node, e.g. ms_fused" in message  # its own domain's opset
    assert "supported ops: " + ", ".join(ONNX_OPS) in message
    listed = {line.split()[0] for line in message.splitlines() if line.startswith("  ")}
    assert listed == {"Erf", "LeakyRelu", "com.microsoft.FusedGemm"}  # supported ops are not reported


@pytest.mark.parametrize("case,attrs,match", [
    ("pad_reflect", {"mode": "reflect"}, r"Pad\(mode=reflect\)"),
    ("maxpool_indices", None, r"MaxPool\(with Indices output\)"),
    ("conv_3d", None, r"Conv\(non-2D\)"),
])
def test_unsupported_attribute_cases_are_named(case, attrs, match):
    b = GraphBuilder(13)
    if case == "pad_reflect":
        x = b.input("x", [1, 2, 4, 4])
        b.output(b.node("Pad", [x, b.init(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], **attrs))
    elif case == "maxpool_indices":
        x = b.input("x", [1, 2, 4, 4])
        y, idx = b.node("MaxPool", [x], outputs=2, kernel_shape=[2, 2])
        b.output(y)
        b.output(idx)
    else:
        x = b.input("x", [1, 2, 4, 4, 4])
        b.output(b.node("Conv", [x, b.init(b.randn(3, 2, 1, 1, 1))], kernel_shape=[1, 1, 1]))
    with pytest.raises(UnsupportedOpError, match=match):
        maku.load(b.model().SerializeToString())


@pytest.mark.parametrize("form", ["value_string", "value_strings"])
def test_string_constants_are_refused(form):
    b = GraphBuilder(13)
    x = b.input("x", [2])
    k = b.node("Constant", [], name="labels", **{form: "cat" if form == "value_string" else ["cat", "dog"]})
    b.output(b.node("Identity", [x]))
    b.output(k)
    with pytest.raises(UnsupportedOpError, match="labels"):
        maku.load(b.model().SerializeToString())


@pytest.mark.parametrize("elem_type", ["FLOAT8E4M3FN", "FLOAT8E5M2", "BFLOAT16", "INT4", "COMPLEX64", "STRING"])
def test_unsupported_element_types_are_refused_naming_the_tensor(elem_type):
    b = GraphBuilder(21)
    b.inputs.append(helper.make_tensor_value_info("codes", getattr(onnx.TensorProto, elem_type), [4]))
    b.output(b.node("Identity", ["codes"]))
    with pytest.raises(UnsupportedOpError, match="element type not supported for 'codes'"):
        maku.load(b.model().SerializeToString())


@pytest.mark.parametrize("opset", [1, 6, 23, 30])
def test_unknown_opset_is_refused(opset):
    with pytest.raises(UnsupportedOpError, match=f"opset {opset} is not supported"):
        maku.load(relabelled(small_model(), opset).SerializeToString())


def relabelled(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    model.opset_import[0].version = opset
    return model


# ----------------------------------------------------------------------------- external data
def _external_model(tmp_path, location: str | None = "weights.bin"):
    """small_model with its conv weight stored as external data at `location` (relative to tmp_path/model)."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    model = small_model()
    weight = model.graph.initializer[0]
    external_data_helper.set_external_data(weight, location)
    raw = weight.raw_data or numpy_helper.from_array(numpy_helper.to_array(weight)).raw_data
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    weight.data_location = onnx.TensorProto.EXTERNAL
    return model, folder, raw


def test_external_data_inside_the_folder_loads(tmp_path):
    model, folder, raw = _external_model(tmp_path)
    (folder / "weights.bin").write_bytes(raw)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    onnx_model = onnx.load(str(path))  # resolves the external data for ORT
    assert_close(maku.load(path)(x), run_ort(onnx_model, {"x": x})[0])


@pytest.mark.parametrize("one_file", [True, False])
def test_external_data_written_by_onnx_save(tmp_path, one_file):
    """onnx.save's own external-data layout (one file with offsets, or one file per tensor) loads and runs."""
    model = mobilenet_v2(Style(batch=1))
    x = np.random.default_rng(0).standard_normal((1, 3, 96, 96)).astype(np.float32)
    (expected,) = run_ort(model, {"input": x})
    path = tmp_path / "mobilenet.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=one_file,
                    location="weights.bin" if one_file else None, size_threshold=0)
    assert len(list(tmp_path.iterdir())) > 1 and path.stat().st_size < 100_000
    assert_close(maku.load(path)(x), expected, 1e-4)


@pytest.mark.parametrize("location", ["../outside.bin", "sub/../../outside.bin", "/etc/hostname"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    model, folder, raw = _external_model(tmp_path, location)
    (tmp_path / "outside.bin").write_bytes(raw)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="outside the model's folder") as info:
        maku.load(path)
    assert str(path) in str(info.value) and location in str(info.value)


def test_external_data_through_a_symlink_leaving_the_folder_is_refused(tmp_path):
    model, folder, raw = _external_model(tmp_path, "weights.bin")
    (tmp_path / "outside.bin").write_bytes(raw)
    (folder / "weights.bin").symlink_to(tmp_path / "outside.bin")
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="outside the model's folder"):
        maku.load(path)


def test_external_data_missing_or_from_bytes(tmp_path):
    model, folder, _ = _external_model(tmp_path)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match="missing"):
        maku.load(path)
    with pytest.raises(ModelFormatError, match="external data"):
        maku.load(model.SerializeToString())


# ----------------------------------------------------------------------------- malformed graphs
def test_shape_mismatch_names_the_node():
    b = GraphBuilder(13)
    x = b.input("x", [1, 5, 8, 8])  # the weight expects 3 input channels
    b.output(b.node("Conv", [x, b.init(b.randn(4, 3, 3, 3))], name="stem_conv"))
    with pytest.raises(ShapeError, match="stem_conv"):
        maku.load(b.model().SerializeToString())


def _bad(op, inputs: dict, consts: dict | None = None, **attrs):
    b = GraphBuilder(13)
    names = [b.input(k, v) for k, v in inputs.items()]
    names += [b.init(np.asarray(v)) for v in (consts or {}).values()]
    b.output(b.node(op, names, name=f"bad_{op.lower()}", **attrs))
    return b.model()


# shapes that cannot fit: ShapeError at load, naming the node (never an IndexError from deep inside)
MISFITS = {
    "gemm_inner_dims": _bad("Gemm", {"a": [2, 3]}, {"b": np.zeros((4, 5), np.float32)}),
    "matmul_inner_dims": _bad("MatMul", {"a": [2, 3], "b": [4, 5]}),
    "reshape_element_count": _bad("Reshape", {"x": [2, 3]}, {"s": np.array([4, 2], np.int64)}),
    "reshape_minus1_remainder": _bad("Reshape", {"x": [2, 3]}, {"s": np.array([4, -1], np.int64)}),
    "transpose_bad_perm": _bad("Transpose", {"x": [2, 3]}, perm=[0, 0]),
    "squeeze_non_unit_axis": _bad("Squeeze", {"x": [2, 3]}, {"axes": np.array([1], np.int64)}),
    "pad_wrong_length": _bad("Pad", {"x": [2, 3]}, {"p": np.array([1, 1], np.int64)}),
    "concat_missing_axis": _bad("Concat", {"a": [2, 3], "b": [2, 3]}),
    "broadcast_mismatch": _bad("Add", {"a": [2, 3], "b": [4]}),
    "pool_window_beyond_input": _bad("MaxPool", {"x": [1, 2, 5, 5]}, kernel_shape=[9, 9]),
    "gather_axis_out_of_range": _bad("Gather", {"x": [2, 3]}, {"i": np.array([0], np.int64)}, axis=2),
    "depthwise_groups_mismatch": _bad("Conv", {"x": [1, 4, 5, 5]}, {"w": np.zeros((4, 1, 3, 3), np.float32)}, group=2),
}


@pytest.mark.parametrize("name", MISFITS)
def test_shapes_that_cannot_fit_raise_shape_error_naming_the_node(name):
    model = MISFITS[name]
    with pytest.raises(ShapeError) as info:
        maku.load(model.SerializeToString())
    assert model.graph.node[-1].name in str(info.value)


def test_a_misfit_found_only_at_plan_time_is_a_shape_error_and_the_session_survives():
    b = GraphBuilder(13)
    x = b.input("x", ["N", 3, "H", "W"])
    b.output(b.node("Reshape", [b.node("Relu", [x]), b.init(np.array([-1, 12], np.int64))], name="to_rows"))
    session = maku.load(b.model().SerializeToString())
    with pytest.raises(ShapeError, match="to_rows"):
        session.run({"x": np.zeros((1, 3, 1, 1), np.float32)})  # 3 elements do not make rows of 12
    out = session.run({"x": np.ones((1, 3, 2, 2), np.float32)})
    assert next(iter(out.values())).shape == (1, 12)


def test_reading_an_undefined_tensor_names_it():
    b = GraphBuilder(13)
    x = b.input("x", [1, 4])
    b.output(b.node("Add", [x, "nowhere"], name="add_missing"))
    with pytest.raises(GraphError, match="nowhere"):
        maku.load(b.model().SerializeToString())


# ----------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def session():
    return maku.load(small_model().SerializeToString())


GOOD = np.zeros((2, 3, 8, 8), np.float32)
BAD_FEEDS = [
    ("rank", {"x": np.zeros((3, 8, 8), np.float32)}, r"'x' must have rank 4 \[N, 3, 8, 8\], got \[3, 8, 8\]"),
    ("channels", {"x": np.zeros((2, 4, 8, 8), np.float32)}, r"'x' must have shape \[N, 3, 8, 8\], got \[2, 4, 8, 8\]"),
    ("spatial", {"x": np.zeros((2, 3, 9, 8), np.float32)}, r"'x' must have shape \[N, 3, 8, 8\].*axis 2"),
    ("dtype_f64", {"x": GOOD.astype(np.float64)}, r"'x' must have dtype float32, got float64"),
    ("dtype_uint8", {"x": GOOD.astype(np.uint8)}, r"'x' must have dtype float32, got uint8"),
    ("unknown_name", {"x": GOOD, "y": GOOD}, r"unknown input \['y'\]; the model's inputs are \['x'\]"),
    ("wrong_name", {"image": GOOD}, r"unknown input \['image'\]"),
    ("missing", {}, r"missing input \['x'\]"),
    ("not_an_array", {"x": GOOD.tolist()}, r"'x' must be a numpy array, got list"),
]


@pytest.mark.parametrize("feeds,match", [b[1:] for b in BAD_FEEDS], ids=[b[0] for b in BAD_FEEDS])
def test_bad_feeds_raise_input_error_saying_what_was_expected(session, feeds, match):
    with pytest.raises(InputError, match=match):
        session.run(feeds)


def test_dynamic_batch_accepts_any_batch_and_the_session_recovers(session):
    for batch in (1, 2, 5):
        assert session.run({"x": np.zeros((batch, 3, 8, 8), np.float32)})[session.outputs[0].name].shape == (batch, 4)
    with pytest.raises(InputError):
        session.run({"x": np.zeros((2, 3, 8), np.float32)})
    assert session(GOOD).shape == (2, 4)  # a refused call leaves the session usable


def test_call_and_run_misuse():
    two_inputs = GraphBuilder(13)
    a, b = two_inputs.input("a", [2]), two_inputs.input("b", [2])
    two_inputs.output(two_inputs.node("Add", [a, b]))
    session = maku.load(two_inputs.model().SerializeToString())
    with pytest.raises(InputError, match="2 inputs"):
        session(np.zeros(2, np.float32))
    with pytest.raises(InputError, match="dict"):
        session.run([np.zeros(2, np.float32)] * 2)


@pytest.mark.parametrize("options,match", [
    ({"backend": "tpu"}, "unknown backend 'tpu'"),
    ({"input_layout": "CHW"}, "input_layout"),
    ({"threads": 0}, "threads"),
])
def test_bad_load_options(options, match):
    with pytest.raises(MakuError, match=match):
        maku.load(small_model().SerializeToString(), **options)


# ----------------------------------------------------------------------------- inputs maku must accept
def test_views_readonly_and_fortran_inputs_are_accepted(session):
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    expected = session(x)
    readonly = x.copy()
    readonly.flags.writeable = False
    strided = np.repeat(x, 2, axis=0)[::2]  # a non-contiguous view
    for variant in (np.asfortranarray(x), x.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2), readonly, strided):
        np.testing.assert_array_equal(session(variant), expected)
    np.testing.assert_array_equal(x, readonly)  # inputs are never written


def test_outputs_belong_to_the_caller(session):
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    first = session(x)
    keep = first.copy()
    first[...] = np.nan  # scribbling on a result must not reach the next run
    second = session(x)
    np.testing.assert_array_equal(second, keep)
    assert not np.shares_memory(first, second)
    third = session(2 * x)
    np.testing.assert_array_equal(second, keep)  # nor may the next run overwrite an earlier result
    assert not np.array_equal(third, keep)
