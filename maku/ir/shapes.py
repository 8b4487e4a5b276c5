"""Arithmetic on possibly-symbolic dimensions, shared by the op registry's shape functions.

A dimension is an int, a str (a named symbol such as the batch "N") or None (unknown).
Anything that cannot be computed exactly becomes None rather than a guess.
"""

from __future__ import annotations

from maku.errors import ShapeError
from maku.ir.graph import Dim, Shape


def is_static(shape: Shape | None) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def numel(shape: Shape) -> int | None:
    total = 1
    for d in shape:
        if not isinstance(d, int):
            return None
        total *= d
    return total


def broadcast(shapes: list[Shape | None], where: str) -> Shape | None:
    """Numpy/ONNX multidirectional broadcasting; raises ShapeError on a certain mismatch."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        out.append(_broadcast_dim(dims, where, shapes))
    return tuple(out)


def _broadcast_dim(dims: list[Dim], where: str, shapes) -> Dim:
    ints = {d for d in dims if isinstance(d, int) and d != 1}
    if len(ints) > 1:
        raise ShapeError(f"{where}: shapes {[list(s) for s in shapes]} cannot be broadcast together")
    if ints:
        return ints.pop()
    others = {d for d in dims if d != 1}
    if not others:
        return 1
    if len(others) == 1:
        return others.pop()
    return None


def conv_out_dim(
    size: Dim, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1, ceil: bool = False,
    truncate: bool = False,
) -> Dim:
    """Output length of a convolution/pooling window along one axis (ONNX rules). truncate: pools
    follow ONNX Runtime, whose C++ division makes a window longer than the input give 1 output."""
    if not isinstance(size, int):
        return None
    span = dilation * (kernel - 1) + 1
    num = size + pad_begin + pad_end - span
    out = (-(-num // stride) if ceil else (int(num / stride) if truncate else num // stride)) + 1
    if ceil and (out - 1) * stride >= size + pad_begin:
        out -= 1  # a window may not start in the right padding
    return out


def normalize_axis(axis: int, rank: int, where: str) -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"{where}: axis {axis} is out of range for a rank-{rank} tensor")
    return axis % rank
