"""maku.optim: SGD, Adam, AdamW and learning-rate schedulers (`maku.optim.lr_scheduler`)."""

from maku.optim import lr_scheduler
from maku.optim.adam import Adam, AdamW
from maku.optim.optimizer import Optimizer
from maku.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
