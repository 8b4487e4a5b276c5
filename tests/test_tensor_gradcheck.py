"""Float64 finite-difference gradcheck of every differentiable Tensor op, broadcasting included."""

from __future__ import annotations

import numpy as np
import pytest

from maku.autograd import gradcheck
from maku.tensor import Tensor, concat, stack


def t(*shape: int, seed: int = 0, positive: bool = False) -> Tensor:
    data = np.random.default_rng(seed).standard_normal(shape)
    return Tensor(np.abs(data) + 0.5 if positive else data, requires_grad=True, dtype=np.float64)


# (name, function, input shapes, positive inputs?)
BINARY = [
    ("add_same", lambda a, b: a + b, [(2, 3), (2, 3)], False),
    ("add_broadcast_row", lambda a, b: a + b, [(2, 3), (3,)], False),
    ("add_broadcast_both", lambda a, b: a + b, [(2, 1, 4), (3, 1)], False),
    ("sub_broadcast", lambda a, b: a - b, [(4, 1), (1, 5)], False),
    ("mul_broadcast", lambda a, b: a * b, [(2, 3, 4), (1, 3, 1)], False),
    ("div_broadcast", lambda a, b: a / b, [(2, 3), (2, 1)], True),
    ("matmul_2d", lambda a, b: a @ b, [(3, 4), (4, 2)], False),
    ("matmul_batched_broadcast", lambda a, b: a @ b, [(2, 3, 4), (4, 5)], False),
    ("matmul_vector", lambda a, b: a @ b, [(3, 4), (4,)], False),
    ("matmul_vector_left", lambda a, b: a @ b, [(4,), (4, 2)], False),
    ("scalar_rsub", lambda a, b: 2.0 - a * b, [(3,), (3,)], False),
    ("scalar_rdiv", lambda a, b: 1.0 / (a + b), [(3,), (3,)], True),
]

UNARY = [
    ("neg", lambda a: -a, (2, 3), False),
    ("pow2", lambda a: a**2, (2, 3), False),
    ("pow_fraction", lambda a: a**1.5, (2, 3), True),
    ("exp", lambda a: a.exp(), (2, 3), False),
    ("log", lambda a: a.log(), (2, 3), True),
    ("sqrt", lambda a: a.sqrt(), (2, 3), True),
    ("tanh", lambda a: a.tanh(), (2, 3), False),
    ("abs", lambda a: a.abs(), (2, 3), True),
    ("sum_all", lambda a: a.sum(), (2, 3, 4), False),
    ("sum_axis", lambda a: a.sum(axis=1), (2, 3, 4), False),
    ("sum_axes_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), (2, 3, 4), False),
    ("mean_all", lambda a: a.mean(), (2, 3, 4), False),
    ("mean_axis_keepdims", lambda a: a.mean(axis=-1, keepdims=True), (2, 3, 4), False),
    ("max_all", lambda a: a.max(), (2, 3, 4), False),
    ("max_axis", lambda a: a.max(axis=1), (2, 3, 4), False),
    ("max_axis_keepdims", lambda a: a.max(axis=(1, 2), keepdims=True), (2, 3, 4), False),
    ("var_all", lambda a: a.var(), (2, 3, 4), False),
    ("var_axis_biased", lambda a: a.var(axis=0, correction=0), (4, 3), False),
    ("reshape", lambda a: a.reshape(4, 6) * np.arange(24.0).reshape(4, 6), (2, 3, 4), False),
    ("flatten", lambda a: a.flatten(1), (2, 3, 4), False),
    (
        "permute_nchw_to_nhwc",
        lambda a: a.permute(0, 2, 3, 1) * np.arange(24.0).reshape(1, 3, 4, 2),
        (1, 2, 3, 4),
        False,
    ),
    ("transpose", lambda a: a.transpose(0, 1), (2, 3), False),
    ("index_slice", lambda a: a[1:, ::2], (3, 4), False),
    ("index_repeated", lambda a: a[np.array([0, 0, 2])], (3, 4), False),
    ("pad", lambda a: a.pad([(1, 0), (2, 1)], value=1.0), (2, 3), False),
    ("softmax_method", lambda a: a.softmax(-1), (2, 3), False),
    ("log_softmax_method", lambda a: a.log_softmax(0), (2, 3), False),
    ("sigmoid_method", lambda a: a.sigmoid(), (2, 3), False),
    ("chain", lambda a: ((a * a).sum(axis=0) / 3.0 - a.mean()).exp().sum(), (3, 2), False),
]


@pytest.mark.parametrize("name,fn,shapes,positive", BINARY, ids=[b[0] for b in BINARY])
def test_binary_gradcheck(name, fn, shapes, positive) -> None:
    gradcheck(fn, [t(*s, seed=i, positive=positive) for i, s in enumerate(shapes)])


@pytest.mark.parametrize("name,fn,shape,positive", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradcheck(name, fn, shape, positive) -> None:
    gradcheck(fn, [t(*shape, positive=positive)])


def test_concat_and_stack_gradcheck() -> None:
    gradcheck(lambda a, b: concat([a, b], axis=1), [t(2, 3, seed=1), t(2, 2, seed=2)])
    gradcheck(lambda a, b: stack([a, b], axis=1), [t(2, 3, seed=1), t(2, 3, seed=2)])


def test_reused_tensor_accumulates() -> None:
    gradcheck(lambda a: a * a + a * 3.0, [t(3)])
