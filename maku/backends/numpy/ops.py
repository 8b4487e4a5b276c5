"""Per-op preparation for the numpy backend.

Each `prepare_<op>(node, ctx)` runs once per plan: it resolves attributes, packs weights and
allocates scratch, and returns a closure that computes the node from its input views into its
output view in the arena. Ops not listed fall back to the registry's reference evaluation plus
one copy (they are rare after optimization: shape chains are folded away).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from maku.ir.graph import Node
from maku.ir.ops import resolved_attrs, schema
from maku.kernels import activation, elementwise, gemm, reduce, shape_ops
from maku.kernels.conv import Conv2d
from maku.kernels.pool import Pool2d, global_avg_pool2d

Runner = Callable[[], None]


class PrepareContext:
    """What a preparer may look at: tensor views in the arena and the graph's constants."""

    def __init__(self, views: dict[str, np.ndarray], constants: dict[str, np.ndarray]):
        self.views = views
        self.constants = constants

    def get(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        return self.constants[name] if name in self.constants else self.views[name]


def same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two views start at the same address (an op planned in place)."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _act(a: dict) -> tuple[str | None, float, float]:
    return (a.get("activation") or None), a.get("act_alpha", 0.0), a.get("act_beta", 0.0)


def prepare_conv(node: Node, ctx: PrepareContext) -> Runner:
    a = resolved_attrs(node)
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    bias = ctx.get(node.inputs[2]) if len(node.inputs) > 2 else None
    residual = ctx.get(node.inputs[3]) if len(node.inputs) > 3 else None
    kind, alpha, beta = _act(a)
    conv = Conv2d(ctx.get(node.inputs[1]), bias, x.shape, strides=tuple(a["strides"]), pads=tuple(a["pads"]),
                  dilations=tuple(a["dilations"]), groups=a["group"], activation=kind, alpha=alpha, beta=beta,
                  has_residual=residual is not None)
    return lambda: conv.run(x, out, residual)


def _prepare_pool(kind: str):
    def prepare(node: Node, ctx: PrepareContext) -> Runner:
        a = resolved_attrs(node)
        x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
        pool = Pool2d(kind, x.shape, tuple(a["kernel_shape"]), tuple(a["strides"]), tuple(a["pads"]),
                      dilations=tuple(a.get("dilations", (1, 1))), ceil_mode=bool(a["ceil_mode"]),
                      count_include_pad=bool(a.get("count_include_pad", 0)), dtype=x.dtype)
        return lambda: pool.run(x, out)

    return prepare


def prepare_global_avg_pool(node: Node, ctx: PrepareContext) -> Runner:
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    return lambda: global_avg_pool2d(x, out=out)


def prepare_gemm(node: Node, ctx: PrepareContext) -> Runner:
    a = resolved_attrs(node)
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    w = ctx.get(node.inputs[1])
    if node.inputs[1] in ctx.constants:  # packed once: (K, N)
        w, trans_b = np.ascontiguousarray(w.T if a["transB"] else w), False
    else:
        trans_b = bool(a["transB"])
    c, beta = ctx.get(node.inputs[2]) if len(node.inputs) > 2 else None, a["beta"]
    if c is not None and node.inputs[2] in ctx.constants and beta != 1.0:
        c, beta = np.ascontiguousarray(c * beta), 1.0  # folded once; a run-time C is scaled per run
    kind, act_a, act_b = _act(a)
    return lambda: gemm.gemm(x, w, c, alpha=a["alpha"], beta=beta, trans_a=bool(a["transA"]), trans_b=trans_b,
                             activation=kind, act_alpha=act_a, act_beta=act_b, out=out)


def _prepare_binary(fn):
    def prepare(node: Node, ctx: PrepareContext) -> Runner:
        a, b, out = ctx.get(node.inputs[0]), ctx.get(node.inputs[1]), ctx.get(node.outputs[0])
        return lambda: fn(a, b, out=out)

    return prepare


def _prepare_activation(kind: str):
    def prepare(node: Node, ctx: PrepareContext) -> Runner:
        x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
        if kind == "Clip":
            return _prepare_clip(node, ctx, x, out)
        a = resolved_attrs(node)
        alpha, beta = a.get("alpha", 0.0), a.get("beta", 0.0)
        scratch = np.empty_like(out) if kind == "HardSwish" else None
        in_place = same_memory(x, out)

        def run() -> None:
            if not in_place:
                np.copyto(out, x)
            activation.apply_activation(out, kind, alpha, beta, scratch=scratch)

        return run

    return prepare


def _prepare_clip(node: Node, ctx: PrepareContext, x: np.ndarray, out: np.ndarray) -> Runner:
    """Clip with bounds that are constants (read once) or tensors computed at run time."""
    lo, hi = (ctx.get(i) if i else None for i in (node.inputs + ["", ""])[1:3])
    if all(b is None or n in ctx.constants for b, n in zip((lo, hi), (node.inputs + ["", ""])[1:3])):
        lo = None if lo is None else lo.reshape(()).item()
        hi = None if hi is None else hi.reshape(()).item()
    return lambda: np.clip(x, lo, hi, out=out)


def prepare_softmax(node: Node, ctx: PrepareContext) -> Runner:
    a = resolved_attrs(node)
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    if a["legacy"]:  # pre-opset-13: softmax over the flattened trailing axes
        axis = a["axis"] % x.ndim
        rows = int(np.prod(x.shape[:axis]))
        x2, out2 = x.reshape(rows, -1), out.reshape(rows, -1)
        return lambda: reduce.softmax(x2, axis=1, out=out2)
    return lambda: reduce.softmax(x, axis=a["axis"], out=out)


def prepare_reduce_mean(node: Node, ctx: PrepareContext) -> Runner:
    a = resolved_attrs(node)
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    axes = tuple(a["axes"]) if a["axes"] else tuple(range(x.ndim))
    kept = tuple(1 if i in {a % x.ndim for a in axes} else d for i, d in enumerate(x.shape))
    out_k = out.reshape(kept)  # the result with reduced axes kept as 1s
    return lambda: np.mean(x, axis=axes, keepdims=True, out=out_k)


def prepare_view(node: Node, ctx: PrepareContext) -> Runner:
    """Reshape-like ops: the output is the input's bytes; copy only when not planned in place."""
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    if same_memory(x, out):
        return lambda: None
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    return lambda: np.copyto(flat_out, flat_x)


def prepare_transpose(node: Node, ctx: PrepareContext) -> Runner:
    perm = resolved_attrs(node)["perm"]
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    return lambda: shape_ops.transpose(x, perm, out=out)


def prepare_concat(node: Node, ctx: PrepareContext) -> Runner:
    axis = resolved_attrs(node)["axis"]
    xs, out = [ctx.get(i) for i in node.inputs if i], ctx.get(node.outputs[0])
    return lambda: np.concatenate(xs, axis=axis, out=out)


def prepare_pad(node: Node, ctx: PrepareContext) -> Runner:
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    pads = [int(p) for p in ctx.get(node.inputs[1]).reshape(-1)]
    value = ctx.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    fill = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
    return lambda: shape_ops.pad_constant(x, pads, fill, out=out)


def prepare_cast(node: Node, ctx: PrepareContext) -> Runner:
    x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
    return lambda: np.copyto(out, x, casting="unsafe")


def prepare_reference(node: Node, ctx: PrepareContext) -> Runner:
    """Any other op: the registry's reference evaluation, then one copy into the arena."""
    compute = schema(node.op).compute
    if compute is None:
        from maku.errors import BackendError

        raise BackendError(f"the numpy backend cannot run node {node.name!r} ({node.op})")
    resolved = Node(node.op, node.name, node.inputs, node.outputs, resolved_attrs(node))
    ins = [ctx.get(i) for i in node.inputs]
    outs = [ctx.get(o) for o in node.outputs]

    def run() -> None:
        for dst, val in zip(outs, compute(resolved, ins)):
            if dst is not None:
                np.copyto(dst, val.reshape(dst.shape), casting="unsafe")

    return run


PREPARERS: dict[str, Callable[[Node, PrepareContext], Runner]] = {
    "maku.Conv": prepare_conv,
    "maku.MaxPool": _prepare_pool("max"),
    "maku.AveragePool": _prepare_pool("avg"),
    "maku.GlobalAveragePool": prepare_global_avg_pool,
    "maku.Gemm": prepare_gemm,
    "Add": _prepare_binary(elementwise.add),
    "Sub": _prepare_binary(elementwise.sub),
    "Mul": _prepare_binary(elementwise.mul),
    "Div": _prepare_binary(elementwise.div),
    "Relu": _prepare_activation("Relu"),
    "Sigmoid": _prepare_activation("Sigmoid"),
    "HardSigmoid": _prepare_activation("HardSigmoid"),
    "HardSwish": _prepare_activation("HardSwish"),
    "Clip": _prepare_activation("Clip"),
    "Softmax": prepare_softmax,
    "ReduceMean": prepare_reduce_mean,
    "Reshape": prepare_view,
    "Flatten": prepare_view,
    "Squeeze": prepare_view,
    "Unsqueeze": prepare_view,
    "Identity": prepare_view,
    "Transpose": prepare_transpose,
    "Concat": prepare_concat,
    "Pad": prepare_pad,
    "Cast": prepare_cast,
}


def prepare(node: Node, ctx: PrepareContext) -> Runner:
    return PREPARERS.get(node.op, prepare_reference)(node, ctx)
