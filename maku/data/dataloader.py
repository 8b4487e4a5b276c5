"""DataLoader: batches of a Dataset, shuffled by a seedable generator, optionally built by worker
processes that prefetch ahead so decoding and augmentation overlap the training step."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from maku.data.dataset import Dataset
from maku.rng import generator as global_generator
from maku.rng import manual_seed
from maku.tensor import Tensor


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack samples: arrays and numbers become one Tensor each; tuples are collated per field."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(field) for field in zip(*samples))
    if isinstance(first, Tensor):
        return Tensor(np.stack([s.data for s in samples]), dtype=first.dtype)
    stacked = np.stack([np.asarray(s) for s in samples])
    return Tensor(stacked, dtype=np.float32 if stacked.dtype.kind == "f" else stacked.dtype)


_worker_dataset: Dataset | None = None
_worker_collate: Callable[[Sequence[Any]], Any] | None = None


def _init_worker(dataset: Dataset, collate: Callable[[Sequence[Any]], Any]) -> None:
    global _worker_dataset, _worker_collate
    _worker_dataset, _worker_collate = dataset, collate


def _load_batch(indices: list[int], seed: int) -> Any:
    """Worker side: seed maku's generator for this batch (so augmentation is reproducible), then load."""
    manual_seed(seed)
    return _worker_collate([_worker_dataset[i] for i in indices])


class DataLoader:
    """Iterate a dataset in batches.

    shuffle draws a permutation per epoch from `generator` (default: maku's global generator, so
    `maku.manual_seed` and checkpointed RNG state make it repeatable). With num_workers > 0,
    batches are loaded by that many processes, up to num_workers * prefetch_factor ahead; each
    batch seeds the worker's generator from the loader's generator.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[Sequence[Any]], Any] | None = None,
        num_workers: int = 0,
        prefetch_factor: int = 2,
        generator: np.random.Generator | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"DataLoader batch_size must be a positive integer, got {batch_size!r}")
        if num_workers < 0 or prefetch_factor < 1:
            raise ValueError(
                f"DataLoader needs num_workers >= 0 and prefetch_factor >= 1, got {num_workers}, {prefetch_factor}"
            )
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.collate_fn = collate_fn or default_collate
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self) -> list[list[int]]:
        n = len(self.dataset)
        rng = self.generator or global_generator()
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches()
        if self.num_workers == 0:
            for indices in batches:
                yield self.collate_fn([self.dataset[i] for i in indices])
            return
        yield from self._iter_workers(batches)

    def _iter_workers(self, batches: list[list[int]]) -> Iterator[Any]:
        rng = self.generator or global_generator()
        seeds = rng.integers(0, 2**63 - 1, len(batches)).tolist()
        context = multiprocessing.get_context("fork")
        with context.Pool(self.num_workers, _init_worker, (self.dataset, self.collate_fn)) as pool:
            pending: deque = deque()
            ahead = self.num_workers * self.prefetch_factor
            for index, indices in enumerate(batches):
                pending.append(pool.apply_async(_load_batch, (indices, seeds[index])))
                if len(pending) >= ahead:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()
