"""Evaluation of a classifier over a DataLoader: mean loss, accuracy and the confusion matrix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from maku.autograd import no_grad
from maku.data.dataloader import DataLoader
from maku.nn.module import Module


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    confusion: np.ndarray  # confusion[true, predicted] counts

    @property
    def count(self) -> int:
        return int(self.confusion.sum())


def evaluate(model: Module, loader: DataLoader, num_classes: int) -> EvalResult:
    """Run `model` in eval mode over `loader` ((images, labels) batches), restoring its mode after."""
    was_training = model.training
    model.eval()
    with no_grad():
        result = summarize(((model(images).data, labels.data) for images, labels in loader), num_classes)
    model.train(was_training)
    return result


def summarize(batches: Iterable[tuple[np.ndarray, np.ndarray]], num_classes: int) -> EvalResult:
    """Mean cross-entropy, accuracy and confusion over (logits, labels) batches."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    total_loss = 0.0
    for logits, labels in batches:
        logits = logits.astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        total_loss -= log_probs[np.arange(len(labels)), labels].sum()
        np.add.at(confusion, (labels, logits.argmax(axis=1)), 1)
    count = max(int(confusion.sum()), 1)
    return EvalResult(total_loss / count, float(np.trace(confusion)) / count, confusion)


def format_confusion(confusion: np.ndarray, class_names: list[str]) -> str:
    """The confusion matrix as aligned text: rows are true classes, columns predictions."""
    short = [name[:6] for name in class_names]
    width = max(6, len(str(confusion.max())))
    lines = [" " * 12 + " ".join(f"{s:>{width}}" for s in short)]
    for name, row in zip(class_names, confusion):
        lines.append(f"{name[:11]:>11} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
