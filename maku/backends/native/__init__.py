"""maku's compiled kernels (C, maku/csrc) for the hot ops of MobileNets, called via ctypes.

The library is compiled with the system C compiler on first use and cached per machine
(build.py); without a compiler every function below still works, computing with the numpy
kernels after one warning (`NativeKernelsUnavailable`). `available()` says which it is.
Details and measurements: docs/native_kernels.md.

Arrays are float32 and C-contiguous (never copied); activations NHWC, conv weights HWIO.
Each kernel writes its whole result into `out` (allocated when None) and returns it:

    y = act(conv(x, w) + bias) + residual        # as maku.kernels.conv.Conv2d

`act` is None, "Relu", "Clip" (alpha=min, beta=max), "HardSigmoid" (alpha, beta),
"HardSwish" or "Sigmoid"; `threads` is how many threads the call may use (its own pthread
pool, idle between calls after a 0.2 ms spin, so keep BLAS's threads out of the way).
Pads are (top, left, bottom, right). Unsupported cases raise maku.errors.BackendError.

    depthwise_conv2d(x, w, bias=None, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                     act=None, alpha=0.0, beta=0.0, out=None, threads=1)
        x (N,H,W,C), w (KH,KW,C) or (KH,KW,1,C); any kernel size, stride, pad, dilation
        (3x3 and 5x5 have register-blocked fast paths).
    pack_gemm_weights(w) -> GemmWeights
        w (K,N) or HWIO; do it once at plan time and pass the result as `w` below.
    pointwise_conv(x2d, w, bias=None, *, act=None, alpha=0.0, beta=0.0, residual=None,
                   out=None, threads=1)
        1x1 conv as GEMM: x2d (M,K) = x.reshape(-1, Cin), out (M,N); residual (M,N) may be out.
    conv2d_im2col(x, w, bias=None, *, strides, pads, dilations, act, alpha, beta,
                  residual=None, out=None, scratch=None, threads=1)
        dense conv (groups=1), e.g. the stem; scratch of conv2d_scratch_size(...) floats.
    global_avg_pool(x, out=None, threads=1)
        (N,H,W,C) -> (N,1,1,C).

Training's depthwise backward (host only, not in the wasm build), same geometry arguments:

    depthwise_conv2d_grad_input(grad_out, w, x_shape, *, strides, pads, dilations, out=None,
                                threads=1)
        dL/dx (N,H,W,C) from dL/dy (N,OH,OW,C); every input pixel sums its taps (no scatter).
    depthwise_conv2d_grad_weight(x, grad_out, kernel, *, strides, pads, dilations,
                                 bias_out=None, out=None, threads=1)
        dL/dw (KH,KW,C), and dL/dbias into bias_out (C) when given; float32 sums per part of
        the rows, added in a fixed order (the same result for the same thread count).

Training's BatchNorm (host only), statistics over every axis but the last (C):

    batch_norm_train(x, gamma, beta, stats, *, eps=1e-5, out=None, threads=1)
        y = (x - mean) / sqrt(var + eps) * gamma + beta; stats (3, C) receives mean, biased
        var and 1 / sqrt(var + eps) (sums in float32 blocks added into float64).
    batch_norm_train_grad(grad_out, x, stats, gamma, param_grads, *, out=None, threads=1)
        dL/dx; param_grads (2, C) receives dL/dgamma and dL/dbeta.

Every kernel also has a prepared form for per-node runners: `bind(kernel, *args, **kwargs)`
checks the arguments once and returns a `BoundCall`; `call()` reruns the kernel on the same
arrays (their contents may change) for ~1 us of Python overhead instead of ~15 us:

    run = bind(depthwise_conv2d, x, w, bias, pads=(1, 1, 1, 1), act="Clip", beta=6.0, out=y)
    run()   # writes y, returns it

`python -m maku.backends.native` builds the library ahead of time and prints what it is.
"""

from .calls import ACTIVATION_CODES, BoundCall, bind
from .kernels import (
    GemmWeights,
    available,
    batch_norm_train,
    batch_norm_train_grad,
    conv2d_im2col,
    conv2d_scratch_size,
    depthwise_conv2d,
    depthwise_conv2d_grad_input,
    depthwise_conv2d_grad_weight,
    global_avg_pool,
    pack_gemm_weights,
    pointwise_conv,
)
from .loader import NativeKernelsUnavailable

__all__ = [
    "ACTIVATION_CODES",
    "BoundCall",
    "GemmWeights",
    "NativeKernelsUnavailable",
    "available",
    "batch_norm_train",
    "batch_norm_train_grad",
    "bind",
    "conv2d_im2col",
    "conv2d_scratch_size",
    "depthwise_conv2d",
    "depthwise_conv2d_grad_input",
    "depthwise_conv2d_grad_weight",
    "global_avg_pool",
    "pack_gemm_weights",
    "pointwise_conv",
]
