/* maku_parallel_for on a small persistent pthread pool (host builds only).
 *
 * A call splits the tasks into CHUNKS_PER_THREAD chunks per thread. Every chunk is claimed
 * with a compare-and-swap; participant p (the caller is 0) starts with its own share,
 * chunks [p*chunks/threads, ...), then takes whatever is left of the others'. A worker that
 * is asleep or has lost its core to another process (BLAS's threads, other programs on a
 * shared machine) therefore costs at most the chunk it is running, never a stall, and
 * threads running at different speeds still finish together.
 *
 * Between calls a worker spins for SPIN_NS and then sleeps on a condition variable: waking
 * a sleeping thread costs tens to hundreds of microseconds on a VM, more than a whole
 * batch-1 layer, while back-to-back kernel calls of one model run arrive within the spin
 * window; the bound keeps idle workers from competing with BLAS for long. Calls are
 * serialized; the pool is rebuilt lazily after fork(). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "parallel.h"

#define MAX_THREADS 64
#define CHUNKS_PER_THREAD 4
#define MAX_CHUNKS (MAX_THREADS * CHUNKS_PER_THREAD)
#define SPIN_NS 200000

static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static int started;                      /* workers running, numbered 1..started (under `lock`) */
static uint64_t spawned_at[MAX_THREADS]; /* generation when each worker was created */
static atomic_uint_fast64_t generation;  /* bumped once per parallel call */
static atomic_int sleepers;              /* workers blocked (or about to block) on work_ready */
static atomic_int unclaimed[MAX_CHUNKS]; /* 1 while chunk i of the current call is free */
static atomic_int chunks_done;           /* chunks of the current call finished */
static atomic_int job_chunks;
static atomic_int job_threads;
static maku_task_fn job_fn;
static void *job_ctx;
static int64_t job_tasks;

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

/* Spins up to SPIN_NS until done() holds; returns whether it did. */
static int spin_until(int (*done)(uint64_t), uint64_t arg) {
    const int64_t deadline = now_ns() + SPIN_NS;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (done(arg))
                return 1;
            cpu_relax();
        }
        if (now_ns() > deadline)
            return 0;
    }
}

static int generation_moved(uint64_t seen) { return atomic_load(&generation) != seen; }

static int all_chunks_done(uint64_t chunks) { return (uint64_t)atomic_load(&chunks_done) == chunks; }

/* Runs chunk i as participant `who` (0 = the caller) if nobody has claimed it yet. The job
 * fields are read only after the claim: they stay fixed until every chunk is done (a worker
 * waking up late claims nothing of a finished call, whose chunks are all taken). */
static void try_chunk(int32_t i, int32_t who) {
    int expected = 1;
    if (!atomic_compare_exchange_strong(&unclaimed[i], &expected, 0))
        return;
    const int32_t chunks = atomic_load(&job_chunks);
    const int64_t begin = job_tasks * i / chunks, end = job_tasks * (i + 1) / chunks;
    if (begin < end)
        job_fn(job_ctx, begin, end, who);
    if (atomic_fetch_add(&chunks_done, 1) + 1 == chunks) {
        pthread_mutex_lock(&lock);
        pthread_cond_signal(&work_done);
        pthread_mutex_unlock(&lock);
    }
}

/* Participant `who`'s pass over the chunks: its own share first, then the rest. */
static void run_chunks(int32_t who) {
    const int32_t chunks = atomic_load(&job_chunks), threads = atomic_load(&job_threads);
    const int32_t first = (int32_t)((int64_t)chunks * who / threads);
    for (int32_t k = 0; k < chunks; k++)
        try_chunk((first + k) % chunks, who);
}

static void *worker_main(void *arg) {
    const int32_t me = (int32_t)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    uint64_t seen = spawned_at[me]; /* a worker created for this call must still run it */
    pthread_mutex_unlock(&lock);
    for (;;) {
        if (!spin_until(generation_moved, seen)) {
            pthread_mutex_lock(&lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&generation) == seen)
                pthread_cond_wait(&work_ready, &lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&lock);
        }
        seen = atomic_load(&generation);
        if (me < atomic_load(&job_threads))
            run_chunks(me);
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
    const int running = ensure_workers(threads - 1) + 1;
    if (threads > running)
        threads = running;
    const int32_t chunks = n_tasks < threads * CHUNKS_PER_THREAD ? (int32_t)n_tasks : threads * CHUNKS_PER_THREAD;
    /* job fields first, then free the chunks, then announce: see try_chunk */
    job_fn = fn;
    job_ctx = ctx;
    job_tasks = n_tasks;
    atomic_store(&job_chunks, chunks);
    atomic_store(&job_threads, threads);
    atomic_store(&chunks_done, 0);
    for (int32_t i = 0; i < chunks; i++)
        atomic_store(&unclaimed[i], 1);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&work_ready);
        pthread_mutex_unlock(&lock);
    }
    run_chunks(0);
    if (!spin_until(all_chunks_done, (uint64_t)chunks)) {
        pthread_mutex_lock(&lock);
        while (atomic_load(&chunks_done) != chunks)
            pthread_cond_wait(&work_done, &lock);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&call_lock);
}
