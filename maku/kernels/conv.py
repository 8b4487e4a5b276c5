"""2-D convolution, NHWC activations x HWIO weights (docs/architecture.md, kernel contract).

`Conv2d` picks one of four paths once, at prepare time, and owns its scratch buffers so that
`run` allocates nothing proportional to the activations:
- "gemm": 1x1, stride 1, no pads, groups 1 -> one matmul over (N*H*W, Cin);
- "depthwise_rows": groups == Cin == Cout, width stride 1 -> one einsum over a view of the padded
  copy whose taps are whole output rows (OW*C contiguous values) against a row-tiled weight;
- "depthwise": other depthwise -> one einsum over the (N, OH, OW, KH, KW, C) window view.
  Both beat KH*KW shifted multiply-adds (see benchmarks/kernels_depthwise.py);
- "im2col": everything else -> windows copied into a (G, M, KH*KW*Cin/G) buffer, one batched matmul.
"""

from __future__ import annotations

import numpy as np

from .activation import apply_activation
from .windows import Padder, Pads, Pair, row_windows, sliding_windows


def _out_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """Output length along one spatial axis (floor mode)."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def conv2d_output_shape(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], strides: Pair, pads: Pads, dilations: Pair
) -> tuple[int, int, int, int]:
    """(N, OH, OW, Cout) for an NHWC input and an HWIO weight."""
    n, h, w, _ = x_shape
    kh, kw, _, cout = w_shape
    oh = _out_size(h, kh, strides[0], pads[0] + pads[2], dilations[0])
    ow = _out_size(w, kw, strides[1], pads[1] + pads[3], dilations[1])
    return (n, oh, ow, cout)


def same_pads(in_hw: Pair, kernel: Pair, strides: Pair, dilations: Pair, mode: str) -> Pads:
    """(top, left, bottom, right) for ONNX auto_pad SAME_UPPER / SAME_LOWER: output = ceil(in / stride);
    the odd pixel of padding goes at the end for SAME_UPPER and at the start for SAME_LOWER."""
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise ValueError(f"auto_pad mode must be SAME_UPPER or SAME_LOWER, got {mode!r}")
    begins, ends = [], []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + d * (k - 1) + 1 - size)
        begins.append(total // 2 if mode == "SAME_UPPER" else total - total // 2)
        ends.append(total - begins[-1])
    return (begins[0], begins[1], ends[0], ends[1])


def _choose_path(w_shape: tuple[int, ...], cin: int, strides: Pair, pads: Pads, groups: int) -> str:
    """The conv algorithm for this configuration: "gemm", "depthwise_rows", "depthwise" or "im2col"."""
    kh, kw, _, cout = w_shape
    if (kh, kw) == (1, 1) and tuple(strides) == (1, 1) and not any(pads) and groups == 1:
        return "gemm"
    if groups == cin == cout and groups > 1:
        return "depthwise_rows" if strides[1] == 1 else "depthwise"
    return "im2col"


class Conv2d:
    """A convolution prepared for one input shape: weights packed and scratch allocated once.

    run(x, out, residual) computes out = act(conv(x) + bias) + residual. The residual is added
    after the activation, matching MobileNetV2's Add(conv_without_activation, skip)."""

    def __init__(
        self,
        w_hwio: np.ndarray,
        bias: np.ndarray | None,
        x_shape: tuple[int, ...],
        *,
        strides: Pair = (1, 1),
        pads: Pads = (0, 0, 0, 0),
        dilations: Pair = (1, 1),
        groups: int = 1,
        activation: str | None = None,
        alpha: float = 0.0,
        beta: float = 0.0,
        has_residual: bool = False,
    ) -> None:
        self.x_shape = tuple(x_shape)
        cin = self.x_shape[3]
        kh, kw, cin_g, cout = w_hwio.shape
        if cin_g * groups != cin or cout % groups:
            raise ValueError(f"weight {w_hwio.shape} and groups={groups} do not fit input channels {cin}")
        self.out_shape = conv2d_output_shape(self.x_shape, w_hwio.shape, strides, pads, dilations)
        self.kernel, self.strides, self.dilations = (kh, kw), tuple(strides), tuple(dilations)
        self.bias = None if bias is None else np.ascontiguousarray(bias, w_hwio.dtype)
        self.activation, self.alpha, self.beta = activation, alpha, beta
        self.has_residual = has_residual
        self.act_scratch = np.empty(self.out_shape, w_hwio.dtype) if activation == "HardSwish" else None
        self.path = _choose_path(w_hwio.shape, cin, self.strides, tuple(pads), groups)
        self.padder = Padder(
            self.x_shape, tuple(pads), w_hwio.dtype, always_copy=self.path == "depthwise_rows"
        )
        if self.path == "gemm":
            self._prepare_gemm(w_hwio)
        elif self.path == "depthwise_rows":
            self._prepare_depthwise_rows(w_hwio)
        elif self.path == "depthwise":
            self._prepare_depthwise(w_hwio)
        else:
            self._prepare_im2col(w_hwio, groups)

    def _prepare_gemm(self, w_hwio: np.ndarray) -> None:
        """1x1 conv: the weight as a (Cin, Cout) matrix."""
        self.w = np.ascontiguousarray(w_hwio.reshape(w_hwio.shape[2], w_hwio.shape[3]))
        self._compute = self._run_gemm

    def _prepare_depthwise(self, w_hwio: np.ndarray) -> None:
        """Depthwise: the weight as (KH, KW, C) for the einsum."""
        self.w = np.ascontiguousarray(w_hwio[:, :, 0, :])
        self._compute = self._run_depthwise

    def _prepare_depthwise_rows(self, w_hwio: np.ndarray) -> None:
        """Depthwise with width stride 1: each tap's (C,) weights tiled OW times, (KH, KW, OW*C)."""
        self.w = np.ascontiguousarray(np.tile(w_hwio[:, :, 0, :], (1, 1, self.out_shape[2])))
        self._compute = self._run_depthwise_rows

    def _prepare_im2col(self, w_hwio: np.ndarray, groups: int) -> None:
        """General/grouped: weight as (G, KH*KW*Cin/G, Cout/G), column buffer (G, N*OH*OW, KH*KW*Cin/G)."""
        kh, kw, cin_g, cout = w_hwio.shape
        self.groups, self.cin_g = groups, cin_g
        w5 = w_hwio.reshape(kh, kw, cin_g, groups, cout // groups).transpose(3, 0, 1, 2, 4)
        self.w = np.ascontiguousarray(w5.reshape(groups, kh * kw * cin_g, cout // groups))
        n, oh, ow, _ = self.out_shape
        self.columns = np.empty((groups, n * oh * ow, kh * kw * cin_g), w_hwio.dtype)
        self._compute = self._run_im2col

    def run(self, x: np.ndarray, out: np.ndarray, residual: np.ndarray | None = None) -> None:
        """Write act(conv(x) + bias) + residual into `out` (shape `out_shape`)."""
        if x.shape != self.x_shape or out.shape != self.out_shape:
            raise ValueError(
                f"Conv2d prepared for {self.x_shape}->{self.out_shape}, got {x.shape}->{out.shape}"
            )
        if not out.flags.c_contiguous:
            raise ValueError("Conv2d.run needs a C-contiguous `out` (it is written through reshaped views)")
        self._compute(x, out)
        if self.bias is not None:
            np.add(out, self.bias, out=out)
        apply_activation(out, self.activation, self.alpha, self.beta, scratch=self.act_scratch)
        if residual is not None:
            np.add(out, residual, out=out)

    def _run_gemm(self, x: np.ndarray, out: np.ndarray) -> None:
        np.matmul(x.reshape(-1, x.shape[3]), self.w, out=out.reshape(-1, out.shape[3]))

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """(N, OH, OW, KH, KW, Cin) view of the padded input's windows."""
        return sliding_windows(self.padder(x), self.kernel, self.strides, self.dilations, self.out_shape[1:3])

    def _run_depthwise(self, x: np.ndarray, out: np.ndarray) -> None:
        np.einsum("nhwijc,ijc->nhwc", self._windows(x), self.w, out=out)

    def _run_depthwise_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        n, oh, ow, c = self.out_shape
        rows = row_windows(self.padder(x), self.kernel, self.strides[0], self.dilations, (oh, ow))
        np.einsum("nhijk,ijk->nhk", rows, self.w, out=out.reshape(n, oh, ow * c))

    def _run_im2col(self, x: np.ndarray, out: np.ndarray) -> None:
        n, oh, ow, cout = self.out_shape
        g, cin_g = self.groups, self.cin_g
        windows = self._windows(x).reshape(n, oh, ow, *self.kernel, g, cin_g)
        columns = self.columns.reshape(g, n, oh, ow, *self.kernel, cin_g)
        np.copyto(columns, windows.transpose(5, 0, 1, 2, 3, 4, 6))
        out_by_group = out.reshape(n * oh * ow, g, cout // g).transpose(1, 0, 2)
        np.matmul(self.columns, self.w, out=out_by_group)


def conv2d(
    x_nhwc: np.ndarray,
    w_hwio: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    strides: Pair = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    dilations: Pair = (1, 1),
    groups: int = 1,
    activation: str | None = None,
    alpha: float = 0.0,
    beta: float = 0.0,
    residual: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """act(conv(x, w) + bias) + residual in NHWC/HWIO; prepares a `Conv2d` for this one call."""
    conv = Conv2d(
        w_hwio,
        bias,
        x_nhwc.shape,
        strides=strides,
        pads=pads,
        dilations=dilations,
        groups=groups,
        activation=activation,
        alpha=alpha,
        beta=beta,
        has_residual=residual is not None,
    )
    if out is None:
        out = np.empty(conv.out_shape, np.result_type(x_nhwc, w_hwio))
    conv.run(x_nhwc, out, residual)
    return out
