/* GEMM y = act(a @ W + bias) + residual with W pre-packed in column panels.
 *
 * The register-blocked micro-kernel computes MR rows x NR (= 2 vectors) columns with all
 * accumulators in registers, reading one packed panel row and broadcasting one value of
 * each of the MR rows of `a` per step of k; the epilogue adds the bias, applies the
 * activation, adds the residual and stores, so the output is written exactly once.
 * Parallel tasks are (row block, panel) pairs, which balances small-m layers (7x7 maps) too. */
#include "activation.h"
#include "gemm.h"
#include "maku_kernels.h"
#include "parallel.h"

#define NR (2 * VL)
#if VL == 16
#define MR 12 /* 24 accumulators of 32 zmm registers */
#else
#define MR 6 /* 12 accumulators of 16 registers */
#endif

int32_t maku_gemm_panel_width(void) { return NR; }

int64_t maku_gemm_packed_size(int64_t k, int64_t n) { return (n + NR - 1) / NR * NR * k; }

void maku_gemm_pack_weights(const float *w, int64_t k, int64_t n, float *packed) {
    for (int64_t p0 = 0; p0 < n; p0 += NR)
        for (int64_t kk = 0; kk < k; kk++)
            for (int64_t j = 0; j < NR; j++)
                *packed++ = p0 + j < n ? w[kk * n + p0 + j] : 0.0f;
}

/* The epilogue of one tile: bias, activation, residual, store. Out of line and looping over
 * the tile so the activation switch is not copied into every micro-kernel variant. */
static void epilogue(const gemm_args *g, const vf tile[][2], int64_t row0, int rows, int64_t col) {
    const int64_t cols0 = g->n - col < VL ? g->n - col : VL, cols1 = g->n - col - VL;
    const vf bias0 = g->bias ? vload_n(g->bias + col, cols0) : vsplat(0.0f);
    const vf bias1 = g->bias && cols1 > 0 ? vload_n(g->bias + col + VL, cols1 < VL ? cols1 : VL) : vsplat(0.0f);
    for (int r = 0; r < rows; r++) {
        const int64_t at = (row0 + r) * g->n + col;
        for (int h = 0; h < 2; h++) {
            const int64_t cols = h ? (cols1 < VL ? cols1 : VL) : cols0;
            if (cols <= 0)
                continue;
            vf v = apply_act(tile[r][h] + (h ? bias1 : bias0), g->act, g->alpha, g->beta);
            if (g->residual)
                v += vload_n(g->residual + at + h * VL, cols);
            vstore_n(g->y + at + h * VL, v, cols);
        }
    }
}

/* Rows [row0, row0 + mr) x panel starting at column col; mr is a constant after inlining. */
MAKU_INLINE void micro_kernel(int mr, const gemm_args *g, int64_t row0, int64_t col) {
    vf acc0[MR], acc1[MR];
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++)
        acc0[r] = acc1[r] = vsplat(0.0f);
    const float *a = g->a + row0 * g->lda;
    const float *b = g->packed_w + col * g->k;
    for (int64_t kk = 0; kk < g->k; kk++, b += NR) {
        const vf b0 = vload(b), b1 = vload(b + VL);
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            const vf av = vsplat(a[r * g->lda + kk]);
            acc0[r] += av * b0;
            acc1[r] += av * b1;
        }
    }
    vf tile[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        tile[r][0] = acc0[r];
        tile[r][1] = acc1[r];
    }
    epilogue(g, tile, row0, mr, col);
}

/* One task: the rows of block `rb` times panel `p`, dispatching the row count to a
 * specialized copy of the micro-kernel. */
static void gemm_task(const gemm_args *g, int64_t rb, int64_t p) {
    const int64_t row0 = rb * MR, col = p * NR;
    const int64_t rows = g->m - row0 < MR ? g->m - row0 : MR;
    switch (rows) {
#define CASE(R)                                                                                    \
    case R:                                                                                        \
        micro_kernel(R, g, row0, col);                                                             \
        break;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
#if MR == 12
        CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12)
#endif
#undef CASE
    }
}

static void gemm_tasks(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const gemm_args *g = ctx;
    const int64_t panels = (g->n + NR - 1) / NR;
    for (int64_t t = begin; t < end; t++)
        gemm_task(g, t / panels, t % panels);
}

static int64_t gemm_task_count(const gemm_args *g) { return (g->m + MR - 1) / MR * ((g->n + NR - 1) / NR); }

void gemm_serial(const gemm_args *g) { gemm_tasks((void *)g, 0, gemm_task_count(g), 0); }

void maku_gemm_fused(const float *x, const float *packed_w, const float *bias, const float *residual,
                     float *y, int64_t m, int64_t k, int64_t n, int32_t act, float alpha, float beta,
                     int32_t threads) {
    gemm_args g = {x, k, packed_w, bias, residual, y, m, k, n, act, alpha, beta};
    maku_parallel_for(gemm_task_count(&g), gemm_tasks, &g, threads);
}
