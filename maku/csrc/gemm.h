/* The packed GEMM with fused epilogue, as used inside the library (conv_im2col.c). */
#ifndef MAKU_GEMM_H
#define MAKU_GEMM_H

#include <stdint.h>

typedef struct {
    const float *a;        /* (m, k) row-major, row stride lda */
    int64_t lda;
    const float *packed_w; /* maku_gemm_pack_weights layout */
    const float *bias;     /* (n) or NULL */
    const float *residual; /* (m, n) row stride n, or NULL */
    float *y;              /* (m, n) row stride n */
    int64_t m, k, n;
    int32_t act;
    float alpha, beta;
} gemm_args;

/* Rows [0, g->m) of the product, on the calling thread. */
void gemm_serial(const gemm_args *g);

#endif
