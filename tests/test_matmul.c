/*
 * test_matmul.c: il_tensor_matmul and the CPU GEMM (core/cpu_matmul.c, cpu_gemm_*.c) against a
 * float64 triple-loop reference: every kernel set this CPU runs, f32 and f64, 1-3 threads,
 * sizes around the tile edges and cache blocks, strided operands (transposed and narrowed
 * views, a transposed output), batches with broadcasting, 1-D operands, K = 0, empty results,
 * error statuses and allocation failures.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu_gemm_impl.h"
#include "il_impl.h"
#include "testutil.h"

enum { TA = 1, TB = 2, NARROW = 4, TC = 8 }; /* operand layouts of a case */

static uint64_t rng_state = 88172645463325252ull;

/* A random tensor of `shape`, laid out per flags: transposed (last two axes swapped in memory)
 * and/or narrowed out of a larger tensor, so its strides and offset are not the plain ones. */
static il_tensor *operand(il_ctx *ctx, il_dtype dt, int nd, const int64_t *shape, int trans,
                          int narrow) {
    int64_t s[IL_MAX_DIMS];
    memcpy(s, shape, (size_t)nd * sizeof *s);
    if (narrow) s[nd - 1] += 3, s[nd - 2] += 2;
    if (trans && nd >= 2) {
        int64_t t = s[nd - 1];
        s[nd - 1] = s[nd - 2], s[nd - 2] = t;
    }
    int64_t n = ili_numel(nd, s);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = tu_urand(&rng_state, -1.0, 1.0);
    il_tensor *t, *u;
    assert_int_equal(il_tensor_from_data(ctx, nd, s, dt, IL_DEVICE_CPU, v, IL_DTYPE_F64, &t), 0);
    free(v);
    if (trans && nd >= 2) {
        assert_int_equal(il_tensor_transpose(ctx, t, nd - 2, nd - 1, &u), IL_OK);
        il_tensor_free(t), t = u;
    }
    if (narrow) {
        assert_int_equal(il_tensor_narrow(ctx, t, nd - 1, 2, shape[nd - 1], &u), IL_OK);
        il_tensor_free(t), t = u;
        assert_int_equal(il_tensor_narrow(ctx, t, nd - 2, 1, shape[nd - 2], &u), IL_OK);
        il_tensor_free(t), t = u;
    }
    return t;
}

/* numpy.matmul in float64 on row-major values, with sum |a||b| per result for the bound. */
typedef struct ref {
    int ndim;
    int64_t shape[IL_MAX_DIMS];
    int64_t k;
    double *v, *mag;
} ref;

static void reference(const il_tensor *a, const double *av, const il_tensor *b, const double *bv,
                      ref *r) {
    int64_t sa[IL_MAX_DIMS + 1], sb[IL_MAX_DIMS + 1], bs[IL_MAX_DIMS];
    int na = il_tensor_ndim(a), nb = il_tensor_ndim(b);
    memcpy(sa, il_tensor_shape(a), (size_t)na * sizeof *sa);
    memcpy(sb, il_tensor_shape(b), (size_t)nb * sizeof *sb);
    int drop_m = na == 1, drop_n = nb == 1;
    if (drop_m) sa[1] = sa[0], sa[0] = 1, na = 2;
    if (drop_n) sb[1] = 1, nb = 2;
    int ba = na - 2, bb = nb - 2, nbat = ba > bb ? ba : bb;
    int64_t m = sa[na - 2], k = sa[na - 1], n = sb[nb - 1], nbatch = 1;
    for (int i = 0; i < nbat; i++) {
        int64_t x = i - (nbat - ba) >= 0 ? sa[i - (nbat - ba)] : 1;
        int64_t y = i - (nbat - bb) >= 0 ? sb[i - (nbat - bb)] : 1;
        bs[i] = x == 1 ? y : x; /* 1 broadcasts, also against 0 */
        nbatch *= bs[i];
    }
    r->ndim = 0;
    for (int i = 0; i < nbat; i++) r->shape[r->ndim++] = bs[i];
    if (!drop_m) r->shape[r->ndim++] = m;
    if (!drop_n) r->shape[r->ndim++] = n;
    r->k = k;
    r->v = calloc((size_t)(nbatch * m * n + 1), sizeof(double));
    r->mag = calloc((size_t)(nbatch * m * n + 1), sizeof(double));
    assert_true(r->v && r->mag);
    for (int64_t q = 0; q < nbatch; q++) {
        /* Batch index q -> offsets of its a and b matrices (axes of size 1 broadcast). */
        int64_t rem = q, oa = 0, ob = 0, ma = 1, mb = 1;
        for (int i = nbat - 1; i >= 0; i--) {
            int64_t idx = rem % bs[i];
            rem /= bs[i];
            int ja = i - (nbat - ba), jb = i - (nbat - bb);
            if (ja >= 0) oa += (sa[ja] == 1 ? 0 : idx) * ma, ma *= sa[ja];
            if (jb >= 0) ob += (sb[jb] == 1 ? 0 : idx) * mb, mb *= sb[jb];
        }
        const double *A = av + oa * m * k, *B = bv + ob * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0, g = 0;
                for (int64_t p = 0; p < k; p++)
                    s += A[i * k + p] * B[p * n + j], g += fabs(A[i * k + p] * B[p * n + j]);
                r->v[(q * m + i) * n + j] = s;
                r->mag[(q * m + i) * n + j] = g;
            }
    }
}

/* Asserts out == a @ b within the accumulation error bound of dt. */
static void check_result(il_ctx *ctx, const il_tensor *a, const il_tensor *b,
                         const il_tensor *out) {
    double *av = tu_values(ctx, a), *bv = tu_values(ctx, b), *ov = tu_values(ctx, out);
    ref r;
    reference(a, av, b, bv, &r);
    assert_int_equal(il_tensor_ndim(out), r.ndim);
    for (int i = 0; i < r.ndim; i++) assert_int_equal(il_tensor_shape(out)[i], r.shape[i]);
    double eps = il_tensor_dtype(out) == IL_DTYPE_F32 ? 1.2e-7 : 2.3e-16;
    for (int64_t i = 0; i < il_tensor_numel(out); i++) {
        double tol = 2.0 * (double)(r.k + 2) * eps * r.mag[i] + 1e-300;
        if (!(fabs(ov[i] - r.v[i]) <= tol))
            fail_msg("element %lld: got %.17g want %.17g (tol %.3g)", (long long)i, ov[i], r.v[i],
                     tol);
    }
    free(av), free(bv), free(ov), free(r.v), free(r.mag);
}

/* a @ b through ili_cpu_matmul_with (same rank, batch axes of size 1 broadcast); TC writes a
 * transposed (column-major) output view. */
static il_tensor *matmul_with(il_ctx *ctx, const ili_gemm_kernel *kern, const il_tensor *a,
                              const il_tensor *b, int tc) {
    int nd = il_tensor_ndim(a);
    const int64_t *sa = il_tensor_shape(a), *sb = il_tensor_shape(b);
    int64_t os[IL_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++) os[i] = sa[i] == 1 ? sb[i] : sa[i];
    os[nd - 2] = sa[nd - 2], os[nd - 1] = sb[nd - 1];
    il_tensor *out, *t;
    il_dtype dt = il_tensor_dtype(a);
    if (tc) {
        int64_t ts[IL_MAX_DIMS];
        memcpy(ts, os, sizeof ts);
        ts[nd - 2] = os[nd - 1], ts[nd - 1] = os[nd - 2];
        assert_int_equal(il_tensor_full(ctx, nd, ts, 7.0, dt, IL_DEVICE_CPU, &t), IL_OK);
        assert_int_equal(il_tensor_transpose(ctx, t, nd - 2, nd - 1, &out), IL_OK);
        il_tensor_free(t);
    } else {
        assert_int_equal(il_tensor_full(ctx, nd, os, 7.0, dt, IL_DEVICE_CPU, &out), IL_OK);
    }
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL;
    c.nin = 2;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(b, &c.in[1]);
    ili_tensor_desc(out, &c.out);
    for (int i = 0; i < nd - 2; i++)
        for (int j = 0; j < 2; j++)
            if (c.in[j].shape[i] != os[i]) c.in[j].shape[i] = os[i], c.in[j].stride[i] = 0;
    assert_int_equal(ili_cpu_matmul_with(ctx, &c, kern), IL_OK);
    return out;
}

/* One case: kern NULL goes through the public il_tensor_matmul. */
static void run_case(il_ctx *ctx, const ili_gemm_kernel *kern, il_dtype dt, int na,
                     const int64_t *sa, int nb, const int64_t *sb, int flags) {
    il_tensor *a = operand(ctx, dt, na, sa, flags & TA, flags & NARROW);
    il_tensor *b = operand(ctx, dt, nb, sb, flags & TB, flags & NARROW);
    il_tensor *out = NULL;
    if (kern)
        out = matmul_with(ctx, kern, a, b, flags & TC);
    else
        assert_int_equal(il_tensor_matmul(ctx, a, b, &out), IL_OK);
    check_result(ctx, a, b, out);
    il_tensor_free(out), il_tensor_free(a), il_tensor_free(b);
}

static void run_2d(il_ctx *ctx, const ili_gemm_kernel *kern, il_dtype dt, int64_t m, int64_t k,
                   int64_t n, int flags) {
    int64_t sa[2] = {m, k}, sb[2] = {k, n};
    run_case(ctx, kern, dt, 2, sa, 2, sb, flags);
}

/* Kernel sets this CPU can run; NULL-terminated. */
static const ili_gemm_kernel *kernels[4];

static int setup_kernels(void **state) {
    (void)state;
    const char *names[] = {"generic", "avx2", "avx512"};
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (ili_gemm_by_name(names[i])) kernels[n++] = ili_gemm_by_name(names[i]);
    kernels[n] = NULL;
    return n > 0 && ili_gemm_auto() != NULL ? 0 : -1;
}

static il_ctx *new_ctx(int threads) {
    il_ctx *ctx;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    assert_int_equal(il_ctx_set_threads(ctx, threads), IL_OK);
    return ctx;
}

/* Sizes just below, at and above one and two tiles, with K inside one block and across two,
 * with row-major and with transposed operands (in-place and packed reads of both). */
static void test_tile_edges(void **state) {
    (void)state;
    for (int th = 1; th <= 3; th++) {
        il_ctx *ctx = new_ctx(th);
        for (const ili_gemm_kernel **kp = kernels; *kp; kp++)
            for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++) {
                int mr = dt == IL_DTYPE_F32 ? (*kp)->mr32 : (*kp)->mr64;
                int nr = dt == IL_DTYPE_F32 ? (*kp)->nr32 : (*kp)->nr64;
                const int64_t ms[] = {1, mr - 1, mr, mr + 1, 2 * mr + 3};
                const int64_t ns[] = {1, nr - 1, nr, nr + 1, 2 * nr + 5};
                const int64_t ks[] = {1, 5, 300};
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 5; j++)
                        for (int p = 0; p < 3; p++)
                            if (ms[i] > 0 && ns[j] > 0) {
                                run_2d(ctx, *kp, dt, ms[i], ks[p], ns[j], 0);
                                run_2d(ctx, *kp, dt, ms[i], ks[p], ns[j], TA | TB);
                            }
            }
        tu_ctx_done(ctx);
    }
}

/* Every layout combination on prime sizes, for each kernel, dtype and thread count. */
static void test_layouts(void **state) {
    (void)state;
    for (int th = 1; th <= 3; th++) {
        il_ctx *ctx = new_ctx(th);
        for (const ili_gemm_kernel **kp = kernels; *kp; kp++)
            for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++)
                for (int f = 0; f < 16; f++) {
                    run_2d(ctx, *kp, dt, 13, 17, 19, f);
                    run_2d(ctx, *kp, dt, 1, 1, 1, f);
                    run_2d(ctx, *kp, dt, 101, 67, 37, f);
                    run_2d(ctx, *kp, dt, 200, 45, 70, f); /* > 8 row panels: B packed */
                }
        for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++)
            for (int f = 0; f < 8; f++) {
                run_2d(ctx, NULL, dt, 13, 17, 19, f);
                run_2d(ctx, NULL, dt, 1, 1, 1, f);
                run_2d(ctx, NULL, dt, 3, 2, 4, f);
                run_2d(ctx, NULL, dt, 70, 130, 90, f);
            }
        tu_ctx_done(ctx);
    }
}

/* Blocks of K and N larger than one cache block (accumulation across K blocks). */
static void test_multiblock(void **state) {
    (void)state;
    il_ctx *ctx = new_ctx(2);
    for (const ili_gemm_kernel **kp = kernels; *kp; kp++)
        for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++) {
            run_2d(ctx, *kp, dt, 37, 600, 700, 0);
            run_2d(ctx, *kp, dt, 29, 513, 300, TA | TB);
            /* Strides of exactly 4 KiB, which the driver packs rather than read in place. */
            int64_t k4 = 4096 / (int64_t)il_dtype_size(dt);
            run_2d(ctx, *kp, dt, 30, k4, 100, 0);
            run_2d(ctx, *kp, dt, k4, 20, 40, TA);
            run_2d(ctx, *kp, dt, 30, 20, k4, 0);
        }
    tu_ctx_done(ctx);
}

/* The benchmark's skinny shape, once, through the public API. */
static void test_big(void **state) {
    (void)state;
    il_ctx *ctx = new_ctx(2);
    run_2d(ctx, NULL, IL_DTYPE_F32, 40000, 64, 64, 0);
    run_2d(ctx, NULL, IL_DTYPE_F64, 3000, 64, 64, TA);
    tu_ctx_done(ctx);
}

static void test_batched(void **state) {
    (void)state;
    for (int th = 1; th <= 3; th += 2) {
        il_ctx *ctx = new_ctx(th);
        for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++) {
            int64_t a1[] = {2, 3, 20, 30}, b1[] = {30, 17};
            run_case(ctx, NULL, dt, 4, a1, 2, b1, 0);
            run_case(ctx, NULL, dt, 4, a1, 2, b1, TA | NARROW);
            int64_t a2[] = {1, 25, 9}, b2[] = {4, 9, 33};
            run_case(ctx, NULL, dt, 3, a2, 3, b2, 0);
            run_case(ctx, NULL, dt, 3, a2, 3, b2, TB);
            int64_t a3[] = {3, 1, 5, 6}, b3[] = {4, 6, 2};
            run_case(ctx, NULL, dt, 4, a3, 3, b3, 0);
            for (const ili_gemm_kernel **kp = kernels; *kp; kp++) {
                int64_t a4[] = {2, 3, 20, 30}, b4[] = {1, 1, 30, 17};
                run_case(ctx, *kp, dt, 4, a4, 4, b4, TC);
                int64_t a5[] = {1, 25, 9}, b5[] = {4, 9, 33};
                run_case(ctx, *kp, dt, 3, a5, 3, b5, TA | NARROW);
            }
        }
        tu_ctx_done(ctx);
    }
}

/* 1-D operands follow numpy.matmul (the lead's il_tensor_matmul promotes them). */
static void test_vectors(void **state) {
    (void)state;
    il_ctx *ctx = new_ctx(2);
    for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++) {
        int64_t v[] = {7}, m[] = {7, 5}, mt[] = {4, 7}, bm[] = {3, 4, 7}, bn[] = {3, 7, 5};
        int64_t big[] = {500}, bigm[] = {500, 300};
        run_case(ctx, NULL, dt, 1, v, 1, v, 0);   /* dot: 0-d */
        run_case(ctx, NULL, dt, 1, v, 2, m, 0);   /* (7) @ (7, 5) -> (5) */
        run_case(ctx, NULL, dt, 2, mt, 1, v, 0);  /* (4, 7) @ (7) -> (4) */
        run_case(ctx, NULL, dt, 3, bm, 1, v, 0);  /* (3, 4, 7) @ (7) -> (3, 4) */
        run_case(ctx, NULL, dt, 1, v, 3, bn, 0);  /* (7) @ (3, 7, 5) -> (3, 5) */
        run_case(ctx, NULL, dt, 1, big, 2, bigm, 0);
        run_case(ctx, NULL, dt, 1, big, 2, bigm, TB);
    }
    tu_ctx_done(ctx);
}

/* K = 0 gives zeros (over a non-zero output); M or N = 0 gives an empty result. */
static void test_empty(void **state) {
    (void)state;
    il_ctx *ctx = new_ctx(2);
    for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++) {
        run_2d(ctx, NULL, dt, 5, 0, 6, 0);
        run_2d(ctx, NULL, dt, 0, 4, 6, 0);
        run_2d(ctx, NULL, dt, 5, 4, 0, 0);
        run_2d(ctx, NULL, dt, 0, 0, 0, 0);
        for (const ili_gemm_kernel **kp = kernels; *kp; kp++) {
            run_2d(ctx, *kp, dt, 40, 0, 50, TC);
            run_2d(ctx, *kp, dt, 0, 3, 50, 0);
        }
        int64_t a[] = {0, 3, 4}, b[] = {4, 5};
        run_case(ctx, NULL, dt, 3, a, 2, b, 0);
    }
    tu_ctx_done(ctx);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = new_ctx(1);
    int64_t sa[] = {2, 3}, sb[] = {4, 5};
    il_tensor *a, *b, *out = NULL;
    assert_int_equal(il_tensor_zeros(ctx, 2, sa, IL_DTYPE_F32, IL_DEVICE_CPU, &a), IL_OK);
    assert_int_equal(il_tensor_zeros(ctx, 2, sb, IL_DTYPE_F32, IL_DEVICE_CPU, &b), IL_OK);
    assert_int_equal(il_tensor_matmul(ctx, a, b, &out), IL_E_SHAPE);
    assert_null(out);
    assert_true(strlen(il_errmsg(ctx)) > 0);
    il_tensor_free(a), il_tensor_free(b);
    int64_t si[] = {3, 3};
    assert_int_equal(il_tensor_zeros(ctx, 2, si, IL_DTYPE_I64, IL_DEVICE_CPU, &a), IL_OK);
    assert_int_equal(il_tensor_zeros(ctx, 2, si, IL_DTYPE_I64, IL_DEVICE_CPU, &b), IL_OK);
    assert_int_equal(il_tensor_matmul(ctx, a, b, &out), IL_E_DTYPE);
    assert_null(out);
    /* The kernel itself refuses i64 with the documented message. */
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL;
    c.nin = 2;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(b, &c.in[1]);
    ili_tensor_desc(a, &c.out);
    assert_int_equal(ili_cpu_matmul(ctx, &c), IL_E_DTYPE);
    assert_string_equal(il_errmsg(ctx), "matmul does not support dtype i64");
    il_tensor_free(a), il_tensor_free(b);
    /* Kernel sets: unknown names and sets without kernels are refused. */
    assert_null(ili_gemm_by_name("nope"));
    assert_null(ili_gemm_by_name(NULL));
    assert_int_equal(il_tensor_zeros(ctx, 2, si, IL_DTYPE_F32, IL_DEVICE_CPU, &a), IL_OK);
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(a, &c.in[1]);
    ili_tensor_desc(a, &c.out);
    const ili_gemm_kernel empty = {.name = "empty"};
    assert_int_equal(ili_cpu_matmul_with(ctx, &c, &empty), IL_E_INTERNAL);
    il_tensor_free(a);
    tu_ctx_done(ctx);
}

/* Fails allocation 1, 2, ... of a blocked, threaded matmul: IL_E_NOMEM, no leak, then success. */
static void test_alloc_failure(void **state) {
    (void)state;
    tu_alloc ba = {0, 0, 0};
    il_ctx *ctx;
    assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &ba), IL_OK);
    assert_int_equal(il_ctx_set_threads(ctx, 2), IL_OK);
    il_tensor *a = operand(ctx, IL_DTYPE_F32, 2, (int64_t[]){300, 64}, 0, 0);
    il_tensor *b = operand(ctx, IL_DTYPE_F32, 2, (int64_t[]){64, 70}, 0, 0);
    il_mem_stats before, after;
    il_ctx_memory(ctx, &before);
    int ok = 0;
    for (int64_t n = 0; n < 50 && !ok; n++) {
        il_tensor *out = NULL;
        ba.fail_at = ba.count + n + 1; /* allocations 1..n succeed, n + 1 on fail */
        il_status s = il_tensor_matmul(ctx, a, b, &out);
        ba.fail_at = 0;
        if (s == IL_OK) {
            check_result(ctx, a, b, out);
            il_tensor_free(out);
            ok = 1;
        } else {
            assert_int_equal(s, IL_E_NOMEM);
            assert_null(out);
        }
        assert_int_equal(il_ctx_live_tensors(ctx), 2);
        ili_pool_free(ctx);
        ili_scratch_release(ctx);
        il_ctx_memory(ctx, &after);
        assert_int_equal(after.bytes_in_use, before.bytes_in_use);
    }
    assert_true(ok);
    il_tensor_free(a), il_tensor_free(b);
    tu_ctx_done(ctx);
    assert_int_equal(ba.live_blocks, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile_edges), cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_multiblock), cmocka_unit_test(test_big),
        cmocka_unit_test(test_batched),    cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_empty),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, setup_kernels, NULL);
}
