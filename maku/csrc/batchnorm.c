/* Batch normalization in training mode (statistics of the batch) and its backward, over the m
 * rows of a channels-last array viewed as (m, c) (host builds only).
 *
 * Per-channel sums: the rows are cut into parts (PARTS_PER_THREAD per thread); each part adds
 * CHUNK rows at a time in float32 (four chains per channel block) and each chunk's sums into
 * its own float64 totals in `scratch`; the parts' totals are added in order at the end. So the
 * sums are as precise as the NumPy path's (float32 blocks added in float64) and the result does
 * not depend on which thread ran which part, only on the thread count. The mean is subtracted
 * before squaring (two passes), as in NumPy, so large means cost no precision.
 *
 * Element-wise passes (y, dx) are split by row and write each element once. Channels go in
 * blocks of VL lanes as in depthwise.c: the last block overlaps the previous one when c % VL
 * != 0 (so outputs must not alias inputs), and below VL channels one narrow block is used. */
#include "maku_kernels.h"
#include "parallel.h"
#include "vec.h"

#define PARTS_PER_THREAD 4
/* Rows summed in float32 before their sums are added to the float64 totals. */
#define CHUNK 32

enum { SUM_X, SUM_CENTERED_SQUARES, SUM_G_AND_G_CENTERED };

MAKU_INLINE int64_t block_start(int64_t b, int64_t lanes, int64_t c) { return b + lanes > c ? c - lanes : b; }

static int64_t parts_for(int32_t threads) { return PARTS_PER_THREAD * (int64_t)(threads > 1 ? threads : 1); }

int64_t maku_batch_norm_scratch_size(int64_t c, int32_t threads) {
    /* per part: two float64 totals per channel and two float32 chunk sums per channel (one
     * float64 slot); then the parts' two sums per channel, and three float32 coefficients per
     * channel (two float64 slots) */
    return parts_for(threads) * 3 * c + 4 * c;
}

typedef struct {
    const float *x, *g, *mean;
    double *scratch;
    int64_t m, c, parts;
    int mode;
} sum_job;

/* Sums over `rows` rows (row stride c) of one lane block at c0 into s0 (and s1): x, (x - mean)^2,
 * or g and g * (x - mean), by `mode`. */
MAKU_INLINE void block_sums(int mode, const float *x, const float *g, vf mu, int64_t c, int64_t rows,
                            int64_t lanes, vf *s0, vf *s1) {
    vf a[4] = {vsplat(0.0f), vsplat(0.0f), vsplat(0.0f), vsplat(0.0f)}, b[4] = {a[0], a[0], a[0], a[0]};
    int64_t r = 0;
#define TERM(k, o)                                                         \
    do {                                                                   \
        const vf xv = vload_n(x + (o) * c, lanes);                         \
        if (mode == SUM_X) {                                               \
            a[k] += xv;                                                    \
        } else if (mode == SUM_CENTERED_SQUARES) {                         \
            const vf d = xv - mu;                                          \
            a[k] += d * d;                                                 \
        } else {                                                           \
            const vf gv = vload_n(g + (o) * c, lanes);                     \
            a[k] += gv;                                                    \
            b[k] += gv * (xv - mu);                                        \
        }                                                                  \
    } while (0)
    for (; r + 4 <= rows; r += 4) {
        TERM(0, r);
        TERM(1, r + 1);
        TERM(2, r + 2);
        TERM(3, r + 3);
    }
    for (; r < rows; r++)
        TERM(0, r);
#undef TERM
    *s0 = (a[0] + a[1]) + (a[2] + a[3]);
    *s1 = (b[0] + b[1]) + (b[2] + b[3]);
}

MAKU_INLINE void part_sums(const sum_job *job, int mode, int64_t part) {
    const int64_t c = job->c, lanes = c < VL ? c : VL, pairs = mode == SUM_G_AND_G_CENTERED ? 2 : 1;
    double *total = job->scratch + part * 3 * c; /* c totals, then c more for the second sum */
    float *chunk = (float *)(total + 2 * c);     /* 2c float32 chunk sums */
    for (int64_t k = 0; k < pairs * c; k++)
        total[k] = 0.0;
    const int64_t end = job->m * (part + 1) / job->parts;
    for (int64_t row = job->m * part / job->parts; row < end; row += CHUNK) {
        const int64_t rows = end - row < CHUNK ? end - row : CHUNK;
        for (int64_t b = 0; b < c; b += VL) {
            const int64_t c0 = block_start(b, lanes, c);
            const vf mu = mode == SUM_X ? vsplat(0.0f) : vload_n(job->mean + c0, lanes);
            const float *g = mode == SUM_G_AND_G_CENTERED ? job->g + row * c + c0 : NULL;
            vf s0, s1;
            block_sums(mode, job->x + row * c + c0, g, mu, c, rows, lanes, &s0, &s1);
            /* an overlapping last block stores its shared lanes again, with the same values */
            vstore_n(chunk + c0, s0, lanes);
            if (mode == SUM_G_AND_G_CENTERED)
                vstore_n(chunk + c + c0, s1, lanes);
        }
        for (int64_t k = 0; k < pairs * c; k++)
            total[k] += chunk[k];
    }
}

static void sum_parts(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const sum_job *job = ctx;
    for (int64_t part = begin; part < end; part++) {
        if (job->mode == SUM_X) /* constant modes, so each loop is compiled for its sum */
            part_sums(job, SUM_X, part);
        else if (job->mode == SUM_CENTERED_SQUARES)
            part_sums(job, SUM_CENTERED_SQUARES, part);
        else
            part_sums(job, SUM_G_AND_G_CENTERED, part);
    }
}

/* Runs the `mode` sums in parallel; out[k] (k < c, or < 2c for two sums) = their totals. */
static void channel_sums(sum_job *job, int mode, double *out, int32_t threads) {
    job->mode = mode;
    maku_parallel_for(job->parts, sum_parts, job, threads);
    const int64_t c = job->c, len = (mode == SUM_G_AND_G_CENTERED ? 2 : 1) * c;
    for (int64_t k = 0; k < len; k++) {
        double s = 0.0;
        for (int64_t q = 0; q < job->parts; q++)
            s += job->scratch[q * 3 * c + k];
        out[k] = s;
    }
}

/* Element-wise pass: out = (x - mean) * k1 + k2 (forward: k1 = gamma * inv_std, k2 = beta), or
 * with g: out = g * k0 - (x - mean) * k1 - k2 (backward). */
typedef struct {
    const float *x, *g, *mean, *k0, *k1, *k2;
    float *out;
    int64_t c;
} map_job;

static void map_rows(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const map_job *job = ctx;
    const int64_t c = job->c, lanes = c < VL ? c : VL;
    for (int64_t row = begin; row < end; row++) {
        const float *x = job->x + row * c;
        float *out = job->out + row * c;
        for (int64_t b = 0; b < c; b += VL) {
            const int64_t c0 = block_start(b, lanes, c);
            const vf centered = vload_n(x + c0, lanes) - vload_n(job->mean + c0, lanes);
            const vf k1 = vload_n(job->k1 + c0, lanes), k2 = vload_n(job->k2 + c0, lanes);
            vf v;
            if (job->g)
                v = vload_n(job->g + row * c + c0, lanes) * vload_n(job->k0 + c0, lanes) - centered * k1 - k2;
            else
                v = centered * k1 + k2;
            vstore_n(out + c0, v, lanes);
        }
    }
}

void maku_batch_norm_train(const float *x, const float *gamma, const float *beta, float eps, float *y,
                           float *mean, float *var, float *inv_std, double *scratch, int64_t m, int64_t c,
                           int32_t threads) {
    sum_job job = {x, NULL, mean, scratch, m, c, parts_for(threads), SUM_X};
    double *totals = scratch + job.parts * 3 * c;
    float *scale = (float *)(totals + 2 * c);
    channel_sums(&job, SUM_X, totals, threads);
    for (int64_t k = 0; k < c; k++)
        mean[k] = (float)totals[k] / (float)m; /* as NumPy: the float64 sum rounded, then divided */
    channel_sums(&job, SUM_CENTERED_SQUARES, totals, threads);
    for (int64_t k = 0; k < c; k++) {
        var[k] = (float)totals[k] / (float)m;
        inv_std[k] = 1.0f / __builtin_sqrtf(var[k] + eps);
        scale[k] = inv_std[k] * gamma[k];
    }
    map_job map = {x, NULL, mean, NULL, scale, beta, y, c};
    maku_parallel_for(m, map_rows, &map, threads);
}

void maku_batch_norm_train_grad(const float *g, const float *x, const float *mean, const float *inv_std,
                                const float *gamma, float *dx, float *dgamma, float *dbeta, double *scratch,
                                int64_t m, int64_t c, int32_t threads) {
    sum_job job = {x, g, mean, scratch, m, c, parts_for(threads), SUM_G_AND_G_CENTERED};
    double *totals = scratch + job.parts * 3 * c;
    channel_sums(&job, SUM_G_AND_G_CENTERED, totals, threads);
    float *k0 = (float *)(totals + 2 * c), *k1 = k0 + c, *k2 = k1 + c;
    for (int64_t k = 0; k < c; k++) {
        const float sum_g = (float)totals[k], sum_gc = (float)totals[c + k];
        dbeta[k] = sum_g;
        dgamma[k] = sum_gc * inv_std[k];
        /* dx = scale * (g - sum_g / m - centered * inv_std * dgamma / m), scale = gamma * inv_std */
        k0[k] = gamma[k] * inv_std[k];
        k1[k] = k0[k] * inv_std[k] * dgamma[k] / (float)m;
        k2[k] = k0[k] * dbeta[k] / (float)m;
    }
    map_job map = {x, g, mean, k0, k1, k2, dx, c};
    maku_parallel_for(m, map_rows, &map, threads);
}
