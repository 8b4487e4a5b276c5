/* Layout copies: a strided 6-D view into another (transpose, concat, pad, reshape), with the
 * innermost axis a memcpy when both sides are contiguous along it; and float fill. */
#include <string.h>

#include "ops.h"
#include "vec.h"

void maku_copy_strided(int32_t elsize, const int32_t shape[6], const void *x, const int32_t xs[6], void *y,
                       const int32_t ys[6]) {
    const uint8_t *src = x;
    uint8_t *dst = y;
    const int64_t len = shape[5];
    for (int64_t a = 0; a < shape[0]; a++)
        for (int64_t b = 0; b < shape[1]; b++)
            for (int64_t c = 0; c < shape[2]; c++)
                for (int64_t d = 0; d < shape[3]; d++)
                    for (int64_t e = 0; e < shape[4]; e++) {
                        const int64_t xo = a * xs[0] + b * xs[1] + c * xs[2] + d * xs[3] + e * xs[4];
                        const int64_t yo = a * ys[0] + b * ys[1] + c * ys[2] + d * ys[3] + e * ys[4];
                        if (xs[5] == 1 && ys[5] == 1)
                            memmove(dst + yo * elsize, src + xo * elsize, (size_t)(len * elsize));
                        else if (elsize == 4)
                            for (int64_t i = 0; i < len; i++)
                                ((float *)dst)[yo + i * ys[5]] = ((const float *)src)[xo + i * xs[5]];
                        else
                            for (int64_t i = 0; i < len; i++)
                                dst[yo + i * ys[5]] = src[xo + i * xs[5]];
                    }
}

void maku_fill(float *y, float value, int64_t count) {
    const vf v = vsplat(value);
    for (int64_t i = 0; i < count; i += VL)
        vstore_n(y + i, v, count - i < VL ? count - i : VL);
}
