/*
 * threadpool.c: the per-context persistent worker pool behind ili_parallel_for.
 *
 * One pool per il_ctx (no process-wide state), started lazily the first time a loop needs more
 * than one chunk, sized ctx->nthreads - 1 workers (the calling thread runs chunk 0). A job is
 * published by bumping a generation counter; workers spin briefly on it (a training loop issues
 * many short jobs back to back, and a futex round trip costs more than the work) and then sleep
 * on a condition variable, so idle workers never burn a core for long. Workers never allocate.
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include "il_impl.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spin iterations before sleeping: a few tens of microseconds with pause, enough to catch the
 * next job of a tight loop, short enough not to starve a 2-core CI machine. */
#define SPIN_WORKER 20000
#define SPIN_CALLER 20000
/* Spinning threads yield this often, so that with more threads than free cores the thread
 * everyone waits for still gets to run. */
#define SPIN_YIELD_EVERY 256

static void spin_pause(int i) {
    if ((i + 1) % SPIN_YIELD_EVERY == 0)
        sched_yield();
    else
        CPU_RELAX();
}

typedef struct worker {
    struct ili_pool *pool;
    int index; /* 1..nworkers: also the chunk this worker runs */
} worker;

struct ili_pool {
    il_ctx *ctx;
    int nworkers;
    pthread_t *threads;
    worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new generation or stop */
    pthread_cond_t done; /* caller: pending reached 0 */
    atomic_uint_fast64_t gen;
    atomic_int pending; /* workers that have not yet finished the current job */
    atomic_int busy;    /* a job is running: nested calls run inline */
    atomic_int stop;
    /* The current job; written by the caller before gen is bumped (release). */
    ili_task_fn fn;
    void *arg;
    int64_t n;
    int nchunks;
};

/* Chunk i of n items split into k near-equal contiguous parts. */
static void chunk_range(int64_t n, int k, int i, int64_t *b, int64_t *e) {
    int64_t q = n / k, r = n % k;
    *b = q * i + (i < r ? i : r);
    *e = *b + q + (i < r ? 1 : 0);
}

/* Waits until gen differs from `seen` or the pool stops; returns the new generation. */
static uint_fast64_t wait_generation(struct ili_pool *p, uint_fast64_t seen) {
    for (int i = 0; i < SPIN_WORKER; i++) {
        uint_fast64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_acquire)) return g;
        spin_pause(i);
    }
    pthread_mutex_lock(&p->mu);
    uint_fast64_t g;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_acquire))
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *argp) {
    worker *w = argp;
    struct ili_pool *p = w->pool;
    uint_fast64_t seen = 0;
    for (;;) {
        seen = wait_generation(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        /* Every worker acknowledges every job, even one it has no chunk in, so none can still
         * be reading the job fields when the caller publishes the next job. */
        if (w->index < p->nchunks) {
            int64_t b, e;
            chunk_range(p->n, p->nchunks, w->index, &b, &e);
            p->fn(p->arg, b, e, w->index);
        }
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            /* Locking orders this signal after the caller's check in finish_job. */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* Stops and joins the first `started` workers, then releases everything. */
static void pool_destroy(il_ctx *ctx, struct ili_pool *p, int started) {
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    ili_free(ctx, p->workers, sizeof(worker) * (size_t)p->nworkers);
    ili_free(ctx, p->threads, sizeof(pthread_t) * (size_t)p->nworkers);
    ili_free(ctx, p, sizeof *p);
}

/* Allocates the pool and its arrays (no threads yet). IL_E_NOMEM or IL_E_INTERNAL. */
static il_status pool_alloc(il_ctx *ctx, int nworkers, struct ili_pool **out) {
    struct ili_pool *p = ili_malloc(ctx, sizeof *p);
    if (!p) return ili_nomem(ctx, sizeof *p);
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->nworkers = nworkers;
    p->threads = ili_malloc(ctx, sizeof(pthread_t) * (size_t)nworkers);
    p->workers = ili_malloc(ctx, sizeof(worker) * (size_t)nworkers);
    if (!p->threads || !p->workers) {
        if (p->workers) ili_free(ctx, p->workers, sizeof(worker) * (size_t)nworkers);
        if (p->threads) ili_free(ctx, p->threads, sizeof(pthread_t) * (size_t)nworkers);
        ili_free(ctx, p, sizeof *p);
        return ili_nomem(ctx, sizeof(pthread_t) * (size_t)nworkers);
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mu;
    if (pthread_cond_init(&p->wake, NULL) != 0) goto fail_wake;
    if (pthread_cond_init(&p->done, NULL) != 0) goto fail_done;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->busy, 0);
    atomic_init(&p->stop, 0);
    *out = p;
    return IL_OK;
fail_done:
    pthread_cond_destroy(&p->wake);
fail_wake:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    ili_free(ctx, p->workers, sizeof(worker) * (size_t)nworkers);
    ili_free(ctx, p->threads, sizeof(pthread_t) * (size_t)nworkers);
    ili_free(ctx, p, sizeof *p);
    return ili_seterr(ctx, IL_E_INTERNAL, "thread pool: cannot initialise a mutex or condition");
}

/* Starts a pool of ctx->nthreads - 1 workers into ctx->pool. */
static il_status pool_start(il_ctx *ctx) {
    int nworkers = ctx->nthreads - 1;
    struct ili_pool *p = NULL;
    IL_TRY(pool_alloc(ctx, nworkers, &p));
    for (int i = 0; i < nworkers; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i + 1;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) {
            pool_destroy(ctx, p, i);
            return ili_seterr(ctx, IL_E_INTERNAL,
                              "thread pool: cannot start worker thread %d of %d", i + 1, nworkers);
        }
    }
    ctx->pool = p;
    return IL_OK;
}

/* Blocks until every worker has finished the current job. */
static void finish_job(struct ili_pool *p) {
    for (int i = 0; i < SPIN_CALLER; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        spin_pause(i);
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

il_status ili_parallel_for(il_ctx *ctx, int64_t n, int64_t grain, ili_task_fn fn, void *arg) {
    if (n <= 0) return IL_OK;
    if (grain < 1) grain = 1;
    int64_t want = n / grain; /* rounding down keeps every chunk at least grain long */
    int nchunks = ctx->nthreads < want ? ctx->nthreads : (int)want;
    if (nchunks <= 1) {
        fn(arg, 0, n, 0);
        return IL_OK;
    }
    if (ctx->pool && ctx->pool->nworkers != ctx->nthreads - 1) ili_pool_free(ctx);
    if (!ctx->pool) IL_TRY(pool_start(ctx));
    struct ili_pool *p = ctx->pool;
    if (atomic_exchange_explicit(&p->busy, 1, memory_order_acq_rel)) {
        /* Called from inside a running job: the workers are taken, so run it here. */
        fn(arg, 0, n, 0);
        return IL_OK;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->nchunks = nchunks;
    atomic_store_explicit(&p->pending, p->nworkers, memory_order_relaxed);
    /* Bumping gen under the mutex pairs with the workers' check-then-wait. */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    int64_t b, e;
    chunk_range(n, nchunks, 0, &b, &e);
    fn(arg, b, e, 0);
    finish_job(p);
    atomic_store_explicit(&p->busy, 0, memory_order_release);
    return IL_OK;
}

void ili_pool_free(il_ctx *ctx) {
    if (!ctx || !ctx->pool) return;
    pool_destroy(ctx, ctx->pool, ctx->pool->nworkers);
    ctx->pool = NULL;
}
