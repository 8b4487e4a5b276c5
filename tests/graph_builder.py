"""Short forms over model_builders.GraphBuilder, so pass tests read like the graphs they check."""

from __future__ import annotations

import numpy as np
import onnx
from model_builders import GraphBuilder


class OnnxGraph(GraphBuilder):
    """`op("Relu", x)`, `conv(x, cin, cout)`, `batchnorm(x, c)`; `model(inputs, outputs)`."""

    def const(self, value) -> str:
        return self.init(value)

    def weight(self, *shape: int, scale: float = 0.3) -> str:
        return self.init(self.randn(*shape, scale=scale), "w")

    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs) -> str:
        return self.node(op_type, list(inputs), outputs=n_out, **attrs)

    def conv(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, group: int = 1, bias: bool = True) -> str:
        ins = [x, self.weight(cout, cin // group, k, k)] + ([self.weight(cout)] if bias else [])
        return self.op("Conv", *ins, kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=group)

    def batchnorm(self, x: str, c: int) -> str:
        r = self.rng
        params = [r.uniform(0.5, 1.5, c), r.standard_normal(c) * 0.1, r.standard_normal(c) * 0.1, r.uniform(0.5, 1.5, c)]
        return self.op("BatchNormalization", x, *(self.const(p.astype(np.float32)) for p in params), epsilon=1e-3)

    def model(self, inputs: dict[str, tuple], outputs: list[str]) -> onnx.ModelProto:  # type: ignore[override]
        for name, shape in inputs.items():
            self.input(name, shape)
        for name in outputs:
            self.output(name)
        return super().model()
