/*
 * test_matmul_paths.c: the matmul paths beside the blocked one (core/cpu_matmul_skinny.c and
 * the split-K driver in core/cpu_matmul.c): rows-dot (N == 1), outer-product accumulation
 * (M or N tiny) and K cut into chunks, each forced through ili_cpu_matmul_path for every kernel
 * set, f32 and f64, 1-3 threads, row-major and transposed operands, against a float64
 * triple-loop reference; and the promise that results do not depend on the thread count.
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

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* A random (r, c) matrix; trans: stored transposed (a column-major view); wide: a column view
 * of a matrix 3 columns wider (row stride c + 3). Values also returned row-major in *v. */
static il_tensor *matrix(il_ctx *ctx, il_dtype dt, int64_t r, int64_t c, int trans, int wide,
                         double **v) {
    int64_t s[2] = {trans ? c : r, (trans ? r : c) + (wide ? 3 : 0)};
    double *buf = malloc((size_t)(s[0] * s[1]) * sizeof *buf);
    assert_non_null(buf);
    for (int64_t i = 0; i < s[0] * s[1]; i++)
        buf[i] = tu_urand(&rng_state, -1.0, 1.0);
    il_tensor *t, *u;
    assert_int_equal(il_tensor_from_data(ctx, 2, s, dt, IL_DEVICE_CPU, buf, IL_DTYPE_F64, &t),
                     IL_OK);
    if (wide) {
        assert_int_equal(il_tensor_narrow(ctx, t, 1, 1, trans ? r : c, &u), IL_OK);
        il_tensor_free(t), t = u;
    }
    if (trans) {
        assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &u), IL_OK);
        il_tensor_free(t), t = u;
    }
    free(buf);
    *v = malloc((size_t)(r * c + 1) * sizeof **v);
    assert_non_null(*v);
    assert_int_equal(il_tensor_read(ctx, t, *v, IL_DTYPE_F64, r * c), IL_OK);
    return t;
}

/* out = a @ b on a forced path; out is a fresh (m, n) tensor, or its transposed view (tc). */
static il_tensor *product(il_ctx *ctx, const ili_gemm_kernel *kern, int path, const il_tensor *a,
                          const il_tensor *b, int tc) {
    int64_t m = il_tensor_shape(a)[0], n = il_tensor_shape(b)[1];
    int64_t s[2] = {tc ? n : m, tc ? m : n};
    il_tensor *out, *t;
    assert_int_equal(il_tensor_full(ctx, 2, s, 7.0, il_tensor_dtype(a), IL_DEVICE_CPU, &t),
                     IL_OK);
    if (tc) {
        assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &out), IL_OK);
        il_tensor_free(t);
    } else {
        out = t;
    }
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL, c.nin = 2;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(b, &c.in[1]);
    ili_tensor_desc(out, &c.out);
    assert_int_equal(ili_cpu_matmul_path(ctx, &c, kern, path), IL_OK);
    return out;
}

/* Asserts out == a @ b (values av, bv) within dt's accumulation bound. */
static void check(il_ctx *ctx, const il_tensor *out, const double *av, const double *bv,
                  int64_t m, int64_t k, int64_t n) {
    double *ov = malloc((size_t)(m * n + 1) * sizeof *ov);
    assert_non_null(ov);
    assert_int_equal(il_tensor_read(ctx, out, ov, IL_DTYPE_F64, m * n), IL_OK);
    double eps = il_tensor_dtype(out) == IL_DTYPE_F32 ? 1.2e-7 : 2.3e-16;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, g = 0;
            for (int64_t p = 0; p < k; p++)
                s += av[i * k + p] * bv[p * n + j], g += fabs(av[i * k + p] * bv[p * n + j]);
            double tol = 2.0 * (double)(k + 2) * eps * g + 1e-300;
            if (!(fabs(ov[i * n + j] - s) <= tol))
                fail_msg("(%lld x %lld x %lld) [%lld, %lld]: got %.17g want %.17g",
                         (long long)m, (long long)k, (long long)n, (long long)i, (long long)j,
                         ov[i * n + j], s);
        }
    free(ov);
}

/* One case: flags bit 0 transposes A, bit 1 makes B a column view of a wider matrix, bit 2
 * writes a transposed output. */
static void run(il_ctx *ctx, const ili_gemm_kernel *kern, int path, il_dtype dt, int64_t m,
                int64_t k, int64_t n, int flags) {
    double *av, *bv;
    il_tensor *a = matrix(ctx, dt, m, k, flags & 1, 0, &av);
    il_tensor *b = matrix(ctx, dt, k, n, 0, flags & 2, &bv);
    il_tensor *out = product(ctx, kern, path, a, b, flags & 4);
    check(ctx, out, av, bv, m, k, n);
    il_tensor_free(out), il_tensor_free(a), il_tensor_free(b);
    free(av), free(bv);
}

static const ili_gemm_kernel *kernels[4];

static int setup(void **state) {
    (void)state;
    const char *names[] = {"generic", "avx2", "avx512"};
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (ili_gemm_by_name(names[i])) kernels[n++] = ili_gemm_by_name(names[i]);
    kernels[n] = NULL;
    return n > 0 ? 0 : -1;
}

static il_ctx *new_ctx(int threads) {
    il_ctx *ctx;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    assert_int_equal(il_ctx_set_threads(ctx, threads), IL_OK);
    return ctx;
}

/* N == 1 with contiguous rows of A: around the 512-row block, short and long K, strided b. */
static void test_dot(void **state) {
    (void)state;
    const int64_t ms[] = {1, 7, 512, 513, 1100}, ks[] = {1, 16, 17, 64, 200};
    for (int th = 1; th <= 3; th += 2) {
        il_ctx *ctx = new_ctx(th);
        for (const ili_gemm_kernel **kp = kernels; *kp; kp++)
            for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++)
                for (int i = 0; i < 5; i++)
                    for (int p = 0; p < 5; p++)
                        for (int f = 0; f < 4; f += 2) /* A row-major: DOT needs its rows */
                            run(ctx, *kp, ILI_PATH_DOT, dt, ms[i], ks[p], 1, f);
        tu_ctx_done(ctx);
    }
}

/* M or N of at most 4, each operand layout the path accepts, K split into chunks or not. */
static void test_ger(void **state) {
    (void)state;
    const int64_t small[] = {1, 2, 4}, ks[] = {1, 7, 4500}, wide[] = {1, 5, 64, 70};
    for (int th = 1; th <= 3; th += 2) {
        il_ctx *ctx = new_ctx(th);
        for (const ili_gemm_kernel **kp = kernels; *kp; kp++)
            for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++)
                for (int s = 0; s < 3; s++)
                    for (int p = 0; p < 3; p++)
                        for (int w = 0; w < 4; w++) {
                            /* tiny M, B rows contiguous; tiny N, A transposed (columns) */
                            run(ctx, *kp, ILI_PATH_GER, dt, small[s], ks[p], wide[w], 4 * (w & 1));
                            run(ctx, *kp, ILI_PATH_GER, dt, wide[w], ks[p], small[s], 1 | 2);
                        }
        tu_ctx_done(ctx);
    }
}

/* K cut into chunks on the blocked path: forced on short K, and the weight-gradient shapes
 * the shape rule splits on its own (AUTO), including edge panels in M and N. */
static void test_split(void **state) {
    (void)state;
    for (int th = 1; th <= 3; th += 2) {
        il_ctx *ctx = new_ctx(th);
        for (const ili_gemm_kernel **kp = kernels; *kp; kp++)
            for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++)
                for (int f = 0; f < 8; f++) {
                    run(ctx, *kp, ILI_PATH_SPLIT, dt, 13, 3, 19, f);
                    run(ctx, *kp, ILI_PATH_SPLIT, dt, 30, 700, 40, f);
                    run(ctx, *kp, ILI_PATH_SPLIT, dt, 5, 1, 7, f);
                }
        for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++) {
            run(ctx, NULL, ILI_PATH_AUTO, dt, 64, 4500, 64, 1);
            run(ctx, NULL, ILI_PATH_AUTO, dt, 37, 4200, 45, 1 | 2);
            run(ctx, NULL, ILI_PATH_AUTO, dt, 64, 4500, 1, 1);
            run(ctx, NULL, ILI_PATH_AUTO, dt, 2, 4500, 64, 1);
            run(ctx, NULL, ILI_PATH_AUTO, dt, 3000, 64, 1, 0);
        }
        tu_ctx_done(ctx);
    }
}

/* A path forced where it does not apply is refused. */
static void test_refused(void **state) {
    (void)state;
    il_ctx *ctx = new_ctx(1);
    double *av, *bv;
    il_tensor *a = matrix(ctx, IL_DTYPE_F32, 20, 30, 1, 0, &av);
    il_tensor *b = matrix(ctx, IL_DTYPE_F32, 30, 10, 0, 0, &bv);
    il_tensor *o;
    int64_t s[2] = {20, 10};
    assert_int_equal(il_tensor_zeros(ctx, 2, s, IL_DTYPE_F32, IL_DEVICE_CPU, &o), IL_OK);
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL, c.nin = 2;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(b, &c.in[1]);
    ili_tensor_desc(o, &c.out);
    assert_int_equal(ili_cpu_matmul_path(ctx, &c, NULL, ILI_PATH_DOT), IL_E_INTERNAL);
    assert_int_equal(ili_cpu_matmul_path(ctx, &c, NULL, ILI_PATH_GER), IL_E_INTERNAL);
    il_tensor_free(a), il_tensor_free(b), il_tensor_free(o);
    free(av), free(bv);
    tu_ctx_done(ctx);
}

/* Bits of a @ b (public API) computed with `threads` threads. */
static float *bits(int threads, int64_t m, int64_t k, int64_t n, int ta) {
    il_ctx *ctx = new_ctx(threads);
    rng_state = 0x1234567ull + (uint64_t)(m * 31 + k * 7 + n);
    double *av, *bv;
    il_tensor *a = matrix(ctx, IL_DTYPE_F32, m, k, ta, 0, &av);
    il_tensor *b = matrix(ctx, IL_DTYPE_F32, k, n, 0, 0, &bv);
    il_tensor *o = NULL;
    assert_int_equal(il_tensor_matmul(ctx, a, b, &o), IL_OK);
    float *r = malloc((size_t)(m * n) * sizeof *r);
    assert_non_null(r);
    assert_int_equal(il_tensor_read(ctx, o, r, IL_DTYPE_F32, m * n), IL_OK);
    il_tensor_free(o), il_tensor_free(a), il_tensor_free(b);
    free(av), free(bv);
    tu_ctx_done(ctx);
    return r;
}

/* Every path gives the same bits on 1, 2 and 3 threads (the cuts depend on the shape only). */
static void test_thread_independent(void **state) {
    (void)state;
    const int64_t shapes[][4] = {{64, 4500, 64, 1}, {64, 4500, 1, 1}, {2, 4500, 64, 1},
                                 {3000, 64, 1, 0},  {3000, 64, 64, 0}, {64, 3000, 64, 1}};
    for (int s = 0; s < 6; s++) {
        const int64_t *d = shapes[s];
        float *r1 = bits(1, d[0], d[1], d[2], (int)d[3]);
        for (int th = 2; th <= 3; th++) {
            float *r = bits(th, d[0], d[1], d[2], (int)d[3]);
            assert_memory_equal(r, r1, (size_t)(d[0] * d[2]) * sizeof *r);
            free(r);
        }
        free(r1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot),     cmocka_unit_test(test_ger),
        cmocka_unit_test(test_split),   cmocka_unit_test(test_refused),
        cmocka_unit_test(test_thread_independent),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
