"""maku.evaluation: the loss, accuracy and confusion matrix `maku train` and `maku eval` report."""

from __future__ import annotations

import numpy as np

import maku
from maku.evaluation import summarize
from maku.nn import functional as F


def test_summarize_matches_cross_entropy_and_counts_every_prediction() -> None:
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(n, 4)).astype(np.float32) * 5, rng.integers(0, 4, n)) for n in (7, 5, 1)]
    result = summarize(batches, 4)
    logits = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    expected_loss = F.cross_entropy(maku.Tensor(logits.astype(np.float64)), labels).item()
    assert abs(result.loss - expected_loss) < 1e-6 * expected_loss
    predicted = logits.argmax(axis=1)
    assert result.accuracy == (predicted == labels).mean()
    assert result.count == 13 and result.confusion.sum(axis=1).tolist() == np.bincount(labels, minlength=4).tolist()
    assert all(result.confusion[t, p] >= 1 for t, p in zip(labels, predicted))
