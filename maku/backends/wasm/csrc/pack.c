/* Packing a transposed GEMM weight (Gemm with transB, stored (n, k)) into the panel layout
 * of maku_gemm_pack_weights: panels of maku_gemm_panel_width() columns, k rows each. */
#include "maku_kernels.h"
#include "ops.h"

void maku_gemm_pack_weights_transposed(const float *w, int64_t k, int64_t n, float *packed) {
    const int64_t nr = maku_gemm_panel_width();
    for (int64_t p0 = 0; p0 < n; p0 += nr)
        for (int64_t kk = 0; kk < k; kk++)
            for (int64_t j = 0; j < nr; j++)
                *packed++ = p0 + j < n ? w[(p0 + j) * k + kk] : 0.0f;
}
