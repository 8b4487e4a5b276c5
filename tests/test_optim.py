"""Optimizers and LR schedulers through one table-driven harness, against PyTorch trajectories
stored in tests/data/optim_reference.json (made by tools/make_training_references.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from maku import optim
from maku.errors import CheckpointError
from maku.nn import Parameter
from maku.optim import lr_scheduler

REFERENCE = json.loads((Path(__file__).parent / "data" / "optim_reference.json").read_text())


def initial_params() -> list[Parameter]:
    shapes = [(3,), (2, 2)]
    return [
        Parameter(np.array(p, np.float64).reshape(s)) for p, s in zip(REFERENCE["initial_params"], shapes)
    ]


def gradient(p: np.ndarray) -> np.ndarray:
    return p**3 + 2 * p - 1  # the same gradient the reference applied


def run_steps(opt: optim.Optimizer, params: list[Parameter], steps: int) -> list[list[np.ndarray]]:
    trajectory = []
    for _ in range(steps):
        for p in params:
            p.grad = gradient(p.data)
        opt.step()
        trajectory.append([p.data.ravel().copy() for p in params])
    return trajectory


@pytest.mark.parametrize(
    "case", REFERENCE["optimizers"], ids=lambda c: f"{c['name']}-{json.dumps(c['kwargs'])}"
)
def test_optimizer_matches_reference(case: dict) -> None:
    params = initial_params()
    opt = getattr(optim, case["name"])(params, **case["kwargs"])
    for got, expected in zip(run_steps(opt, params, REFERENCE["steps"]), case["trajectory"]):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "case", REFERENCE["optimizers"], ids=lambda c: f"{c['name']}-{json.dumps(c['kwargs'])}"
)
def test_optimizer_state_dict_resumes_exactly(case: dict) -> None:
    params = initial_params()
    opt = getattr(optim, case["name"])(params, **case["kwargs"])
    run_steps(opt, params, 3)
    saved, saved_params = opt.state_dict(), [p.data.copy() for p in params]
    resumed_params = [Parameter(d.copy()) for d in saved_params]
    resumed = getattr(optim, case["name"])(resumed_params, **case["kwargs"])
    resumed.load_state_dict(saved)
    for a, b in zip(run_steps(opt, params, 3), run_steps(resumed, resumed_params, 3)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def build_scheduler(opt: optim.Optimizer, name: str, kwargs: dict):
    if name in ("ChainedScheduler", "SequentialLR"):
        inner = [build_scheduler(opt, n, k) for n, k in kwargs["schedulers"]]
        if name == "ChainedScheduler":
            return lr_scheduler.ChainedScheduler(inner)
        return lr_scheduler.SequentialLR(opt, inner, milestones=kwargs["milestones"])
    return getattr(lr_scheduler, name)(opt, **kwargs)


@pytest.mark.parametrize("case", REFERENCE["schedulers"], ids=lambda c: c["name"])
def test_scheduler_matches_reference(case: dict) -> None:
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    scheduler = build_scheduler(opt, case["name"], case["kwargs"])
    lrs, momenta = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for step in range(len(case["lr"]) - 1):
        if case["name"] == "ReduceLROnPlateau":
            scheduler.step(REFERENCE["plateau_metrics"][step])
        else:
            scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
    np.testing.assert_allclose(lrs, case["lr"], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(momenta, case["momentum"], rtol=1e-9)


# (constructor, kwargs, exception, message fragment): bad arguments get exact messages
ERROR_CASES = [
    (optim.SGD, dict(lr=-1.0), ValueError, "lr must be >= 0"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), ValueError, "momentum must be >= 0"),
    (optim.SGD, dict(lr=0.1, nesterov=True), ValueError, "nesterov momentum requires momentum > 0"),
    (optim.Adam, dict(betas=(1.0, 0.999)), ValueError, "betas must be in [0, 1)"),
    (optim.AdamW, dict(eps=-1e-8), ValueError, "eps must be >= 0"),
    (optim.SGD, dict(lr=0.1, bogus=1), TypeError, "bogus"),
]


@pytest.mark.parametrize("cls,kwargs,error,message", ERROR_CASES, ids=[str(c[1]) for c in ERROR_CASES])
def test_optimizer_argument_errors(cls, kwargs, error, message) -> None:
    with pytest.raises(error, match=__import__("re").escape(message)):
        cls(initial_params(), **kwargs)


def test_optimizer_rejects_empty_and_frozen_params() -> None:
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="require grad"):
        optim.SGD([Parameter(np.zeros(2), requires_grad=False)], lr=0.1)


def test_param_groups_have_their_own_hyperparameters() -> None:
    a, b = initial_params()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.0}], lr=0.1)
    before_b = b.data.copy()
    a.grad, b.grad = np.ones_like(a.data), np.ones_like(b.data)
    opt.step()
    np.testing.assert_array_equal(b.data, before_b)
    assert opt.param_groups[1]["lr"] == 0.0 and opt.param_groups[0]["lr"] == 0.1


def test_zero_grad_clears_gradients() -> None:
    params = initial_params()
    opt = optim.Adam(params)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_load_state_dict_with_other_groups_fails() -> None:
    params = initial_params()
    saved = optim.SGD(params, lr=0.1).state_dict()
    with pytest.raises(CheckpointError, match="parameter groups of sizes"):
        optim.SGD(params[:1], lr=0.1).load_state_dict(saved)


SCHEDULER_ERRORS = [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size must be positive"),
    (lambda o: lr_scheduler.MultiStepLR(o, [5, 2]), "milestones must be increasing"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max must be positive"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), "LinearLR factors"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=0), "total_steps must be positive"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), "mode must be 'min' or 'max'"),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[1]),
        "needs 0 milestones",
    ),
]


@pytest.mark.parametrize("make,message", SCHEDULER_ERRORS, ids=[m for _, m in SCHEDULER_ERRORS])
def test_scheduler_argument_errors(make, message) -> None:
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make(optim.SGD(initial_params(), lr=0.1))


def test_onecycle_refuses_extra_steps() -> None:
    opt = optim.SGD(initial_params(), lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(opt, 0.1, total_steps=2)
    scheduler.step()
    scheduler.step()  # one step() per batch: total_steps of them are allowed
    with pytest.raises(ValueError, match="more than total_steps"):
        scheduler.step()
