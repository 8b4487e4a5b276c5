"""maku: run and train mobile-class convolutional networks, fast and small."""

__version__ = "0.1.0"

from maku import errors  # noqa: E402
from maku.runtime.session import Session, load  # noqa: E402

__all__ = ["Session", "errors", "load"]
