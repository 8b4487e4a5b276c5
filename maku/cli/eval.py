"""`maku eval RUN_DIR|CHECKPOINT --data PATH`: test accuracy and confusion matrix of a trained model.

Prints the accuracy and the confusion matrix as text, and writes confusion.png beside the
checkpoint (or at --plot).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from maku.checkpoint import load_checkpoint
from maku.data import CIFAR10, DataLoader, transforms
from maku.errors import CheckpointError
from maku.evaluation import evaluate, format_confusion
from maku.models import get_model


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate a trained checkpoint on the CIFAR-10 test set", description=__doc__
    )
    p.add_argument("checkpoint", help="a run folder (uses best.safetensors) or a .safetensors checkpoint")
    p.add_argument("--data", required=True, help="folder with the CIFAR-10 JPEG zips or cifar-10-batches-py")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--plot", help="where to write the confusion matrix PNG (default: beside the checkpoint)")


def resolve_checkpoint(path: Path) -> Path:
    """A run folder means its best checkpoint."""
    return path / "best.safetensors" if path.is_dir() else path


def plot_confusion(confusion: np.ndarray, classes: list[str], accuracy: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(confusion, cmap="Blues")
    ax.set(
        xticks=range(len(classes)),
        yticks=range(len(classes)),
        xlabel="predicted",
        ylabel="true",
        title=f"test accuracy {100 * accuracy:.2f}%",
    )
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if count > confusion.max() / 2 else "black",
        )
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from maku.cli.train import CIFAR_MEAN, CIFAR_STD

    checkpoint = resolve_checkpoint(Path(args.checkpoint))
    state = load_checkpoint(checkpoint)
    if "model" not in state or "args" not in state:
        raise CheckpointError(f"{checkpoint} is not a `maku train` checkpoint (no model or args entry)")
    classes = list(state.get("classes", []))
    model = get_model(state["args"]["model"], num_classes=len(classes), width=state["args"]["width"])
    model.load_state_dict(state["model"])
    test = CIFAR10(
        args.data,
        train=False,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)]),
    )
    result = evaluate(model, DataLoader(test, args.batch_size), len(classes))
    print(
        f"{checkpoint}: epoch {state.get('epoch')}, test accuracy {100 * result.accuracy:.2f}% "
        f"({int(np.trace(result.confusion))}/{result.count}), loss {result.loss:.4f}"
    )
    print(format_confusion(result.confusion, classes))
    plot_path = Path(args.plot) if args.plot else checkpoint.with_name("confusion.png")
    plot_confusion(result.confusion, classes, result.accuracy, plot_path)
    print(f"wrote {plot_path}")
    return 0
