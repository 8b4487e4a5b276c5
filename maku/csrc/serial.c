/* maku_parallel_for for builds without threads (wasm32): everything runs in the caller. */
#include "parallel.h"

void maku_parallel_for(int64_t n_tasks, maku_task_fn fn, void *ctx, int32_t threads) {
    (void)threads;
    if (n_tasks > 0)
        fn(ctx, 0, n_tasks, 0);
}
