/* Softmax over rows: subtract the row's max (so exp never overflows), exponentiate with the
 * shared polynomial exp, scale by the reciprocal of the sum. */
#include "activation.h"
#include "ops.h"

void maku_softmax(const float *x, float *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++, x += cols, y += cols) {
        float max = -__builtin_inff();
        for (int64_t i = 0; i < cols; i++)
            max = x[i] > max ? x[i] : max;
        vf sum = vsplat(0.0f);
        for (int64_t i = 0; i < cols; i += VL) {
            const int64_t lanes = cols - i < VL ? cols - i : VL;
            const vf e = vexp(vload_n(x + i, lanes) - max);
            vstore_n(y + i, e, lanes);
            sum += lanes == VL ? e : vload_part(y + i, lanes); /* lanes past the row stay zero */
        }
        float total = 0.0f;
        for (int k = 0; k < VL; k++)
            total += sum[k];
        const float scale = 1.0f / total;
        for (int64_t i = 0; i < cols; i += VL) {
            const int64_t lanes = cols - i < VL ? cols - i : VL;
            vstore_n(y + i, vload_n(y + i, lanes) * scale, lanes);
        }
    }
}
