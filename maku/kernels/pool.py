"""NHWC pooling with ONNX MaxPool / AveragePool / GlobalAveragePool semantics.

`Pool2d` is the prepared form (padded buffer and divisor made once); the functions prepare one
for a single call. ceil_mode follows ONNX: the last window may start inside the padded input,
but a window starting in the right/bottom padding is dropped.
"""

from __future__ import annotations

import numpy as np

from .windows import Padder, Pads, Pair, sliding_windows


def _pool_out_size(
    size: int, kernel: int, stride: int, begin: int, end: int, dilation: int, ceil: bool
) -> int:
    """Number of windows along one axis (ONNX, incl. the ceil_mode drop rule). Like ONNX Runtime,
    a window longer than the padded input still gives one output (C++ division truncates)."""
    span = size + begin + end - dilation * (kernel - 1) - 1
    count = (-(-span // stride) if ceil else int(span / stride)) + 1
    if ceil and (count - 1) * stride >= size + begin:
        count -= 1
    return count


def _window_counts(
    size: int, out: int, kernel: int, stride: int, begin: int, end: int, dilation: int, include_pad: bool
) -> np.ndarray:
    """Per output position, how many taps of its window fall inside the input (or the input plus
    its explicit pads when include_pad); the ceil_mode overhang never counts."""
    taps = np.arange(out)[:, None] * stride - begin + np.arange(kernel)[None, :] * dilation
    low, high = (-begin, size + end) if include_pad else (0, size)
    return ((taps >= low) & (taps < high)).sum(axis=1)


class Pool2d:
    """Max or average pooling prepared for one NHWC input shape; `run(x, out)` allocates nothing."""

    def __init__(
        self,
        kind: str,
        x_shape: tuple[int, ...],
        kernel: Pair,
        strides: Pair,
        pads: Pads,
        dilations: Pair = (1, 1),
        ceil_mode: bool = False,
        count_include_pad: bool = False,
        dtype: np.dtype = np.float32,
    ) -> None:
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        n, h, w, c = x_shape
        self.kind, self.x_shape = kind, tuple(x_shape)
        self.kernel, self.strides, self.dilations = tuple(kernel), tuple(strides), tuple(dilations)
        axes = [(h, 0, 2), (w, 1, 3)]
        out_hw = [
            _pool_out_size(size, kernel[i], strides[i], pads[b], pads[e], dilations[i], ceil_mode)
            for i, (size, b, e) in enumerate(axes)
        ]
        self.out_shape = (n, *out_hw, c)
        # grow the bottom/right pads so that ceil_mode's last windows lie inside the buffer
        reach = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out_hw, strides, dilations, kernel)]
        bottom, right = (max(pads[e], r - size - pads[b]) for r, (size, b, e) in zip(reach, axes))
        lowest = -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min  # padding never wins a max
        fill = lowest if kind == "max" else 0.0
        self.padder = Padder(self.x_shape, (pads[0], pads[1], bottom, right), dtype, fill)
        if kind == "avg":
            counts = [
                _window_counts(
                    size, o, kernel[i], strides[i], pads[b], pads[e], dilations[i], count_include_pad
                )
                for i, (o, (size, b, e)) in enumerate(zip(out_hw, axes))
            ]
            self.divisor = np.outer(*counts).astype(dtype)[:, :, None]

    def run(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Pool `x` into `out` (shape `out_shape`) and return `out`."""
        if x.shape != self.x_shape or out.shape != self.out_shape:
            raise ValueError(
                f"Pool2d prepared for {self.x_shape}->{self.out_shape}, got {x.shape}->{out.shape}"
            )
        windows = sliding_windows(
            self.padder(x), self.kernel, self.strides, self.dilations, self.out_shape[1:3]
        )
        combine = np.maximum if self.kind == "max" else np.add
        np.copyto(out, windows[:, :, :, 0, 0])
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                if i or j:
                    combine(out, windows[:, :, :, i, j], out=out)
        if self.kind == "avg":
            np.divide(out, self.divisor, out=out)
        return out


def _run_once(pool: Pool2d, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Run a freshly prepared pool, allocating the output when none is given."""
    return pool.run(x, np.empty(pool.out_shape, x.dtype) if out is None else out)


def max_pool2d(
    x: np.ndarray,
    kernel: Pair,
    strides: Pair,
    pads: Pads,
    dilations: Pair = (1, 1),
    ceil_mode: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """ONNX MaxPool on NHWC; padding never wins the max (it is -inf)."""
    return _run_once(
        Pool2d("max", x.shape, kernel, strides, pads, dilations, ceil_mode, dtype=x.dtype), x, out
    )


def avg_pool2d(
    x: np.ndarray,
    kernel: Pair,
    strides: Pair,
    pads: Pads,
    ceil_mode: bool = False,
    count_include_pad: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """ONNX AveragePool on NHWC: divides by the taps inside the input, or inside input+pads with
    count_include_pad."""
    pool = Pool2d("avg", x.shape, kernel, strides, pads, (1, 1), ceil_mode, count_include_pad, x.dtype)
    return _run_once(pool, x, out)


def global_avg_pool2d(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Mean over H and W: (N, H, W, C) -> (N, 1, 1, C)."""
    return np.mean(x, axis=(1, 2), keepdims=True, out=out)
