/* Global average pooling over NHWC: each image's pixels are added row by row (sequential
 * reads) into its output, which stays in L1, then scaled by 1/(h*w). */
#include "maku_kernels.h"
#include "parallel.h"
#include "vec.h"

typedef struct {
    const float *x;
    float *y;
    int64_t hw, c;
} pool_job;

static void pool_images(void *ctx, int64_t begin, int64_t end, int32_t worker) {
    (void)worker;
    const pool_job *job = ctx;
    const int64_t c = job->c;
    for (int64_t n = begin; n < end; n++) {
        const float *x = job->x + n * job->hw * c;
        float *y = job->y + n * c;
        maku_memset(y, 0, (unsigned long)c * sizeof(float));
        for (int64_t i = 0; i < job->hw; i++, x += c)
            for (int64_t c0 = 0; c0 < c; c0 += VL) {
                const int64_t lanes = c - c0 < VL ? c - c0 : VL;
                vstore_n(y + c0, vload_n(y + c0, lanes) + vload_n(x + c0, lanes), lanes);
            }
        const float scale = 1.0f / (float)job->hw;
        for (int64_t c0 = 0; c0 < c; c0 += VL) {
            const int64_t lanes = c - c0 < VL ? c - c0 : VL;
            vstore_n(y + c0, vload_n(y + c0, lanes) * scale, lanes);
        }
    }
}

void maku_global_avg_pool(const float *x, float *y, int64_t n, int64_t hw, int64_t c, int32_t threads) {
    pool_job job = {x, y, hw, c};
    maku_parallel_for(n, pool_images, &job, threads);
}
