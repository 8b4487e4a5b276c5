/* maku native kernels: the C ABI shared by the host build (ctypes) and, later, wasm32.
 *
 * Layouts follow docs/architecture.md: activations NHWC, float32, C-contiguous.
 * Every kernel writes its whole output into `y` (never reads it first, except when `y`
 * aliases `residual`), in the order of maku.kernels.conv.Conv2d:
 *     y = act(conv(x, w) + bias) + residual
 * (MobileNetV2 adds the skip to a conv without activation; a fused activation after the
 * add is not this kernel's case).
 * `threads` is the number of threads a call may use (>= 1); the host splits work with
 * its own small pool (threads.c), the wasm build runs serially (serial.c).
 */
#ifndef MAKU_KERNELS_H
#define MAKU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define MAKU_ABI_VERSION 1

/* Fused activations (architecture.md "Activations"); alpha/beta as documented there. */
enum maku_act {
    MAKU_ACT_NONE = 0,
    MAKU_ACT_RELU = 1,
    MAKU_ACT_CLIP = 2,        /* min(max(x, alpha), beta) */
    MAKU_ACT_HARDSIGMOID = 3, /* max(0, min(1, alpha*x + beta)) */
    MAKU_ACT_HARDSWISH = 4,   /* x * max(0, min(1, x/6 + 1/2)) */
    MAKU_ACT_SIGMOID = 5
};

/* Geometry of a 2-D convolution over NHWC input (n, h, w, c) to output (n, oh, ow, cout). */
typedef struct {
    int64_t n, h, w, c;
    int64_t oh, ow, cout;
    int64_t kh, kw;
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_left;
    int64_t dil_h, dil_w;
    int32_t act;
    float alpha, beta;
} maku_conv_params;

/* The ABI version this library was built with; the loader refuses a mismatch. */
int32_t maku_abi_version(void);

/* Lanes of the vector type the library was compiled for (4, 8 or 16 floats). */
int32_t maku_vector_lanes(void);

/* Depthwise convolution: w is (kh, kw, c), cout == c, bias is (c) or NULL. */
void maku_depthwise_conv2d(const maku_conv_params *p, const float *x, const float *w,
                           const float *bias, float *y, int32_t threads);

/* Panel width of packed GEMM weights: columns are grouped in panels this wide. */
int32_t maku_gemm_panel_width(void);

/* Floats needed by maku_gemm_pack_weights for a (k, n) matrix. */
int64_t maku_gemm_packed_size(int64_t k, int64_t n);

/* Packs row-major w (k, n) into panels of maku_gemm_panel_width() columns (zero padded). */
void maku_gemm_pack_weights(const float *w, int64_t k, int64_t n, float *packed);

/* y (m, n) = act(x (m, k) @ W + bias) + residual; W packed by maku_gemm_pack_weights.
 * bias (n) and residual (m, n) may be NULL; residual may alias y. Row strides are k / n. */
void maku_gemm_fused(const float *x, const float *packed_w, const float *bias, const float *residual,
                     float *y, int64_t m, int64_t k, int64_t n, int32_t act, float alpha, float beta,
                     int32_t threads);

/* Dense convolution (groups == 1) by per-row im2col into `scratch` then the packed GEMM.
 * packed_w packs the HWIO weight viewed as (kh*kw*c, cout). scratch holds
 * maku_conv2d_scratch_size(p, threads) floats. */
int64_t maku_conv2d_scratch_size(const maku_conv_params *p, int32_t threads);
void maku_conv2d_im2col(const maku_conv_params *p, const float *x, const float *packed_w,
                        const float *bias, const float *residual, float *y, float *scratch,
                        int32_t threads);

/* Global average pool: x (n, hw, c) -> y (n, c). */
void maku_global_avg_pool(const float *x, float *y, int64_t n, int64_t hw, int64_t c, int32_t threads);

/* Backward of maku_depthwise_conv2d for training (depthwise_grad.c, host builds only); p is the
 * forward's geometry, its act ignored. g is dL/dy (n, oh, ow, c).
 * Input gradient: dx (n, h, w, c), every element written. */
void maku_depthwise_conv2d_grad_input(const maku_conv_params *p, const float *g, const float *w, float *dx,
                                      int32_t threads);

/* Weight gradient dw (kh, kw, c) and, when db is not NULL, the bias gradient db (c) = g summed
 * over n, oh, ow; scratch holds maku_depthwise_conv2d_grad_weight_scratch_size(p, threads)
 * floats. The result depends on `threads` only through the order of float32 additions. */
int64_t maku_depthwise_conv2d_grad_weight_scratch_size(const maku_conv_params *p, int32_t threads);
void maku_depthwise_conv2d_grad_weight(const maku_conv_params *p, const float *x, const float *g, float *dw,
                                       float *db, float *scratch, int32_t threads);

/* Batch normalization in training mode over the m rows of x (m, c) (an NHWC array viewed as
 * (n*h*w, c)) (batchnorm.c, host builds only). Forward: mean, biased var and inv_std =
 * 1/sqrt(var + eps) of each channel, y = (x - mean) * inv_std * gamma + beta. Backward from
 * g = dL/dy and the forward's x, mean, inv_std: dbeta = sum(g), dgamma = sum(g * x_hat),
 * dx = gamma * inv_std / m * (m * g - dbeta - x_hat * dgamma), x_hat = (x - mean) * inv_std.
 * Sums are float32 over blocks of rows added in float64; scratch holds
 * maku_batch_norm_scratch_size(c, threads) doubles; the result depends on `threads` only
 * through the order of those additions. y and dx must not overlap the inputs. */
int64_t maku_batch_norm_scratch_size(int64_t c, int32_t threads);
void maku_batch_norm_train(const float *x, const float *gamma, const float *beta, float eps, float *y,
                           float *mean, float *var, float *inv_std, double *scratch, int64_t m, int64_t c,
                           int32_t threads);
void maku_batch_norm_train_grad(const float *g, const float *x, const float *mean, const float *inv_std,
                                const float *gamma, float *dx, float *dgamma, float *dbeta, double *scratch,
                                int64_t m, int64_t c, int32_t threads);

#endif
