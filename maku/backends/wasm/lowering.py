"""Lowering plan nodes to the ops of the wasm dispatcher (csrc/program.h).

`lower(node, ctx)` returns the node's program words, or raises `Unsupported` saying why (the
partitioner then runs the node on the numpy backend). Each function mirrors one numpy-backend
preparer: it resolves attributes and shapes once, at plan time, into plain integers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from maku.ir.graph import Node
from maku.ir.ops import resolved_attrs
from maku.plan.planner import Plan

# opcodes of csrc/program.h
CONV_DEPTHWISE, CONV_IM2COL, GEMM, MAX_POOL, AVG_POOL, GLOBAL_AVG_POOL = 1, 2, 3, 4, 5, 6
BINARY, UNARY, SOFTMAX, CAST_U8_F32, COPY, FILL, PACK = 7, 8, 9, 10, 11, 12, 13

ACTIVATIONS = {None: 0, "Relu": 1, "Clip": 2, "HardSigmoid": 3, "HardSwish": 4, "Sigmoid": 5}
BINARY_OPS = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3}
NULL = -1
F32 = np.dtype(np.float32)


class Unsupported(Exception):
    """The wasm kernels cannot run this node (the message says why)."""


@dataclass
class LowerContext:
    """Where tensors live, relative to the model's base address: constants at their blob
    offsets, activations in the arena, plus the packed weights and im2col scratch the lowered
    ops ask for. A first lowering with zero bases sizes those two regions (program.py)."""

    plan: Plan
    constant_offsets: dict[str, int]
    panel_width: int
    arena_base: int = 0
    scratch_base: int = 0
    packed_base: int = 0
    packs: list[tuple[str, int, int, bool, int]] = field(default_factory=list)  # weight, k, n, transposed, address
    packed_bytes: int = 0
    scratch_floats: int = 0

    def addr(self, name: str) -> int:
        if not name:
            return NULL
        if name in self.constant_offsets:
            return self.constant_offsets[name]
        return self.arena_base + self.plan.memory.offsets[name]

    def packed(self, weight: str, k: int, n: int, transposed: bool) -> int:
        """The address of `weight` packed into GEMM panels (packed once, at load)."""
        address = self.packed_base + self.packed_bytes
        self.packs.append((weight, k, n, transposed, address))
        panels = -(-n // self.panel_width)
        self.packed_bytes += -(-panels * self.panel_width * k * 4 // 64) * 64
        return address

    def scratch(self, floats: int) -> int:
        self.scratch_floats = max(self.scratch_floats, floats)
        return self.scratch_base

    def shape(self, name: str) -> tuple[int, ...]:
        return self.plan.shapes[name]

    def dtype(self, name: str) -> np.dtype:
        return self.plan.dtypes[name]


def f32_bits(v: float) -> int:
    return struct.unpack("<i", struct.pack("<f", v))[0]


def op(opcode: int, *fields: int) -> list[int]:
    return [opcode, len(fields) + 2, *fields]


def _float_tensors(ctx: LowerContext, names) -> None:
    for name in names:
        if name and ctx.dtype(name) != F32:
            raise Unsupported(f"{name!r} is {ctx.dtype(name).name}; the wasm kernels compute in float32")


def _constant(ctx: LowerContext, name: str, what: str) -> np.ndarray:
    if name not in ctx.plan.graph.constants:
        raise Unsupported(f"the {what} {name!r} is computed at run time; the wasm kernels need a constant")
    return np.asarray(ctx.plan.graph.constants[name])


def _activation(kind, alpha: float, beta: float) -> list[int]:
    if kind not in ACTIVATIONS:
        raise Unsupported(f"fused activation {kind!r}")
    return [ACTIVATIONS[kind], f32_bits(alpha), f32_bits(beta)]


def lower_conv(node: Node, ctx: LowerContext) -> list[int]:
    a = resolved_attrs(node)
    x, w, bias, residual = (node.inputs + ["", ""])[:4]
    y = node.outputs[0]
    _float_tensors(ctx, [x, w, bias, residual, y])
    kh, kw, cin_g, cout = _constant(ctx, w, "weight").shape
    n, h, wd, c = ctx.shape(x)
    _, oh, ow, _ = ctx.shape(y)
    top, left, _, _ = a["pads"]
    act = _activation(a.get("activation") or None, a.get("act_alpha", 0.0), a.get("act_beta", 0.0))
    geometry = [n, h, wd, c, oh, ow, cout, kh, kw, *a["strides"], top, left, *a["dilations"], *act]
    tensors = [ctx.addr(x)]
    if a["group"] == c == cout and cin_g == 1:
        return op(CONV_DEPTHWISE, *geometry, *tensors, ctx.addr(w), ctx.addr(bias), ctx.addr(residual), ctx.addr(y))
    if a["group"] != 1:
        raise Unsupported(f"grouped convolution (group={a['group']})")
    k = kh * kw * c
    packed = ctx.packed(w, k, cout, False)
    if (kh, kw) == (1, 1) and list(a["strides"]) == [1, 1] and not any(a["pads"]):
        return op(GEMM, n * h * wd, k, cout, *act, ctx.addr(x), packed, ctx.addr(bias), ctx.addr(residual), ctx.addr(y))
    return op(CONV_IM2COL, *geometry, ctx.addr(x), packed, ctx.addr(bias), ctx.addr(residual), ctx.addr(y),
              ctx.scratch(ow * k))


def lower_gemm(node: Node, ctx: LowerContext) -> list[int]:
    a = resolved_attrs(node) if node.op == "maku.Gemm" else {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    x, w, c = (node.inputs + [""])[:3]
    y = node.outputs[0]
    _float_tensors(ctx, [x, w, c, y])
    weight = _constant(ctx, w, "weight")
    if len(ctx.shape(x)) != 2 or weight.ndim != 2 or a["transA"] or a["alpha"] != 1.0:
        raise Unsupported("only 2-D x @ W (no transA, alpha 1) runs in wasm")
    m, k = ctx.shape(x)
    n = ctx.shape(y)[1]
    if c and (a["beta"] != 1.0 or _constant(ctx, c, "bias").size != n or ctx.shape(c)[-1] != n):
        raise Unsupported("the Gemm's C is not a bias of N values with beta 1")
    act = _activation(a.get("activation") or None, a.get("act_alpha", 0.0), a.get("act_beta", 0.0))
    packed = ctx.packed(w, k, n, bool(a["transB"]))
    return op(GEMM, m, k, n, *act, ctx.addr(x), packed, ctx.addr(c), NULL, ctx.addr(y))


def lower_pool(node: Node, ctx: LowerContext) -> list[int]:
    a = resolved_attrs(node)
    x, y = node.inputs[0], node.outputs[0]
    _float_tensors(ctx, [x, y])
    n, h, w, c = ctx.shape(x)
    _, oh, ow, _ = ctx.shape(y)
    dilations = a.get("dilations") or [1, 1]
    params = [n, h, w, c, oh, ow, *a["kernel_shape"], *a["strides"], *a["pads"], *dilations,
              int(a.get("count_include_pad", 0))]
    return op(MAX_POOL if node.op == "maku.MaxPool" else AVG_POOL, *params, ctx.addr(x), ctx.addr(y))


def lower_global_avg_pool(node: Node, ctx: LowerContext) -> list[int]:
    x, y = node.inputs[0], node.outputs[0]
    _float_tensors(ctx, [x, y])
    n, h, w, c = ctx.shape(x)
    return op(GLOBAL_AVG_POOL, n, h * w, c, ctx.addr(x), ctx.addr(y))


def lower_reduce_mean(node: Node, ctx: LowerContext) -> list[int]:
    """A mean over consecutive axes is a global average pool of (outer, reduced, inner)."""
    x, y = node.inputs[0], node.outputs[0]
    _float_tensors(ctx, [x, y])
    shape = ctx.shape(x)
    axes = sorted(a % len(shape) for a in (resolved_attrs(node)["axes"] or range(len(shape))))
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise Unsupported(f"a mean over the non-adjacent axes {axes}")
    outer, inner = int(np.prod(shape[: axes[0]])), int(np.prod(shape[axes[-1] + 1 :]))
    return op(GLOBAL_AVG_POOL, outer, int(np.prod(shape)) // max(outer * inner, 1), inner, ctx.addr(x), ctx.addr(y))


def collapse(shape: tuple[int, ...], strides: list[list[int]], rank: int) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent axes that every operand walks contiguously and drop size-1 axes, then
    left-pad to `rank` axes; Unsupported if more than `rank` remain."""
    dims = [(d, [s[i] for s in strides]) for i, d in enumerate(shape) if d != 1]
    merged: list[tuple[int, list[int]]] = []
    for d, st in dims:
        if merged and all(prev == cur * d for prev, cur in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * d, st)
        else:
            merged.append((d, st))
    if len(merged) > rank:
        raise Unsupported(f"a {len(shape)}-D layout that does not collapse to {rank} axes")
    merged = [(1, [0] * len(strides))] * (rank - len(merged)) + merged
    return [d for d, _ in merged], [[st[k] for _, st in merged] for k in range(len(strides))]


def contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def broadcast_strides(shape, out_shape) -> list[int]:
    """Element strides of `shape` read as `out_shape` (0 along broadcast axes)."""
    full = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    return [0 if d == 1 else s for d, s in zip(full, contiguous_strides(full))]


def lower_binary(node: Node, ctx: LowerContext) -> list[int]:
    a, b = node.inputs
    y = node.outputs[0]
    _float_tensors(ctx, [a, b, y])
    out = ctx.shape(y)
    dims, (sa, sb, _) = collapse(out, [broadcast_strides(ctx.shape(a), out), broadcast_strides(ctx.shape(b), out),
                                       contiguous_strides(out)], 4)
    return op(BINARY, BINARY_OPS[node.op], *dims, *sa, *sb, ctx.addr(a), ctx.addr(b), ctx.addr(y))


def lower_activation(node: Node, ctx: LowerContext) -> list[int]:
    a = resolved_attrs(node)
    x, y = node.inputs[0], node.outputs[0]
    _float_tensors(ctx, [x, y])
    alpha, beta = a.get("alpha", 0.0), a.get("beta", 0.0)
    if node.op == "Clip":
        lo, hi = (node.inputs + ["", ""])[1:3]
        alpha = float(_constant(ctx, lo, "minimum").reshape(-1)[0]) if lo else -np.inf
        beta = float(_constant(ctx, hi, "maximum").reshape(-1)[0]) if hi else np.inf
    count = int(np.prod(ctx.shape(y)))
    return op(UNARY, *_activation(node.op, alpha, beta), count, ctx.addr(x), ctx.addr(y))


def lower_softmax(node: Node, ctx: LowerContext) -> list[int]:
    a = resolved_attrs(node)
    x, y = node.inputs[0], node.outputs[0]
    _float_tensors(ctx, [x, y])
    shape = ctx.shape(x)
    axis = a["axis"] % len(shape)
    if not a["legacy"] and axis != len(shape) - 1:
        raise Unsupported(f"softmax over axis {axis} of a {len(shape)}-D tensor (only the last axis)")
    rows = int(np.prod(shape[:axis]))
    return op(SOFTMAX, rows, int(np.prod(shape)) // max(rows, 1), ctx.addr(x), ctx.addr(y))


def lower_cast(node: Node, ctx: LowerContext) -> list[int]:
    x, y = node.inputs[0], node.outputs[0]
    src, dst = ctx.dtype(x), ctx.dtype(y)
    if src == np.uint8 and dst == F32:
        return op(CAST_U8_F32, int(np.prod(ctx.shape(x))), ctx.addr(x), ctx.addr(y))
    if src == dst:
        return lower_view(node, ctx)
    raise Unsupported(f"cast from {src.name} to {dst.name}")


def _copy(ctx: LowerContext, elsize: int, shape, x_strides, x: int, y_strides, y: int) -> list[int]:
    if elsize not in (1, 4):
        raise Unsupported(f"copies of {elsize}-byte elements")
    dims, (sx, sy) = collapse(tuple(shape), [list(x_strides), list(y_strides)], 6)
    return op(COPY, elsize, *dims, *sx, *sy, x, y)


def lower_view(node: Node, ctx: LowerContext) -> list[int]:
    """Reshape-like ops: nothing when planned in place, else one contiguous byte copy."""
    x, y = node.inputs[0], node.outputs[0]
    if ctx.addr(x) == ctx.addr(y):
        return []
    nbytes = ctx.plan.nbytes(y)
    return _copy(ctx, 1, (nbytes,), [1], ctx.addr(x), [1], ctx.addr(y))


def lower_transpose(node: Node, ctx: LowerContext) -> list[int]:
    x, y = node.inputs[0], node.outputs[0]
    perm = resolved_attrs(node)["perm"] or list(range(len(ctx.shape(x))))[::-1]
    x_strides = contiguous_strides(ctx.shape(x))
    return _copy(ctx, ctx.dtype(x).itemsize, ctx.shape(y), [x_strides[p] for p in perm], ctx.addr(x),
                 contiguous_strides(ctx.shape(y)), ctx.addr(y))


def lower_concat(node: Node, ctx: LowerContext) -> list[int]:
    y = node.outputs[0]
    out = ctx.shape(y)
    axis = resolved_attrs(node)["axis"] % len(out)
    y_strides, itemsize = contiguous_strides(out), ctx.dtype(y).itemsize
    words, start = [], 0
    for x in (i for i in node.inputs if i):
        shape = ctx.shape(x)
        words += _copy(ctx, itemsize, shape, contiguous_strides(shape), ctx.addr(x), y_strides,
                       ctx.addr(y) + start * y_strides[axis] * itemsize)
        start += shape[axis]
    return words


def lower_pad(node: Node, ctx: LowerContext) -> list[int]:
    x, y = node.inputs[0], node.outputs[0]
    _float_tensors(ctx, [x, y])
    if resolved_attrs(node).get("mode", "constant") != "constant":
        raise Unsupported("only constant padding")
    pads = [int(p) for p in _constant(ctx, node.inputs[1], "pads").reshape(-1)]
    value = node.inputs[2] if len(node.inputs) > 2 else ""
    fill = float(_constant(ctx, value, "pad value").reshape(-1)[0]) if value else 0.0
    rank = len(ctx.shape(x))
    if any(p < 0 for p in pads):
        raise Unsupported("negative pads (cropping)")
    y_strides = contiguous_strides(ctx.shape(y))
    interior = sum(p * s for p, s in zip(pads[:rank], y_strides)) * 4
    return op(FILL, f32_bits(fill), int(np.prod(ctx.shape(y))), ctx.addr(y)) + _copy(
        ctx, 4, ctx.shape(x), contiguous_strides(ctx.shape(x)), ctx.addr(x), y_strides, ctx.addr(y) + interior)


LOWERINGS: dict[str, Callable[[Node, LowerContext], list[int]]] = {
    "maku.Conv": lower_conv,
    "maku.Gemm": lower_gemm,
    "MatMul": lower_gemm,
    "maku.MaxPool": lower_pool,
    "maku.AveragePool": lower_pool,
    "maku.GlobalAveragePool": lower_global_avg_pool,
    "ReduceMean": lower_reduce_mean,
    **dict.fromkeys(BINARY_OPS, lower_binary),
    **dict.fromkeys(["Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip"], lower_activation),
    "Softmax": lower_softmax,
    "Cast": lower_cast,
    **dict.fromkeys(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"], lower_view),
    "Transpose": lower_transpose,
    "Concat": lower_concat,
    "Pad": lower_pad,
}


def lower(node: Node, ctx: LowerContext) -> list[int]:
    """The node's program words; Unsupported when the wasm kernels cannot run it."""
    if node.op not in LOWERINGS:
        raise Unsupported(f"no wasm kernel for {node.op}")
    return LOWERINGS[node.op](node, ctx)
