"""Latency measurement: warm-up, then timed runs of several contenders taken in turn.

Alternating the contenders run by run (instead of timing one, then the other) spreads the noise
of a shared machine over all of them; medians and the 90th percentile summarize it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm


@dataclass(frozen=True)
class Latency:
    """Summary of one contender's run times, in milliseconds."""

    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize(seconds: list[float]) -> Latency:
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return Latency(
        len(ms), float(np.median(ms)), float(np.percentile(ms, 90)), float(ms.min()), float(ms.mean())
    )


def time_alternating(
    contenders: dict[str, Callable[[], object]],
    *,
    runs: int = 20,
    warmup: int = 3,
    progress: str | None = None,
) -> dict[str, Latency]:
    """Warm each contender up, then time `runs` rounds in which every contender runs once.

    progress: a tqdm bar description (shown on stderr), or None for no bar.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in tqdm(range(runs), desc=progress, disable=progress is None, leave=False, unit="round"):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: summarize(t) for name, t in times.items()}
