"""The reverse-mode engine behind `maku.Tensor`: grad mode, graph recording and the backward walk.

Each op (in `maku.tensor` and `maku.nn.functional`) computes its forward with NumPy and calls
`record` with a closure that maps the output gradient to its inputs' gradients, so the backward
of an op sits beside its forward (as in micrograd). `backward` sorts the recorded graph
topologically and walks it once in reverse, accumulating gradients.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from maku.tensor import Tensor

_state = threading.local()

# maps the output gradient to one gradient (or None) per parent
BackwardFn = Callable[[np.ndarray], Sequence[np.ndarray | None]]


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager that stops recording ops (for evaluation and optimizer updates)."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, giving an array of `shape`."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def record(out: Tensor, parents: Sequence[Tensor], backward: BackwardFn, op: str, **attrs: Any) -> Tensor:
    """Attach `backward` to `out` if grad mode is on and some parent needs a gradient.

    `op` and `attrs` name the operation; `maku.export` reads them to write the ONNX graph.
    """
    if is_grad_enabled() and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = tuple(parents)
        out._backward = backward
        out._op = op
        out._attrs = attrs
    return out


def _topological_order(root: Tensor) -> list[Tensor]:
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:  # iterative DFS: deep networks would overflow Python's recursion limit
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node._parents if p.requires_grad and id(p) not in visited)
    return order


def backward(root: Tensor, grad: np.ndarray) -> None:
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad."""
    grads: dict[int, np.ndarray] = {id(root): grad}
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._backward is None:  # a leaf
            node.grad = g.copy() if node.grad is None else node.grad + g
            continue
        for parent, pg in zip(node._parents, node._backward(g)):
            if pg is None or not parent.requires_grad:
                continue
            key = id(parent)
            grads[key] = grads[key] + pg if key in grads else pg
        # free the saved activations now, as PyTorch does; a second backward is an error
        node._parents = ()
        node._backward = _graph_released


def _graph_released(grad: np.ndarray) -> Sequence[np.ndarray | None]:
    raise RuntimeError("backward through this graph a second time: its saved values were freed")


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Compare the autograd gradient of `fn` with central finite differences, element by element.

    The output is reduced to a scalar with fixed random weights, so every output element counts.
    Use float64 inputs. Returns the largest absolute error; raises `GradcheckError` naming the
    input and element when an error exceeds atol + rtol * |numeric|.
    """
    weights = np.random.default_rng(seed).standard_normal(fn(*inputs).shape)

    def objective() -> float:
        with no_grad():
            return float((fn(*inputs).data * weights).sum())

    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    out.backward(weights)
    worst = 0.0
    for k, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        analytic = np.zeros_like(t.data) if t.grad is None else t.grad
        flat = t.data.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            plus = objective()
            flat[i] = saved - eps
            minus = objective()
            flat[i] = saved
            numeric = (plus - minus) / (2 * eps)
            error = abs(numeric - analytic.reshape(-1)[i])
            if error > atol + rtol * abs(numeric):
                index = np.unravel_index(i, t.shape)
                raise GradcheckError(
                    f"input {k} element {index}: autograd {analytic.reshape(-1)[i]:.8g} vs numeric {numeric:.8g}"
                )
            worst = max(worst, error)
    return worst


class GradcheckError(Exception):
    """An autograd gradient disagrees with finite differences."""
