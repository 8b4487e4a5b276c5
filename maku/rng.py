"""maku's global random generator (weight init, dropout, shuffling) and its saveable state.

One seedable NumPy generator, so `maku.manual_seed(0)` makes a run repeatable and a checkpoint
can store the state for an exact resume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Re-seed maku's global generator."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The global generator (draw from it; do not keep it across `manual_seed` calls)."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator's state as plain JSON-able data."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from `get_rng_state`."""
    _generator.bit_generator.state = state
