"""The exceptions maku raises.

Every error a user can cause (a bad file, an unsupported op, a wrong input) is a
`MakuError`, so callers can catch one family. Messages name the file, node or argument
and say what to do; the CLI prints them as one line.
"""


class MakuError(Exception):
    """Base class of every error maku raises on purpose."""


class ModelFormatError(MakuError):
    """The file is not a readable model (empty, truncated, not ONNX, corrupted .maku)."""


class UnsupportedOpError(MakuError):
    """The model uses ops (or attribute cases) maku does not implement."""


class ShapeError(MakuError):
    """Shapes do not fit together at a node (inference or validation failed)."""


class GraphError(MakuError):
    """The graph itself is malformed: a cycle, a missing producer, a duplicate name."""


class InputError(MakuError):
    """An input given to a session has the wrong name, rank, shape or dtype."""


class PlanError(MakuError):
    """A plan cannot be made (e.g. a shape that stays unknown at plan time)."""


class BackendError(MakuError):
    """A backend cannot run a node, or its native code is unavailable."""


class CheckpointError(MakuError):
    """A checkpoint file is corrupted or does not match the model or optimizer."""
