"""Fold an explicit zero Pad of the spatial axes into the convolution that reads it.

tf2onnx writes TF's asymmetric SAME padding of stride-2 convs as a separate Pad node; as conv
pads it costs nothing, while a Pad node copies the whole tensor. Runs after the layout pass,
so the Pad's pads are in NHWC order and the conv is a maku.Conv.
"""

from __future__ import annotations

import numpy as np

from maku.ir.graph import Graph
from maku.passes.eliminate import bypass


def fold_pads(graph: Graph) -> Graph:
    consumers = graph.consumers()
    for pad in [n for n in graph.nodes if n.op == "Pad"]:
        readers = consumers.get(pad.outputs[0], [])
        if len(readers) != 1 or readers[0].op != "Conv" or pad.outputs[0] in graph.output_names:
            continue
        if readers[0].attrs.get("auto_pad", "NOTSET") != "NOTSET":
            continue
        pads = _spatial_zero_pads(graph, pad)
        if pads is None:
            continue
        conv = readers[0]
        conv.attrs["pads"] = [p + q for p, q in zip(conv.attrs.get("pads") or [0, 0, 0, 0], pads)]
        bypass(graph, pad, pad.inputs[0])
        consumers = graph.consumers()
    graph.remove_unused()
    return graph


def _spatial_zero_pads(graph: Graph, pad) -> list[int] | None:
    """(top, left, bottom, right) if the Pad is a constant-zero pad of H and W only (NCHW)."""
    if pad.inputs[1] not in graph.constants or graph.value(pad.inputs[0]).shape is None:
        return None
    if len(pad.inputs) > 2 and pad.inputs[2]:
        value = graph.constants.get(pad.inputs[2])
        if value is None or np.any(value != 0):
            return None
    p = [int(v) for v in graph.constants[pad.inputs[1]].reshape(-1)]
    if len(p) != 8 or min(p) < 0 or p[0] or p[1] or p[4] or p[5]:
        return None
    return [p[2], p[3], p[6], p[7]]
