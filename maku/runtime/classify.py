"""Image classification on top of a Session: preprocess, run, label the top-k scores.

Labels are matched to the model's class count: 1001 outputs (TF models with a "background"
class 0) use the background list, 1000 the plain ImageNet list, 10 CIFAR-10. Scores that are
not already probabilities get a softmax.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from maku import assets
from maku.errors import InputError
from maku.runtime.preprocess import input_spec, preprocess
from maku.runtime.session import Session

LABELS_BY_CLASS_COUNT = {1001: "imagenet_background", 1000: "imagenet", 10: "cifar10"}


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def class_labels(n_classes: int, labels: str | None = None) -> list[str]:
    """Names for `n_classes` outputs: a bundled set ("imagenet", "cifar10"), a file, or chosen by count.

    A 1000-name list given for a 1001-class model gets "background" put in front.
    """
    if labels is None:
        if n_classes not in LABELS_BY_CLASS_COUNT:
            return [f"class {i}" for i in range(n_classes)]
        labels = LABELS_BY_CLASS_COUNT[n_classes]
    if labels == "imagenet" and n_classes == 1001:
        labels = "imagenet_background"
    names = assets.labels(labels) if labels in assets.LABEL_FILES else assets.read_labels(labels)
    if len(names) == n_classes - 1:
        names = ["background", *names]
    if len(names) != n_classes:
        raise InputError(f"{labels}: {len(names)} labels for a model with {n_classes} classes")
    return names


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, unless the scores already are probabilities (in [0, 1], summing to 1)."""
    scores = scores.astype(np.float64)
    if scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(axis=-1), 1.0, atol=1e-3):
        return scores
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def top_k(probabilities: np.ndarray, names: list[str], k: int = 5) -> list[Prediction]:
    """The k most likely classes of one score vector (ties go to the lower index)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [Prediction(int(i), names[i], float(probabilities[i])) for i in order]


class Classifier:
    """A Session with its preprocessing and labels, for classifying image files."""

    def __init__(self, session: Session, *, labels: str | None = None, preprocess_mode: str | None = None):
        if len(session.inputs) != 1:
            raise InputError(
                f"{session.origin}: classify needs a model with one image input, not {len(session.inputs)}"
            )
        image = session.inputs[0]
        self.session = session
        self.spec = input_spec(image.shape or (), image.dtype, preprocess_mode, session.origin)
        self.labels_option = labels
        self._names: list[str] | None = None

    def classify(self, image: str | os.PathLike, k: int = 5) -> list[Prediction]:
        """The top-k predictions for one image file."""
        scores = self.session(preprocess(image, self.spec))
        if isinstance(scores, tuple):
            scores = scores[0]
        probabilities = as_probabilities(scores.reshape(-1))
        if self._names is None:
            self._names = class_labels(probabilities.size, self.labels_option)
        return top_k(probabilities, self._names, k)
