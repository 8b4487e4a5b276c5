"""maku.kernels.activation against ONNX Runtime's activation ops."""

from __future__ import annotations

import numpy as np
import pytest
from ort_helpers import assert_close, run_node

from maku.kernels.activation import apply_activation, clip, hard_sigmoid, hard_swish, relu, sigmoid

X = np.random.default_rng(0).standard_normal((2, 5, 7, 3), dtype=np.float32) * 5


def clip_0_6(x, out=None):
    return clip(x, 0.0, 6.0, out=out)


def hard_sigmoid_ab(x, out=None):
    return hard_sigmoid(x, 0.25, 0.4, out=out)


# (maku function, its ONNX op, extra ONNX inputs, attributes, apply_activation kind and alpha/beta)
CASES = [
    (relu, "Relu", {}, {}, ("Relu", 0.0, 0.0)),
    (clip_0_6, "Clip", {"min": np.float32(0), "max": np.float32(6)}, {}, ("Clip", 0.0, 6.0)),
    (sigmoid, "Sigmoid", {}, {}, ("Sigmoid", 0.0, 0.0)),
    (hard_sigmoid_ab, "HardSigmoid", {}, {"alpha": 0.25, "beta": 0.4}, ("HardSigmoid", 0.25, 0.4)),
    (hard_swish, "HardSwish", {}, {}, ("HardSwish", 0.0, 0.0)),
]


@pytest.mark.parametrize("fn,op,extra,attrs,kind", CASES, ids=[c[1] for c in CASES])
def test_activation_matches_onnxruntime(fn, op, extra, attrs, kind):
    (expected,) = run_node(op, {"X": X, **extra}, **attrs)
    assert_close(fn(X), expected)
    out = np.empty_like(X)
    assert fn(X, out=out) is out
    assert_close(out, expected)
    y = X.copy()
    assert apply_activation(y, *kind) is y
    assert_close(y, expected)


def test_hard_swish_in_place_uses_scratch():
    y, scratch = X.copy(), np.empty_like(X)
    hard_swish(y, out=y, scratch=scratch)
    assert_close(y, run_node("HardSwish", {"X": X})[0])


def test_no_activation_and_unknown_kind():
    y = X.copy()
    assert apply_activation(y, None) is y
    np.testing.assert_array_equal(y, X)
    with pytest.raises(ValueError, match="unknown activation 'Gelu'"):
        apply_activation(y, "Gelu")
