/* Dense convolution (groups == 1, any kernel/stride/pad/dilation) as im2col + packed GEMM.
 *
 * Each task is one output row: its ow patches are gathered into the worker's slice of
 * `scratch` as an (ow, kh*kw*c) matrix (zeros where the window hangs over the padding),
 * which the GEMM multiplies with the HWIO weights viewed as (kh*kw*c, cout), fusing the
 * epilogue. Only one row of patches exists at a time, so scratch stays small (the stem
 * conv of MobileNet needs 112 x 27 floats per thread). */
#include "gemm.h"
#include "maku_kernels.h"
#include "parallel.h"
#include "vec.h"

typedef struct {
    const maku_conv_params *p;
    const float *x, *packed_w, *bias, *residual;
    float *y, *scratch;
} conv_job;

static int64_t patch_len(const maku_conv_params *p) { return p->kh * p->kw * p->c; }

int64_t maku_conv2d_scratch_size(const maku_conv_params *p, int32_t threads) {
    return (threads > 1 ? threads : 1) * p->ow * patch_len(p);
}

/* Copies the kw taps of one kernel row starting at input column iw0 into `dst`, with zeros
 * for taps in the padding; a window row fully inside the image with dil_w == 1 is one
 * contiguous run of kw*c floats, copied at once. */
static void gather_taps(const maku_conv_params *p, const float *xrow, int64_t iw0, float *dst) {
    const unsigned long c_bytes = (unsigned long)p->c * sizeof(float);
    if (p->dil_w == 1 && iw0 >= 0 && iw0 + p->kw <= p->w) {
        maku_memcpy(dst, xrow + iw0 * p->c, c_bytes * (unsigned long)p->kw);
        return;
    }
    for (int64_t j = 0; j < p->kw; j++, dst += p->c) {
        const int64_t iw = iw0 + j * p->dil_w;
        if (iw >= 0 && iw < p->w)
            maku_memcpy(dst, xrow + iw * p->c, c_bytes);
        else
            maku_memset(dst, 0, c_bytes);
    }
}

/* Gathers the patches of output row r of image n into `cols` (ow rows of patch_len). */
static void im2col_row(const maku_conv_params *p, const float *xn, int64_t r, float *cols) {
    const int64_t ih0 = r * p->stride_h - p->pad_top, tap_row = p->kw * p->c;
    for (int64_t o = 0; o < p->ow; o++) {
        const int64_t iw0 = o * p->stride_w - p->pad_left;
        for (int64_t i = 0; i < p->kh; i++, cols += tap_row) {
            const int64_t ih = ih0 + i * p->dil_h;
            if (ih >= 0 && ih < p->h)
                gather_taps(p, xn + ih * p->w * p->c, iw0, cols);
            else
                maku_memset(cols, 0, (unsigned long)tap_row * sizeof(float));
        }
    }
}

static void conv_rows(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    const conv_job *job = ctx;
    const maku_conv_params *p = job->p;
    const int64_t k = patch_len(p);
    float *cols = job->scratch + worker * p->ow * k;
    for (int64_t t = begin; t < end; t++) {
        const int64_t n = t / p->oh, r = t % p->oh, out_offset = t * p->ow * p->cout;
        im2col_row(p, job->x + n * p->h * p->w * p->c, r, cols);
        gemm_args g = {cols, k, job->packed_w, job->bias,
                       job->residual ? job->residual + out_offset : NULL, job->y + out_offset,
                       p->ow, k, p->cout, p->act, p->alpha, p->beta};
        gemm_serial(&g);
    }
}

void maku_conv2d_im2col(const maku_conv_params *p, const float *x, const float *packed_w,
                        const float *bias, const float *residual, float *y, float *scratch,
                        int32_t threads) {
    conv_job job = {p, x, packed_w, bias, residual, y, scratch};
    maku_parallel_for(p->n * p->oh, conv_rows, &job, threads);
}
