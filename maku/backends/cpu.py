"""The cpu backend: the numpy executor with maku's compiled C kernels for the hot ops.

Convolutions (depthwise, 1×1, dense) and global average pooling run in maku/csrc through
maku.backends.native, with bias, activation and residual fused; every other node keeps its
numpy runner. Weights are packed once per plan. When the native library cannot be built
(no C compiler), asking for this backend raises BackendError; "auto" then picks numpy.
"""

from __future__ import annotations

import os

import numpy as np

from maku.backends import native
from maku.backends.native.loader import library
from maku.backends.numpy.executor import NumpyExecutor
from maku.backends.numpy.ops import PrepareContext, Runner
from maku.backends.numpy.ops import prepare as numpy_prepare
from maku.errors import BackendError
from maku.ir.graph import Node
from maku.ir.ops import resolved_attrs


def _conv_runner(node: Node, ctx: PrepareContext, threads: int) -> Runner | None:
    a = resolved_attrs(node)
    x, w, out = ctx.get(node.inputs[0]), ctx.get(node.inputs[1]), ctx.get(node.outputs[0])
    bias = ctx.get(node.inputs[2]) if len(node.inputs) > 2 else None
    residual = ctx.get(node.inputs[3]) if len(node.inputs) > 3 else None
    kh, kw, cin_g, cout = w.shape
    act = dict(act=a["activation"] or None, alpha=a["act_alpha"], beta=a["act_beta"])
    geometry = dict(strides=tuple(a["strides"]), pads=tuple(a["pads"]), dilations=tuple(a["dilations"]))
    if a["group"] == x.shape[3] == cout and cin_g == 1 and residual is None:
        if cout < library().maku_vector_lanes():
            return None  # fewer channels than one vector: the C kernel's per-lane path is slower than numpy
        return native.bind(native.depthwise_conv2d, x, w, bias, **geometry, **act, out=out, threads=threads)
    if a["group"] != 1:
        return None
    weights = native.pack_gemm_weights(w)
    if (kh, kw) == (1, 1) and geometry["strides"] == (1, 1) and not any(geometry["pads"]):
        x2d, out2d = x.reshape(-1, x.shape[3]), out.reshape(-1, cout)
        res2d = None if residual is None else residual.reshape(-1, cout)
        return native.bind(native.pointwise_conv, x2d, weights, bias, **act, residual=res2d, out=out2d, threads=threads)
    scratch = native.conv2d_scratch_size(x.shape, w.shape, geometry["strides"], geometry["pads"],
                                         geometry["dilations"], threads)
    buffer = np.empty(scratch, np.float32)
    return native.bind(native.conv2d_im2col, x, weights, bias, **geometry, **act, residual=residual, out=out,
                       scratch=buffer, threads=threads)


class CpuExecutor(NumpyExecutor):
    """NumpyExecutor whose convolutions and global pools run in compiled C."""

    name = "cpu"

    def __init__(self, plan, *, poison: bool = False, threads: int | None = None):
        if not native.available():
            raise BackendError("the cpu backend needs maku's C kernels, which could not be built here "
                               "(is a C compiler installed?); use backend='numpy'")
        self.threads = threads or os.cpu_count() or 1
        super().__init__(plan, poison=poison, threads=threads)

    def prepare_node(self, node: Node, ctx: PrepareContext) -> Runner:
        runner = None
        if node.op == "maku.Conv" and ctx.get(node.inputs[0]).dtype.name == "float32":
            runner = _conv_runner(node, ctx, self.threads)
        elif node.op == "maku.GlobalAveragePool":
            x, out = ctx.get(node.inputs[0]), ctx.get(node.outputs[0])
            runner = native.bind(native.global_avg_pool, x, out=out, threads=self.threads)
        return runner or numpy_prepare(node, ctx)
