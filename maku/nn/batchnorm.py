"""BatchNorm2d (over N, H, W of channels-last images) and BatchNorm1d (over N of (N, C))."""

from __future__ import annotations

import numpy as np

from maku.errors import ShapeError
from maku.nn import functional as F
from maku.nn.module import Module, Parameter
from maku.tensor import Tensor


class _BatchNorm(Module):
    """Shared body: weight=1, bias=0, running_mean=0, running_var=1 at start."""

    expected_ndim = 0

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(
                f"{type(self).__name__} num_features must be a positive integer, got {num_features!r}"
            )
        if eps <= 0:
            raise ValueError(f"{type(self).__name__} eps must be positive, got {eps}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__} momentum must be in [0, 1], got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, np.float32), requires_grad=affine)
        self.bias = Parameter(np.zeros(num_features, np.float32), requires_grad=affine)
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != self.expected_ndim:
            layout = "(N, H, W, C)" if self.expected_ndim == 4 else "(N, C)"
            raise ShapeError(
                f"{type(self).__name__} expects a {self.expected_ndim}-D {layout} input, got shape {x.shape}"
            )
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        parts = [str(self.num_features)]
        if self.eps != 1e-5:
            parts.append(f"eps={self.eps}")
        if self.momentum != 0.1:
            parts.append(f"momentum={self.momentum}")
        return ", ".join(parts)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of NHWC images, per channel (the last axis)."""

    expected_ndim = 4


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) features, per feature."""

    expected_ndim = 2
