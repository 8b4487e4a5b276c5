/* maku_parallel_for on a small persistent pthread pool (host builds only).
 *
 * The caller runs chunk 0 itself; workers 1..threads-1 run the others. Between calls a
 * worker spins for a short while (SPIN_NS) and then sleeps on a condition variable: waking
 * a sleeping thread costs tens to hundreds of microseconds on a VM, more than a whole
 * batch-1 layer, while back-to-back kernel calls of one model run arrive within the spin
 * window. The bound keeps idle workers from competing with BLAS's threads for long.
 * Calls are serialized; the pool is rebuilt lazily after fork(). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "parallel.h"

#define MAX_THREADS 64
#define SPIN_NS 200000

static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static int started;                /* workers running, numbered 1..started (under `lock`) */
static uint64_t spawned_at[MAX_THREADS]; /* generation when each worker was created */
static atomic_uint_fast64_t generation; /* bumped once per parallel call */
static atomic_int sleepers;        /* workers blocked (or about to block) on work_ready */
static atomic_uint_fast64_t finished; /* chunks completed by workers, over all calls */
static uint64_t finished_target;   /* value of `finished` when the current call is done */
static maku_task_fn job_fn;
static void *job_ctx;
static int64_t job_tasks;
static int32_t job_chunks;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins up to SPIN_NS until (*flag == value) == equal; returns whether that happened. */
static int spin_until(atomic_uint_fast64_t *flag, uint64_t value, int equal) {
    const int64_t deadline = now_ns() + SPIN_NS;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if ((atomic_load(flag) == value) == equal)
                return 1;
            cpu_relax();
        }
        if (now_ns() > deadline)
            return 0;
    }
}

static void run_chunk(int32_t i) {
    int64_t begin = job_tasks * i / job_chunks, end = job_tasks * (i + 1) / job_chunks;
    if (begin < end)
        job_fn(job_ctx, begin, end, i);
}

static void *worker_main(void *arg) {
    const int32_t me = (int32_t)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    uint64_t seen = spawned_at[me]; /* a worker created for this call must still run it */
    pthread_mutex_unlock(&lock);
    for (;;) {
        if (!spin_until(&generation, seen, 0)) {
            pthread_mutex_lock(&lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&generation) == seen)
                pthread_cond_wait(&work_ready, &lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&lock);
        }
        seen = atomic_load(&generation);
        if (me < job_chunks) {
            run_chunk(me);
            if (atomic_fetch_add(&finished, 1) + 1 == finished_target) {
                pthread_mutex_lock(&lock);
                pthread_cond_signal(&work_done);
                pthread_mutex_unlock(&lock);
            }
        }
    }
    return NULL;
}

/* Starts workers up to `want`; returns how many are running. */
static int ensure_workers(int want) {
    pthread_mutex_lock(&lock);
    while (started < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        spawned_at[started + 1] = atomic_load(&generation);
        int failed = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(started + 1));
        pthread_attr_destroy(&attr);
        if (failed)
            break;
        started++;
    }
    int n = started;
    pthread_mutex_unlock(&lock);
    return n;
}

static void reset_after_fork(void) {
    pthread_mutex_init(&call_lock, NULL);
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&work_ready, NULL);
    pthread_cond_init(&work_done, NULL);
    atomic_store(&sleepers, 0);
    started = 0;
}

static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;

static void install_fork_hook(void) { pthread_atfork(NULL, NULL, reset_after_fork); }

void maku_parallel_for(int64_t n_tasks, maku_task_fn fn, void *ctx, int32_t threads) {
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > n_tasks)
        threads = (int32_t)n_tasks;
    if (threads <= 1) {
        if (n_tasks > 0)
            fn(ctx, 0, n_tasks, 0);
        return;
    }
    pthread_once(&fork_hook_once, install_fork_hook);
    pthread_mutex_lock(&call_lock);
    int32_t chunks = ensure_workers(threads - 1) + 1;
    if (chunks > threads)
        chunks = threads;
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = n_tasks;
    job_chunks = chunks;
    finished_target = atomic_load(&finished) + (uint64_t)(chunks - 1);
    atomic_fetch_add(&generation, 1); /* publishes the job fields above */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&work_ready);
        pthread_mutex_unlock(&lock);
    }
    run_chunk(0);
    if (!spin_until(&finished, finished_target, 1)) {
        pthread_mutex_lock(&lock);
        while (atomic_load(&finished) != finished_target)
            pthread_cond_wait(&work_done, &lock);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&call_lock);
}
