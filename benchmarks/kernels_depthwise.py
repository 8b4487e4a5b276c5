"""Time the depthwise-conv candidates and the 1x1 GEMM path on MobileNetV2 layer shapes.

    python benchmarks/kernels_depthwise.py [--threads 1] [--repeats 15] [--no-ort]

Depthwise candidates, all reading the same padded copy and allocation-free:
  rows     one einsum over (N, OH, KH, KW, OW*C) row views x a row-tiled weight (width stride 1 only),
  windows  one np.einsum("nhwijc,ijc->nhwc") over the (N, OH, OW, KH, KW, C) window view,
  shifted  KH*KW multiply-adds of shifted window views into `out` through one scratch buffer.
maku.kernels.conv.Conv2d uses rows where the width stride is 1 and windows elsewhere.
ONNX Runtime's Conv (NCHW) on the same layer is printed for scale when onnxruntime is installed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from maku.kernels.conv import Conv2d

# (N, H, W, C, stride) of MobileNetV2's 3x3 depthwise layers
DEPTHWISE = [
    (1, 112, 112, 32, 1),
    (1, 112, 112, 96, 2),
    (1, 56, 56, 144, 1),
    (1, 28, 28, 192, 1),
    (1, 14, 14, 576, 1),
    (1, 7, 7, 960, 1),
    (32, 56, 56, 144, 1),
    (32, 14, 14, 576, 1),
]
# (N, H, W, Cin, Cout) of its 1x1 expand / project layers
POINTWISE = [
    (1, 112, 112, 16, 96),
    (1, 56, 56, 144, 24),
    (1, 14, 14, 96, 576),
    (1, 14, 14, 576, 96),
    (1, 7, 7, 320, 1280),
    (32, 56, 56, 24, 144),
    (32, 7, 7, 960, 320),
]


def median_ms(repeats: int, fn: Callable[..., object], *args: object) -> float:
    """Median wall time of `fn(*args)` in milliseconds, after one warm-up call."""
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def window_einsum(conv: Conv2d, x: np.ndarray, out: np.ndarray, w_kkc: np.ndarray) -> None:
    """Depthwise as one einsum over the 6-D window view."""
    np.einsum("nhwijc,ijc->nhwc", conv._windows(x), w_kkc, out=out)


def shifted_adds(
    conv: Conv2d, x: np.ndarray, out: np.ndarray, w_kkc: np.ndarray, scratch: np.ndarray
) -> None:
    """Depthwise as out = sum over taps of (shifted window * weight tap)."""
    windows = conv._windows(x)
    kh, kw = conv.kernel
    np.multiply(windows[:, :, :, 0, 0], w_kkc[0, 0], out=out)
    for tap in range(1, kh * kw):
        i, j = divmod(tap, kw)
        np.multiply(windows[:, :, :, i, j], w_kkc[i, j], out=scratch)
        np.add(out, scratch, out=out)


def ort_conv_ms(
    x: np.ndarray, w_hwio: np.ndarray, stride: int, pad: int, groups: int, repeats: int, threads: int
):
    """ONNX Runtime's Conv on the same layer (NCHW), or None without onnxruntime."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    w_oihw = w_hwio.transpose(3, 2, 0, 1)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    node = helper.make_node("Conv", ["X", "W"], ["Y"], strides=[stride] * 2, pads=[pad] * 4, group=groups)
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_nchw.shape)],
        [helper.make_empty_tensor_value_info("Y")],
        [numpy_helper.from_array(w_oihw, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return median_ms(repeats, session.run, None, {"X": x_nchw})


def fmt(ms: float | None) -> str:
    return "       -" if ms is None else f"{ms:8.3f}"


def bench_depthwise(repeats: int, threads: int, with_ort: bool) -> None:
    rng = np.random.default_rng(0)
    print("depthwise 3x3 (ms, median)       rows   windows   shifted       ort  maku path")
    for n, h, w, c, s in DEPTHWISE:
        x = rng.standard_normal((n, h, w, c), dtype=np.float32)
        weight = rng.standard_normal((3, 3, 1, c), dtype=np.float32)
        conv = Conv2d(weight, None, x.shape, strides=(s, s), pads=(1, 1, 1, 1), groups=c)
        out, scratch = np.empty(conv.out_shape, np.float32), np.empty(conv.out_shape, np.float32)
        w_kkc = weight[:, :, 0, :]
        rows = median_ms(repeats, conv.run, x, out) if conv.path == "depthwise_rows" else None
        windows = median_ms(repeats, window_einsum, conv, x, out, w_kkc)
        shifted = median_ms(repeats, shifted_adds, conv, x, out, w_kkc, scratch)
        ort_ms = ort_conv_ms(x, weight, s, 1, c, repeats, threads) if with_ort else None
        label = f"N={n:<2} {h}x{w}x{c} s{s}"
        print(f"  {label:<28} {fmt(rows)}  {fmt(windows)}  {fmt(shifted)}  {fmt(ort_ms)}  {conv.path}")


def bench_pointwise(repeats: int, threads: int, with_ort: bool) -> None:
    rng = np.random.default_rng(1)
    print("1x1 conv = one GEMM (ms, median)   maku     GFLOP/s  ort")
    for n, h, w, cin, cout in POINTWISE:
        x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
        weight = rng.standard_normal((1, 1, cin, cout), dtype=np.float32)
        conv = Conv2d(weight, None, x.shape)
        out = np.empty(conv.out_shape, np.float32)
        ms = median_ms(repeats, conv.run, x, out)
        gflops = 2 * n * h * w * cin * cout / ms / 1e6
        ort_ms = ort_conv_ms(x, weight, 1, 0, 1, repeats, threads) if with_ort else None
        label = f"N={n:<2} {h}x{w} {cin}->{cout}"
        print(f"  {label:<30} {fmt(ms)} {gflops:8.1f} {fmt(ort_ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and ORT threads (default 1)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime column")
    args = parser.parse_args()
    with threadpool_limits(limits=args.threads):
        bench_depthwise(args.repeats, args.threads, not args.no_ort)
        bench_pointwise(args.repeats, args.threads, not args.no_ort)


if __name__ == "__main__":
    main()
