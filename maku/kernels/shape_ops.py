"""Data-movement ONNX ops (Transpose, Concat, Gather, Slice, Pad, Expand) and the shape arithmetic
of Reshape, Flatten, Squeeze and Unsqueeze, all with ONNX semantics."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence

import numpy as np

Shape = tuple[int, ...]


def _into(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """`result` copied into `out` when one is given, else `result` itself."""
    if out is None:
        return result
    np.copyto(out, result)
    return out


def normalize_axes(axes: Sequence[int], rank: int) -> list[int]:
    """ONNX axes (negative counts from the end) as non-negative ints; raises on out-of-range."""
    result = [a + rank if a < 0 else a for a in axes]
    if any(not 0 <= a < rank for a in result):
        raise ValueError(f"axes {list(axes)} out of range for rank {rank}")
    return result


def transpose(x: np.ndarray, perm: Sequence[int] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Transpose; perm defaults to reversing the axes. Without `out` the result is a view."""
    return _into(np.transpose(x, perm), out)


def concat(xs: Sequence[np.ndarray], axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Concat along `axis` (may be negative)."""
    return np.concatenate(xs, axis=axis, out=out)


def gather(x: np.ndarray, indices: np.ndarray, axis: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Gather: np.take, which already reads negative indices from the end as ONNX does."""
    return np.take(x, indices, axis=axis, out=out)


_INT_MAX_SENTINELS = (np.iinfo(np.int32).max, np.iinfo(np.int64).max)


def _slice_bounds(start: int, end: int, step: int, dim: int) -> builtins.slice:
    """One axis of ONNX Slice: negative starts/ends count from the end, then clamp to
    [0, dim] (step > 0) or [-1, dim-1] (step < 0). As in ONNX Runtime, an INT32/INT64 max end with
    a negative step means "through the first element"."""
    if step < 0 and end in _INT_MAX_SENTINELS:
        end = -1 - dim
    start, end = (v + dim if v < 0 else v for v in (start, end))
    low, high = (0, dim) if step > 0 else (-1, dim - 1)
    start = min(max(start, 0), high)
    end = min(max(end, low), high)
    return builtins.slice(start, None if end < 0 else end, step)


def slice(
    x: np.ndarray,
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """ONNX Slice (a view of `x` unless `out` is given)."""
    axes = normalize_axes(axes, x.ndim) if axes is not None else list(range(len(starts)))
    steps = list(steps) if steps is not None else [1] * len(starts)
    index = [builtins.slice(None)] * x.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise ValueError("Slice step must not be 0")
        index[axis] = _slice_bounds(int(start), int(end), int(step), x.shape[axis])
    return _into(x[tuple(index)], out)


def pad_constant(
    x: np.ndarray, pads: Sequence[int], value: float = 0.0, out: np.ndarray | None = None
) -> np.ndarray:
    """ONNX Pad (constant mode), pads = [x1_begin, x2_begin, ..., x1_end, x2_end]; negative pads crop."""
    rank = x.ndim
    begins, ends = pads[:rank], pads[rank:]
    shape = tuple(d + b + e for d, b, e in zip(x.shape, begins, ends))
    y = np.empty(shape, x.dtype) if out is None else out
    y.fill(value)
    src = tuple(builtins.slice(max(0, -b), d - max(0, -e)) for d, b, e in zip(x.shape, begins, ends))
    dst = tuple(builtins.slice(max(0, b), max(0, b) + s.stop - s.start) for b, s in zip(begins, src))
    y[dst] = x[src]
    return y


def expand(x: np.ndarray, shape: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
    """ONNX Expand: broadcast x and `shape` both ways (a 1 in `shape` keeps x's dim); a new array."""
    target = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
    y = np.empty(target, x.dtype) if out is None else out
    np.copyto(y, np.broadcast_to(x, target))
    return y


def reshape_target(in_shape: Sequence[int], shape: Sequence[int], allowzero: int = 0) -> Shape:
    """ONNX Reshape's output shape: 0 copies the input dim (unless allowzero), -1 is inferred."""
    dims = [int(in_shape[i]) if d == 0 and not allowzero else int(d) for i, d in enumerate(shape)]
    if dims.count(-1) > 1:
        raise ValueError(f"Reshape shape {list(shape)} has more than one -1")
    total = math.prod(in_shape)
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {tuple(in_shape)} to {list(shape)}")
        dims[dims.index(-1)] = total // known
    if math.prod(dims) != total:
        raise ValueError(f"cannot reshape {tuple(in_shape)} to {list(shape)}")
    return tuple(dims)


def flatten_shape(in_shape: Sequence[int], axis: int = 1) -> tuple[int, int]:
    """ONNX Flatten's 2-D output shape: (prod of dims before axis, prod of the rest)."""
    axis = axis + len(in_shape) if axis < 0 else axis
    return (math.prod(in_shape[:axis]), math.prod(in_shape[axis:]))


def squeeze_shape(in_shape: Sequence[int], axes: Sequence[int] | None = None) -> Shape:
    """ONNX Squeeze's output shape: drop the listed size-1 axes, or every size-1 axis when None."""
    if axes is None:
        return tuple(d for d in in_shape if d != 1)
    drop = set(normalize_axes(axes, len(in_shape)))
    if any(in_shape[a] != 1 for a in drop):
        raise ValueError(f"cannot squeeze axes {list(axes)} of shape {tuple(in_shape)}")
    return tuple(d for i, d in enumerate(in_shape) if i not in drop)


def unsqueeze_shape(in_shape: Sequence[int], axes: Sequence[int]) -> Shape:
    """ONNX Unsqueeze's output shape: axes (relative to the output rank) become size-1 dims."""
    rank = len(in_shape) + len(axes)
    inserted = set(normalize_axes(axes, rank))
    if len(inserted) != len(axes):
        raise ValueError(f"Unsqueeze axes {list(axes)} repeat")
    rest = iter(in_shape)
    return tuple(1 if i in inserted else next(rest) for i in range(rank))
