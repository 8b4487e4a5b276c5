"""Remove nodes that compute nothing: Identity, inference-mode Dropout, and dead code."""

from __future__ import annotations

from maku.ir.graph import Graph, Node

PASS_THROUGH = ("Identity", "Dropout")


def bypass(graph: Graph, node: Node, source: str) -> None:
    """Remove `node` (one output) so its readers read `source` instead.

    When the node's output is a graph output, the output keeps its public name: the tensor
    `source` is renamed to it (if `source` is produced by a node and is not itself public)."""
    out = node.outputs[0]
    graph.nodes.remove(node)
    if out not in graph.output_names:
        graph.replace_uses(out, source)
        return
    producer = graph.producers().get(source)
    if producer is None or source in graph.output_names:
        graph.nodes.append(_identity(graph, source, out))  # inputs/constants as outputs need a copy
        return
    producer.outputs = [out if o == source else o for o in producer.outputs]
    graph.replace_uses(source, out)
    graph.values[out].dtype = graph.values.get(source, graph.values[out]).dtype


def _identity(graph: Graph, src: str, dst: str) -> Node:
    return Node("Identity", graph.fresh_name("identity"), [src], [dst])


def eliminate_identities(graph: Graph) -> Graph:
    """Drop Identity and Dropout nodes (Dropout is the identity at inference)."""
    consumers = graph.consumers()
    for node in [n for n in graph.nodes if n.op in PASS_THROUGH]:
        src = node.inputs[0]
        mask = node.outputs[1:]
        if mask and mask[0] and (mask[0] in consumers or mask[0] in graph.output_names):
            continue  # Dropout's mask is read: keep the node (it writes an all-true mask)
        if node.outputs[0] in graph.output_names and (src in graph.input_names or src in graph.constants):
            continue  # an output that is an input or a constant needs its copy
        bypass(graph, node, src)
    graph.toposort()
    return graph


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop nodes and constants that no graph output depends on."""
    graph.remove_unused()
    return graph
