"""`maku eval RUN_DIR|CHECKPOINT|MODEL --data PATH`: test accuracy and confusion matrix of a trained model.

A run folder or checkpoint is evaluated with maku's training code; an ONNX or .maku classifier
that takes raw uint8 NHWC pixels (what `maku train` exports; `cifar10` names the bundled one)
runs in maku's runtime. Prints the accuracy and the confusion matrix as text, and writes
confusion.png beside the checkpoint or model (or at --plot).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from maku.checkpoint import load_checkpoint
from maku.data import CIFAR10, DataLoader, transforms
from maku.data.cifar10 import CLASSES
from maku.errors import CheckpointError, InputError
from maku.evaluation import EvalResult, evaluate, format_confusion, summarize
from maku.models import get_model
from maku.models.pretrained import pretrained
from maku.runtime.session import load

MODEL_SUFFIXES = {".onnx", ".maku"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate a trained checkpoint on the CIFAR-10 test set", description=__doc__
    )
    p.add_argument(
        "checkpoint",
        help="a run folder (uses best.safetensors), a .safetensors checkpoint, an exported .onnx/.maku "
        "classifier, or cifar10 (the bundled model)",
    )
    p.add_argument("--data", required=True, help="folder with the CIFAR-10 JPEG zips or cifar-10-batches-py")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--threads", type=int, default=1, help="threads (%(default)s)")
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
    if args.checkpoint == "cifar10":  # the bundled model: its plot goes to the working folder
        result, classes, title = _evaluate_model_file(pretrained("mobilenet_v1_cifar10"), args)
        default_plot = Path("confusion.png")
    elif Path(args.checkpoint).suffix in MODEL_SUFFIXES:
        model_path = Path(args.checkpoint)
        result, classes, title = _evaluate_model_file(model_path, args)
        default_plot = model_path.with_name("confusion.png")
    else:
        checkpoint = resolve_checkpoint(Path(args.checkpoint))
        result, classes, title = _evaluate_checkpoint(checkpoint, args)
        default_plot = checkpoint.with_name("confusion.png")
    print(
        f"{title}: test accuracy {100 * result.accuracy:.2f}% "
        f"({int(np.trace(result.confusion))}/{result.count}), loss {result.loss:.4f}"
    )
    print(format_confusion(result.confusion, classes))
    plot_path = Path(args.plot) if args.plot else default_plot
    plot_confusion(result.confusion, classes, result.accuracy, plot_path)
    print(f"wrote {plot_path}")
    return 0


def _evaluate_checkpoint(checkpoint: Path, args: argparse.Namespace) -> tuple[EvalResult, list[str], str]:
    from maku.cli.train import CIFAR_MEAN, CIFAR_STD

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
    with threadpool_limits(limits=args.threads):
        result = evaluate(model, DataLoader(test, args.batch_size), len(classes))
    return result, classes, f"{checkpoint}: epoch {state.get('epoch')}"


def _evaluate_model_file(path: Path, args: argparse.Namespace) -> tuple[EvalResult, list[str], str]:
    """Accuracy of an exported classifier run by maku's runtime on the raw uint8 test images."""
    session = load(path, threads=args.threads)
    (info,) = session.inputs
    if info.dtype != np.uint8 or tuple(info.shape[1:]) != (32, 32, 3):
        raise InputError(
            f"{path}: maku eval runs CIFAR-10 classifiers that take raw uint8 NHWC pixels [N, 32, 32, 3] "
            f"(as `maku train` exports them); this model's input {info.name!r} is "
            f"{info.dtype} {list(info.shape)}"
        )
    output = session.outputs[0]
    if output.shape[-1] != len(CLASSES):
        raise InputError(f"{path}: output {output.name!r} has shape {list(output.shape)}, not 10 CIFAR-10 logits")
    test = CIFAR10(args.data, train=False)
    batches = (
        (session.run({info.name: test.images[i : i + args.batch_size]})[output.name], test.labels[i : i + args.batch_size])
        for i in range(0, len(test), args.batch_size)
    )
    return summarize(batches, len(CLASSES)), list(CLASSES), f"{path} (maku runtime, {session.backend} backend)"
