"""Generate the reference trajectories in tests/data/ with PyTorch (CPU build), once.

maku and its tests never import torch; this script is how the stored numbers were made:
    pip install torch==2.13.0 && python tools/make_training_references.py
It writes tests/data/optim_reference.json (optimizer parameter trajectories and scheduler
learning-rate sequences, each case described as data so the maku test rebuilds it by name) and
tests/data/mobilenet_v1_steps.json (the losses of a few SGD steps of a small CIFAR MobileNetV1,
built by maku with a fixed seed and copied layer by layer into an equivalent torch model).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"
STEPS = 8

OPTIMIZER_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
]

SCHEDULER_CASES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5], "gamma": 0.1}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.001}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 4}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 13}),
    ("ReduceLROnPlateau", {"patience": 1, "factor": 0.5}),
    (
        "ChainedScheduler",
        {
            "schedulers": [
                ["LinearLR", {"start_factor": 0.5, "total_iters": 3}],
                ["ExponentialLR", {"gamma": 0.9}],
            ]
        },
    ),
    (
        "SequentialLR",
        {
            "schedulers": [
                ["LinearLR", {"start_factor": 0.1, "total_iters": 2}],
                ["CosineAnnealingLR", {"T_max": 8}],
            ],
            "milestones": [3],
        },
    ),
]
PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.94, 0.8, 0.85, 0.86, 0.87, 0.7, 0.71, 0.72]


def initial_params() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(3), rng.standard_normal((2, 2))]


def gradient(p: np.ndarray) -> np.ndarray:
    """The gradient both sides apply: of sum(p^4/4 + p^2 - p)."""
    return p**3 + 2 * p - 1


def optimizer_trajectory(name: str, kwargs: dict) -> list[list[list[float]]]:
    params = [torch.tensor(p, requires_grad=True) for p in initial_params()]
    opt = getattr(torch.optim, name)(params, **kwargs)
    trajectory = []
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.from_numpy(gradient(p.detach().numpy()))
        opt.step()
        trajectory.append([p.detach().numpy().ravel().tolist() for p in params])
    return trajectory


def build_scheduler(opt, name: str, kwargs: dict):
    sched = torch.optim.lr_scheduler
    if name in ("ChainedScheduler", "SequentialLR"):
        inner = [build_scheduler(opt, n, k) for n, k in kwargs["schedulers"]]
        if name == "ChainedScheduler":
            return sched.ChainedScheduler(inner)
        return sched.SequentialLR(opt, inner, milestones=kwargs["milestones"])
    return getattr(sched, name)(opt, **kwargs)


def scheduler_trajectory(name: str, kwargs: dict) -> dict[str, list[float]]:
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = build_scheduler(opt, name, kwargs)
    lrs, momenta = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for step in range(12):
        opt.step()
        scheduler.step(PLATEAU_METRICS[step]) if name == "ReduceLROnPlateau" else scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
    return {"lr": lrs, "momentum": momenta}


TRAIN_STEPS = dict(seed=0, width=0.25, batch=8, steps=5, lr=0.05, momentum=0.9, weight_decay=5e-4)


def torch_copy_of_sequential_maku_model(model) -> torch.nn.Sequential:
    """A torch NCHW twin of a maku model whose forward is its leaf modules in order (MobileNetV1)."""
    from maku import nn as mnn

    layers = []
    for m in model.modules():
        if isinstance(m, mnn.Conv2d):
            conv = torch.nn.Conv2d(
                m.in_channels,
                m.out_channels,
                m.kernel_size,
                m.stride,
                m.padding,
                m.dilation,
                m.groups,
                bias=m.bias is not None,
            )
            conv.weight.data = torch.from_numpy(m.weight.data.transpose(3, 2, 0, 1).copy())
            layers.append(conv)
        elif isinstance(m, mnn.BatchNorm2d):
            layers.append(torch.nn.BatchNorm2d(m.num_features, m.eps, m.momentum))
        elif isinstance(m, mnn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(m, mnn.AdaptiveAvgPool2d):
            layers.append(torch.nn.AdaptiveAvgPool2d(1))
        elif isinstance(m, mnn.Flatten):
            layers.append(torch.nn.Flatten())
        elif isinstance(m, mnn.Linear):
            linear = torch.nn.Linear(m.in_features, m.out_features)
            linear.weight.data = torch.from_numpy(m.weight.data.copy())
            linear.bias.data = torch.from_numpy(m.bias.data.copy())
            layers.append(linear)
    return torch.nn.Sequential(*layers)


def mobilenet_v1_steps() -> dict:
    from maku.models import mobilenet_v1_cifar
    from maku.rng import manual_seed

    cfg = TRAIN_STEPS
    manual_seed(cfg["seed"])
    model = torch_copy_of_sequential_maku_model(mobilenet_v1_cifar(10, cfg["width"])).double()
    rng = np.random.default_rng(cfg["seed"])
    images = rng.standard_normal((cfg["batch"], 32, 32, 3))
    labels = rng.integers(0, 10, cfg["batch"])
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"]
    )
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    losses = []
    for _ in range(cfg["steps"]):
        loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    eval_logits = model(x).detach().numpy()
    return {**cfg, "losses": losses, "eval_logits_first_row": eval_logits[0].tolist()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    reference = {
        "torch_version": torch.__version__,
        "steps": STEPS,
        "initial_params": [p.ravel().tolist() for p in initial_params()],
        "optimizers": [
            {"name": n, "kwargs": k, "trajectory": optimizer_trajectory(n, k)} for n, k in OPTIMIZER_CASES
        ],
        "plateau_metrics": PLATEAU_METRICS,
        "schedulers": [{"name": n, "kwargs": k, **scheduler_trajectory(n, k)} for n, k in SCHEDULER_CASES],
    }
    (OUT / "optim_reference.json").write_text(json.dumps(reference, indent=1))
    (OUT / "mobilenet_v1_steps.json").write_text(json.dumps(mobilenet_v1_steps(), indent=1))
    print(f"wrote {OUT / 'optim_reference.json'} and {OUT / 'mobilenet_v1_steps.json'}")


if __name__ == "__main__":
    main()
