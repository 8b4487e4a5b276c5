"""Graph optimization passes: each `Graph -> Graph`, one per module, run by `optimize`."""

from __future__ import annotations

from collections.abc import Callable

from maku.ir.graph import Graph
from maku.passes.batch import generalize_batch
from maku.passes.eliminate import eliminate_dead_code, eliminate_identities
from maku.passes.fold_batchnorm import fold_batchnorm
from maku.passes.fold_constants import fold_constants
from maku.passes.fold_pad import fold_pads
from maku.passes.fuse_epilogue import fuse_epilogues
from maku.passes.fuse_hardswish import fuse_hardswish
from maku.passes.gemm import recognize_gemm
from maku.passes.layout import to_channels_last
from maku.passes.transposes import cancel_transposes

Pass = Callable[[Graph], Graph]

# The order matters: folding first exposes patterns; layout before fusion so fused ops are NHWC.
PIPELINE: list[Pass] = [
    eliminate_identities,
    generalize_batch,
    fold_constants,
    fuse_hardswish,
    fold_batchnorm,
    fold_pads,
    to_channels_last,
    cancel_transposes,
    recognize_gemm,
    fuse_epilogues,
    eliminate_dead_code,
]


def optimize(graph: Graph, passes: list[Pass] | None = None) -> Graph:
    """Run the passes on a copy of `graph` and return the optimized copy."""
    g = graph.copy()
    for p in PIPELINE if passes is None else passes:
        g = p(g)
        g.validate()
    return g
