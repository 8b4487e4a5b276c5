"""maku: run and train mobile-class convolutional networks, fast and small."""

__version__ = "0.1.0"

import importlib  # noqa: E402

from maku import errors  # noqa: E402
from maku.autograd import no_grad  # noqa: E402
from maku.checkpoint import load_checkpoint, save  # noqa: E402
from maku.onnx.export import export  # noqa: E402
from maku.rng import manual_seed  # noqa: E402
from maku.runtime.session import Session, load  # noqa: E402
from maku.tensor import Tensor  # noqa: E402
from maku.threads import get_num_threads, set_num_threads  # noqa: E402

_TRAINING_PACKAGES = ("nn", "optim", "data", "models")


def __getattr__(name: str):  # maku.nn etc. load on first use: `import maku` stays light for inference
    if name in _TRAINING_PACKAGES:
        return importlib.import_module(f"maku.{name}")
    raise AttributeError(f"module 'maku' has no attribute {name!r}")


__all__ = [
    "Session", "errors", "load", "Tensor", "no_grad", "manual_seed", "save", "load_checkpoint", "export",
    "set_num_threads", "get_num_threads",
    *_TRAINING_PACKAGES,
]
