/* Index arithmetic shared by the convolution kernels. */
#ifndef MAKU_GEOMETRY_H
#define MAKU_GEOMETRY_H

#include <stdint.h>

/* Taps k in [0, count) read input index start + k*step; returns in *lo, *hi the range of
 * taps whose index lies in [0, limit). */
static inline void valid_taps(int64_t start, int64_t step, int64_t count, int64_t limit,
                              int64_t *lo, int64_t *hi) {
    int64_t a = start >= 0 ? 0 : (-start + step - 1) / step;
    int64_t b = start > limit - 1 ? 0 : (limit - 1 - start) / step + 1;
    *lo = a < count ? a : count;
    *hi = b < count ? b : count;
    if (*hi < *lo)
        *hi = *lo;
}

/* Output columns [*lo, *hi) whose whole window of `taps` (spaced `dil`) lies inside [0, limit). */
static inline void interior_range(int64_t out_len, int64_t stride, int64_t pad, int64_t taps,
                                  int64_t dil, int64_t limit, int64_t *lo, int64_t *hi) {
    int64_t span = (taps - 1) * dil;
    int64_t a = (pad + stride - 1) / stride;
    int64_t last = limit - 1 - span + pad; /* o*stride <= last */
    int64_t b = last < 0 ? 0 : last / stride + 1;
    *lo = a < out_len ? a : out_len;
    *hi = b < out_len ? b : out_len;
    if (*hi < *lo)
        *hi = *lo;
}

#endif
