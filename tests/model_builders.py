"""Build ONNX models with onnx.helper and run them in maku and ONNX Runtime: the end-to-end oracle.

    b = GraphBuilder(opset=13)
    x = b.input("x", (2, 3, 9, 9))
    y = b.node("Conv", [x, b.init(w)], pads=[1, 1, 1, 1])
    b.output(y)
    check_against_ort(b.model(), {"x": x_value})

`mobilenet_v2` / `mobilenet_v3` build whole networks with random weights in the style of a
given exporter (see `Style`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from ort_helpers import assert_close

import maku
from maku.backends import resolve_backend

# ----------------------------------------------------------------------------- building graphs


class GraphBuilder:
    """Accumulates nodes, initializers and graph inputs/outputs; `model()` makes the ModelProto."""

    def __init__(self, opset: int = 13, seed: int = 0, name: str = "g"):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def input(self, name: str, shape, dtype=np.float32) -> str:
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape) if shape is not None else None))
        return name

    def output(self, name: str, dtype=None, shape=None) -> str:
        if dtype is None:
            self.outputs.append(helper.make_empty_tensor_value_info(name))
        else:
            elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
            self.outputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def init(self, value, base: str = "c") -> str:
        """An initializer holding `value` (kept with its dtype)."""
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def constant(self, value, base: str = "k") -> str:
        """A Constant node holding `value` (PaddlePaddle keeps all its weights this way)."""
        return self.node("Constant", [], value=numpy_helper.from_array(np.asarray(value), self.fresh(base + "v")))

    def node(self, op: str, inputs: list[str], *, outputs: int = 1, name: str | None = None, **attrs: Any):
        """Append one node; returns its output name (a list when outputs > 1)."""
        name = name or self.fresh(op.lower())
        outs = [f"{name}_out{i}" if outputs > 1 else f"{name}_out" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs if outputs > 1 else outs[0]

    def randn(self, *shape, scale: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def model(self, ir_version: int = 8) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = ir_version
        return model


def one_op_model(op: str, inputs: dict[str, np.ndarray], consts: dict[str, np.ndarray] | None = None,
                 opset: int = 13, n_outputs: int = 1, **attrs) -> onnx.ModelProto:
    """One `op` node; `inputs` become graph inputs and `consts` initializers, in the order given.

    Both dicts are keyed by input name; a constant mapped to None is an omitted optional input ("").
    The node reads graph inputs first, then constants, unless `consts["@order"]` lists the names in
    the order the node takes them.
    """
    consts = dict(consts or {})
    order = consts.pop("@order", None) or [*inputs, *consts]
    b = GraphBuilder(opset)
    names = []
    for key in order:
        if key in inputs:
            names.append(b.input(key, inputs[key].shape, inputs[key].dtype))
        elif consts[key] is None:
            names.append("")
        else:
            b.initializers.append(numpy_helper.from_array(np.asarray(consts[key]), key))
            names.append(key)
    outs = b.node(op, names, outputs=n_outputs, name="node", **attrs)
    for o in outs if n_outputs > 1 else [outs]:
        b.output(o)
    return b.model()


# ----------------------------------------------------------------------------- running


def ort_session(model: onnx.ModelProto | bytes) -> ort.InferenceSession:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT warns when its kernels and onnx shape inference disagree
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def run_ort(model: onnx.ModelProto | bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort_session(model).run(None, feeds)


def run_maku(model: onnx.ModelProto | bytes, feeds: dict[str, np.ndarray], **load_options) -> list[np.ndarray]:
    """Load through the public API (from bytes) and return the outputs in graph order."""
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = maku.load(data, **load_options)
    out = session.run(feeds)
    return [out[v.name] for v in session.outputs]


# the numpy backend always, and the one "auto" picks here (the compiled cpu backend when it builds)
BACKENDS = tuple(dict.fromkeys(["numpy", resolve_backend("auto")]))


def check_against_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray], *, rel: float = 1e-5,
                      optimize: tuple[bool, ...] = (True, False), backends: tuple[str, ...] = BACKENDS,
                      **load_options) -> list[np.ndarray]:
    """maku (each backend, optimized and not) equals ORT on every output: max abs <= rel * max(1, max|ref|)."""
    expected = run_ort(model, feeds)
    for backend in backends:
        for opt in optimize:
            where = f"backend={backend}, optimize={opt}"
            actual = run_maku(model, feeds, optimize=opt, backend=backend, **load_options)
            assert len(actual) == len(expected)
            for i, (a, e) in enumerate(zip(actual, expected)):
                assert a.dtype == e.dtype, f"output {i} ({where}): dtype {a.dtype} != ORT {e.dtype}"
                try:
                    assert_close(a, e, rel)
                except AssertionError as exc:
                    raise AssertionError(f"output {i} ({where}): {exc}") from None
    return expected


def node_ops_after_optimize(model: onnx.ModelProto, **load_options) -> dict[str, int]:
    return maku.load(model.SerializeToString(), **load_options).graph.op_histogram()


# ----------------------------------------------------------------------------- MobileNets


@dataclass(frozen=True)
class Style:
    """How an exporter writes the same network.

    bn: "kept" (Conv without bias + BatchNormalization) or "folded" (Conv with bias).
    relu6: "clip" (Clip with min/max as attributes below opset 11, as inputs from 11).
    hardswish: "native" (HardSwish, opset >= 14), "hardsigmoid" (x * HardSigmoid(x), PyTorch < 14),
        "clip_div" (x * Clip(x + 3, 0, 6) / 6, paddle2onnx), "mul_sixth" (x * Relu6(x + 3) * (1/6), TF).
    gate: the SE gate: "hardsigmoid" (HardSigmoid(alpha=gate_alpha, beta=0.5); PyTorch 1/6, Paddle 0.2) or
        "clip_div" (Clip(x + 3, 0, 6) / 6).
    pool: "gap" (GlobalAveragePool) or "reducemean" (ReduceMean over H, W, keepdims).
    head: "flatten_gemm" (Flatten + Gemm), "shape_chain" (Shape/Gather/Unsqueeze/Concat/Reshape +
        MatMul + Add, PyTorch legacy), "reshape_matmul" (Reshape(0, -1) + MatMul + Add).
    batch: an int, or a dim_param name for a dynamic batch.
    nhwc_input: the graph takes NHWC and starts with a Transpose to NCHW (tf2onnx).
    constant_nodes: weights in Constant nodes instead of initializers (paddle2onnx).
    """

    opset: int = 13
    bn: str = "kept"
    hardswish: str = "native"
    gate: str = "hardsigmoid"
    gate_alpha: float = 1.0 / 6.0
    pool: str = "gap"
    head: str = "flatten_gemm"
    batch: int | str = 2
    nhwc_input: bool = False
    constant_nodes: bool = False
    dropout: bool = True

    def with_(self, **changes) -> Style:
        return replace(self, **changes)


def make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class MobileNetBuilder(GraphBuilder):
    """GraphBuilder with the blocks of MobileNetV2/V3, written in a given `Style`."""

    def __init__(self, style: Style, seed: int = 0, name: str = "mobilenet"):
        super().__init__(style.opset, seed, name)
        self.style = style

    def weight(self, value: np.ndarray, base: str) -> str:
        return self.constant(value, base) if self.style.constant_nodes else self.init(value, base)

    def scalar(self, v: float) -> str:
        return self.weight(np.array(v, np.float32), "s")

    # -- activations in the exporter's spelling -------------------------------------------
    def relu6(self, x: str) -> str:
        if self.opset < 11:
            return self.node("Clip", [x], min=0.0, max=6.0)
        return self.node("Clip", [x, self.scalar(0.0), self.scalar(6.0)])

    def relu6_plus3(self, x: str) -> str:
        return self.relu6(self.node("Add", [x, self.scalar(3.0)]))

    def hardsigmoid(self, x: str) -> str:
        if self.style.gate == "clip_div":
            return self.node("Div", [self.relu6_plus3(x), self.scalar(6.0)])
        return self.node("HardSigmoid", [x], alpha=self.style.gate_alpha, beta=0.5)

    def hardswish(self, x: str) -> str:
        kind = self.style.hardswish
        if kind == "native":
            return self.node("HardSwish", [x])
        if kind == "hardsigmoid":
            return self.node("Mul", [x, self.node("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)])
        if kind == "clip_div":
            return self.node("Div", [self.node("Mul", [x, self.relu6_plus3(x)]), self.scalar(6.0)])
        if kind == "mul_sixth":
            return self.node("Mul", [self.node("Mul", [x, self.relu6_plus3(x)]), self.scalar(1.0 / 6.0)])
        raise ValueError(kind)

    def activation(self, x: str, kind: str | None) -> str:
        return {"relu": lambda: self.node("Relu", [x]), "relu6": lambda: self.relu6(x),
                "hswish": lambda: self.hardswish(x), None: lambda: x}[kind]()

    # -- layers ---------------------------------------------------------------------------
    def conv_bn(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1,
                act: str | None = None) -> str:
        fan_in = k * k * cin // groups
        w = self.randn(cout, cin // groups, k, k, scale=math.sqrt(2.0 / fan_in))
        gamma = self.rng.uniform(0.5, 1.5, cout).astype(np.float32)
        beta = self.randn(cout, scale=0.1)
        mean = self.randn(cout, scale=0.1)
        var = self.rng.uniform(0.5, 2.0, cout).astype(np.float32)
        pad = (k - 1) // 2
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=groups)
        if self.style.bn == "kept":
            y = self.node("Conv", [x, self.weight(w, "w")], **attrs)
            y = self.node("BatchNormalization", [y] + [self.weight(a, "bn") for a in (gamma, beta, mean, var)],
                          epsilon=1e-3)
        else:
            scale = gamma / np.sqrt(var + 1e-3)
            wf = (w * scale[:, None, None, None]).astype(np.float32)
            bf = (beta - mean * scale).astype(np.float32)
            y = self.node("Conv", [x, self.weight(wf, "w"), self.weight(bf, "b")], **attrs)
        return self.activation(y, act)

    def global_pool(self, x: str) -> str:
        if self.style.pool == "gap":
            return self.node("GlobalAveragePool", [x])
        if self.opset >= 18:
            return self.node("ReduceMean", [x, self.init(np.array([2, 3], np.int64), "axes")], keepdims=1)
        return self.node("ReduceMean", [x], axes=[2, 3], keepdims=1)

    def squeeze_excite(self, x: str, c: int) -> str:
        s = make_divisible(c // 4)
        g = self.global_pool(x)
        g = self.node("Conv", [g, self.weight(self.randn(s, c, 1, 1, scale=math.sqrt(2 / c)), "w"),
                               self.weight(self.randn(s, scale=0.1), "b")])
        g = self.node("Relu", [g])
        g = self.node("Conv", [g, self.weight(self.randn(c, s, 1, 1, scale=math.sqrt(1 / s)), "w"),
                               self.weight(self.randn(c, scale=0.1), "b")])
        return self.node("Mul", [self.hardsigmoid(g), x])

    def dense(self, x: str, cin: int, cout: int, first_of_head: bool = False) -> str:
        w = self.randn(cout, cin, scale=math.sqrt(1.0 / cin))
        b = self.randn(cout, scale=0.1)
        if self.style.head == "flatten_gemm":
            return self.node("Gemm", [x, self.weight(w, "fc_w"), self.weight(b, "fc_b")], transB=1)
        return self.node("Add", [self.node("MatMul", [x, self.weight(np.ascontiguousarray(w.T), "fc_w")]),
                                 self.weight(b, "fc_b")])

    def flatten(self, x: str) -> str:
        head = self.style.head
        if head == "flatten_gemm":
            return self.node("Flatten", [x], axis=1)
        if head == "reshape_matmul":
            return self.node("Reshape", [x, self.init(np.array([0, -1], np.int64), "shape")])
        # PyTorch's legacy x.view(x.size(0), -1)
        shape = self.node("Shape", [x])
        n = self.node("Gather", [shape, self.init(np.array(0, np.int64), "idx")], axis=0)
        if self.opset >= 13:
            n = self.node("Unsqueeze", [n, self.init(np.array([0], np.int64), "axes")])
        else:
            n = self.node("Unsqueeze", [n], axes=[0])
        target = self.node("Concat", [n, self.init(np.array([-1], np.int64), "minus1")], axis=0)
        return self.node("Reshape", [x, target])

    def dropout(self, x: str) -> str:
        return self.node("Dropout", [x]) if self.style.dropout else x

    def image_input(self, resolution: int) -> str:
        n, r = self.style.batch, resolution
        if self.style.nhwc_input:
            x = self.input("input", [n, r, r, 3])
            return self.node("Transpose", [x], perm=[0, 3, 1, 2])
        return self.input("input", [n, 3, r, r])

    def logits_output(self, y: str, classes: int) -> None:
        self.output(y, np.float32, [self.style.batch, classes])


MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

# (kernel, expanded, out, squeeze-excite, activation, stride), as torchvision's mobilenetv3.py
MOBILENET_V3 = {
    "small": ([(3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
               (5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1),
               (5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1), (5, 288, 96, True, "hswish", 2),
               (5, 576, 96, True, "hswish", 1), (5, 576, 96, True, "hswish", 1)], 1024),
    "large": ([(3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
               (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
               (3, 240, 80, False, "hswish", 2), (3, 200, 80, False, "hswish", 1), (3, 184, 80, False, "hswish", 1),
               (3, 184, 80, False, "hswish", 1), (3, 480, 112, True, "hswish", 1), (3, 672, 112, True, "hswish", 1),
               (5, 672, 160, True, "hswish", 2), (5, 960, 160, True, "hswish", 1), (5, 960, 160, True, "hswish", 1)],
              1280),
}


def mobilenet_v2(style: Style, width: float = 0.35, resolution: int = 96, classes: int = 1000,
                 seed: int = 0) -> onnx.ModelProto:
    """torchvision's MobileNetV2 (inverted residuals, ReLU6, linear bottlenecks), random weights."""
    b = MobileNetBuilder(style, seed, "mobilenet_v2")
    x = b.image_input(resolution)
    cin = make_divisible(32 * width)
    x = b.conv_bn(x, 3, cin, 3, 2, act="relu6")
    for t, c, n, s in MOBILENET_V2:
        cout = make_divisible(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = b.conv_bn(x, cin, hidden, 1, act="relu6") if t != 1 else x
            y = b.conv_bn(y, hidden, hidden, 3, stride, groups=hidden, act="relu6")
            y = b.conv_bn(y, hidden, cout, 1)
            x = b.node("Add", [x, y]) if stride == 1 and cin == cout else y
            cin = cout
    last = make_divisible(1280 * max(1.0, width))
    x = b.conv_bn(x, cin, last, 1, act="relu6")
    x = b.flatten(b.global_pool(x))
    y = b.dense(b.dropout(x), last, classes)
    b.logits_output(y, classes)
    return b.model()


def mobilenet_v3(style: Style, size: str = "small", width: float = 0.35, resolution: int = 96,
                 classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """torchvision's MobileNetV3-Small/Large (SE blocks, hardswish), random weights."""
    b = MobileNetBuilder(style, seed, f"mobilenet_v3_{size}")
    blocks, last_dense = MOBILENET_V3[size]
    x = b.image_input(resolution)
    cin = make_divisible(16 * width)
    x = b.conv_bn(x, 3, cin, 3, 2, act="hswish")
    for k, exp, out, se, act, stride in blocks:
        exp, cout = make_divisible(exp * width), make_divisible(out * width)
        y = b.conv_bn(x, cin, exp, 1, act=act) if exp != cin else x
        y = b.conv_bn(y, exp, exp, k, stride, groups=exp, act=act)
        if se:
            y = b.squeeze_excite(y, exp)
        y = b.conv_bn(y, exp, cout, 1)
        x = b.node("Add", [x, y]) if stride == 1 and cin == cout else y
        cin = cout
    last_conv = 6 * cin
    x = b.conv_bn(x, cin, last_conv, 1, act="hswish")
    x = b.flatten(b.global_pool(x))
    x = b.hardswish(b.dense(x, last_conv, last_dense))
    y = b.dense(b.dropout(x), last_dense, classes)
    b.logits_output(y, classes)
    return b.model()
