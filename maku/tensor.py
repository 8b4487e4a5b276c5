"""`maku.Tensor`: a NumPy array that records the ops applied to it, for reverse-mode autograd.

Each op computes its forward with NumPy and registers its backward right beside it (see
`maku.autograd.record`). Floating data is float32 unless a dtype is given (gradcheck uses
float64). Images are channels-last: (N, H, W, C).

>>> x = Tensor([[1.0, 2.0]], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
array([[2., 4.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from maku.autograd import backward as _run_backward
from maku.autograd import record, unbroadcast
from maku.errors import ShapeError

Axis = int | tuple[int, ...] | None


class Tensor:
    """An n-dimensional array with an optional gradient. `.data` is the underlying ndarray."""

    __array_priority__ = 1000  # so ndarray (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: np.dtype | type | None = None):
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data, dtype=dtype)
        if dtype is None and array.dtype.kind == "f" and array.dtype != np.float32:
            array = array.astype(np.float32)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {array.dtype}")
        self.data: np.ndarray = array
        self.requires_grad = requires_grad
        self.grad: np.ndarray | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward = None
        self._op: str | None = None
        self._attrs: dict[str, Any] = {}

    # -- basics ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{grad})"

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shared, not copied)."""
        return self.data

    def item(self) -> float | int:
        return self.data.item()

    def detach(self) -> Tensor:
        """The same data, cut off from the graph."""
        return _wrap(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    def backward(self, grad: np.ndarray | None = None) -> None:
        """Accumulate gradients of this tensor into `.grad` of every leaf that requires grad."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(f"backward() without a gradient needs a scalar, got shape {self.shape}")
            grad = np.ones_like(self.data)
        _run_backward(self, np.asarray(grad, dtype=self.dtype).reshape(self.shape))

    def argmax(self, axis: int | None = None) -> Tensor:
        return _wrap(self.data.argmax(axis=axis))

    def _lift(self, other: Any) -> Tensor:
        """A Tensor for `other`; next to a floating tensor, constants take its dtype so float32 stays
        float32 (an integer tensor lets NumPy choose, so labels * 0.5 is not truncated)."""
        if isinstance(other, Tensor):
            return other
        return Tensor(other, dtype=self.dtype if self.dtype.kind == "f" else None)

    # -- arithmetic (broadcasting; gradients are summed back to each input's shape) ---------
    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = _wrap(self.data + other.data)
        return record(
            out, (self, other), lambda g: (unbroadcast(g, self.shape), unbroadcast(g, other.shape)), "Add"
        )

    def __sub__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = _wrap(self.data - other.data)
        return record(
            out, (self, other), lambda g: (unbroadcast(g, self.shape), unbroadcast(-g, other.shape)), "Sub"
        )

    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = _wrap(self.data * other.data)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return unbroadcast(g * other.data, self.shape), unbroadcast(g * self.data, other.shape)

        return record(out, (self, other), backward, "Mul")

    def __truediv__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = _wrap(self.data / other.data)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ga = g / other.data
            return unbroadcast(ga, self.shape), unbroadcast(-ga * out.data, other.shape)

        return record(out, (self, other), backward, "Div")

    def __neg__(self) -> Tensor:
        return record(_wrap(-self.data), (self,), lambda g: (-g,), "Neg")

    def __pow__(self, exponent: float) -> Tensor:
        """Power with a constant exponent."""
        if isinstance(exponent, Tensor):
            raise TypeError("pow takes a constant exponent; use exp(b * log(a)) for a tensor exponent")
        out = _wrap(self.data**exponent)
        return record(
            out, (self,), lambda g: (g * exponent * self.data ** (exponent - 1),), "Pow", exponent=exponent
        )

    def __matmul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data
        out = _wrap(a @ b)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            a2 = a if a.ndim > 1 else a[None, :]
            b2 = b if b.ndim > 1 else b[:, None]
            g2 = g.reshape(
                np.matmul(a2[..., :1, :], b2[..., :, :1]).shape[:-2] + (a2.shape[-2], b2.shape[-1])
            )
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
            return ga, gb

        return record(out, (self, other), backward, "MatMul")

    def __radd__(self, other: Any) -> Tensor:
        return self._lift(other) + self

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return self._lift(other) * self

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    # comparisons give boolean tensors and carry no gradient
    def __lt__(self, other: Any) -> Tensor:
        return _wrap(self.data < self._lift(other).data)

    def __le__(self, other: Any) -> Tensor:
        return _wrap(self.data <= self._lift(other).data)

    def __gt__(self, other: Any) -> Tensor:
        return _wrap(self.data > self._lift(other).data)

    def __ge__(self, other: Any) -> Tensor:
        return _wrap(self.data >= self._lift(other).data)

    def eq(self, other: Any) -> Tensor:
        """Elementwise ==; `==` itself keeps Python identity semantics so tensors stay hashable."""
        return _wrap(self.data == self._lift(other).data)

    def ne(self, other: Any) -> Tensor:
        return _wrap(self.data != self._lift(other).data)

    # -- elementwise math -----------------------------------------------------------------
    def exp(self) -> Tensor:
        out = _wrap(np.exp(self.data))
        return record(out, (self,), lambda g: (g * out.data,), "Exp")

    def log(self) -> Tensor:
        return record(_wrap(np.log(self.data)), (self,), lambda g: (g / self.data,), "Log")

    def sqrt(self) -> Tensor:
        out = _wrap(np.sqrt(self.data))
        return record(out, (self,), lambda g: (g / (2 * out.data),), "Sqrt")

    def tanh(self) -> Tensor:
        out = _wrap(np.tanh(self.data))
        return record(out, (self,), lambda g: (g * (1 - out.data * out.data),), "Tanh")

    def abs(self) -> Tensor:
        return record(_wrap(np.abs(self.data)), (self,), lambda g: (g * np.sign(self.data),), "Abs")

    def relu(self) -> Tensor:
        from maku.nn import functional as F

        return F.relu(self)

    def sigmoid(self) -> Tensor:
        from maku.nn import functional as F

        return F.sigmoid(self)

    def softmax(self, axis: int = -1) -> Tensor:
        from maku.nn import functional as F

        return F.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        from maku.nn import functional as F

        return F.log_softmax(self, axis)

    # -- reductions -----------------------------------------------------------------------
    def _expand_reduced(self, g: np.ndarray, axis: Axis, keepdims: bool) -> np.ndarray:
        """Reshape a reduced gradient so it broadcasts back over this tensor's shape."""
        if keepdims or axis is None:
            return np.reshape(g, [1] * self.ndim) if axis is None and not keepdims else g
        return np.expand_dims(g, axis)

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        out = _wrap(self.data.sum(axis=axis, keepdims=keepdims))

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            return (np.broadcast_to(self._expand_reduced(g, axis, keepdims), self.shape),)

        return record(out, (self,), backward, "ReduceSum", axis=axis, keepdims=keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        out = _wrap(self.data.mean(axis=axis, keepdims=keepdims))
        count = self.data.size // max(out.data.size, 1)

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            return (np.broadcast_to(self._expand_reduced(g, axis, keepdims) / count, self.shape),)

        return record(out, (self,), backward, "ReduceMean", axis=axis, keepdims=keepdims)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Maximum; the gradient is shared equally among tied maxima."""
        out = _wrap(self.data.max(axis=axis, keepdims=keepdims))

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            top = self._expand_reduced(out.data, axis, keepdims)
            mask = self.data == top
            share = mask / mask.sum(axis=axis, keepdims=True)
            return ((share * self._expand_reduced(g, axis, keepdims)).astype(self.dtype),)

        return record(out, (self,), backward, "ReduceMax", axis=axis, keepdims=keepdims)

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> Tensor:
        """Variance with Bessel's correction by default (`correction=1`), as PyTorch."""
        centered = self - self.mean(axis=axis, keepdims=True)
        count = self.data.size // max(np.mean(self.data, axis=axis, keepdims=keepdims).size, 1)
        return (centered * centered).sum(axis=axis, keepdims=keepdims) / max(count - correction, 1)

    # -- shape ops ------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        new_shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], Sequence) else shape
        try:
            out = _wrap(self.data.reshape(new_shape))
        except ValueError as exc:
            raise ShapeError(f"cannot reshape {self.shape} to {new_shape}: {exc}") from None
        return record(out, (self,), lambda g: (g.reshape(self.shape),), "Reshape", shape=out.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims start_dim..end_dim into one (as torch.flatten)."""
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = self.shape[:start] + (int(np.prod(self.shape[start : end + 1])),) + self.shape[end + 1 :]
        return self.reshape(shape)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        order = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], Sequence) else axes
        if sorted(a % self.ndim for a in order) != list(range(self.ndim)):
            raise ShapeError(f"permute needs a permutation of {self.ndim} axes, got {order}")
        inverse = np.argsort([a % self.ndim for a in order])
        out = _wrap(self.data.transpose(order))
        return record(out, (self,), lambda g: (g.transpose(inverse),), "Transpose", perm=order)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two axes."""
        order = list(range(self.ndim))
        order[dim0], order[dim1] = order[dim1], order[dim0]
        return self.permute(order)

    def __getitem__(self, index: Any) -> Tensor:
        index = index.data if isinstance(index, Tensor) else index
        out = _wrap(self.data[index])

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            full = np.zeros_like(self.data)
            np.add.at(full, index, g)
            return (full,)

        return record(out, (self,), backward, "Index")

    def pad(self, widths: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
        """Constant padding; `widths` is one (before, after) pair per axis, as in np.pad."""
        widths = [tuple(w) for w in widths]
        if len(widths) != self.ndim or any(b < 0 or a < 0 for b, a in widths):
            raise ShapeError(f"pad needs {self.ndim} non-negative (before, after) pairs, got {widths}")
        out = _wrap(np.pad(self.data, widths, constant_values=value))
        inner = tuple(slice(b, b + n) for (b, _), n in zip(widths, self.shape))
        return record(out, (self,), lambda g: (g[inner],), "Pad", widths=widths, value=value)


def _wrap(array: Any) -> Tensor:
    """A result tensor holding `array` with its dtype unchanged (float64 stays float64)."""
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype)


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    try:
        out = _wrap(np.concatenate([t.data for t in tensors], axis=axis))
    except ValueError as exc:
        raise ShapeError(f"concat along axis {axis}: {exc}") from None
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    return record(out, tensors, lambda g: tuple(np.split(g, bounds, axis=axis)), "Concat", axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    tensors = list(tensors)
    try:
        out = _wrap(np.stack([t.data for t in tensors], axis=axis))
    except ValueError as exc:
        raise ShapeError(f"stack along axis {axis}: {exc}") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.moveaxis(g, axis, 0))

    return record(out, tensors, backward, "Stack", axis=axis)
