/* Depthwise convolution, NHWC, bias and activation fused.
 *
 * Work is split by output row. Within a row, channels go in blocks of VL lanes (the last
 * block overlaps the previous one when c % VL != 0, so no scalar tail is needed); for each
 * block the interior columns (window inside the image horizontally; rows outside it are
 * skipped) run a kernel with all KxK weight vectors in registers (K = 3 or 5), and the
 * border columns a bounds-checked loop over all channels. */
#include "activation.h"
#include "geometry.h"
#include "maku_kernels.h"
#include "parallel.h"

typedef struct {
    const maku_conv_params *p;
    const float *x, *w, *bias;
    float *y;
} dw_job;

/* Start of the channel block beginning at b: the last block is moved back to end at c
 * (overlapping the previous one, recomputing a few channels) so there is no scalar tail. */
MAKU_INLINE int64_t block_start(int64_t b, int64_t lanes, int64_t c) { return b + lanes > c ? c - lanes : b; }

/* One output pixel, all channels, any kernel size and padding: the border columns, and
 * everything when no register-blocked kernel applies. */
static void dw_pixel(const maku_conv_params *p, const dw_job *job, const float *xn, float *out, int64_t ih0,
                     int64_t kh_lo, int64_t kh_hi, int64_t iw0) {
    const int64_t c = p->c, lanes = c < VL ? c : VL;
    int64_t kw_lo, kw_hi;
    valid_taps(iw0, p->dil_w, p->kw, p->w, &kw_lo, &kw_hi);
    for (int64_t b = 0; b < c; b += VL) {
        const int64_t c0 = block_start(b, lanes, c);
        vf acc = job->bias ? vload_n(job->bias + c0, lanes) : vsplat(0.0f);
        for (int64_t i = kh_lo; i < kh_hi; i++) {
            const float *xrow = xn + (ih0 + i * p->dil_h) * p->w * c + c0;
            for (int64_t j = kw_lo; j < kw_hi; j++)
                acc += vload_n(xrow + (iw0 + j * p->dil_w) * c, lanes) *
                       vload_n(job->w + (i * p->kw + j) * c + c0, lanes);
        }
        vstore_n(out + c0, apply_act(acc, p->act, p->alpha, p->beta), lanes);
    }
}

/* The KxK weight vectors are named variables, not an array, so that Clang keeps them in
 * registers too (as with the GEMM accumulators); taps with i or j >= K vanish. */
#define FOR_TAPS(X)                                                                                \
    X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(0, 4) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(1, 4) X(2, 0) X(2, 1) \
    X(2, 2) X(2, 3) X(2, 4) X(3, 0) X(3, 1) X(3, 2) X(3, 3) X(3, 4) X(4, 0) X(4, 1) X(4, 2) X(4, 3) \
    X(4, 4)
#define LOAD_TAP(i, j) const vf w##i##j = i < K && j < K ? vload(w + (i * K + j) * c) : vsplat(0.0f);
#define ADD_TAP(i, j)                                                                              \
    if (i < K && j < K && !(partial && (i < kh_lo || i >= kh_hi)))                                 \
        acc += vload(x + (i - kh_lo) * dh + j * dw) * w##i##j;

/* `count` interior columns of a KxK kernel (K <= 5) for one full vector of channels,
 * weights in registers. Only kernel rows [kh_lo, kh_hi) lie inside the image (all of them
 * unless `partial`, a constant after inlining); x points at the input of row kh_lo of the
 * first pixel's window, w and out at channel c0. */
MAKU_INLINE void dw_interior(int K, int partial, const maku_conv_params *p, const float *x, const float *w,
                             vf bias, float *out, int64_t count, int64_t kh_lo, int64_t kh_hi) {
    const int64_t c = p->c, step = p->stride_w * c, dh = p->dil_h * p->w * c, dw = p->dil_w * c;
    FOR_TAPS(LOAD_TAP)
    for (int64_t o = 0; o < count; o++, x += step, out += c) {
        vf acc = bias;
        FOR_TAPS(ADD_TAP)
        vstore(out, apply_act(acc, p->act, p->alpha, p->beta));
    }
}

static void dw_row(const dw_job *job, int64_t n, int64_t r) {
    const maku_conv_params *p = job->p;
    const int64_t c = p->c;
    const float *xn = job->x + n * p->h * p->w * c;
    float *yrow = job->y + (n * p->oh + r) * p->ow * c;
    const int64_t ih0 = r * p->stride_h - p->pad_top;
    int64_t kh_lo, kh_hi, ow_lo, ow_hi;
    valid_taps(ih0, p->dil_h, p->kh, p->h, &kh_lo, &kh_hi);
    interior_range(p->ow, p->stride_w, p->pad_left, p->kw, p->dil_w, p->w, &ow_lo, &ow_hi);
    const int k = p->kh == p->kw && (p->kh == 3 || p->kh == 5) && c >= VL && kh_hi > kh_lo ? (int)p->kh : 0;
    if (!k)
        ow_lo = ow_hi = 0;
    const int partial = kh_lo > 0 || kh_hi < p->kh;
    for (int64_t b = 0; ow_hi > ow_lo && b < c; b += VL) {
        const int64_t c0 = block_start(b, VL, c);
        const float *x0 = xn + ((ih0 + kh_lo * p->dil_h) * p->w + ow_lo * p->stride_w - p->pad_left) * c + c0;
        const vf bias = job->bias ? vload(job->bias + c0) : vsplat(0.0f);
        float *y0 = yrow + ow_lo * c + c0;
        const int64_t count = ow_hi - ow_lo;
        if (k == 3 && !partial)
            dw_interior(3, 0, p, x0, job->w + c0, bias, y0, count, kh_lo, kh_hi);
        else if (k == 3)
            dw_interior(3, 1, p, x0, job->w + c0, bias, y0, count, kh_lo, kh_hi);
        else if (!partial)
            dw_interior(5, 0, p, x0, job->w + c0, bias, y0, count, kh_lo, kh_hi);
        else
            dw_interior(5, 1, p, x0, job->w + c0, bias, y0, count, kh_lo, kh_hi);
    }
    for (int64_t o = 0; o < ow_lo; o++)
        dw_pixel(p, job, xn, yrow + o * c, ih0, kh_lo, kh_hi, o * p->stride_w - p->pad_left);
    for (int64_t o = ow_hi; o < p->ow; o++)
        dw_pixel(p, job, xn, yrow + o * c, ih0, kh_lo, kh_hi, o * p->stride_w - p->pad_left);
}

static void dw_rows(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const dw_job *job = ctx;
    for (int64_t t = begin; t < end; t++)
        dw_row(job, t / job->p->oh, t % job->p->oh);
}

void maku_depthwise_conv2d(const maku_conv_params *p, const float *x, const float *w, const float *bias,
                           float *y, int32_t threads) {
    dw_job job = {p, x, w, bias, y};
    maku_parallel_for(p->n * p->oh, dw_rows, &job, threads);
}
