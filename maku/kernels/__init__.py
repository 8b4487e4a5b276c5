"""maku's NumPy kernels: a leaf library (imports only numpy) shared by the numpy backend, the
autograd ops and the IR's constant folding. Import the modules directly:

    activation   apply_activation, relu, clip, sigmoid, hard_sigmoid, hard_swish
    conv         conv2d, Conv2d (prepared), conv2d_output_shape, same_pads
    pool         max_pool2d, avg_pool2d, global_avg_pool2d, Pool2d (prepared)
    gemm         gemm, matmul
    elementwise  add, sub, mul, div, batchnorm_inference
    reduce       reduce_mean, softmax, log_softmax
    shape_ops    transpose, concat, gather, slice, pad_constant, expand, reshape_target,
                 flatten_shape, squeeze_shape, unsqueeze_shape, normalize_axes
    windows      sliding_windows, row_windows, Padder (helpers for window-based kernels)

Layouts follow docs/architecture.md: NHWC activations, HWIO conv weights, pads (top, left, bottom, right).
"""
