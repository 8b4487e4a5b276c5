"""Dataset and TensorDataset: indexable collections of samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from maku.errors import ShapeError
from maku.tensor import Tensor


class Dataset:
    """A sized, indexable collection; subclasses define `__len__` and `__getitem__`."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the index-th rows of equally long arrays (or Tensors)."""

    def __init__(self, *arrays: np.ndarray | Tensor) -> None:
        self.arrays = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
        lengths = {len(a) for a in self.arrays}
        if len(lengths) > 1:
            raise ShapeError(f"TensorDataset arrays differ in length: {[len(a) for a in self.arrays]}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)
