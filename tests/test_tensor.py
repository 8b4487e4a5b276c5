"""Tensor basics: dtypes, grad mode, graph bookkeeping, no-grad ops and error messages."""

from __future__ import annotations

import numpy as np
import pytest

import maku
from maku.autograd import GradcheckError, gradcheck, no_grad
from maku.errors import ShapeError
from maku.tensor import Tensor, concat, stack


def test_float_data_defaults_to_float32_and_keeps_explicit_dtype() -> None:
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(3)).dtype == np.float32
    assert Tensor(np.zeros(3), dtype=np.float64).dtype == np.float64
    assert Tensor([1, 2]).dtype.kind == "i"


def test_ops_keep_float64_and_scalars_keep_float32() -> None:
    x64 = Tensor(np.ones(2), dtype=np.float64)
    assert (x64 * 2.5 + 1).dtype == np.float64
    assert (Tensor([1.0]) * 2.5).dtype == np.float32
    assert (2.5 / Tensor([1.0])).dtype == np.float32


def test_backward_accumulates_into_leaves_across_calls() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3 + 2, 3 + 4])


def test_backward_of_a_non_scalar_needs_a_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ShapeError, match="needs a scalar"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 0.5]))
    np.testing.assert_allclose(x.grad, [2.0, 1.0])


def test_backward_without_grad_and_twice_are_errors() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()
    x = Tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(TypeError, match="only floating tensors"):
        Tensor([1, 2], requires_grad=True)


def test_no_grad_records_nothing_and_restores_the_mode() -> None:
    x = Tensor([1.0], requires_grad=True)
    with maku.no_grad():
        y = x * 2
    assert not y.requires_grad and y._parents == ()
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_data() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), [2.0, 4.0])


def test_comparisons_give_boolean_tensors_without_grad() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert (x > 1.5).numpy().tolist() == [False, True, True]
    assert (x <= 2).numpy().tolist() == [True, True, False]
    assert x.eq(2.0).numpy().tolist() == [False, True, False]
    assert x.ne(2.0).numpy().tolist() == [True, False, True]
    assert not (x < 2).requires_grad


def test_max_shares_gradient_between_ties() -> None:
    x = Tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


def test_var_matches_numpy() -> None:
    data = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(Tensor(data, dtype=np.float64).var(axis=1).numpy(), data.var(axis=1, ddof=1))
    np.testing.assert_allclose(Tensor(data, dtype=np.float64).var(correction=0).numpy(), data.var())


SHAPE_ERRORS = [
    (lambda: Tensor(np.zeros((2, 3))).reshape(4, 2), "cannot reshape"),
    (lambda: Tensor(np.zeros((2, 3))).permute(0, 0), "permutation"),
    (lambda: Tensor(np.zeros((2, 3))).pad([(1, 1)]), "non-negative"),
    (lambda: concat([Tensor(np.zeros((2, 3))), Tensor(np.zeros((3, 2)))], axis=0), "concat along axis 0"),
    (lambda: stack([Tensor(np.zeros(2)), Tensor(np.zeros(3))]), "stack along axis 0"),
]


@pytest.mark.parametrize("make,message", SHAPE_ERRORS, ids=[m for _, m in SHAPE_ERRORS])
def test_shape_errors_are_typed(make, message) -> None:
    with pytest.raises(ShapeError, match=message):
        make()


def test_gradcheck_catches_a_wrong_backward() -> None:
    from maku.autograd import record

    def wrong_square(x: Tensor) -> Tensor:
        return record(Tensor(x.data**2, dtype=x.dtype), (x,), lambda g: (g * x.data,), "WrongSquare")

    with pytest.raises(GradcheckError, match="autograd"):
        gradcheck(wrong_square, [Tensor(np.array([1.0, 2.0]), requires_grad=True, dtype=np.float64)])


def test_no_grad_is_exported_at_top_level() -> None:
    assert maku.no_grad is no_grad and maku.Tensor is Tensor


def test_integer_tensor_times_a_float_is_not_truncated() -> None:
    assert (Tensor([1, 3]) * 0.5).numpy().tolist() == [0.5, 1.5]
