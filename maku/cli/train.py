"""`maku train`: train a MobileNet on CIFAR-10 with SGD, writing a run folder.

RUN_DIR gets metrics.csv (one row per epoch), curves.png, last.safetensors (everything needed
to resume exactly), best.safetensors (best test accuracy) and, at the end, model.onnx.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from maku.checkpoint import load_checkpoint, save
from maku.data import CIFAR10, DataLoader, transforms
from maku.data.cifar10 import CLASSES
from maku.errors import CheckpointError, InputError
from maku.evaluation import evaluate
from maku.models import MODELS, get_model
from maku.nn import CrossEntropyLoss, Module
from maku.optim import SGD, lr_scheduler
from maku.rng import get_rng_state, manual_seed, set_rng_state

# per-channel mean and std of the CIFAR-10 JPEG train set (../shared/data MANIFEST.md), on 0..1
CIFAR_MEAN = (0.4913, 0.4821, 0.4465)
CIFAR_STD = (0.2452, 0.2428, 0.2606)
# options that may change between a run and its resumption; every other option is the recipe
RUNTIME_OPTIONS = {
    "command",
    "debug",
    "data",
    "out",
    "resume",
    "threads",
    "workers",
    "no_progress",
    "no_export",
}
METRIC_FIELDS = [
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "epoch_seconds",
    "images_per_second",
]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a MobileNet on CIFAR-10",
        description=__doc__ + "\nThe defaults are the recipe in docs/training.md.",
    )
    p.add_argument("model", choices=sorted(MODELS), help="architecture (mobilenet_v1 is the CIFAR variant)")
    p.add_argument("--data", required=True, help="folder with the CIFAR-10 JPEG zips or cifar-10-batches-py")
    p.add_argument("--out", required=True, help="run folder (created; holds metrics, plots, checkpoints)")
    p.add_argument("--epochs", type=int, default=40, help="%(default)s")
    p.add_argument("--batch-size", type=int, default=128, help="%(default)s")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (%(default)s)")
    p.add_argument("--momentum", type=float, default=0.9, help="%(default)s")
    p.add_argument(
        "--weight-decay",
        type=float,
        default=5e-4,
        help="L2 on conv/linear weights, not BN or biases (%(default)s)",
    )
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True, help="Nesterov momentum (on)")
    p.add_argument("--schedule", choices=["cosine", "step", "onecycle"], default="cosine", help="%(default)s")
    p.add_argument(
        "--warmup-epochs", type=int, default=1, help="linear warm-up before cosine/step (%(default)s)"
    )
    p.add_argument("--label-smoothing", type=float, default=0.0, help="%(default)s")
    p.add_argument("--width", type=float, default=0.5, help="width multiplier (%(default)s)")
    p.add_argument("--workers", type=int, default=0, help="data loader worker processes (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="%(default)s")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads (%(default)s; on 2 cores a second one was 1.37x faster idle, 2.2x slower with one core busy)",
    )
    p.add_argument(
        "--limit-train", type=int, default=0, help="use a fixed random N training images (smoke runs)"
    )
    p.add_argument("--limit-test", type=int, default=0, help="use a fixed random N test images")
    p.add_argument("--no-export", action="store_true", help="skip writing model.onnx at the end")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (for logs)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from RUN_DIR/last.safetensors with the saved recipe (other options are ignored)",
    )


def _datasets(args: argparse.Namespace) -> tuple[Any, Any]:
    normalize = [transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)]
    augment = transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), *normalize]
    )
    train = CIFAR10(args.data, train=True, transform=augment)
    test = CIFAR10(args.data, train=False, transform=transforms.Compose(normalize))
    for dataset, limit in ((train, args.limit_train), (test, args.limit_test)):
        if limit:  # a fixed random subset: the files are sorted by class
            keep = np.sort(np.random.default_rng(0).permutation(len(dataset))[:limit])
            dataset.images, dataset.labels = dataset.images[keep], dataset.labels[keep]
    return train, test


def _optimizer(model: Module, args: argparse.Namespace) -> SGD:
    """SGD with weight decay on conv and linear weights only (decaying BN scales and biases hurts)."""
    decayed = [p for p in model.parameters() if p.ndim > 1]
    plain = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decayed, "weight_decay": args.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)


def _scheduler(optimizer: SGD, args: argparse.Namespace, steps_per_epoch: int) -> tuple[Any, bool]:
    """(scheduler, steps per batch?) for --schedule; cosine and step start with a linear warm-up."""
    if args.schedule == "onecycle":
        return lr_scheduler.OneCycleLR(optimizer, args.lr, args.epochs * steps_per_epoch), True
    warmup = min(args.warmup_epochs, args.epochs - 1)
    rest = args.epochs - warmup
    if args.schedule == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(rest, 1))
    else:
        main = lr_scheduler.MultiStepLR(optimizer, [rest // 2, rest * 3 // 4], gamma=0.1)
    if warmup <= 0:
        return main, False
    first = lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    return lr_scheduler.SequentialLR(optimizer, [first, main], milestones=[warmup]), False


class RunFolder:
    """The files of one run: metrics.csv, curves.png, checkpoints, args.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.metrics, self.last, self.best = (
            path / "metrics.csv",
            path / "last.safetensors",
            path / "best.safetensors",
        )

    def append_metrics(self, row: dict[str, float]) -> None:
        new = not self.metrics.exists()
        with open(self.metrics, "a", newline="") as f:
            writer = csv.DictWriter(f, METRIC_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    def read_metrics(self) -> list[dict[str, float]]:
        if not self.metrics.exists():
            return []
        with open(self.metrics) as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def plot(self) -> None:
        """curves.png: loss and accuracy per epoch, train and test."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.read_metrics()
        epochs = [r["epoch"] for r in rows]
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for split in ("train", "test"):
            ax_loss.plot(epochs, [r[f"{split}_loss"] for r in rows], marker=".", label=split)
            ax_acc.plot(epochs, [100 * r[f"{split}_acc"] for r in rows], marker=".", label=split)
        ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(self.path / "curves.png", dpi=100)
        plt.close(fig)


def _train_epoch(
    model: Module,
    loader: DataLoader,
    loss_fn: CrossEntropyLoss,
    optimizer: SGD,
    batch_scheduler: Any,
    progress: bool,
    desc: str,
) -> tuple[float, float, float]:
    """One pass over the training data; returns (mean loss, accuracy, images per second)."""
    from tqdm import tqdm

    model.train()
    seen = correct = 0
    total_loss = 0.0
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True)
    for images, labels in bar:
        logits = model(images)
        loss = loss_fn(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        n = len(labels)
        seen += n
        total_loss += loss.item() * n
        correct += int((logits.data.argmax(axis=1) == labels.data).sum())
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}")
    return total_loss / max(seen, 1), correct / max(seen, 1), seen / (time.perf_counter() - start)


def keep_freed_memory() -> None:
    """Ask glibc to reuse freed blocks up to 32 MiB rather than unmapping them: training allocates
    the same large activation arrays every step, and fresh pages cost a page fault each."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)


def run(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    keep_freed_memory()
    with threadpool_limits(limits=args.threads):
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    run_dir = RunFolder(Path(args.out))
    if args.resume:
        if not run_dir.last.exists():
            raise CheckpointError(f"--resume: no {run_dir.last} to resume from")
        state = load_checkpoint(run_dir.last)
        for key, value in state["args"].items():  # the recipe is the saved run's; how to run it is ours
            if key not in RUNTIME_OPTIONS:
                setattr(args, key, value)
    else:
        if run_dir.last.exists():
            raise InputError(
                f"{run_dir.path} already holds a run; pass --resume to continue it or choose another --out"
            )
        state = None
    manual_seed(args.seed)
    train_set, test_set = _datasets(args)
    train_loader = DataLoader(
        train_set, args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers
    )
    test_loader = DataLoader(test_set, 500)
    model = get_model(args.model, num_classes=len(CLASSES), width=args.width)
    optimizer = _optimizer(model, args)
    scheduler, per_batch = _scheduler(optimizer, args, len(train_loader))
    start_epoch, best_acc = 1, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start_epoch, best_acc = state["epoch"] + 1, state["best_acc"]
        if start_epoch > args.epochs:
            print(f"{run_dir.path} finished all {args.epochs} epochs; nothing to train")
        else:
            print(f"resuming {run_dir.path} at epoch {start_epoch} (best test accuracy so far {best_acc:.4f})")
    else:
        (run_dir.path / "args.json").write_text(json.dumps(vars(args), indent=2))
    loss_fn = CrossEntropyLoss(label_smoothing=args.label_smoothing)
    for epoch in range(start_epoch, args.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        epoch_start = time.perf_counter()
        train_loss, train_acc, rate = _train_epoch(
            model,
            train_loader,
            loss_fn,
            optimizer,
            scheduler if per_batch else None,
            not args.no_progress,
            f"epoch {epoch}/{args.epochs}",
        )
        if not per_batch:
            scheduler.step()
        result = evaluate(model, test_loader, len(CLASSES))
        seconds = time.perf_counter() - epoch_start
        row = dict(
            epoch=epoch,
            lr=lr,
            train_loss=train_loss,
            train_acc=train_acc,
            test_loss=result.loss,
            test_acc=result.accuracy,
            epoch_seconds=seconds,
            images_per_second=rate,
        )
        run_dir.append_metrics(row)
        run_dir.plot()
        checkpoint = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": get_rng_state(),
            "epoch": epoch,
            "best_acc": max(best_acc, result.accuracy),
            "args": vars(args),
            "classes": list(CLASSES),
            "test_acc": result.accuracy,
        }
        if result.accuracy > best_acc:
            best_acc = result.accuracy
            save(checkpoint, run_dir.best)
        save(checkpoint, run_dir.last)
        print(
            f"epoch {epoch}/{args.epochs}  lr {lr:.4g}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
            f"test loss {result.loss:.4f} acc {result.accuracy:.4f}  {seconds:.0f}s  {rate:.1f} img/s",
            flush=True,
        )
    if not args.no_export:
        _export_best(run_dir, args)
    print(f"done: best test accuracy {best_acc:.4f}; run folder {run_dir.path}")
    return 0


def _export_best(run_dir: RunFolder, args: argparse.Namespace) -> None:
    """model.onnx from the best checkpoint: raw uint8 NHWC pixels in, logits out."""
    from maku.onnx.export import export_classifier

    state = load_checkpoint(run_dir.best)
    model = get_model(args.model, num_classes=len(CLASSES), width=args.width)
    model.load_state_dict(state["model"])
    recipe = {key: value for key, value in state["args"].items() if key not in RUNTIME_OPTIONS}
    metadata = {
        "classes": json.dumps(list(CLASSES)),
        "recipe": json.dumps(recipe),  # no local paths or thread counts: those are not the recipe
        "epoch": str(state["epoch"]),
        "test_accuracy": f"{state['test_acc']:.4f}",
    }
    export_classifier(model, run_dir.path / "model.onnx", (32, 32, 3), CIFAR_MEAN, CIFAR_STD, metadata)
    print(f"exported {run_dir.path / 'model.onnx'}")
