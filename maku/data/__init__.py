"""maku.data: datasets, the DataLoader, CIFAR-10 and image transforms (channels-last)."""

from maku.data import transforms
from maku.data.cifar10 import CIFAR10
from maku.data.dataloader import DataLoader, default_collate
from maku.data.dataset import Dataset, TensorDataset

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate", "CIFAR10", "transforms"]
