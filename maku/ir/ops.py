"""The op registry: one explicit table of every op maku knows.

Each entry gives the op's attributes (type and default), how many inputs it takes, its shape
inference and, where constant folding needs it, how to compute it on constant inputs. ONNX
ops keep ONNX semantics (NCHW); ops whose names start with "maku." are made by passes and work
on NHWC tensors. Opset differences are resolved by the importer, so each op has one form here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maku.errors import ShapeError, UnsupportedOpError
from maku.ir import shapes as S
from maku.ir.graph import Node, Shape

_REQUIRED = object()

Infer = Callable[["InferContext"], list[tuple[np.dtype, Shape | None]]]
Compute = Callable[[Node, list[np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class OpSchema:
    """What maku knows about one op type."""

    name: str
    attrs: dict[str, Any]  # attribute name -> default (_REQUIRED when it must be given)
    infer: Infer
    compute: Compute | None = None  # reference evaluation, used for constant folding
    elementwise: bool = False  # output has the shape of (broadcast) inputs; eligible for in-place
    inputs: tuple[int, int] = (1, 1)  # min and max number of inputs
    doc: str = ""


@dataclass
class InferContext:
    """The inputs of one node as shape inference sees them."""

    node: Node
    dtypes: list[np.dtype | None]
    shapes: list[Shape | None]
    consts: list[np.ndarray | None]  # constant value of each input when known (may be symbolic)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"node {self.node.name!r} ({self.node.op})"

    def const_ints(self, idx: int, what: str) -> list | None:
        """A constant int input as a Python list (entries may be symbolic dims), or None."""
        if idx >= len(self.consts) or self.consts[idx] is None:
            return None
        return [d if isinstance(d, str) else int(d) for d in np.asarray(self.consts[idx]).reshape(-1)]


# ----------------------------------------------------------------------------- helpers
def _same(ctx: InferContext):
    return [(ctx.dtypes[0], ctx.shapes[0])]


def _broadcast(ctx: InferContext):
    shapes = [s for s, name in zip(ctx.shapes, ctx.node.inputs) if name]
    return [(ctx.dtypes[0], S.broadcast(shapes, ctx.where))]


def _rank(ctx: InferContext, idx: int = 0) -> int | None:
    s = ctx.shapes[idx]
    return None if s is None else len(s)


def _spatial_attrs(ctx: InferContext, n_spatial: int, kernel: list[int]):
    a = ctx.attrs
    strides = a["strides"] or [1] * n_spatial
    dilations = a.get("dilations") or [1] * n_spatial
    pads = a["pads"] or [0] * (2 * n_spatial)
    auto_pad = a.get("auto_pad", "NOTSET")
    x = ctx.shapes[0]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * n_spatial)
        for i in range(n_spatial):
            size = x[2 + i] if x is not None else None
            if not isinstance(size, int):
                return strides, dilations, None
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size)
            small, big = total // 2, total - total // 2
            pads[i], pads[i + n_spatial] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
    elif auto_pad == "VALID":
        pads = [0] * (2 * n_spatial)
    return strides, dilations, pads


def _window_shape(ctx: InferContext, channels_out, kernel: list[int], ceil: bool = False, pool: bool = False):
    x = ctx.shapes[0]
    if x is None:
        return None
    n_spatial = len(x) - 2
    if len(kernel) != n_spatial:
        raise ShapeError(f"{ctx.where}: kernel {kernel} does not fit input of rank {len(x)}")
    strides, dilations, pads = _spatial_attrs(ctx, n_spatial, kernel)
    if pads is None:
        return (x[0], channels_out) + (None,) * n_spatial
    dims = [
        S.conv_out_dim(x[2 + i], kernel[i], strides[i], pads[i], pads[i + n_spatial], dilations[i], ceil, pool)
        for i in range(n_spatial)
    ]
    for d in dims:
        if isinstance(d, int) and d <= 0:
            raise ShapeError(f"{ctx.where}: window {kernel} is larger than the padded input {list(x)}")
    return (x[0], channels_out, *dims)


# ----------------------------------------------------------------------------- inference
def _infer_conv(ctx: InferContext):
    x, w = ctx.shapes[0], ctx.shapes[1]
    if w is None:
        raise ShapeError(f"{ctx.where}: the weight shape is unknown")
    groups = ctx.attrs["group"]
    if x is not None and isinstance(x[1], int) and x[1] != w[1] * groups:
        raise ShapeError(
            f"{ctx.where}: input has {x[1]} channels but weight {list(w)} with group={groups} expects {w[1] * groups}"
        )
    kernel = ctx.attrs["kernel_shape"] or list(w[2:])
    return [(ctx.dtypes[0], _window_shape(ctx, w[0], kernel))]


def _infer_pool(ctx: InferContext):
    x = ctx.shapes[0]
    shape = _window_shape(ctx, None if x is None else x[1], ctx.attrs["kernel_shape"], bool(ctx.attrs["ceil_mode"]),
                          pool=True)
    return [(ctx.dtypes[0], shape)]


def _infer_global_pool(ctx: InferContext):
    x = ctx.shapes[0]
    return [(ctx.dtypes[0], None if x is None else (x[0], x[1]) + (1,) * (len(x) - 2))]


def _infer_batchnorm(ctx: InferContext):
    return [(ctx.dtypes[0], ctx.shapes[0])]


def _infer_gemm(ctx: InferContext):
    a, b = ctx.shapes[0], ctx.shapes[1]
    if a is None or b is None:
        return [(ctx.dtypes[0], None)]
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"{ctx.where}: Gemm needs 2-D inputs, got {list(a)} and {list(b)}")
    m, k1 = (a[1], a[0]) if ctx.attrs["transA"] else (a[0], a[1])
    k2, n = (b[1], b[0]) if ctx.attrs["transB"] else (b[0], b[1])
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ShapeError(f"{ctx.where}: inner dimensions differ ({list(a)} x {list(b)})")
    return [(ctx.dtypes[0], (m, n))]


def _infer_matmul(ctx: InferContext):
    a, b = ctx.shapes[0], ctx.shapes[1]
    if a is None or b is None:
        return [(ctx.dtypes[0], None)]
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if isinstance(a2[-1], int) and isinstance(b2[-2], int) and a2[-1] != b2[-2]:
        raise ShapeError(f"{ctx.where}: inner dimensions differ ({list(a)} x {list(b)})")
    batch = S.broadcast([a2[:-2], b2[:-2]], ctx.where)
    out = tuple(batch) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return [(ctx.dtypes[0], out)]


def _infer_flatten(ctx: InferContext):
    x = ctx.shapes[0]
    if x is None:
        return [(ctx.dtypes[0], None)]
    axis = ctx.attrs["axis"] % len(x) if x else 0
    if ctx.attrs["axis"] == len(x):
        axis = len(x)
    return [(ctx.dtypes[0], (_prod(x[:axis]), _prod(x[axis:])))]


def _prod(dims) -> Any:
    if len(dims) == 1:
        return dims[0]
    total = S.numel(tuple(dims))
    return total


def _infer_reshape(ctx: InferContext):
    x = ctx.shapes[0]
    target = ctx.const_ints(1, "shape")
    if target is None:
        return [(ctx.dtypes[0], None)]
    allowzero = ctx.attrs["allowzero"]
    out: list = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            out.append(x[i] if x is not None and i < len(x) else None)
        else:
            out.append(d)
    if -1 in out:
        known = S.numel(tuple(d for d in out if d != -1))
        total = S.numel(x) if x is not None else None
        if known is not None and total is not None:
            if known == 0 or total % known:
                raise ShapeError(f"{ctx.where}: cannot reshape {list(x)} into {target}")
            out[out.index(-1)] = total // known
        elif x is not None and _symbolic_ratio(x, out) is not None:
            out[out.index(-1)] = _symbolic_ratio(x, out)
        else:
            out[out.index(-1)] = None
    elif x is not None and S.is_static(x) and S.is_static(tuple(out)) and S.numel(x) != S.numel(tuple(out)):
        raise ShapeError(f"{ctx.where}: cannot reshape {list(x)} into {target}")
    return [(ctx.dtypes[0], tuple(out))]


def _symbolic_ratio(x: Shape, out: list):
    """Resolve -1 when the same symbols appear on both sides (e.g. [N,C,1,1] -> [N,-1])."""
    xs = [d for d in x if d is not None]
    rest = [d for d in out if d != -1]
    if len(xs) != len(x) or None in rest:
        return None
    syms_x = sorted(d for d in xs if isinstance(d, str))
    syms_o = sorted(d for d in rest if isinstance(d, str))
    if syms_x != syms_o:
        return None
    num = S.numel(tuple(d for d in xs if isinstance(d, int)))
    den = S.numel(tuple(d for d in rest if isinstance(d, int)))
    return num // den if den and num % den == 0 else None


def _infer_transpose(ctx: InferContext):
    x = ctx.shapes[0]
    if x is None:
        return [(ctx.dtypes[0], None)]
    perm = ctx.attrs["perm"] or list(range(len(x)))[::-1]
    if sorted(perm) != list(range(len(x))):
        raise ShapeError(f"{ctx.where}: perm {perm} is not a permutation of {len(x)} axes")
    return [(ctx.dtypes[0], tuple(x[p] for p in perm))]


def _infer_concat(ctx: InferContext):
    shapes = [s for s, n in zip(ctx.shapes, ctx.node.inputs) if n]
    if any(s is None for s in shapes):
        return [(ctx.dtypes[0], None)]
    rank = len(shapes[0])
    axis = S.normalize_axis(ctx.attrs["axis"], rank, ctx.where)
    out = list(shapes[0])
    dims = [s[axis] for s in shapes]
    out[axis] = sum(dims) if all(isinstance(d, int) for d in dims) else None
    return [(ctx.dtypes[0], tuple(out))]


def _infer_reduce(ctx: InferContext):
    x = ctx.shapes[0]
    if x is None:
        return [(ctx.dtypes[0], None)]
    axes = ctx.attrs["axes"]
    axes = range(len(x)) if not axes else [S.normalize_axis(a, len(x), ctx.where) for a in axes]
    if ctx.attrs["keepdims"]:
        return [(ctx.dtypes[0], tuple(1 if i in axes else d for i, d in enumerate(x)))]
    return [(ctx.dtypes[0], tuple(d for i, d in enumerate(x) if i not in axes))]


def _infer_squeeze(ctx: InferContext):
    x = ctx.shapes[0]
    if x is None:
        return [(ctx.dtypes[0], None)]
    axes = ctx.attrs["axes"]
    if axes is None:
        if not S.is_static(x):
            return [(ctx.dtypes[0], None)]
        axes = [i for i, d in enumerate(x) if d == 1]
    axes = [S.normalize_axis(a, len(x), ctx.where) for a in axes]
    for a in axes:
        if isinstance(x[a], int) and x[a] != 1:
            raise ShapeError(f"{ctx.where}: cannot squeeze axis {a} of size {x[a]}")
    return [(ctx.dtypes[0], tuple(d for i, d in enumerate(x) if i not in axes))]


def _infer_unsqueeze(ctx: InferContext):
    x = ctx.shapes[0]
    if x is None:
        return [(ctx.dtypes[0], None)]
    rank = len(x) + len(ctx.attrs["axes"])
    axes = sorted(S.normalize_axis(a, rank, ctx.where) for a in ctx.attrs["axes"])
    out, it = [], iter(x)
    for i in range(rank):
        out.append(1 if i in axes else next(it))
    return [(ctx.dtypes[0], tuple(out))]


def _infer_shape(ctx: InferContext):
    x = ctx.shapes[0]
    start, end = ctx.attrs["start"], ctx.attrs["end"]
    if x is None:
        return [(np.dtype(np.int64), (None,))]
    return [(np.dtype(np.int64), (len(range(len(x))[start:end]),))]


def _infer_gather(ctx: InferContext):
    x, idx = ctx.shapes[0], ctx.shapes[1]
    if x is None or idx is None:
        return [(ctx.dtypes[0], None)]
    axis = S.normalize_axis(ctx.attrs["axis"], len(x), ctx.where)
    return [(ctx.dtypes[0], tuple(x[:axis]) + tuple(idx) + tuple(x[axis + 1 :]))]


def _infer_slice(ctx: InferContext):
    x = ctx.shapes[0]
    starts, ends = ctx.const_ints(1, "starts"), ctx.const_ints(2, "ends")
    if x is None or starts is None or ends is None:
        return [(ctx.dtypes[0], None if x is None else (None,) * len(x))]
    axes = ctx.const_ints(3, "axes") if len(ctx.node.inputs) > 3 and ctx.node.inputs[3] else None
    steps = ctx.const_ints(4, "steps") if len(ctx.node.inputs) > 4 and ctx.node.inputs[4] else None
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    out = list(x)
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = S.normalize_axis(a, len(x), ctx.where)
        if not isinstance(x[a], int) or isinstance(s, str) or isinstance(e, str):
            out[a] = None
            continue
        if st == 0:
            raise ShapeError(f"{ctx.where}: slice step is 0")
        out[a] = _sliced_length(x[a], s, e, st)
    return [(ctx.dtypes[0], tuple(out))]


def _sliced_length(dim: int, start: int, end: int, step: int) -> int:
    """Length of one sliced axis, by the kernel's own bounds rule (which follows ONNX Runtime, e.g.
    an INT64_MAX end with a negative step runs through the first element): slice a zero-stride view."""
    from maku.kernels import shape_ops

    view = np.broadcast_to(np.zeros((), np.int8), (dim,))
    return len(shape_ops.slice(view, [start], [end], [0], [step]))


def _infer_cast(ctx: InferContext):
    return [(np.dtype(ctx.attrs["to"]), ctx.shapes[0])]


def _infer_castlike(ctx: InferContext):
    return [(ctx.dtypes[1], ctx.shapes[0])]


def _infer_expand(ctx: InferContext):
    target = ctx.const_ints(1, "shape")
    if target is None or ctx.shapes[0] is None:
        return [(ctx.dtypes[0], None)]
    return [(ctx.dtypes[0], S.broadcast([ctx.shapes[0], tuple(target)], ctx.where))]


def _infer_pad(ctx: InferContext):
    x = ctx.shapes[0]
    pads = ctx.const_ints(1, "pads")
    if x is None or pads is None:
        return [(ctx.dtypes[0], None if x is None else (None,) * len(x))]
    r = len(x)
    if len(pads) != 2 * r:
        raise ShapeError(f"{ctx.where}: pads has {len(pads)} entries, expected {2 * r}")
    return [(ctx.dtypes[0], tuple(d + pads[i] + pads[i + r] if isinstance(d, int) else None for i, d in enumerate(x)))]


def _infer_dropout(ctx: InferContext):
    outs = [(ctx.dtypes[0], ctx.shapes[0])]
    if len(ctx.node.outputs) > 1:
        outs.append((np.dtype(bool), ctx.shapes[0]))
    return outs


def _infer_nhwc_conv(ctx: InferContext):
    x, w = ctx.shapes[0], ctx.shapes[1]  # x NHWC, w HWIO
    a = ctx.attrs
    if x is None:
        return [(ctx.dtypes[0], None)]
    if isinstance(x[3], int) and x[3] != w[2] * a["group"]:
        raise ShapeError(f"{ctx.where}: input has {x[3]} channels, weight {list(w)} expects {w[2] * a['group']}")
    pads = a["pads"]
    dims = [S.conv_out_dim(x[1 + i], w[i], a["strides"][i], pads[i], pads[i + 2], a["dilations"][i]) for i in range(2)]
    _check_window_fits(ctx, dims, list(w[:2]), x)
    return [(ctx.dtypes[0], (x[0], dims[0], dims[1], w[3]))]


def _check_window_fits(ctx: InferContext, dims: list, kernel: list[int], x: Shape) -> None:
    """An NHWC window op whose (plan-time) input is smaller than its window: say so, as the ONNX form does,
    rather than planning an empty output (a dynamic-size input only meets this at plan time)."""
    if any(isinstance(d, int) and d <= 0 for d in dims):
        raise ShapeError(f"{ctx.where}: window {kernel} is larger than the padded input {list(x)} (NHWC)")


def _infer_nhwc_pool(ctx: InferContext):
    x, a = ctx.shapes[0], ctx.attrs
    if x is None:
        return [(ctx.dtypes[0], None)]
    k, pads = a["kernel_shape"], a["pads"]
    dims = [
        S.conv_out_dim(x[1 + i], k[i], a["strides"][i], pads[i], pads[i + 2], a.get("dilations", [1, 1])[i],
                       bool(a["ceil_mode"]), truncate=True)
        for i in range(2)
    ]
    _check_window_fits(ctx, dims, list(k), x)
    return [(ctx.dtypes[0], (x[0], dims[0], dims[1], x[3]))]


def _infer_nhwc_global_pool(ctx: InferContext):
    x = ctx.shapes[0]
    return [(ctx.dtypes[0], None if x is None else (x[0], 1, 1, x[3]))]


# ----------------------------------------------------------------------------- compute
def _compute_shape(node, xs):
    dims = list(xs[0].shape)[node.attrs["start"] : node.attrs["end"]]
    return [np.array(dims, dtype=np.int64)]


def _as_ints(a) -> list:
    return [d if isinstance(d, str) else int(d) for d in np.asarray(a).reshape(-1)]


def _compute_reshape(node, xs):
    from maku.kernels.shape_ops import reshape_target

    return [xs[0].reshape(reshape_target(xs[0].shape, _as_ints(xs[1]), node.attrs["allowzero"]))]


def _compute_slice(node, xs):
    from maku.kernels import shape_ops

    axes = _as_ints(xs[3]) if len(xs) > 3 and xs[3] is not None else None
    steps = _as_ints(xs[4]) if len(xs) > 4 and xs[4] is not None else None
    return [shape_ops.slice(xs[0], _as_ints(xs[1]), _as_ints(xs[2]), axes, steps)]


def _compute_expand(node, xs):
    from maku.kernels.shape_ops import expand

    return [expand(xs[0], _as_ints(xs[1]))]


def _compute_gather(node, xs):
    from maku.kernels.shape_ops import gather

    # np.take with a scalar index returns a bare element: keep the array's dtype, or a symbolic
    # dimension ("N", an object) would become a 1-character string array
    return [np.asarray(gather(xs[0], np.asarray(xs[1]).astype(np.int64), node.attrs["axis"]), dtype=xs[0].dtype)]


def _compute_cast(node, xs):
    to = np.dtype(node.attrs["to"])
    if xs[0].dtype == object:  # a symbolic shape tensor stays symbolic
        return [xs[0]]
    return [xs[0].astype(to)]


def _compute_binary(fn):
    def compute(node, xs):
        a, b = xs
        if a.dtype == object or b.dtype == object:
            return [np.array(fn(a, b), dtype=object)]
        out = fn(a, b)
        if np.issubdtype(a.dtype, np.integer) and fn is np.divide:
            out = np.trunc(out)
        return [np.asarray(out).astype(a.dtype)]

    return compute


def _compute_concat(node, xs):
    xs = [x for x in xs if x is not None]
    dtype = object if any(x.dtype == object for x in xs) else xs[0].dtype
    return [np.concatenate([x.astype(dtype) for x in xs], axis=node.attrs["axis"])]


def _compute_squeeze(node, xs):
    axes = node.attrs["axes"]
    return [np.squeeze(xs[0], axis=tuple(axes) if axes is not None else None)]


def _compute_unsqueeze(node, xs):
    rank = xs[0].ndim + len(node.attrs["axes"])
    return [np.expand_dims(xs[0], tuple(a % rank for a in node.attrs["axes"]))]


def _compute_transpose(node, xs):
    perm = node.attrs["perm"] or None
    return [np.transpose(xs[0], perm)]


def _compute_flatten(node, xs):
    axis = node.attrs["axis"] % max(xs[0].ndim, 1) if node.attrs["axis"] != xs[0].ndim else xs[0].ndim
    return [xs[0].reshape(int(np.prod(xs[0].shape[:axis])), -1)]


def _compute_activation(kind):
    def compute(node, xs):
        from maku.kernels.activation import apply_activation

        a = node.attrs
        if kind == "Clip":
            lo = xs[1] if len(xs) > 1 and xs[1] is not None else -np.inf
            hi = xs[2] if len(xs) > 2 and xs[2] is not None else np.inf
            return [np.clip(xs[0], lo, hi).astype(xs[0].dtype)]
        y = np.array(xs[0], dtype=xs[0].dtype, copy=True)
        apply_activation(y, kind, a.get("alpha", 0.0), a.get("beta", 0.0))
        return [y]

    return compute


def _onnx_pads(a: dict, x_hw: tuple, kernel, strides, dilations) -> tuple:
    """ONNX pads/auto_pad for a 2-D window, as (top, left, bottom, right)."""
    from maku.kernels.conv import same_pads

    if a.get("auto_pad") in ("SAME_UPPER", "SAME_LOWER"):
        return tuple(same_pads(tuple(x_hw), tuple(kernel), tuple(strides), tuple(dilations), a["auto_pad"]))
    if a.get("auto_pad") == "VALID" or not a.get("pads"):
        return (0, 0, 0, 0)
    return tuple(a["pads"])


def _nchw(fn):
    """Evaluate an NHWC kernel on NCHW tensors (reference path for un-optimized graphs)."""

    def compute(node, xs):
        y = fn(node.attrs, np.ascontiguousarray(xs[0].transpose(0, 2, 3, 1)), *xs[1:])
        return [np.ascontiguousarray(y.transpose(0, 3, 1, 2))]

    return compute


def _conv_nchw(a, x, w, b=None):
    from maku.kernels.conv import conv2d

    strides, dilations = a["strides"] or [1, 1], a["dilations"] or [1, 1]
    pads = _onnx_pads(a, x.shape[1:3], w.shape[2:], strides, dilations)
    return conv2d(x, np.ascontiguousarray(w.transpose(2, 3, 1, 0)), b, strides=tuple(strides), pads=pads,
                  dilations=tuple(dilations), groups=a["group"])


def _pool_nchw(kind):
    def fn(a, x):
        from maku.kernels.pool import Pool2d

        k, strides = a["kernel_shape"], a["strides"] or [1, 1]
        dilations = a.get("dilations") or [1, 1]
        pool = Pool2d(kind, x.shape, tuple(k), tuple(strides), _onnx_pads(a, x.shape[1:3], k, strides, dilations),
                      tuple(dilations), bool(a["ceil_mode"]), bool(a.get("count_include_pad", 0)), x.dtype)
        return pool.run(x, np.empty(pool.out_shape, x.dtype))

    return fn


def _compute_nhwc_conv(node, xs):
    from maku.kernels.conv import conv2d

    a = node.attrs
    return [conv2d(xs[0], xs[1], xs[2] if len(xs) > 2 else None, strides=tuple(a["strides"]), pads=tuple(a["pads"]),
                   dilations=tuple(a["dilations"]), groups=a["group"], activation=a["activation"] or None,
                   alpha=a["act_alpha"], beta=a["act_beta"], residual=xs[3] if len(xs) > 3 else None)]


def _compute_nhwc_pool(kind):
    def compute(node, xs):
        return [_pool_nchw(kind)(node.attrs, xs[0])]

    return compute


def _compute_gemm(node, xs):
    from maku.kernels.gemm import gemm

    a = node.attrs
    return [gemm(xs[0], xs[1], xs[2] if len(xs) > 2 else None, alpha=a["alpha"], beta=a["beta"],
                 trans_a=bool(a["transA"]), trans_b=bool(a["transB"]), activation=a.get("activation") or None,
                 act_alpha=a.get("act_alpha", 0.0), act_beta=a.get("act_beta", 0.0))]


def _compute_batchnorm(node, xs):
    from maku.kernels.elementwise import batchnorm_inference

    return [batchnorm_inference(xs[0], *xs[1:5], eps=node.attrs["epsilon"], channel_axis=1)]


def _compute_softmax(node, xs):
    from maku.kernels.reduce import softmax

    x, axis = xs[0], node.attrs["axis"] % max(xs[0].ndim, 1)
    if node.attrs["legacy"]:
        return [softmax(x.reshape(int(np.prod(x.shape[:axis])), -1), axis=1).reshape(x.shape)]
    return [softmax(x, axis=axis)]


def _compute_pad(node, xs):
    from maku.kernels.shape_ops import pad_constant

    value = 0.0 if len(xs) < 3 or xs[2] is None else float(np.asarray(xs[2]).reshape(-1)[0])
    return [pad_constant(xs[0], [int(p) for p in xs[1].reshape(-1)], value)]


def _compute_reduce_mean(node, xs):
    from maku.kernels.reduce import reduce_mean

    return [np.asarray(reduce_mean(xs[0], node.attrs["axes"], bool(node.attrs["keepdims"])), dtype=xs[0].dtype)]


# ----------------------------------------------------------------------------- the registry
_WINDOW = {"auto_pad": "NOTSET", "kernel_shape": None, "pads": None, "strides": None}
_NHWC_WINDOW = {"kernel_shape": _REQUIRED, "pads": _REQUIRED, "strides": _REQUIRED}
_FUSED_ACT = {"activation": "", "act_alpha": 0.0, "act_beta": 0.0}


def _op(name, attrs, infer, compute=None, inputs=(1, 1), elementwise=False, doc=""):
    return OpSchema(name, attrs, infer, compute, elementwise, inputs, doc)


OPS: dict[str, OpSchema] = {
    s.name: s
    for s in [
        # --- convolution and pooling (ONNX, NCHW)
        _op("Conv", {**_WINDOW, "dilations": None, "group": 1}, _infer_conv, _nchw(_conv_nchw), inputs=(2, 3)),
        _op("AveragePool", {**_WINDOW, "ceil_mode": 0, "count_include_pad": 0}, _infer_pool, _nchw(_pool_nchw("avg"))),
        _op("MaxPool", {**_WINDOW, "ceil_mode": 0, "dilations": None, "storage_order": 0}, _infer_pool,
            _nchw(_pool_nchw("max"))),
        _op("GlobalAveragePool", {}, _infer_global_pool,
            lambda n, xs: [xs[0].mean(axis=tuple(range(2, xs[0].ndim)), keepdims=True)]),
        _op("BatchNormalization", {"epsilon": 1e-5, "momentum": 0.9}, _infer_batchnorm, _compute_batchnorm, inputs=(5, 5)),
        # --- activations
        _op("Relu", {}, _same, _compute_activation("Relu"), elementwise=True),
        _op("Sigmoid", {}, _same, _compute_activation("Sigmoid"), elementwise=True),
        _op("HardSigmoid", {"alpha": 0.2, "beta": 0.5}, _same, _compute_activation("HardSigmoid"), elementwise=True),
        _op("HardSwish", {}, _same, _compute_activation("HardSwish"), elementwise=True),
        _op("Clip", {}, _same, _compute_activation("Clip"), inputs=(1, 3), elementwise=True,
            doc="min/max are inputs (opset >= 11 form); the importer converts the attribute form"),
        # --- binary arithmetic with broadcasting
        _op("Add", {}, _broadcast, _compute_binary(np.add), inputs=(2, 2), elementwise=True),
        _op("Sub", {}, _broadcast, _compute_binary(np.subtract), inputs=(2, 2), elementwise=True),
        _op("Mul", {}, _broadcast, _compute_binary(np.multiply), inputs=(2, 2), elementwise=True),
        _op("Div", {}, _broadcast, _compute_binary(np.divide), inputs=(2, 2), elementwise=True),
        # --- linear algebra
        _op("Gemm", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}, _infer_gemm, _compute_gemm, inputs=(2, 3)),
        _op("MatMul", {}, _infer_matmul, lambda n, xs: [np.matmul(xs[0], xs[1])], inputs=(2, 2)),
        # --- reductions and normalizations
        _op("ReduceMean", {"axes": None, "keepdims": 1}, _infer_reduce, _compute_reduce_mean,
            doc="axes is an attribute (the importer moves the opset-18 input form here)"),
        _op("Softmax", {"axis": -1, "legacy": 0}, _same, _compute_softmax,
            doc="legacy=1: pre-opset-13 semantics (coerce to 2-D at axis)"),
        # --- shape manipulation
        _op("Flatten", {"axis": 1}, _infer_flatten, _compute_flatten),
        _op("Reshape", {"allowzero": 0}, _infer_reshape, _compute_reshape, inputs=(2, 2)),
        _op("Transpose", {"perm": None}, _infer_transpose, _compute_transpose),
        _op("Concat", {"axis": _REQUIRED}, _infer_concat, _compute_concat, inputs=(1, 1 << 16)),
        _op("Squeeze", {"axes": None}, _infer_squeeze, _compute_squeeze),
        _op("Unsqueeze", {"axes": _REQUIRED}, _infer_unsqueeze, _compute_unsqueeze),
        _op("Shape", {"start": 0, "end": None}, _infer_shape, _compute_shape),
        _op("Gather", {"axis": 0}, _infer_gather, _compute_gather, inputs=(2, 2)),
        _op("Slice", {}, _infer_slice, _compute_slice, inputs=(3, 5)),
        _op("Expand", {}, _infer_expand, _compute_expand, inputs=(2, 2)),
        _op("Pad", {"mode": "constant"}, _infer_pad, _compute_pad, inputs=(2, 3),
            doc="pads (and the constant value) are inputs; only mode=constant"),
        _op("Cast", {"to": _REQUIRED}, _infer_cast, _compute_cast),
        _op("CastLike", {}, _infer_castlike, lambda n, xs: [xs[0].astype(xs[1].dtype)], inputs=(2, 2)),
        _op("Identity", {}, _same, lambda n, xs: [xs[0]]),
        _op("Dropout", {"ratio": 0.5}, _infer_dropout, lambda n, xs: [xs[0], np.ones(xs[0].shape, bool)], inputs=(1, 3),
            doc="inference only: the identity"),
        # --- maku ops made by passes (NHWC)
        _op("maku.Conv", {"strides": _REQUIRED, "pads": _REQUIRED, "dilations": _REQUIRED, "group": 1, **_FUSED_ACT},
            _infer_nhwc_conv, _compute_nhwc_conv, inputs=(2, 4),
            doc="NHWC conv, HWIO weight, optional bias, fused activation, optional residual added last"),
        _op("maku.MaxPool", {**_NHWC_WINDOW, "dilations": [1, 1], "ceil_mode": 0}, _infer_nhwc_pool,
            _compute_nhwc_pool("max")),
        _op("maku.AveragePool", {**_NHWC_WINDOW, "ceil_mode": 0, "count_include_pad": 0}, _infer_nhwc_pool,
            _compute_nhwc_pool("avg")),
        _op("maku.GlobalAveragePool", {}, _infer_nhwc_global_pool, lambda n, xs: [xs[0].mean(axis=(1, 2), keepdims=True)]),
        _op("maku.Gemm", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0, **_FUSED_ACT}, _infer_gemm, _compute_gemm,
            inputs=(2, 3), doc="Gemm with a fused activation"),
    ]
}

ONNX_OPS = sorted(name for name in OPS if not name.startswith("maku."))


def schema(op: str) -> OpSchema:
    try:
        return OPS[op]
    except KeyError:
        raise UnsupportedOpError(f"op {op!r} is not supported; supported ops: {', '.join(ONNX_OPS)}") from None


def resolved_attrs(node: Node) -> dict[str, Any]:
    """The node's attributes with defaults filled in; raises if a required one is missing."""
    sch = schema(node.op)
    out = {}
    for key, default in sch.attrs.items():
        if key in node.attrs:
            out[key] = node.attrs[key]
        elif default is _REQUIRED:
            raise ShapeError(f"node {node.name!r} ({node.op}) is missing required attribute {key!r}")
        else:
            out[key] = default
    return out
