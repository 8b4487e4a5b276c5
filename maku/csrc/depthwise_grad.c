/* Backward of the depthwise convolution (depthwise.c), NHWC, for training (host builds only).
 *
 * Input gradient, gather form: each input pixel sums g * w over the taps that reach it, so
 * every element of dx is written exactly once (no zero fill, no atomics); work is split by
 * input row. Weight gradient: the output rows are cut into parts, each summing x * g per tap
 * into its own buffer in `scratch`; the buffers are added in order at the end, so the result
 * does not depend on which thread ran which part. Channels go in blocks of VL lanes as in
 * depthwise.c (the last block overlapping the previous one, so there is no scalar tail). */
#include "geometry.h"
#include "maku_kernels.h"
#include "parallel.h"
#include "vec.h"

/* Weight-gradient parts per thread: as many as threads.c cuts a call into, so a thread that
 * loses its core delays one part, not a whole thread's share. */
#define PARTS_PER_THREAD 4

/* Start of the channel block beginning at b (as in depthwise.c): the last block is moved back
 * to end at c. */
MAKU_INLINE int64_t block_start(int64_t b, int64_t lanes, int64_t c) { return b + lanes > c ? c - lanes : b; }

/* Taps k (of `count`, spaced `dil`) that reach input index `in` through `stride` and `pad`,
 * i.e. in + pad - k*dil == o*stride for an output index o in [0, out_len): writes k to taps[]
 * and o to outs[], returns how many. */
static int64_t reaching_taps(int64_t in, int64_t pad, int64_t stride, int64_t dil, int64_t count,
                             int64_t out_len, int64_t *taps, int64_t *outs) {
    int64_t found = 0;
    for (int64_t k = 0; k < count && in + pad - k * dil >= 0; k++) {
        const int64_t t = in + pad - k * dil;
        if (t % stride == 0 && t / stride < out_len) {
            taps[found] = k;
            outs[found++] = t / stride;
        }
    }
    return found;
}

typedef struct {
    const maku_conv_params *p;
    const float *g, *w;
    float *dx;
} dx_job;

/* Input row ih of image n. Columns go by phase r = iw mod stride: the kernel columns j that can
 * reach a column of phase r are the same for all of them, and their output column grows by
 * one per step of `stride`, so no division is left in the pixel loop. */
static void dx_row(const dx_job *job, int64_t n, int64_t ih) {
    const maku_conv_params *p = job->p;
    const int64_t c = p->c, lanes = c < VL ? c : VL, sw = p->stride_w;
    int64_t row_tap[p->kh], g_row[p->kh], col_tap[p->kw], g_col[p->kw];
    const int64_t rows = reaching_taps(ih, p->pad_top, p->stride_h, p->dil_h, p->kh, p->oh, row_tap, g_row);
    float *dx = job->dx + (n * p->h + ih) * p->w * c;
    for (int64_t r = 0; r < sw && r < p->w; r++) {
        int64_t cols = 0; /* kernel columns of phase r; g_col: their output column at iw = r */
        for (int64_t j = 0; j < p->kw; j++) {
            const int64_t t = r + p->pad_left - j * p->dil_w;
            if (t % sw == 0) {
                col_tap[cols] = j;
                g_col[cols++] = t / sw;
            }
        }
        for (int64_t iw = r, step = 0; iw < p->w; iw += sw, step++) {
            for (int64_t b = 0; b < c; b += VL) {
                const int64_t c0 = block_start(b, lanes, c);
                vf acc = vsplat(0.0f);
                for (int64_t a = 0; a < rows; a++) {
                    const float *g = job->g + (n * p->oh + g_row[a]) * p->ow * c + c0;
                    const float *w = job->w + row_tap[a] * p->kw * c + c0;
                    for (int64_t k = 0; k < cols; k++) {
                        const int64_t ow = g_col[k] + step;
                        if (ow >= 0 && ow < p->ow)
                            acc += vload_n(g + ow * c, lanes) * vload_n(w + col_tap[k] * c, lanes);
                    }
                }
                vstore_n(dx + iw * c + c0, acc, lanes);
            }
        }
    }
}

static void dx_rows(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const dx_job *job = ctx;
    for (int64_t t = begin; t < end; t++)
        dx_row(job, t / job->p->h, t % job->p->h);
}

void maku_depthwise_conv2d_grad_input(const maku_conv_params *p, const float *g, const float *w, float *dx,
                                      int32_t threads) {
    dx_job job = {p, g, w, dx};
    maku_parallel_for(p->n * p->h, dx_rows, &job, threads);
}

typedef struct {
    const maku_conv_params *p;
    const float *x, *g;
    float *scratch;
    int64_t parts;
    int bias;
} dw_job;

/* dst[c0 + l] += v[l], except the lanes an overlapping last block (c0 < b) shares with the
 * previous block, which has added them already. */
MAKU_INLINE void add_block(float *dst, vf v, int64_t b, int64_t c0, int64_t lanes) {
    if (c0 < b) {
        vi lane;
        for (int l = 0; l < VL; l++)
            lane[l] = l;
        v = (vf)((vi)v & (lane >= (vi){0} + (int)(b - c0)));
    }
    vstore_n(dst + c0, vload_n(dst + c0, lanes) + v, lanes);
}

/* Sum over columns [lo, hi) of x[o*step] * g[o] (x NULL: of g alone), in four chains so the
 * adds do not wait for each other. */
MAKU_INLINE vf column_sum(const float *x, int64_t step, const float *g, int64_t c, int64_t lo, int64_t hi,
                          int64_t lanes) {
    vf s0 = vsplat(0.0f), s1 = s0, s2 = s0, s3 = s0;
#define TERM(o) (x ? vload_n(x + (o) * step, lanes) * vload_n(g + (o) * c, lanes) : vload_n(g + (o) * c, lanes))
    int64_t o = lo;
    for (; o + 4 <= hi; o += 4) {
        s0 += TERM(o);
        s1 += TERM(o + 1);
        s2 += TERM(o + 2);
        s3 += TERM(o + 3);
    }
    for (; o < hi; o++)
        s0 += TERM(o);
#undef TERM
    return (s0 + s1) + (s2 + s3);
}

/* Adds output row `row` (of all n * oh) into `sum`: (kh*kw) x c tap sums, then c bias sums. */
static void dw_row(const dw_job *job, int64_t row, float *sum) {
    const maku_conv_params *p = job->p;
    const int64_t c = p->c, lanes = c < VL ? c : VL, n = row / p->oh;
    const int64_t ih0 = row % p->oh * p->stride_h - p->pad_top;
    const float *g = job->g + row * p->ow * c;
    int64_t kh_lo, kh_hi;
    valid_taps(ih0, p->dil_h, p->kh, p->h, &kh_lo, &kh_hi);
    for (int64_t i = kh_lo; i < kh_hi; i++) {
        const float *xrow = job->x + (n * p->h + ih0 + i * p->dil_h) * p->w * c;
        for (int64_t j = 0; j < p->kw; j++) {
            int64_t lo, hi; /* output columns whose tap j lies inside the image */
            const int64_t iw0 = j * p->dil_w - p->pad_left;
            valid_taps(iw0, p->stride_w, p->ow, p->w, &lo, &hi);
            for (int64_t b = 0; b < c; b += VL) {
                const int64_t c0 = block_start(b, lanes, c);
                const vf s = column_sum(xrow + iw0 * c + c0, p->stride_w * c, g + c0, c, lo, hi, lanes);
                add_block(sum + (i * p->kw + j) * c, s, b, c0, lanes);
            }
        }
    }
    for (int64_t b = 0; job->bias && b < c; b += VL) {
        const int64_t c0 = block_start(b, lanes, c);
        add_block(sum + p->kh * p->kw * c, column_sum(NULL, 0, g + c0, c, 0, p->ow, lanes), b, c0, lanes);
    }
}

static void dw_parts(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const dw_job *job = ctx;
    const maku_conv_params *p = job->p;
    const int64_t rows = p->n * p->oh, size = (p->kh * p->kw + 1) * p->c;
    for (int64_t part = begin; part < end; part++) {
        float *sum = job->scratch + part * size;
        maku_memset(sum, 0, (unsigned long)size * sizeof(float));
        for (int64_t row = rows * part / job->parts; row < rows * (part + 1) / job->parts; row++)
            dw_row(job, row, sum);
    }
}

static int64_t weight_grad_parts(int32_t threads) { return PARTS_PER_THREAD * (int64_t)(threads > 1 ? threads : 1); }

int64_t maku_depthwise_conv2d_grad_weight_scratch_size(const maku_conv_params *p, int32_t threads) {
    return weight_grad_parts(threads) * (p->kh * p->kw + 1) * p->c;
}

/* out[k] = sum over parts of part[k], parts `stride` floats apart, added in order. */
static void sum_parts(const float *part, int64_t parts, int64_t stride, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) {
        float s = 0.0f;
        for (int64_t q = 0; q < parts; q++)
            s += part[q * stride + k];
        out[k] = s;
    }
}

void maku_depthwise_conv2d_grad_weight(const maku_conv_params *p, const float *x, const float *g, float *dw,
                                       float *db, float *scratch, int32_t threads) {
    const int64_t parts = weight_grad_parts(threads), taps = p->kh * p->kw * p->c;
    dw_job job = {p, x, g, scratch, parts, db != NULL};
    maku_parallel_for(parts, dw_parts, &job, threads);
    sum_parts(scratch, parts, taps + p->c, taps, dw);
    if (db)
        sum_parts(scratch + taps, parts, taps + p->c, p->c, db);
}
