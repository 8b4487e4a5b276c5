"""Model inputs for the command line: arrays from .npy files, or seeded random ones.

`--input NAME=file.npy` (or just `file.npy` for a single-input model) becomes a feed dict;
commands that only need *some* input (info, bench, profile, compare) make a random one whose
symbolic dimensions are filled in: the batch axis from `--batch`, others with a default size.
"""

from __future__ import annotations

import os

import numpy as np

from maku.errors import InputError
from maku.runtime.session import Session, TensorInfo

DEFAULT_SPATIAL = 224  # for symbolic non-batch dimensions (e.g. a dynamic image height)


def concrete_shape(info: TensorInfo, batch: int = 1) -> tuple[int, ...]:
    """The input's shape with symbolic dims filled: axis 0 by `batch`, the others by a default size."""
    if info.shape is None:
        raise InputError(f"input {info.name!r} has no declared shape; give it with --input NAME=file.npy")
    shape = []
    for axis, dim in enumerate(info.shape):
        if isinstance(dim, int) and dim > 0:
            shape.append(dim)
        else:
            shape.append(batch if axis == 0 else DEFAULT_SPATIAL)
    return tuple(shape)


def random_feeds(session: Session, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs: uint8 pixels over 0..255, floats standard normal, integers zero."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in session.inputs:
        shape = concrete_shape(info, batch)
        if batch != shape[0] and isinstance(info.shape[0], int):
            raise InputError(
                f"{session.origin}: input {info.name!r} has a fixed batch size of {info.shape[0]}; "
                f"--batch {batch} is not possible for this model"
            )
        if info.dtype == np.uint8:
            feeds[info.name] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        elif info.dtype.kind == "f":
            feeds[info.name] = rng.standard_normal(shape).astype(info.dtype)
        else:
            feeds[info.name] = np.zeros(shape, dtype=info.dtype)
    return feeds


def load_array(path: str | os.PathLike) -> np.ndarray:
    """One array from a .npy file (no pickles), InputError naming the file otherwise."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a .npy array file ({exc})") from None


def parse_feeds(specs: list[str], session: Session) -> dict[str, np.ndarray]:
    """`["NAME=file.npy", ...]` -> feeds; a bare `file.npy` names the only input of the model."""
    feeds = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(session.inputs) != 1:
                names = ", ".join(i.name for i in session.inputs)
                raise InputError(
                    f"--input {spec}: the model has several inputs ({names}); write NAME=file.npy"
                )
            name, path = session.inputs[0].name, spec
        feeds[name] = load_array(path)
    return feeds
