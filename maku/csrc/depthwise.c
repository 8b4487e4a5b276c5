/* Depthwise convolution, NHWC, bias and activation fused.
 *
 * Work is split by output row. Within a row, channels go in blocks of VL lanes (the last
 * block overlaps the previous one when c % VL != 0, so no scalar tail is needed); for each
 * block the interior columns run a kernel with all KxK weight vectors held in registers
 * (K = 3 or 5), and the border columns a bounds-checked loop. */
#include "activation.h"
#include "geometry.h"
#include "maku_kernels.h"
#include "parallel.h"

typedef struct {
    const maku_conv_params *p;
    const float *x, *w, *bias;
    float *y;
} dw_job;

/* One output pixel (any kernel size, any padding) for channels [c0, c0 + lanes). */
static void dw_pixel(const maku_conv_params *p, const float *xn, const float *w, vf bias, float *out,
                     int64_t ih0, int64_t kh_lo, int64_t kh_hi, int64_t iw0, int64_t c0, int64_t lanes) {
    int64_t kw_lo, kw_hi;
    valid_taps(iw0, p->dil_w, p->kw, p->w, &kw_lo, &kw_hi);
    vf acc = bias;
    for (int64_t i = kh_lo; i < kh_hi; i++) {
        const float *xrow = xn + (ih0 + i * p->dil_h) * p->w * p->c + c0;
        for (int64_t j = kw_lo; j < kw_hi; j++)
            acc += vload_n(xrow + (iw0 + j * p->dil_w) * p->c, lanes) *
                   vload_n(w + (i * p->kw + j) * p->c + c0, lanes);
    }
    vstore_n(out, apply_act(acc, p->act, p->alpha, p->beta), lanes);
}

/* `count` interior pixels of a KxK kernel, one full vector of channels, weights in registers.
 * x points at the window's top-left input for the first pixel, w and out at channel c0. */
MAKU_INLINE void dw_interior(int K, const maku_conv_params *p, const float *x, const float *w, vf bias,
                             float *out, int64_t count) {
    const int64_t c = p->c, step = p->stride_w * c, dh = p->dil_h * p->w * c, dw = p->dil_w * c;
    vf wr[25];
#pragma GCC unroll 5
    for (int i = 0; i < K; i++)
#pragma GCC unroll 5
        for (int j = 0; j < K; j++)
            wr[i * K + j] = vload(w + (i * K + j) * c);
    for (int64_t o = 0; o < count; o++, x += step, out += c) {
        vf acc = bias;
#pragma GCC unroll 5
        for (int i = 0; i < K; i++)
#pragma GCC unroll 5
            for (int j = 0; j < K; j++)
                acc += vload(x + i * dh + j * dw) * wr[i * K + j];
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
    const int fast_k = (kh_lo == 0 && kh_hi == p->kh && p->kh == p->kw && (p->kh == 3 || p->kh == 5))
                           ? (int)p->kh : 0;
    const int64_t lanes = c < VL ? c : VL;

    for (int64_t c0 = 0; c0 < c; c0 += VL) {
        if (c0 + lanes > c)
            c0 = c - lanes; /* overlapping last block: recomputes a few channels, no tail */
        const vf bias = job->bias ? vload_n(job->bias + c0, lanes) : vsplat(0.0f);
        int64_t o = 0;
        for (; o < ow_lo; o++)
            dw_pixel(p, xn, job->w, bias, yrow + o * c + c0, ih0, kh_lo, kh_hi, o * p->stride_w - p->pad_left, c0, lanes);
        if (fast_k && lanes == VL && ow_hi > ow_lo) {
            const float *x0 = xn + (ih0 * p->w + ow_lo * p->stride_w - p->pad_left) * c + c0;
            float *y0 = yrow + ow_lo * c + c0;
            if (fast_k == 3)
                dw_interior(3, p, x0, job->w + c0, bias, y0, ow_hi - ow_lo);
            else
                dw_interior(5, p, x0, job->w + c0, bias, y0, ow_hi - ow_lo);
            o = ow_hi;
        }
        for (; o < p->ow; o++)
            dw_pixel(p, xn, job->w, bias, yrow + o * c + c0, ih0, kh_lo, kh_hi, o * p->stride_w - p->pad_left, c0, lanes);
    }
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
