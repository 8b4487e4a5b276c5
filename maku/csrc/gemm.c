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
#define FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#else
#define MR 6 /* 12 accumulators of 16 registers */
#define FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#endif

int32_t maku_gemm_panel_width(void) { return NR; }

int64_t maku_gemm_packed_size(int64_t k, int64_t n) { return (n + NR - 1) / NR * NR * k; }

void maku_gemm_pack_weights(const float *w, int64_t k, int64_t n, float *packed) {
    for (int64_t p0 = 0; p0 < n; p0 += NR)
        for (int64_t kk = 0; kk < k; kk++)
            for (int64_t j = 0; j < NR; j++)
                *packed++ = p0 + j < n ? w[kk * n + p0 + j] : 0.0f;
}

/* Bias, activation, residual, store for the first `cols` (<= VL) lanes of the output vector
 * at offset `at`; lanes past the matrix edge (cols < VL) are neither read nor written. */
MAKU_INLINE void finish_vector(const gemm_args *g, vf v, vf bias, int64_t at, int64_t cols) {
    if (cols <= 0)
        return;
    v = apply_act(v + bias, g->act, g->alpha, g->beta);
    if (g->residual)
        v += vload_n(g->residual + at, cols);
    vstore_n(g->y + at, v, cols);
}

MAKU_INLINE int64_t lanes_from(const gemm_args *g, int64_t col) { return g->n - col < VL ? g->n - col : VL; }

MAKU_INLINE vf bias_at(const gemm_args *g, int64_t col) {
    const int64_t cols = lanes_from(g, col);
    return g->bias && cols > 0 ? vload_n(g->bias + col, cols) : vsplat(0.0f);
}

/* The epilogue of a tile of fewer than MR rows: out of line and looping, so that the
 * variants of the micro-kernel for the last row block stay small. */
static void finish_short_tile(const gemm_args *g, vf tile[][2], int64_t row0, int rows, int64_t col) {
    const vf bias0 = bias_at(g, col), bias1 = bias_at(g, col + VL);
    for (int r = 0; r < rows; r++) {
        const int64_t at = (row0 + r) * g->n + col;
        finish_vector(g, tile[r][0], bias0, at, lanes_from(g, col));
        finish_vector(g, tile[r][1], bias1, at + VL, lanes_from(g, col + VL));
    }
}

/* The accumulators are named variables, one pair per row, not an array: Clang keeps an
 * array of them in memory (re-storing all of them every step of k, 2.4x slower), GCC does
 * not. FOR_ROWS spells out the MR rows; rows >= mr vanish since mr is a constant. */
#define DECLARE(r) vf acc##r##_0 = vsplat(0.0f), acc##r##_1 = acc##r##_0;
#define ACCUMULATE(r)                                                                              \
    if (r < mr) {                                                                                  \
        const vf av = vsplat(a[r * g->lda + kk]);                                                  \
        acc##r##_0 += av * b0;                                                                     \
        if (halves == 2)                                                                           \
            acc##r##_1 += av * b1;                                                                 \
    }
#define FINISH(r)                                                                                  \
    if (r < mr) {                                                                                  \
        finish_vector(g, acc##r##_0, bias0, (row0 + r) * g->n + col, cols0);                      \
        if (halves == 2)                                                                           \
            finish_vector(g, acc##r##_1, bias1, (row0 + r) * g->n + col + VL, cols1);             \
    }
#define TO_TILE(r)                                                                                 \
    if (r < mr) {                                                                                  \
        tile[r][0] = acc##r##_0;                                                                   \
        tile[r][1] = acc##r##_1;                                                                   \
    }

/* Rows [row0, row0 + mr) x `halves` vectors of columns from `col`; mr and halves are
 * constants after inlining. Full row blocks finish straight from the registers, the last
 * short one through finish_short_tile. */
MAKU_INLINE void micro_kernel(int mr, int halves, const gemm_args *g, int64_t row0, int64_t col) {
    FOR_ROWS(DECLARE)
    const float *a = g->a + row0 * g->lda;
    const float *b = g->packed_w + col * g->k;
    for (int64_t kk = 0; kk < g->k; kk++, b += NR) {
        const vf b0 = vload(b), b1 = halves == 2 ? vload(b + VL) : b0;
        FOR_ROWS(ACCUMULATE)
    }
    if (mr == MR) {
        const vf bias0 = bias_at(g, col), bias1 = halves == 2 ? bias_at(g, col + VL) : bias0;
        const int64_t cols0 = lanes_from(g, col), cols1 = lanes_from(g, col + VL);
        FOR_ROWS(FINISH)
    } else {
        vf tile[MR][2];
        FOR_ROWS(TO_TILE)
        finish_short_tile(g, tile, row0, mr, col);
    }
}

/* One task: the rows of block `rb` times panel `p`. Full row blocks get a variant per
 * panel width (a last panel of at most VL columns computes one vector, not two); the
 * last, shorter row block a variant per row count. */
static void gemm_task(const gemm_args *g, int64_t rb, int64_t p) {
    const int64_t row0 = rb * MR, col = p * NR;
    const int64_t rows = g->m - row0 < MR ? g->m - row0 : MR;
    switch (rows) {
    case MR:
        if (g->n - col <= VL)
            micro_kernel(MR, 1, g, row0, col);
        else
            micro_kernel(MR, 2, g, row0, col);
        break;
#define CASE(R)                                                                                    \
    case R:                                                                                        \
        micro_kernel(R, 2, g, row0, col);                                                          \
        break;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5)
#if MR == 12
        CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11)
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
