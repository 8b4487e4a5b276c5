/* NHWC max and average pooling with ONNX semantics (pads, strides, dilations, ceil_mode
 * windows that overhang the input, count_include_pad). For each output pixel the range of
 * taps inside the input is found once; channels then go VL at a time. */
#include "activation.h"
#include "geometry.h"
#include "ops.h"

/* Taps of one axis inside [0, size), and the divisor count along it. */
typedef struct {
    int64_t lo, hi, count;
} taps;

static taps axis_taps(int64_t start, int64_t kernel, int64_t dil, int64_t size, int64_t pad_begin,
                      int64_t pad_end, int include_pad) {
    taps t;
    valid_taps(start, dil, kernel, size, &t.lo, &t.hi);
    t.count = t.hi - t.lo;
    if (include_pad) { /* taps inside [-pad_begin, size + pad_end): the input plus its pads */
        int64_t lo, hi;
        valid_taps(start + pad_begin, dil, kernel, size + pad_begin + pad_end, &lo, &hi);
        t.count = hi - lo;
    }
    return t;
}

static void pool(const maku_pool_params *p, const float *x, float *y, int is_max) {
    const int64_t c = p->c;
    for (int64_t n = 0; n < p->n; n++) {
        const float *xn = x + n * p->h * p->w * c;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const taps ty = axis_taps(oy * p->stride_h - p->pad_top, p->kh, p->dil_h, p->h, p->pad_top,
                                      p->pad_bottom, p->count_include_pad);
            for (int64_t ox = 0; ox < p->ow; ox++, y += c) {
                const int64_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                const taps tx = axis_taps(ix0, p->kw, p->dil_w, p->w, p->pad_left, p->pad_right,
                                            p->count_include_pad);
                const float scale = 1.0f / (float)(ty.count * tx.count > 0 ? ty.count * tx.count : 1);
                for (int64_t c0 = 0; c0 < c; c0 += VL) {
                    const int64_t lanes = c - c0 < VL ? c - c0 : VL;
                    vf acc = vsplat(is_max ? -__builtin_inff() : 0.0f);
                    for (int64_t i = ty.lo; i < ty.hi; i++) {
                        const float *row = xn + (iy0 + i * p->dil_h) * p->w * c + c0;
                        for (int64_t j = tx.lo; j < tx.hi; j++) {
                            const vf v = vload_n(row + (ix0 + j * p->dil_w) * c, lanes);
                            acc = is_max ? vmax(acc, v) : acc + v;
                        }
                    }
                    vstore_n(y + c0, is_max ? acc : acc * scale, lanes);
                }
            }
        }
    }
}

void maku_max_pool2d(const maku_pool_params *p, const float *x, float *y) { pool(p, x, y, 1); }

void maku_avg_pool2d(const maku_pool_params *p, const float *x, float *y) { pool(p, x, y, 0); }
