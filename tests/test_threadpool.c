/*
 * test_threadpool.c: ili_parallel_for and the per-context worker pool (core/threadpool.c).
 * Every index must be covered exactly once, with at most nthreads chunks of at least `grain`
 * items, over many back-to-back jobs (lost wakeups would hang or skip), across thread-count
 * changes, from two contexts in two threads at once, and with allocation failures.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "il_impl.h"
#include "testutil.h"

#define MAXN 5000

/* What one job saw: per-index hit counts and per-chunk facts. */
typedef struct cover {
    atomic_int hits[MAXN];
    atomic_int chunks;
    atomic_int small_chunk; /* a chunk shorter than grain appeared */
    atomic_int bad_tid;
    atomic_int tid_seen[300];
    int64_t grain;
    int nthreads;
} cover;

static void cover_fn(void *arg, int64_t b, int64_t e, int tid) {
    cover *c = arg;
    atomic_fetch_add(&c->chunks, 1);
    if (e - b < c->grain) atomic_store(&c->small_chunk, 1);
    if (tid < 0 || tid >= c->nthreads) atomic_store(&c->bad_tid, 1);
    else if (atomic_fetch_add(&c->tid_seen[tid], 1) != 0) atomic_store(&c->bad_tid, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

/* Runs one job and checks coverage and chunking; returns 0 when all is well. */
static int run_cover(il_ctx *ctx, cover *c, int64_t n, int64_t grain) {
    memset(c, 0, sizeof *c);
    c->grain = grain < 1 ? 1 : grain;
    c->nthreads = il_ctx_threads(ctx);
    if (ili_parallel_for(ctx, n, grain, cover_fn, c) != IL_OK) return 1;
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&c->hits[i]) != 1) return 2;
    if (atomic_load(&c->bad_tid)) return 3;
    int chunks = atomic_load(&c->chunks);
    if (chunks > c->nthreads) return 4;
    /* A job of n < grain is one short chunk; otherwise each chunk has at least grain items. */
    if (n >= c->grain && atomic_load(&c->small_chunk)) return 5;
    if (n == 0 && chunks != 0) return 6;
    return 0;
}

static void test_coverage(void **state) {
    (void)state;
    il_ctx *ctx;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    static cover c;
    const int threads[] = {1, 2, 3, 4, 8};
    const int64_t ns[] = {0, 1, 2, 3, 7, 64, 1000, MAXN};
    const int64_t grains[] = {0, 1, 2, 5, 100, 10000};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        assert_int_equal(il_ctx_set_threads(ctx, threads[t]), IL_OK);
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++)
                assert_int_equal(run_cover(ctx, &c, ns[i], grains[g]), 0);
    }
    il_ctx_free(ctx);
}

/* Thousands of back-to-back jobs: a lost wakeup would hang (ctest's timeout) or miss work. */
static void test_many_jobs(void **state) {
    (void)state;
    il_ctx *ctx;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    static cover c;
    const int threads[] = {2, 3};
    for (size_t t = 0; t < 2; t++) {
        assert_int_equal(il_ctx_set_threads(ctx, threads[t]), IL_OK);
        for (int rep = 0; rep < 3000; rep++)
            assert_int_equal(run_cover(ctx, &c, 16 + rep % 50, 1), 0);
    }
    il_ctx_free(ctx);
}

/* Changing the thread count between jobs restarts the pool at the new size. */
static void test_thread_changes(void **state) {
    (void)state;
    il_ctx *ctx;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    static cover c;
    for (int rep = 0; rep < 40; rep++) {
        assert_int_equal(il_ctx_set_threads(ctx, 1 + rep % 5), IL_OK);
        assert_int_equal(run_cover(ctx, &c, 100, 1), 0);
        assert_int_equal(atomic_load(&c.chunks), 1 + rep % 5);
    }
    ili_pool_free(ctx);
    ili_pool_free(ctx); /* a second free is harmless */
    assert_null(ctx->pool);
    il_ctx_free(ctx);
}

/* A job started from inside a running job's chunk runs inline instead of deadlocking. */
typedef struct nested {
    il_ctx *ctx;
    atomic_int inner_hits;
    atomic_int status_bad;
} nested;

static void inner_fn(void *arg, int64_t b, int64_t e, int tid) {
    nested *x = arg;
    (void)tid;
    atomic_fetch_add(&x->inner_hits, (int)(e - b));
}

static void outer_fn(void *arg, int64_t b, int64_t e, int tid) {
    nested *x = arg;
    (void)b, (void)e, (void)tid;
    if (ili_parallel_for(x->ctx, 10, 1, inner_fn, x) != IL_OK) atomic_store(&x->status_bad, 1);
}

static void test_nested(void **state) {
    (void)state;
    il_ctx *ctx;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    assert_int_equal(il_ctx_set_threads(ctx, 2), IL_OK);
    nested x = {.ctx = ctx};
    assert_int_equal(ili_parallel_for(ctx, 2, 1, outer_fn, &x), IL_OK);
    assert_int_equal(atomic_load(&x.inner_hits), 20);
    assert_int_equal(atomic_load(&x.status_bad), 0);
    il_ctx_free(ctx);
}

/* Two contexts, each driven by its own thread at the same time. */
static void *ctx_thread(void *arg) {
    intptr_t bad = 0;
    il_ctx *ctx;
    if (il_ctx_new(&ctx) != IL_OK) return (void *)1;
    cover *c = malloc(sizeof *c);
    if (!c) bad = 1;
    for (int rep = 0; !bad && rep < 500; rep++) {
        if (il_ctx_set_threads(ctx, 2 + (int)((intptr_t)arg + rep / 100) % 2) != IL_OK) bad = 1;
        if (run_cover(ctx, c, 200 + rep % 7, 3) != 0) bad = 1;
    }
    free(c);
    il_ctx_free(ctx);
    return (void *)bad;
}

static void test_two_contexts(void **state) {
    (void)state;
    pthread_t t[2];
    for (intptr_t i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ctx_thread, (void *)i), 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
}

static void count_fn(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    atomic_fetch_add((atomic_int *)arg, (int)(e - b));
}

/* Failing the pool's allocations one after another: an error, nothing run, nothing leaked. */
static void test_alloc_failure(void **state) {
    (void)state;
    tu_alloc ba = {0, 0, 0};
    il_ctx *ctx;
    assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &ba), IL_OK);
    assert_int_equal(il_ctx_set_threads(ctx, 4), IL_OK);
    il_mem_stats before, after;
    il_ctx_memory(ctx, &before);
    int ok = 0;
    for (int64_t n = 0; n < 20 && !ok; n++) {
        ba.fail_at = ba.count + n + 1; /* allocations 1..n succeed, n + 1 on fail */
        atomic_int hits = 0;
        il_status s = ili_parallel_for(ctx, 100, 1, count_fn, &hits);
        ba.fail_at = 0;
        if (s == IL_OK) {
            assert_int_equal(atomic_load(&hits), 100);
            ok = 1;
        } else {
            assert_int_equal(s, IL_E_NOMEM);
            assert_int_equal(atomic_load(&hits), 0);
            assert_null(ctx->pool);
            il_ctx_memory(ctx, &after);
            assert_int_equal(after.bytes_in_use, before.bytes_in_use);
        }
    }
    assert_true(ok);
    ili_pool_free(ctx);
    il_ctx_memory(ctx, &after);
    assert_int_equal(after.bytes_in_use, before.bytes_in_use);
    il_ctx_free(ctx);
    assert_int_equal(ba.live_blocks, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage),     cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_thread_changes), cmocka_unit_test(test_nested),
        cmocka_unit_test(test_two_contexts), cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
