"""Learning-rate schedulers, stepped once per epoch (or per batch for OneCycleLR).

Each writes `group["lr"]` of its optimizer. StepLR, MultiStepLR, ExponentialLR,
CosineAnnealingLR and LinearLR use PyTorch's recursive ("chainable") forms: each step scales
the current lr, so several schedulers on one optimizer compose (ChainedScheduler), and
SequentialLR hands over from one to the next at milestones. OneCycleLR sets the lr outright;
ReduceLROnPlateau steps on a metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from maku.optim.optimizer import Optimizer


class LRScheduler:
    """Base: `step()` advances `last_epoch` and writes `_next_lrs()` into the groups."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def _next_lrs(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self._next_lrs()):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def _lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (plain numbers and lists)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not isinstance(v, LRScheduler)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """lr *= gamma every `step_size` epochs."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if step_size <= 0:
            raise ValueError(f"StepLR step_size must be positive, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        hit = self.last_epoch > 0 and self.last_epoch % self.step_size == 0
        return [lr * self.gamma if hit else lr for lr in self._lrs()]


class MultiStepLR(LRScheduler):
    """lr *= gamma at each milestone epoch (a repeated milestone applies gamma again)."""

    def __init__(
        self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1, last_epoch: int = -1
    ):
        if list(milestones) != sorted(milestones):
            raise ValueError(f"MultiStepLR milestones must be increasing, got {list(milestones)}")
        self.milestones, self.gamma = list(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        factor = self.gamma ** self.milestones.count(self.last_epoch)
        return [lr * factor for lr in self._lrs()]


class ExponentialLR(LRScheduler):
    """lr *= gamma every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        return [lr * (self.gamma if self.last_epoch > 0 else 1.0) for lr in self._lrs()]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, in recursive form."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        e, t, lo = self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return self._lrs()
        if (e - 1 - t) % (2 * t) == 0:  # restarting upward after a full period
            return [
                lr + (base - lo) * (1 - math.cos(math.pi / t)) / 2
                for lr, base in zip(self._lrs(), self.base_lrs)
            ]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [lo + (lr - lo) * ratio for lr in self._lrs()]


class LinearLR(LRScheduler):
    """Warm-up: the lr factor goes linearly from start_factor to end_factor over total_iters steps."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(
                f"LinearLR factors must be in (0, 1] and [0, 1], got {start_factor}, {end_factor}"
            )
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        e, s, f = self.last_epoch, self.start_factor, self.end_factor
        if e == 0:
            return [lr * s for lr in self._lrs()]
        if e > self.total_iters:
            return self._lrs()
        factor = 1 + (f - s) / (self.total_iters * s + (e - 1) * (f - s))
        return [lr * factor for lr in self._lrs()]


class OneCycleLR(LRScheduler):
    """Smith's one-cycle policy (cosine): warm up from max_lr/div_factor to max_lr over
    pct_start of the steps, then anneal to max_lr/(div_factor*final_div_factor). With
    cycle_momentum, SGD momentum (or Adam beta1) moves the opposite way between max and base.
    Step it once per batch."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        last_epoch: int = -1,
    ) -> None:
        if total_steps <= 0:
            raise ValueError(f"OneCycleLR total_steps must be positive, got {total_steps}")
        if not 0 < pct_start < 1:
            raise ValueError(f"OneCycleLR pct_start must be in (0, 1), got {pct_start}")
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, Sequence) else [max_lr] * len(groups)
        self.phases = [
            (float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (float(total_steps - 1), "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]
        self.total_steps, self.cycle_momentum = total_steps, cycle_momentum
        for group, top in zip(groups, max_lrs):
            group.update(initial_lr=top / div_factor, max_lr=top, min_lr=top / div_factor / final_div_factor)
            if cycle_momentum:
                group.update(base_momentum=base_momentum, max_momentum=max_momentum)
                self._set_momentum(group, max_momentum)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _set_momentum(group: dict[str, Any], value: float) -> None:
        if "betas" in group:
            group["betas"] = (value, group["betas"][1])
        else:
            group["momentum"] = value

    def _next_lrs(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:  # as PyTorch: total_steps calls of step() after construction
            raise ValueError(f"OneCycleLR stepped {step} times, more than total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for end, lr_from, lr_to, mom_from, mom_to in self.phases:
                if step <= end or end == self.phases[-1][0]:  # the last phase takes every later step
                    pct = (step - start) / (end - start)
                    lrs.append(_cosine(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, _cosine(group[mom_from], group[mom_to], pct))
                    break
                start = end
        return lrs


def _cosine(start: float, end: float, pct: float) -> float:
    """From start (pct=0) to end (pct=1) along half a cosine."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class ReduceLROnPlateau:
    """Multiply the lr by `factor` when the metric has not improved for `patience` epochs."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        min_lr: float = 0.0,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau mode must be 'min' or 'max', got {mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau factor must be in (0, 1), got {factor}")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.min_lr = threshold, min_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0

    def _improved(self, metric: float) -> bool:
        """PyTorch's default relative threshold: better than best by a factor (1 -/+ threshold)."""
        if self.mode == "min":
            return metric < self.best * (1 - self.threshold)
        return metric > self.best * (1 + self.threshold)

    def step(self, metric: float) -> None:
        if self._improved(metric):
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                group["lr"] = max(group["lr"] * self.factor, self.min_lr)
            self.bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class ChainedScheduler:
    """Steps several chainable schedulers together; their factors multiply."""

    def __init__(self, schedulers: Sequence[LRScheduler]) -> None:
        self.schedulers = list(schedulers)
        self.optimizer = self.schedulers[0].optimizer

    def step(self) -> None:
        for s in self.schedulers:
            s.step()

    def get_last_lr(self) -> list[float]:
        return self.schedulers[-1].get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for s, saved in zip(self.schedulers, state["schedulers"]):
            s.load_state_dict(saved)


class SequentialLR:
    """Runs schedulers one after another, switching at the given epoch milestones (warm-up then
    decay); the next scheduler starts from its own first step."""

    def __init__(
        self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]
    ) -> None:
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR needs {len(schedulers) - 1} milestones for {len(schedulers)} schedulers, "
                f"got {len(milestones)}"
            )
        self.optimizer, self.schedulers, self.milestones = optimizer, list(schedulers), list(milestones)
        self.last_epoch = 0
        for group, base in zip(optimizer.param_groups, self.schedulers[0].base_lrs):
            group["lr"] = base
        for s in self.schedulers:  # undo the first step each made at construction ...
            s.last_epoch -= 1
        self.schedulers[0].step()  # ... and make only the first one's

    def step(self) -> None:
        self.last_epoch += 1
        if self.last_epoch in self.milestones:
            scheduler = self.schedulers[self.milestones.index(self.last_epoch) + 1]
            for group, base in zip(self.optimizer.param_groups, scheduler.base_lrs):
                group["lr"] = base
            scheduler.last_epoch = -1
            scheduler.step()
        else:
            self._active().step()

    def _active(self) -> LRScheduler:
        return self.schedulers[sum(1 for m in self.milestones if m <= self.last_epoch)]

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = state["last_epoch"]
        for s, saved in zip(self.schedulers, state["schedulers"]):
            s.load_state_dict(saved)
