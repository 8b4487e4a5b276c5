"""Checkpoints in safetensors format: loading a file never runs code (unlike pickle).

`save(obj, path)` takes a nested dict (model state_dict, optimizer and scheduler state, epoch,
RNG state, ...). Arrays become safetensors tensors named by their path in the dict ("model/
features.0.0.weight"); everything else (numbers, strings, lists, the dict structure itself) is
stored as JSON in the file's metadata. `load_checkpoint(path)` rebuilds the same dict.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from maku.errors import CheckpointError

FORMAT = "maku-checkpoint/1"
_TENSOR = "__tensor__"


def _split(obj: Any, path: str, tensors: dict[str, np.ndarray]) -> Any:
    """The JSON skeleton of `obj`, moving every array into `tensors` under its path."""
    if isinstance(obj, dict):
        return {str(k): _split(v, f"{path}/{k}" if path else str(k), tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        tensors[path] = np.ascontiguousarray(obj)
        return {_TENSOR: path}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "numpy"):  # a maku.Tensor
        return _split(obj.numpy(), path, tensors)
    raise CheckpointError(
        f"cannot save {type(obj).__name__} at {path!r}: only dicts, lists, arrays, numbers and strings"
    )


def _join(skeleton: Any, tensors: dict[str, np.ndarray], path: Path) -> Any:
    if isinstance(skeleton, dict):
        if set(skeleton) == {_TENSOR}:
            name = skeleton[_TENSOR]
            if name not in tensors:
                raise CheckpointError(
                    f"{path}: tensor {name!r} is listed in the metadata but missing from the file"
                )
            return tensors[name]
        return {k: _join(v, tensors, path) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_join(v, tensors, path) for v in skeleton]
    return skeleton


def save(obj: dict[str, Any], path: str | Path) -> None:
    """Write `obj` to `path` atomically (a crash mid-write leaves the previous file intact)."""
    from safetensors.numpy import save_file

    tensors: dict[str, np.ndarray] = {}
    skeleton = _split(obj, "", tensors)
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(partial), metadata={"format": FORMAT, "content": json.dumps(skeleton)})
    partial.replace(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a file written by `save`; a truncated, corrupted or foreign file raises CheckpointError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own error types for bad headers and short files
        raise CheckpointError(f"checkpoint {path} is corrupted or truncated: {exc}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a maku checkpoint (format {metadata.get('format')!r})"
        )
    try:
        skeleton = json.loads(metadata["content"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata: {exc}") from None
    return _join(skeleton, tensors, path)
