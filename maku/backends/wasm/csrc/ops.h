/* The kernels maku's wasm module adds to the shared ones of maku/csrc (maku_kernels.h):
 * pooling, elementwise, softmax, layout copies and weight packing. Plain C11 on the portable
 * vectors of vec.h, so they build for the host too. Layouts: NHWC, float32, C-contiguous. */
#ifndef MAKU_WASM_OPS_H
#define MAKU_WASM_OPS_H

#include <stdint.h>

/* Window geometry of a 2-D pooling (ONNX semantics; pads top/left/bottom/right). */
typedef struct {
    int32_t n, h, w, c, oh, ow, kh, kw;
    int32_t stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w;
    int32_t count_include_pad; /* average: divide by taps inside input+pads, else inside input */
} maku_pool_params;

void maku_max_pool2d(const maku_pool_params *p, const float *x, float *y);
void maku_avg_pool2d(const maku_pool_params *p, const float *x, float *y);

enum maku_binary { MAKU_ADD = 0, MAKU_SUB = 1, MAKU_MUL = 2, MAKU_DIV = 3 };

/* y = a op b over a 4-D iteration space `shape` (innermost last); a and b are read with
 * element strides (0 broadcasts), y is written contiguously. */
void maku_binary(int32_t op, const int32_t shape[4], const float *a, const int32_t a_strides[4],
                 const float *b, const int32_t b_strides[4], float *y);

/* y = act(x) for `count` floats (enum maku_act); y may be x. */
void maku_unary(int32_t act, float alpha, float beta, const float *x, float *y, int64_t count);

/* y = float(x) for `count` bytes. */
void maku_cast_u8_f32(const uint8_t *x, float *y, int64_t count);

/* Softmax over the last axis of a (rows, cols) matrix; y may be x. */
void maku_softmax(const float *x, float *y, int64_t rows, int64_t cols);

/* Copies a 6-D strided view (element strides, element size 1 or 4 bytes) into another: the
 * one primitive behind transpose, concat, pad and reshape copies. */
void maku_copy_strided(int32_t elsize, const int32_t shape[6], const void *x, const int32_t x_strides[6],
                       void *y, const int32_t y_strides[6]);

/* Sets `count` floats to `value`. */
void maku_fill(float *y, float value, int64_t count);

/* Packs w given as (n, k) row-major (a transposed weight) like maku_gemm_pack_weights does a
 * (k, n) one. */
void maku_gemm_pack_weights_transposed(const float *w, int64_t k, int64_t n, float *packed);

#endif
