"""maku.kernels elementwise / reduce / shape_ops against the ONNX Runtime op of the same name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ort_helpers import assert_close, run_node

from maku.kernels import elementwise, reduce, shape_ops

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape, dtype=np.float32)


def i64(values):
    return np.array(values, np.int64)


BROADCAST_SHAPES = [
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((2, 3, 4, 5), (1, 3, 1, 5)),
    ((), (2, 2)),
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("a_shape,b_shape", BROADCAST_SHAPES)
def test_binary_ops_broadcast_like_onnxruntime(op, a_shape, b_shape):
    a, b = randn(*a_shape), randn(*b_shape) + 3.0
    fn = getattr(elementwise, op.lower())
    (expected,) = run_node(op, {"A": a, "B": b})
    assert_close(fn(a, b), expected)
    out = np.empty(expected.shape, np.float32)
    assert fn(a, b, out=out) is out
    assert_close(out, expected)


def test_integer_div_truncates_toward_zero():
    a, b = i64([-7, 7, -7, 7, 6]), i64([2, -2, -2, 2, 3])
    np.testing.assert_array_equal(elementwise.div(a, b), run_node("Div", {"A": a, "B": b})[0])
    out = np.empty(5, np.int64)
    assert elementwise.div(a, b, out=out) is out


@pytest.mark.parametrize("channel_axis", [1, -1])
def test_batchnorm_inference_matches_onnxruntime(channel_axis):
    x = randn(2, 3, 4, 5)
    scale, bias, mean = randn(3), randn(3), randn(3)
    var = np.abs(randn(3)) + 0.1
    inputs = {"X": x, "scale": scale, "B": bias, "mean": mean, "var": var}
    (expected,) = run_node("BatchNormalization", inputs, epsilon=1e-3)
    nhwc = channel_axis == -1
    got = elementwise.batchnorm_inference(
        x.transpose(0, 2, 3, 1) if nhwc else x, scale, bias, mean, var, 1e-3, channel_axis
    )
    assert_close(got.transpose(0, 3, 1, 2) if nhwc else got, expected)


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_family_matches_onnxruntime(op, axis):
    x = randn(3, 4, 5) * 30
    (expected,) = run_node(op, {"X": x}, axis=axis)
    fn = reduce.softmax if op == "Softmax" else reduce.log_softmax
    out = np.empty_like(x)
    assert fn(x, axis, out=out) is out
    assert_close(out, expected)
    assert_close(fn(x, axis), expected)


@pytest.mark.parametrize("axes", [None, [1], [-1, 0], [0, 1, 2]])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_matches_onnxruntime(axes, keepdims):
    x = randn(3, 4, 5)
    inputs = {"X": x} if axes is None else {"X": x, "axes": i64(axes)}
    (expected,) = run_node("ReduceMean", inputs, keepdims=keepdims)
    assert_close(reduce.reduce_mean(x, axes, keepdims), expected)


@pytest.mark.parametrize("perm", [None, [0, 2, 3, 1], [3, 1, 0, 2]])
def test_transpose_matches_onnxruntime(perm):
    x = randn(2, 3, 4, 5)
    (expected,) = run_node("Transpose", {"X": x}, **({} if perm is None else {"perm": perm}))
    assert_close(shape_ops.transpose(x, perm), expected)
    out = np.empty(expected.shape, np.float32)
    assert_close(shape_ops.transpose(x, perm, out=out), expected)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_matches_onnxruntime(axis):
    xs = [randn(2, 3, 4), randn(2, 3, 4), randn(2, 3, 4)]
    (expected,) = run_node("Concat", {"A": xs[0], "B": xs[1], "C": xs[2]}, axis=axis)
    assert_close(shape_ops.concat(xs, axis), expected)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("indices", [[0, -1, 2], [[1, -2], [0, 0]], 1, -3])
def test_gather_matches_onnxruntime(axis, indices):
    x, idx = randn(3, 4, 5), i64(indices)
    (expected,) = run_node("Gather", {"X": x, "I": idx}, axis=axis)
    assert_close(shape_ops.gather(x, idx, axis), expected)


bound = st.one_of(st.integers(-9, 9), st.sampled_from([INT64_MAX, INT64_MIN]))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(0, 6), min_size=1, max_size=3),
    data=st.data(),
)
def test_slice_matches_onnxruntime(shape, data):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    rank = len(shape)
    axes = data.draw(
        st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank, unique_by=lambda a: a % rank)
    )
    starts, ends = (data.draw(st.lists(bound, min_size=len(axes), max_size=len(axes))) for _ in range(2))
    steps = data.draw(
        st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=len(axes), max_size=len(axes))
    )
    inputs = {"X": x, "starts": i64(starts), "ends": i64(ends), "axes": i64(axes), "steps": i64(steps)}
    (expected,) = run_node("Slice", inputs)
    np.testing.assert_array_equal(shape_ops.slice(x, starts, ends, axes, steps), expected)


@pytest.mark.parametrize(
    "start,end,step",
    [
        (0, INT64_MAX, -1),
        (3, INT64_MAX, -1),
        (0, 2**31 - 1, -1),
        (INT64_MAX, INT64_MIN, -1),
        (INT64_MIN, INT64_MIN, -1),
        (-1, INT64_MIN, -2),
        (INT64_MIN, INT64_MAX, 2),
        (INT64_MAX, 3, 1),
    ],
)
def test_slice_sentinels_match_onnxruntime(start, end, step):
    x = np.arange(5, dtype=np.float32)
    inputs = {"X": x, "starts": i64([start]), "ends": i64([end]), "axes": i64([0]), "steps": i64([step])}
    (expected,) = run_node("Slice", inputs)
    np.testing.assert_array_equal(shape_ops.slice(x, [start], [end], [0], [step]), expected)


def test_slice_defaults_axes_and_steps():
    x = randn(4, 5)
    np.testing.assert_array_equal(shape_ops.slice(x, [1, -3], [3, INT64_MAX]), x[1:3, -3:])
    with pytest.raises(ValueError, match="step"):
        shape_ops.slice(x, [0], [1], [0], [0])


@pytest.mark.parametrize("pads", [[1, 0, 2, 0, 3, 1], [0, 0, 0, 0, 0, 0], [-1, 2, 0, 1, -2, 1]])
def test_pad_constant_matches_onnxruntime(pads):
    x = randn(3, 4, 5)
    (expected,) = run_node("Pad", {"X": x, "pads": i64(pads), "value": np.float32(1.5)})
    assert_close(shape_ops.pad_constant(x, pads, 1.5), expected)
    out = np.empty(expected.shape, np.float32)
    assert shape_ops.pad_constant(x, pads, 1.5, out=out) is out


@pytest.mark.parametrize(
    "x_shape,shape", [((3, 1), (2, 1, 4)), ((2, 3), (1, 1)), ((1,), (3,)), ((4, 1, 2), (4, 3, 1))]
)
def test_expand_matches_onnxruntime(x_shape, shape):
    x = randn(*x_shape)
    (expected,) = run_node("Expand", {"X": x, "shape": i64(shape)})
    assert_close(shape_ops.expand(x, shape), expected)


@pytest.mark.parametrize(
    "in_shape,shape,allowzero",
    [
        ((2, 3, 4), (0, -1), 0),
        ((2, 3, 4), (-1,), 0),
        ((2, 3, 4), (4, 0, 2), 0),
        ((2, 0, 4), (0, 4), 1),
        ((6,), (2, -1, 1), 0),
    ],
)
def test_reshape_target_matches_onnxruntime(in_shape, shape, allowzero):
    x = randn(*in_shape)
    (expected,) = run_node("Reshape", {"X": x, "shape": i64(shape)}, allowzero=allowzero)
    assert shape_ops.reshape_target(in_shape, shape, allowzero) == expected.shape


@pytest.mark.parametrize("shape,allowzero", [((2, -1, -1), 0), ((5, 5), 0), ((0, -1), 1), ((5, -1), 0)])
def test_reshape_target_rejects_bad_shapes(shape, allowzero):
    with pytest.raises(ValueError, match="reshape|-1"):
        shape_ops.reshape_target((2, 3, 4), shape, allowzero)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, 4])
def test_flatten_shape_matches_onnxruntime(axis):
    x = randn(2, 3, 4, 5)
    (expected,) = run_node("Flatten", {"X": x}, axis=axis)
    assert shape_ops.flatten_shape(x.shape, axis) == expected.shape


@pytest.mark.parametrize("axes", [None, [0], [-1, 2]])
def test_squeeze_shape_matches_onnxruntime(axes):
    x = randn(1, 3, 1, 1)
    inputs = {"X": x} if axes is None else {"X": x, "axes": i64(axes)}
    assert shape_ops.squeeze_shape(x.shape, axes) == run_node("Squeeze", inputs)[0].shape
    with pytest.raises(ValueError, match="squeeze"):
        shape_ops.squeeze_shape(x.shape, [1])


@pytest.mark.parametrize("axes", [[0], [-1], [1, 3], [0, -1]])
def test_unsqueeze_shape_matches_onnxruntime(axes):
    x = randn(3, 4)
    (expected,) = run_node("Unsqueeze", {"X": x, "axes": i64(axes)})
    assert shape_ops.unsqueeze_shape(x.shape, axes) == expected.shape


def test_axis_helpers_reject_bad_axes():
    with pytest.raises(ValueError, match="out of range"):
        shape_ops.normalize_axes([3], 3)
    with pytest.raises(ValueError, match="repeat"):
        shape_ops.unsqueeze_shape((2,), [0, -3])
