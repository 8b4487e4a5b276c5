"""`Optimizer`: parameter groups, per-parameter state, zero_grad and a saveable state_dict.

Updates run on the raw arrays (`param.data`) in place, outside autograd.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from maku.errors import CheckpointError
from maku.tensor import Tensor


class Optimizer:
    """Base class: subclasses implement `_update(param, grad, state, group)`."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups: list[dict[str, Any]] = []
        for group in groups:
            self.add_param_group(group)
        self.state: dict[int, dict[str, Any]] = {}  # keyed by the parameter's index over all groups

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (defaults fill the rest)."""
        params = list(group["params"])
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(
                    f"{type(self).__name__} can only optimize tensors that require grad, got {p!r}"
                )
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{type(self).__name__} got unknown options {sorted(unknown)}")
        self.param_groups.append({**self.defaults, **group, "params": params})

    def _indexed_params(self) -> Iterable[tuple[int, Tensor, dict[str, Any]]]:
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield index, p, group
                index += 1

    def zero_grad(self) -> None:
        for _, p, _ in self._indexed_params():
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for index, p, group in self._indexed_params():
            if p.grad is not None:
                self._update(p.data, p.grad, self.state.setdefault(index, {}), group)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {...}}, "param_groups": [{hyperparameters, "params": [indices]}]}."""
        groups, index = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            groups.append(
                {
                    **{k: v for k, v in group.items() if k != "params"},
                    "params": list(range(index, index + count)),
                }
            )
            index += count
        return {"state": copy.deepcopy(self.state), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict`."""
        saved = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in saved]
        own = [len(g["params"]) for g in self.param_groups]
        if sizes != own:
            raise CheckpointError(
                f"optimizer state has parameter groups of sizes {sizes}, this optimizer has {own}"
            )
        for group, saved_group in zip(self.param_groups, saved):
            group.update({k: v for k, v in saved_group.items() if k != "params"})
        shapes = {i: p.shape for i, p, _ in self._indexed_params()}
        self.state = {}
        for key, entry in state_dict["state"].items():
            index = int(key)
            for name, value in entry.items():
                if isinstance(value, np.ndarray) and value.shape != shapes[index]:
                    raise CheckpointError(
                        f"optimizer state {name!r} of parameter {index} has shape {value.shape}, "
                        f"the parameter has {shapes[index]}"
                    )
            self.state[index] = copy.deepcopy(dict(entry))

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {opts}")
        return "\n".join(lines + [")"])


def check_non_negative(name: str, **values: float) -> None:
    """Raise ValueError naming the first negative hyperparameter."""
    for key, value in values.items():
        if value < 0:
            raise ValueError(f"{name}: {key} must be >= 0, got {value}")
