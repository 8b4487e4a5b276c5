"""maku's graph IR: Values, Nodes and the Graph that holds them.

Tensors are referred to by name (as in ONNX); the empty name "" marks an omitted optional
input. Shapes are tuples whose entries are an int, a str (a symbolic dimension such as the
batch "N") or None (unknown until plan time).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maku.errors import GraphError

Dim = int | str | None
Shape = tuple[Dim, ...]


@dataclass
class Value:
    """A tensor's name, element type and (possibly partly symbolic) shape."""

    name: str
    dtype: np.dtype | None = None
    shape: Shape | None = None

    def __str__(self) -> str:
        dims = "?" if self.shape is None else ",".join("?" if d is None else str(d) for d in self.shape)
        dt = "?" if self.dtype is None else np.dtype(self.dtype).name
        return f"{self.name}: {dt}[{dims}]"


@dataclass
class Node:
    """One operation. `op` is the ONNX op name, or a maku op name made by a pass."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        attrs = ", ".join(f"{k}={_short(v)}" for k, v in sorted(self.attrs.items()))
        ins = ", ".join(i or "<none>" for i in self.inputs)
        outs = ", ".join(self.outputs)
        return f"{outs} = {self.op}({ins}){'  {' + attrs + '}' if attrs else ''}  # {self.name}"


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}" if v.size > 8 else repr(v.tolist())
    return repr(v)


class Graph:
    """A dataflow graph: nodes in topological order, named inputs/outputs, constants.

    `constants` holds every weight and constant tensor by name (ONNX initializers and
    folded values); `values` holds dtype/shape information for any tensor name.
    """

    def __init__(
        self,
        nodes: list[Node],
        inputs: list[Value],
        outputs: list[Value],
        constants: dict[str, np.ndarray] | None = None,
        values: dict[str, Value] | None = None,
        name: str = "graph",
        opset: int = 13,
        metadata: dict[str, str] | None = None,
    ):
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.constants = constants if constants is not None else {}
        self.values = values if values is not None else {}
        self.name = name
        self.opset = opset
        self.metadata = metadata if metadata is not None else {}
        for v in itertools.chain(inputs, outputs):
            self.values.setdefault(v.name, v)
        self._counter = itertools.count()

    # -- lookups -----------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        """Map from tensor name to the node that writes it."""
        return {out: n for n in self.nodes for out in n.outputs if out}

    def consumers(self) -> dict[str, list[Node]]:
        """Map from tensor name to the nodes that read it (in node order)."""
        uses: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    uses.setdefault(i, []).append(n)
        return uses

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def value(self, name: str) -> Value:
        """The Value for `name`, creating an empty one if nothing is known yet."""
        if name not in self.values:
            self.values[name] = Value(name)
        return self.values[name]

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.outputs]

    def fresh_name(self, base: str) -> str:
        """A tensor or node name not yet used anywhere in the graph."""
        used = self._all_names()
        while True:
            name = f"{base}__{next(self._counter)}"
            if name not in used:
                return name

    def _all_names(self) -> set[str]:
        names = set(self.values) | set(self.constants)
        for n in self.nodes:
            names.add(n.name)
            names.update(n.outputs)
        return names

    # -- structure ---------------------------------------------------------------------
    def toposort(self) -> None:
        """Reorder nodes topologically (stable: keeps the current order where it can)."""
        produced_by = {out: idx for idx, n in enumerate(self.nodes) for out in n.outputs if out}
        available = set(self.input_names) | set(self.constants)
        deps: list[set[int]] = []
        for n in self.nodes:
            d = set()
            for i in n.inputs:
                if i and i not in available:
                    if i not in produced_by:
                        raise GraphError(f"node {n.name!r} ({n.op}) reads {i!r}, which nothing produces")
                    d.add(produced_by[i])
            deps.append(d)
        order: list[int] = []
        done: set[int] = set()
        pending = list(range(len(self.nodes)))
        while pending:
            progressed = []
            for idx in pending:
                if deps[idx] <= done:
                    order.append(idx)
                    done.add(idx)
                else:
                    progressed.append(idx)
            if len(progressed) == len(pending):
                stuck = ", ".join(repr(self.nodes[i].name) for i in progressed[:5])
                raise GraphError(f"the graph has a cycle through nodes {stuck}")
            pending = progressed
        self.nodes = [self.nodes[i] for i in order]

    def validate(self) -> None:
        """Check names and order: every read is produced earlier, nothing is written twice."""
        seen = set(self.input_names) | set(self.constants)
        node_names: set[str] = set()
        for n in self.nodes:
            if n.name in node_names:
                raise GraphError(f"two nodes are named {n.name!r}")
            node_names.add(n.name)
            for i in n.inputs:
                if i and i not in seen:
                    raise GraphError(f"node {n.name!r} ({n.op}) reads {i!r} before it is produced")
            for o in n.outputs:
                if o and o in seen:
                    raise GraphError(f"node {n.name!r} ({n.op}) writes {o!r}, which already exists")
                seen.add(o)
        for v in self.outputs:
            if v.name not in seen:
                raise GraphError(f"graph output {v.name!r} is never produced")

    def remove_unused(self) -> int:
        """Drop nodes and constants that no graph output depends on; returns nodes removed."""
        needed = set(self.output_names)
        kept: list[Node] = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs):
                kept.append(n)
                needed.update(i for i in n.inputs if i)
        removed = len(self.nodes) - len(kept)
        self.nodes = kept[::-1]
        self.constants = {k: v for k, v in self.constants.items() if k in needed}
        live = needed | {o for n in self.nodes for o in n.outputs} | set(self.input_names)
        self.values = {k: v for k, v in self.values.items() if k in live}
        return removed

    def replace_uses(self, old: str, new: str) -> None:
        """Make every node that reads `old` read `new` instead (graph outputs are not touched)."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]

    def copy(self) -> Graph:
        """A deep copy of the structure; constant arrays are shared (they are never mutated)."""
        g = Graph(
            nodes=[Node(n.op, n.name, list(n.inputs), list(n.outputs), copy.copy(n.attrs)) for n in self.nodes],
            inputs=[copy.copy(v) for v in self.inputs],
            outputs=[copy.copy(v) for v in self.outputs],
            constants=dict(self.constants),
            values={k: copy.copy(v) for k, v in self.values.items()},
            name=self.name,
            opset=self.opset,
            metadata=dict(self.metadata),
        )
        return g

    def op_histogram(self) -> dict[str, int]:
        hist: dict[str, int] = {}
        for n in self.nodes:
            hist[n.op] = hist.get(n.op, 0) + 1
        return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))

    def dump(self) -> str:
        """A readable text form: inputs, constants summary, one line per node, outputs."""
        lines = [f"graph {self.name} (opset {self.opset})"]
        lines += [f"  input  {self.value(v.name)}" for v in self.inputs]
        n_params = sum(int(a.size) for a in self.constants.values())
        lines.append(f"  {len(self.constants)} constants, {n_params} elements")
        lines += [f"  {n}" for n in self.nodes]
        lines += [f"  output {self.value(v.name)}" for v in self.outputs]
        return "\n".join(lines)

    __str__ = dump
