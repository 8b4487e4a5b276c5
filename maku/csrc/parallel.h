/* Splitting a kernel's independent tasks (output rows, row blocks) over threads.
 * threads.c implements it with a small pthread pool (host); serial.c runs in the caller
 * (wasm, or any build without threads). */
#ifndef MAKU_PARALLEL_H
#define MAKU_PARALLEL_H

#include <stdint.h>

/* Runs fn(ctx, begin, end, worker) over [0, n_tasks) split into at most `threads` contiguous
 * chunks; `worker` in [0, threads) indexes per-thread scratch. Returns when all are done. */
typedef void (*maku_task_fn)(void *ctx, int64_t begin, int64_t end, int32_t worker);
void maku_parallel_for(int64_t n_tasks, maku_task_fn fn, void *ctx, int32_t threads);

#endif
