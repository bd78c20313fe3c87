/*
 * test_ops.c: elementwise operations (binary with broadcasting, scalar forms, unary maps,
 * clamp) through the public API; copy, conversion and fill are in test_reduce.c. Every result
 * is compared with a float64 reference computed here with plain loops, on random inputs of
 * several shapes, broadcast and non-contiguous operands, empty and 0-d tensors, and tensors
 * large enough for the threaded path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ironlearn.h"
#include "testutil.h"

static const il_dtype FLOATS[2] = {IL_DTYPE_F32, IL_DTYPE_F64};

static uint64_t rng_state = 88172645463325252ull;

static double *rand_vals(int64_t n, double lo, double hi) {
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = tu_urand(&rng_state, lo, hi);
    return v;
}

/* f32 inputs are rounded first, so the reference sees exactly what the kernel sees. */
static void round_to(il_dtype dt, double *v, int64_t n) {
    if (dt == IL_DTYPE_F32)
        for (int64_t i = 0; i < n; i++) v[i] = (double)(float)v[i];
}

/* Index into a right-aligned, broadcast operand of shape (na, sa) for output element flat. */
static int64_t bidx(int64_t flat, int n, const int64_t *so, int na, const int64_t *sa) {
    int64_t idx = 0, mul = 1;
    for (int d = n - 1; d >= 0; d--) {
        int64_t c = flat % so[d];
        flat /= so[d];
        int da = d - (n - na);
        if (da < 0) continue;
        if (sa[da] != 1) idx += c * mul;
        mul *= sa[da];
    }
    return idx;
}

static double atol_of(il_dtype dt) { return dt == IL_DTYPE_F32 ? 1e-5 : 1e-12; }
static double rtol_of(il_dtype dt) { return dt == IL_DTYPE_F32 ? 2e-6 : 1e-12; }

/* ---- references --------------------------------------------------------------------------- */

static const il_op BINOPS[] = {IL_OP_ADD, IL_OP_SUB, IL_OP_MUL, IL_OP_DIV,
                               IL_OP_POW, IL_OP_MAXIMUM, IL_OP_MINIMUM};

static double ref_bin(il_op op, double a, double b) {
    switch (op) {
    case IL_OP_ADD: return a + b;
    case IL_OP_SUB: return a - b;
    case IL_OP_MUL: return a * b;
    case IL_OP_DIV: return a / b;
    case IL_OP_POW: return pow(a, b);
    case IL_OP_MAXIMUM: return isnan(a) || isnan(b) ? NAN : (a > b ? a : b);
    case IL_OP_MINIMUM: return isnan(a) || isnan(b) ? NAN : (a < b ? a : b);
    default: fail_msg("not binary"); return 0;
    }
}

static const il_op UNOPS[] = {IL_OP_NEG, IL_OP_EXP, IL_OP_LOG,  IL_OP_TANH, IL_OP_SIGMOID,
                              IL_OP_RELU, IL_OP_SIN, IL_OP_COS, IL_OP_ABS,  IL_OP_SQRT};

static double ref_un(il_op op, double x) {
    switch (op) {
    case IL_OP_NEG: return -x;
    case IL_OP_EXP: return exp(x);
    case IL_OP_LOG: return log(x);
    case IL_OP_TANH: return tanh(x);
    case IL_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case IL_OP_RELU: return isnan(x) ? x : (x > 0 ? x : 0);
    case IL_OP_SIN: return sin(x);
    case IL_OP_COS: return cos(x);
    case IL_OP_ABS: return fabs(x);
    case IL_OP_SQRT: return sqrt(x);
    default: fail_msg("not unary"); return 0;
    }
}

/* Inputs in the op's comfortable domain: positive bases for pow, divisors away from 0. */
static void domain(il_op op, double *lo, double *hi, double *blo, double *bhi) {
    *lo = -3, *hi = 3, *blo = -3, *bhi = 3;
    if (op == IL_OP_POW) *lo = 0.1, *blo = -2, *bhi = 2;
    if (op == IL_OP_DIV) *blo = 0.5;
    if (op == IL_OP_LOG || op == IL_OP_SQRT) *lo = 0.01;
}

/* Checks a op b for tensors ta (values av, shape na/sa) and tb against the reference. */
static void check_binary(il_ctx *ctx, il_op op, il_tensor *ta, const double *av, il_tensor *tb,
                         const double *bv, il_dtype dt) {
    il_tensor *r = NULL;
    if (il_tensor_binary(ctx, op, ta, tb, &r) != IL_OK) fail_msg("%s", il_errmsg(ctx));
    int n = il_tensor_ndim(r), na = il_tensor_ndim(ta), nb = il_tensor_ndim(tb);
    const int64_t *so = il_tensor_shape(r);
    int64_t cnt = il_tensor_numel(r);
    assert_int_equal(il_tensor_dtype(r), dt);
    double *got = tu_values(ctx, r), *want = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *want);
    for (int64_t i = 0; i < cnt; i++)
        want[i] = ref_bin(op, av[bidx(i, n, so, na, il_tensor_shape(ta))],
                          bv[bidx(i, n, so, nb, il_tensor_shape(tb))]);
    round_to(dt, want, cnt);
    tu_assert_close_at(il_op_name(op), got, want, cnt, atol_of(dt), rtol_of(dt));
    free(got);
    free(want);
    il_tensor_free(r);
}

/* Random operands of shapes sa and sb for every binary op and float dtype. */
static void binary_case(il_ctx *ctx, int na, const int64_t *sa, int nb, const int64_t *sb) {
    for (int d = 0; d < 2; d++) {
        for (size_t k = 0; k < sizeof BINOPS / sizeof *BINOPS; k++) {
            double lo, hi, blo, bhi;
            domain(BINOPS[k], &lo, &hi, &blo, &bhi);
            double *av = rand_vals(tu_numel(na, sa), lo, hi), *bv = rand_vals(tu_numel(nb, sb), blo, bhi);
            round_to(FLOATS[d], av, tu_numel(na, sa));
            round_to(FLOATS[d], bv, tu_numel(nb, sb));
            il_tensor *ta = tu_mk(ctx, FLOATS[d], na, sa, av), *tb = tu_mk(ctx, FLOATS[d], nb, sb, bv);
            check_binary(ctx, BINOPS[k], ta, av, tb, bv, FLOATS[d]);
            il_tensor_free(ta);
            il_tensor_free(tb);
            free(av);
            free(bv);
        }
    }
}

/* ---- binary ------------------------------------------------------------------------------- */

static void test_binary_shapes(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s5[] = {5}, s34[] = {3, 4}, s235[] = {2, 3, 5}, s2345[] = {2, 3, 4, 5};
    binary_case(ctx, 1, s5, 1, s5);
    binary_case(ctx, 2, s34, 2, s34);
    binary_case(ctx, 3, s235, 3, s235);
    binary_case(ctx, 4, s2345, 4, s2345);
    tu_ctx_done_exact(ctx, base);
}

static void test_binary_broadcast(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s31[] = {3, 1}, s14[] = {1, 4}, s234[] = {2, 3, 4}, s4[] = {4}, s03[] = {0, 3},
            s3[] = {3}, s214[] = {2, 1, 4}, s23[] = {2, 3}, s1[] = {1}, s130[] = {1, 3, 0};
    binary_case(ctx, 2, s31, 2, s14);
    binary_case(ctx, 3, s234, 1, s4);
    binary_case(ctx, 1, s4, 3, s234);
    binary_case(ctx, 3, s214, 2, s31);
    binary_case(ctx, 0, NULL, 2, s23); /* 0-d scalars on either side, and both */
    binary_case(ctx, 2, s23, 0, NULL);
    binary_case(ctx, 0, NULL, 0, NULL);
    binary_case(ctx, 1, s1, 3, s234);
    binary_case(ctx, 2, s03, 1, s3); /* empty results */
    binary_case(ctx, 3, s130, 2, s31);
    tu_ctx_done_exact(ctx, base);
}

/* Transposed, narrowed and expanded views as operands. */
static void test_binary_views(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s45[] = {4, 5}, s54[] = {5, 4}, s31[] = {3, 1}, e34[] = {3, 4};
    for (int d = 0; d < 2; d++) {
        il_dtype dt = FLOATS[d];
        double *bv = rand_vals(20, -2, 2), *cv = rand_vals(20, 0.5, 2), *ev = rand_vals(3, -1, 1);
        round_to(dt, bv, 20), round_to(dt, cv, 20), round_to(dt, ev, 3);
        il_tensor *b = tu_mk(ctx, dt, 2, s45, bv), *c = tu_mk(ctx, dt, 2, s54, cv), *bt, *nar, *cn, *e;
        il_tensor *e0 = tu_mk(ctx, dt, 2, s31, ev);
        assert_int_equal(il_tensor_transpose(ctx, b, 0, 1, &bt), IL_OK);  /* (5, 4) */
        assert_int_equal(il_tensor_narrow(ctx, bt, 0, 1, 3, &nar), IL_OK); /* (3, 4) */
        assert_int_equal(il_tensor_narrow(ctx, c, 0, 2, 3, &cn), IL_OK);  /* (3, 4) */
        assert_int_equal(il_tensor_expand(ctx, e0, 2, e34, &e), IL_OK);   /* (3, 4) */
        double *btv = tu_view_vals(b, bv, bt), *nv = tu_view_vals(b, bv, nar);
        double *cnv = tu_view_vals(c, cv, cn), *evv = tu_view_vals(e0, ev, e);
        for (size_t k = 0; k < sizeof BINOPS / sizeof *BINOPS; k++) {
            if (BINOPS[k] == IL_OP_POW) continue; /* negative bases */
            check_binary(ctx, BINOPS[k], bt, btv, c, cv, dt);   /* strided + contiguous */
            check_binary(ctx, BINOPS[k], c, cv, bt, btv, dt);
            check_binary(ctx, BINOPS[k], cn, cnv, e, evv, dt);  /* narrowed + expanded */
            check_binary(ctx, BINOPS[k], e, evv, nar, nv, dt);  /* expanded + narrowed transpose */
        }
        il_tensor *all[] = {b, c, bt, nar, cn, e, e0};
        for (int i = 0; i < 7; i++) il_tensor_free(all[i]);
        free(bv), free(cv), free(ev), free(btv), free(nv), free(cnv), free(evv);
    }
    tu_ctx_done_exact(ctx, base);
}

static void test_binary_scalar(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t sh[] = {3, 7};
    for (int d = 0; d < 2; d++) {
        double *av = rand_vals(21, 0.5, 3);
        round_to(FLOATS[d], av, 21);
        il_tensor *a = tu_mk(ctx, FLOATS[d], 2, sh, av);
        for (size_t k = 0; k < sizeof BINOPS / sizeof *BINOPS; k++) {
            for (int rev = 0; rev < 2; rev++) {
                double s = 1.75, want[21], *got;
                il_tensor *r = NULL;
                assert_int_equal(il_tensor_binary_scalar(ctx, BINOPS[k], a, s, rev, &r), IL_OK);
                got = tu_values(ctx, r);
                for (int i = 0; i < 21; i++)
                    want[i] = rev ? ref_bin(BINOPS[k], s, av[i]) : ref_bin(BINOPS[k], av[i], s);
                round_to(FLOATS[d], want, 21);
                tu_assert_close_at("scalar", got, want, 21, atol_of(FLOATS[d]), rtol_of(FLOATS[d]));
                free(got);
                il_tensor_free(r);
            }
        }
        il_tensor_free(a);
        free(av);
    }
    tu_ctx_done_exact(ctx, base);
}

/* NaN propagation of maximum/minimum, and i64 arithmetic that wraps instead of trapping. */
static void test_binary_special(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s4[] = {4};
    double av[] = {NAN, 1, 2, -INFINITY}, bv[] = {0, NAN, 1, 3};
    il_tensor *a = tu_mk(ctx, IL_DTYPE_F32, 1, s4, av), *b = tu_mk(ctx, IL_DTYPE_F32, 1, s4, bv);
    check_binary(ctx, IL_OP_MAXIMUM, a, av, b, bv, IL_DTYPE_F32);
    check_binary(ctx, IL_OP_MINIMUM, a, av, b, bv, IL_DTYPE_F32);
    il_tensor_free(a), il_tensor_free(b);
    int64_t iv[] = {INT64_MAX, INT64_MIN, -7, 5}, jv[] = {1, -1, 3, -9}, got[4];
    il_tensor *x, *y, *r;
    const il_dtype I64 = IL_DTYPE_I64;
    assert_int_equal(il_tensor_from_data(ctx, 1, s4, I64, IL_DEVICE_CPU, iv, I64, &x), IL_OK);
    assert_int_equal(il_tensor_from_data(ctx, 1, s4, I64, IL_DEVICE_CPU, jv, I64, &y), IL_OK);
    const il_op ops[] = {IL_OP_ADD, IL_OP_SUB, IL_OP_MUL, IL_OP_MAXIMUM, IL_OP_MINIMUM};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(il_tensor_binary(ctx, ops[k], x, y, &r), IL_OK);
        assert_int_equal(il_tensor_dtype(r), IL_DTYPE_I64);
        assert_int_equal(il_tensor_read(ctx, r, got, IL_DTYPE_I64, 4), IL_OK);
        for (int i = 0; i < 4; i++) {
            uint64_t u = (uint64_t)iv[i], v = (uint64_t)jv[i]; /* wrapping reference */
            uint64_t w[] = {u + v, u - v, u * v, (uint64_t)(iv[i] > jv[i] ? iv[i] : jv[i]),
                            (uint64_t)(iv[i] < jv[i] ? iv[i] : jv[i])};
            assert_true(got[i] == (int64_t)w[k]);
        }
        il_tensor_free(r);
    }
    const il_op uops[] = {IL_OP_NEG, IL_OP_ABS};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(il_tensor_unary(ctx, uops[k], x, &r), IL_OK);
        assert_int_equal(il_tensor_read(ctx, r, got, IL_DTYPE_I64, 4), IL_OK);
        for (int i = 0; i < 4; i++) {
            int64_t neg = (int64_t)(0u - (uint64_t)iv[i]);
            assert_true(got[i] == (uops[k] == IL_OP_NEG || iv[i] < 0 ? neg : iv[i]));
        }
        il_tensor_free(r);
    }
    il_tensor_free(x), il_tensor_free(y);
    tu_ctx_done_exact(ctx, base);
}

/* ---- unary -------------------------------------------------------------------------------- */

/* op(t) (clamp when op is CLAMP) against the reference on the values tv of t. */
static void check_unary(il_ctx *ctx, il_op op, const il_tensor *t, const double *tv, il_dtype dt) {
    il_tensor *r = NULL;
    il_status s = op == IL_OP_CLAMP ? il_tensor_clamp(ctx, t, -0.5, 0.75, &r)
                                    : il_tensor_unary(ctx, op, t, &r);
    if (s != IL_OK) fail_msg("%s: %s", il_op_name(op), il_errmsg(ctx));
    int64_t n = il_tensor_numel(r);
    assert_int_equal(n, il_tensor_numel(t));
    double *got = tu_values(ctx, r), *want = malloc((size_t)(n > 0 ? n : 1) * sizeof *want);
    for (int64_t i = 0; i < n; i++)
        want[i] = op == IL_OP_CLAMP ? (isnan(tv[i]) ? tv[i] : fmin(fmax(tv[i], -0.5), 0.75))
                                    : ref_un(op, tv[i]);
    round_to(dt, want, n);
    tu_assert_close_at(il_op_name(op), got, want, n, atol_of(dt), rtol_of(dt) * 2);
    free(got), free(want);
    il_tensor_free(r);
}

static void test_unary(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t shapes[][3] = {{7, 1, 1}, {3, 4, 1}, {2, 3, 5}, {0, 3, 1}};
    int nds[] = {1, 2, 3, 2};
    for (int d = 0; d < 2; d++) {
        for (int si = 0; si < 4; si++) {
            for (int k = 0; k <= 10; k++) {
                il_op op = k < 10 ? UNOPS[k] : IL_OP_CLAMP;
                double lo, hi, blo, bhi;
                domain(op, &lo, &hi, &blo, &bhi);
                int64_t n = tu_numel(nds[si], shapes[si]);
                double *v = rand_vals(n, lo, hi);
                round_to(FLOATS[d], v, n);
                il_tensor *t = tu_mk(ctx, FLOATS[d], nds[si], shapes[si], v), *tt;
                check_unary(ctx, op, t, v, FLOATS[d]);
                /* The transposed view of the same data. */
                assert_int_equal(il_tensor_transpose(ctx, t, 0, nds[si] - 1, &tt), IL_OK);
                double *tv = tu_view_vals(t, v, tt);
                check_unary(ctx, op, tt, tv, FLOATS[d]);
                il_tensor_free(t), il_tensor_free(tt);
                free(v), free(tv);
            }
        }
    }
    tu_ctx_done_exact(ctx, base);
}

/* Sigmoid never overflows; relu and clamp keep NaN; 0-d tensors work. */
static void test_unary_special(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    double v[] = {-1000, -88.5, -20, 0, 20, 88.5, 1000, NAN, INFINITY, -INFINITY};
    int64_t sh[] = {10};
    for (int d = 0; d < 2; d++) {
        il_tensor *t = tu_mk(ctx, FLOATS[d], 1, sh, v), *s0;
        const il_op ops[] = {IL_OP_SIGMOID, IL_OP_RELU, IL_OP_TANH, IL_OP_CLAMP, IL_OP_ABS};
        for (int k = 0; k < 5; k++) check_unary(ctx, ops[k], t, v, FLOATS[d]);
        double two = 2.0;
        s0 = tu_mk(ctx, FLOATS[d], 0, NULL, &two);
        check_unary(ctx, IL_OP_SQRT, s0, &two, FLOATS[d]);
        check_unary(ctx, IL_OP_EXP, s0, &two, FLOATS[d]);
        il_tensor_free(t), il_tensor_free(s0);
    }
    tu_ctx_done_exact(ctx, base);
}

/* ---- threads ------------------------------------------------------------------------------ */

/* Large operands (> 1 << 17 elements) with 1, 2 and 3 threads: contiguous, row-broadcast,
 * column-broadcast and transposed. */
static void test_large_threaded(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t sm[] = {600, 300}, st[] = {300, 600}, srow[] = {300}, scol[] = {600, 1};
    double *av = rand_vals(180000, -2, 2), *bv = rand_vals(180000, 0.5, 2);
    double *rv = rand_vals(300, 0.5, 2), *cv = rand_vals(600, 0.5, 2);
    for (int d = 0; d < 2; d++) {
        il_dtype dt = FLOATS[d];
        round_to(dt, av, 180000), round_to(dt, bv, 180000);
        round_to(dt, rv, 300), round_to(dt, cv, 600);
        il_tensor *a = tu_mk(ctx, dt, 2, sm, av), *b = tu_mk(ctx, dt, 2, sm, bv);
        il_tensor *row = tu_mk(ctx, dt, 1, srow, rv), *col = tu_mk(ctx, dt, 2, scol, cv);
        il_tensor *bt0 = tu_mk(ctx, dt, 2, st, bv), *bt;
        assert_int_equal(il_tensor_transpose(ctx, bt0, 0, 1, &bt), IL_OK);
        double *btv = tu_view_vals(bt0, bv, bt);
        for (int threads = 1; threads <= 3; threads++) {
            assert_int_equal(il_ctx_set_threads(ctx, threads), IL_OK);
            check_binary(ctx, IL_OP_ADD, a, av, b, bv, dt);
            check_binary(ctx, IL_OP_MUL, a, av, row, rv, dt);
            check_binary(ctx, IL_OP_DIV, col, cv, a, av, dt);
            check_binary(ctx, IL_OP_SUB, a, av, bt, btv, dt);
            check_unary(ctx, IL_OP_TANH, a, av, dt);
            check_unary(ctx, IL_OP_EXP, bt, btv, dt);
            check_unary(ctx, IL_OP_CLAMP, a, av, dt);
        }
        il_tensor *all[] = {a, b, row, col, bt0, bt};
        for (int i = 0; i < 6; i++) il_tensor_free(all[i]);
        free(btv);
    }
    free(av), free(bv), free(rv), free(cv);
    tu_ctx_done_exact(ctx, base);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_errors(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s3[] = {3}, s32[] = {3, 2}, s4[] = {4};
    double v[6] = {1, 2, 3, 4, 5, 6};
    il_tensor *i = tu_mk(ctx, IL_DTYPE_I64, 1, s3, v), *r = (il_tensor *)1;
    assert_int_equal(il_tensor_unary(ctx, IL_OP_EXP, i, &r), IL_E_DTYPE);
    assert_null(r);
    tu_assert_errmsg(ctx, "exp"), tu_assert_errmsg(ctx, "i64");
    assert_int_equal(il_tensor_unary(ctx, IL_OP_SQRT, i, &r), IL_E_DTYPE);
    tu_assert_errmsg(ctx, "sqrt");
    assert_int_equal(il_tensor_clamp(ctx, i, 0, 1, &r), IL_E_DTYPE);
    tu_assert_errmsg(ctx, "clamp");
    assert_int_equal(il_tensor_binary(ctx, IL_OP_DIV, i, i, &r), IL_E_DTYPE);
    tu_assert_errmsg(ctx, "div"), tu_assert_errmsg(ctx, "i64");
    assert_int_equal(il_tensor_binary(ctx, IL_OP_POW, i, i, &r), IL_E_DTYPE);
    tu_assert_errmsg(ctx, "pow");
    il_tensor *a = tu_mk(ctx, IL_DTYPE_F32, 2, s32, v), *b = tu_mk(ctx, IL_DTYPE_F32, 1, s4, v);
    assert_int_equal(il_tensor_binary(ctx, IL_OP_ADD, a, b, &r), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "(3, 2)"), tu_assert_errmsg(ctx, "(4)");
    il_tensor_free(i), il_tensor_free(a), il_tensor_free(b);
    tu_ctx_done_exact(ctx, base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_shapes),  cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_binary_views),   cmocka_unit_test(test_binary_scalar),
        cmocka_unit_test(test_binary_special), cmocka_unit_test(test_unary),
        cmocka_unit_test(test_unary_special),  cmocka_unit_test(test_large_threaded),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
