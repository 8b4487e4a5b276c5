"""BatchNorm folding: merge inference BatchNormalization into the Conv or Gemm before it.

y = (conv(x) - mean) * scale / sqrt(var + eps) + bias is a convolution with weights scaled per
output channel and a new bias, so the BN node disappears. A BN with no foldable producer
becomes a per-channel Mul + Add, which the layout pass and fusion handle like any elementwise op.
"""

from __future__ import annotations

import numpy as np

from maku.ir.graph import Graph, Node
from maku.ir.ops import resolved_attrs


def fold_batchnorm(graph: Graph) -> Graph:
    for bn in [n for n in graph.nodes if n.op == "BatchNormalization"]:
        if not all(i in graph.constants for i in bn.inputs[1:5]):
            continue
        scale, shift = _scale_shift(graph, bn)
        producer = graph.producers().get(bn.inputs[0])
        if producer is not None and _fold_into(graph, producer, bn, scale, shift):
            producer.outputs = [bn.outputs[0]]  # the folded conv writes the tensor the BN wrote
            graph.nodes.remove(bn)
        else:
            _to_mul_add(graph, bn, scale, shift)
    graph.remove_unused()
    return graph


def _scale_shift(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (graph.constants[i].astype(np.float64) for i in bn.inputs[1:5])
    scale = gamma / np.sqrt(var + resolved_attrs(bn)["epsilon"])
    return scale, beta - mean * scale


def _fold_into(graph: Graph, producer: Node, bn: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    """Fold into a Conv or Gemm whose only reader is this BN; False when that is not possible."""
    out = producer.outputs[0]
    if len(graph.consumers().get(out, [])) != 1 or out in graph.output_names:
        return False
    if producer.op not in ("Conv", "Gemm") or producer.inputs[1] not in graph.constants:
        return False
    w = graph.constants[producer.inputs[1]].astype(np.float64)
    beta = 1.0
    if producer.op == "Conv":
        new_w = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
    else:
        a = resolved_attrs(producer)
        if a["transA"] or a["beta"] == 0.0:
            return False
        beta = a["beta"]
        new_w = w * (scale.reshape(-1, 1) if a["transB"] else scale.reshape(1, -1))
    bias = _bias_vector(graph, producer, scale.shape[0])
    if bias is None:
        return False
    producer.inputs = [producer.inputs[0], _const(graph, producer.name + "_bn_w", new_w),
                       _const(graph, producer.name + "_bn_b", bias * scale + shift / beta)]
    return True


def _bias_vector(graph: Graph, producer: Node, channels: int) -> np.ndarray | None:
    """The producer's bias as a per-channel vector (zeros if absent), or None if not constant."""
    if len(producer.inputs) < 3 or not producer.inputs[2]:
        return np.zeros(channels)
    bias = graph.constants.get(producer.inputs[2])
    if bias is None or bias.size not in (1, channels) or bias.ndim > 1 and bias.shape[-1] != bias.size:
        return None
    return np.broadcast_to(bias.astype(np.float64).reshape(-1), (channels,))


def _const(graph: Graph, base: str, value: np.ndarray) -> str:
    name = graph.fresh_name(base)
    graph.constants[name] = value.astype(np.float32)
    return name


def _to_mul_add(graph: Graph, bn: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    """Replace a standalone BN by x * scale + shift with channel-axis-1 broadcasting."""
    rank = len(graph.value(bn.inputs[0]).shape or (0, 0, 0, 0))
    bshape = (-1,) + (1,) * (rank - 2)
    mid = graph.fresh_name(bn.outputs[0] + "_scaled")
    idx = graph.nodes.index(bn)
    graph.nodes[idx : idx + 1] = [
        Node("Mul", bn.name + "_scale", [bn.inputs[0], _const(graph, bn.name + "_s", scale.reshape(bshape))], [mid]),
        Node("Add", bn.name + "_shift", [mid, _const(graph, bn.name + "_t", shift.reshape(bshape))], [bn.outputs[0]]),
    ]
