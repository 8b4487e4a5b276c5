"""SGD with momentum, dampening, Nesterov and L2 weight decay, in PyTorch's convention.

Per step, with gradient g and parameter p:
    d = g + weight_decay * p
    buf = d                                        (first step)
    buf = momentum * buf + (1 - dampening) * d     (later steps)
    d = d + momentum * buf if nesterov else buf    (when momentum != 0)
    p = p - lr * d
The learning rate multiplies the whole update (PyTorch/Caffe), unlike Sutskever et al., who
put lr inside the velocity: the two agree while lr is constant but not across lr changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maku.optim.optimizer import Optimizer, check_non_negative


class SGD(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        check_non_negative("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        )
        super().__init__(params, defaults)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        d = grad + group["weight_decay"] * param if group["weight_decay"] else grad
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, dtype=param.dtype)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * d
            d = d + momentum * buf if group["nesterov"] else buf
        param -= (group["lr"] * d).astype(param.dtype, copy=False)
