"""Per-layer time of the native (C) kernels against the numpy kernels on MobileNetV2.

    python benchmarks/native_kernels.py [--batch 1 32] [--threads 1 2] [--repeats 20] [--numba]

Every distinct layer of MobileNetV2 (224x224) is timed both ways, alternating, and the
median kept: numpy = maku.kernels.conv.Conv2d (BLAS GEMMs, einsum depthwise, separate bias /
activation / residual passes; BLAS limited to --threads with threadpoolctl), native = the
wrappers of maku.backends.native with threads=--threads. Ratios are numpy / native (> 1:
native is faster). Totals weight each layer by how often the network uses it. --numba adds
a numba @njit depthwise candidate (the compile-path decision in docs/native_kernels.md).
The machine is shared: repeat runs and compare medians; with --threads 1, --cpu-time measures
process CPU time instead of wall time, which other programs on the machine disturb less.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from maku.backends import native
from maku.kernels.conv import Conv2d
from maku.kernels.pool import global_avg_pool2d
from maku.models.mobilenet_v2 import SETTINGS

MOBILENET_V2_BLOCKS = SETTINGS  # (expansion t, output channels c, repeats n, first stride s)


@dataclass(frozen=True)
class Layer:
    kind: str  # "stem", "depthwise", "pointwise", "pool"
    hw: int  # input height = width
    cin: int
    cout: int
    stride: int = 1
    act: str | None = "Clip"
    residual: bool = False

    def __str__(self) -> str:
        extra = f" s{self.stride}" if self.stride > 1 else ""
        extra += " +res" if self.residual else ""
        return f"{self.kind:9s} {self.hw:3d}x{self.hw:<3d} {self.cin:4d}->{self.cout:<4d}{extra}"


def mobilenet_v2_layers() -> Counter[Layer]:
    """The conv/pool layers of MobileNetV2 at 224x224 with how often each occurs."""
    layers: Counter[Layer] = Counter({Layer("stem", 224, 3, 32, 2): 1})
    hw, cin = 112, 32
    for t, c, n, s in MOBILENET_V2_BLOCKS:
        for i in range(n):
            stride, hidden = (s if i == 0 else 1), cin * t
            if t != 1:
                layers[Layer("pointwise", hw, cin, hidden)] += 1
            layers[Layer("depthwise", hw, hidden, hidden, stride)] += 1
            hw //= stride
            layers[Layer("pointwise", hw, hidden, c, act=None, residual=stride == 1 and cin == c)] += 1
            cin = c
    layers[Layer("pointwise", 7, 320, 1280)] += 1
    layers[Layer("pool", 7, 1280, 1280, act=None)] += 1
    return layers


class LayerRun:
    """One layer prepared both ways on random data: `numpy()` and `native()` write `out`
    (numpy: a prepared maku.kernels Conv2d; native: a bound call)."""

    def __init__(self, layer: Layer, batch: int, threads: int):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((batch, layer.hw, layer.hw, layer.cin), dtype=np.float32)
        k = {"stem": 3, "depthwise": 3}.get(layer.kind, 1)
        w = rng.standard_normal(
            (k, k, 1 if layer.kind == "depthwise" else layer.cin, layer.cout), dtype=np.float32
        )
        self.bias = rng.standard_normal(layer.cout, dtype=np.float32)
        self.layer, self.threads = layer, threads
        self.act = dict(act=layer.act, alpha=0.0, beta=6.0)
        pads = (0, 0, 1, 1) if layer.kind == "stem" else (1, 1, 1, 1) if k == 3 else (0, 0, 0, 0)
        self.geometry = dict(strides=(layer.stride, layer.stride), pads=pads)
        if layer.kind == "pool":
            self.out = np.empty((batch, 1, 1, layer.cin), np.float32)
        else:
            groups = layer.cin if layer.kind == "depthwise" else 1
            self.conv = Conv2d(w, self.bias, self.x.shape, groups=groups, has_residual=layer.residual,
                               activation=layer.act, alpha=0.0, beta=6.0, **self.geometry)  # fmt: skip
            self.out = np.empty(self.conv.out_shape, np.float32)
            self.residual = rng.standard_normal(self.out.shape, dtype=np.float32) if layer.residual else None
            self.w = w[:, :, 0, :].copy() if layer.kind == "depthwise" else native.pack_gemm_weights(w)
        self.native = self._bind_native()

    def numpy(self) -> None:
        if self.layer.kind == "pool":
            global_avg_pool2d(self.x, out=self.out)
        else:
            self.conv.run(self.x, self.out, self.residual)

    def _bind_native(self) -> native.BoundCall:
        """The native kernel prepared once, as the cpu backend's runners do."""
        kind, out, threads = self.layer.kind, self.out, self.threads
        if kind == "pool":
            return native.bind(native.global_avg_pool, self.x, out, threads=threads)
        if kind == "pointwise":
            x2d, out2d = self.x.reshape(-1, self.layer.cin), out.reshape(-1, self.layer.cout)
            residual = None if self.residual is None else self.residual.reshape(out2d.shape)
            return native.bind(
                native.pointwise_conv,
                x2d,
                self.w,
                self.bias,
                **self.act,
                residual=residual,
                out=out2d,
                threads=threads,
            )
        kernel = native.depthwise_conv2d if kind == "depthwise" else native.conv2d_im2col
        return native.bind(
            kernel, self.x, self.w, self.bias, **self.geometry, **self.act, out=out, threads=threads
        )


def numba_depthwise() -> Callable[[LayerRun], None]:
    """A fused numba depthwise 3x3 (bias + Relu6) as a compile-path candidate."""
    import numba

    @numba.njit(fastmath=True, cache=True)
    def kernel(x, w, b, stride, out):
        n_, h, wd, c = x.shape
        for n in range(n_):
            for oh in range(out.shape[1]):
                for ow in range(out.shape[2]):
                    for ch in range(c):
                        out[n, oh, ow, ch] = b[ch]
                    for i in range(3):
                        ih = oh * stride - 1 + i
                        if 0 <= ih < h:
                            for j in range(3):
                                iw = ow * stride - 1 + j
                                if 0 <= iw < wd:
                                    for ch in range(c):
                                        out[n, oh, ow, ch] += x[n, ih, iw, ch] * w[i, j, ch]
                    for ch in range(c):
                        out[n, oh, ow, ch] = min(max(out[n, oh, ow, ch], 0.0), 6.0)

    return lambda run: kernel(run.x, run.w, run.bias, run.layer.stride, run.out)


def median_ms(fn: Callable[[], None], repeats: int, clock: Callable[[], float] = time.perf_counter) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times) * 1e3


def bench(batch: int, threads: int, repeats: int, with_numba: bool, clock: Callable[[], float]) -> None:
    numba_dw = numba_depthwise() if with_numba else None
    totals: dict[str, list[float]] = {}
    what = "CPU" if clock is time.process_time else "wall"
    print(f"\n## batch {batch}, {threads} thread(s): median {what} ms of {repeats}; ratio = numpy / native")
    header = f"{'layer':32s} {'count':>5s} {'numpy':>9s} {'native':>9s} {'ratio':>6s}"
    print(header + (f" {'numba':>9s}" if with_numba else ""))
    for layer, count in mobilenet_v2_layers().items():
        run = LayerRun(layer, batch, threads)
        numpy_ms, native_ms = [], []
        with threadpool_limits(threads):
            for _ in range(2):  # alternate; keep each side's better median
                numpy_ms.append(median_ms(run.numpy, repeats, clock))
                native_ms.append(median_ms(run.native, repeats, clock))
        t_numpy, t_native = min(numpy_ms), min(native_ms)
        line = f"{layer!s:32s} {count:5d} {t_numpy:9.3f} {t_native:9.3f} {t_numpy / t_native:6.2f}"
        if numba_dw and layer.kind == "depthwise":
            line += f" {median_ms(lambda: numba_dw(run), repeats, clock):9.3f}"  # noqa: B023 (called at once)
        print(line)
        for key in (layer.kind, "all"):
            sums = totals.setdefault(key, [0.0, 0.0])
            sums[0] += count * t_numpy
            sums[1] += count * t_native
    for key, (t_numpy, t_native) in totals.items():
        print(f"{'total ' + key:32s} {'':5s} {t_numpy:9.3f} {t_native:9.3f} {t_numpy / t_native:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed calls per layer (batch > 1: a quarter)"
    )
    parser.add_argument("--numba", action="store_true", help="also time a numba depthwise kernel")
    parser.add_argument("--cpu-time", action="store_true", help="time process CPU time (single thread only)")
    args = parser.parse_args()
    if args.cpu_time and args.threads != [1]:
        parser.error("--cpu-time sums all threads' time: use it with --threads 1")
    clock = time.process_time if args.cpu_time else time.perf_counter
    if not native.available():
        raise SystemExit("native kernels unavailable: nothing to compare")
    for batch in args.batch:
        for threads in args.threads:
            bench(
                batch, threads, args.repeats if batch == 1 else max(3, args.repeats // 4), args.numba, clock
            )


if __name__ == "__main__":
    main()
