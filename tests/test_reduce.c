/*
 * test_reduce.c: reductions (sum, mean, max, min, argmax) over each axis and over all
 * elements, through il_tensor_reduce, and the data-movement kernels (dtype conversion, copy
 * into strided destinations, fill). Results are compared with a float64 reference computed
 * here with plain loops, on random inputs of several shapes, non-contiguous views, NaN and
 * ties, empty axes, 0-d tensors, i64, and inputs large enough for the threaded paths.
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
static const il_op OPS[] = {IL_OP_SUM, IL_OP_MEAN, IL_OP_MAX, IL_OP_MIN, IL_OP_ARGMAX};
#define NOPS 5

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* n random values, rounded to f32 when dt is f32 so the reference sees the kernel's input. */
static double *rand_vals(int64_t n, il_dtype dt, double lo, double hi) {
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) {
        v[i] = tu_urand(&rng_state, lo, hi);
        if (dt == IL_DTYPE_F32) v[i] = (double)(float)v[i];
        if (dt == IL_DTYPE_I64) v[i] = floor(v[i]);
    }
    return v;
}

/* Reference reduction of R values at stride s (long double sums; first max / first NaN). */
static double ref_line(il_op op, const double *x, int64_t R, int64_t s) {
    long double acc = 0;
    double best = R > 0 ? x[0] : 0;
    int64_t bi = 0;
    for (int64_t r = 0; r < R; r++) {
        double v = x[r * s];
        acc += v;
        if (isnan(best)) continue;
        if (isnan(v) || (op == IL_OP_MIN ? v < best : v > best)) best = v, bi = r;
    }
    switch (op) {
    case IL_OP_SUM: return (double)acc;
    case IL_OP_MEAN: return R > 0 ? (double)(acc / R) : NAN;
    case IL_OP_ARGMAX: return (double)bi;
    default: return best;
    }
}

/* Reference of op over axis (or all) of row-major values v with shape (nd, sh). */
static double *ref_reduce(il_op op, const double *v, int nd, const int64_t *sh, int axis,
                          int64_t *nout) {
    int64_t outer = 1, R = 1, inner = 1;
    for (int d = 0; d < nd; d++) {
        if (axis < 0 || d == axis) R *= sh[d];
        else if (d < axis) outer *= sh[d];
        else inner *= sh[d];
    }
    *nout = outer * inner;
    double *out = malloc((size_t)(*nout > 0 ? *nout : 1) * sizeof *out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++)
            out[o * inner + i] = ref_line(op, v + o * R * inner + i, R, inner);
    return out;
}

/* Reduces t (values tv in row-major order) by op over axis (-1: all) and checks shape, dtype
 * and values. Tolerance grows with the count summed. */
static void check_reduce(il_ctx *ctx, il_op op, const il_tensor *t, const double *tv, int axis,
                         int keepdim) {
    il_tensor *r = NULL;
    int nd = il_tensor_ndim(t);
    const int64_t *sh = il_tensor_shape(t);
    il_status s = il_tensor_reduce(ctx, op, t, axis < 0 ? IL_AXIS_ALL : axis, keepdim, &r);
    if (s != IL_OK) fail_msg("%s axis %d: %s", il_op_name(op), axis, il_errmsg(ctx));
    int64_t n, R = axis < 0 ? il_tensor_numel(t) : sh[axis];
    double *want = ref_reduce(op, tv, nd, sh, axis, &n), *got = tu_values(ctx, r);
    assert_int_equal(il_tensor_numel(r), n);
    assert_int_equal(il_tensor_ndim(r), keepdim ? nd : (axis < 0 ? 0 : nd - 1));
    il_dtype dt = il_tensor_dtype(t);
    assert_int_equal(il_tensor_dtype(r), op == IL_OP_ARGMAX ? IL_DTYPE_I64 : dt);
    int f32 = dt == IL_DTYPE_F32, sum = op == IL_OP_SUM || op == IL_OP_MEAN;
    double atol = !sum ? 0 : f32 ? 1e-5 : 1e-13 * (double)(R + 1);
    double rtol = !sum ? 0 : f32 ? 1e-6 : 1e-12;
    char what[64];
    snprintf(what, sizeof what, "%s %s axis %d", il_op_name(op), il_dtype_name(dt), axis);
    tu_assert_close_at(what, got, want, n, atol, rtol);
    free(want), free(got);
    il_tensor_free(r);
}

/* Every op over all elements and each axis, keepdim off and on. */
static void check_all_axes(il_ctx *ctx, const il_tensor *t, const double *tv) {
    for (int k = 0; k < NOPS; k++)
        for (int axis = -1; axis < il_tensor_ndim(t); axis++)
            for (int keep = 0; keep < 2; keep++) check_reduce(ctx, OPS[k], t, tv, axis, keep);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_reduce_shapes(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t shapes[][4] = {{7}, {3, 4}, {2, 3, 5}, {4, 1, 6}, {2, 3, 4, 5}, {1, 300, 1}};
    int nds[] = {1, 2, 3, 3, 4, 3};
    for (int d = 0; d < 3; d++) {
        il_dtype dt = d < 2 ? FLOATS[d] : IL_DTYPE_I64;
        for (int si = 0; si < 6; si++) {
            int64_t n = tu_numel(nds[si], shapes[si]);
            double *v = rand_vals(n, dt, -100, 100);
            il_tensor *t = tu_mk(ctx, dt, nds[si], shapes[si], v);
            for (int k = 0; k < NOPS; k++) {
                if (dt == IL_DTYPE_I64 && OPS[k] == IL_OP_MEAN) continue;
                for (int axis = -1; axis < nds[si]; axis++)
                    for (int keep = 0; keep < 2; keep++)
                        check_reduce(ctx, OPS[k], t, v, axis, keep);
            }
            il_tensor_free(t);
            free(v);
        }
    }
    tu_ctx_done_exact(ctx, base);
}

/* Transposed, narrowed and expanded inputs. */
static void test_reduce_views(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s[] = {6, 5, 4}, s1[] = {5, 1}, e[] = {3, 5, 7};
    for (int d = 0; d < 2; d++) {
        double *v = rand_vals(120, FLOATS[d], -3, 3), *w = rand_vals(5, FLOATS[d], -3, 3);
        il_tensor *t = tu_mk(ctx, FLOATS[d], 3, s, v), *c = tu_mk(ctx, FLOATS[d], 2, s1, w);
        il_tensor *tt, *nar, *ex;
        assert_int_equal(il_tensor_transpose(ctx, t, 0, 2, &tt), IL_OK); /* (4, 5, 6) */
        assert_int_equal(il_tensor_narrow(ctx, tt, 1, 1, 3, &nar), IL_OK); /* (4, 3, 6) */
        assert_int_equal(il_tensor_expand(ctx, c, 3, e, &ex), IL_OK); /* (3, 5, 7) */
        double *ttv = tu_view_vals(t, v, tt), *nv = tu_view_vals(t, v, nar), *ev = tu_view_vals(c, w, ex);
        check_all_axes(ctx, tt, ttv);
        check_all_axes(ctx, nar, nv);
        check_all_axes(ctx, ex, ev);
        il_tensor_free(t), il_tensor_free(c), il_tensor_free(tt), il_tensor_free(nar);
        il_tensor_free(ex);
        free(v), free(w), free(ttv), free(nv), free(ev);
    }
    tu_ctx_done_exact(ctx, base);
}

/* NaN propagates through max/min; argmax takes the first NaN, or the first of tied maxima. */
static void test_reduce_nan_ties(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    double v[] = {1, 5, NAN, 5, 7, 2, 7, 0, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, 3, 3, NAN};
    int64_t s44[] = {4, 4}, s16[] = {16}, idx[4];
    for (int d = 0; d < 2; d++) {
        il_tensor *t = tu_mk(ctx, FLOATS[d], 2, s44, v), *flat = tu_mk(ctx, FLOATS[d], 1, s16, v), *r;
        check_all_axes(ctx, t, v);
        check_all_axes(ctx, flat, v);
        assert_int_equal(il_tensor_reduce(ctx, IL_OP_ARGMAX, t, 1, 0, &r), IL_OK);
        assert_int_equal(il_tensor_read(ctx, r, idx, IL_DTYPE_I64, 4), IL_OK);
        assert_true(idx[0] == 2 && idx[1] == 0 && idx[2] == 0 && idx[3] == 3);
        il_tensor_free(r);
        il_tensor_free(t), il_tensor_free(flat);
    }
    tu_ctx_done_exact(ctx, base);
}

/* Sums of zero elements are 0, means NaN; max/min/argmax of nothing are IL_E_SHAPE. */
static void test_reduce_empty(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s03[] = {0, 3}, s30[] = {3, 0};
    double none[4] = {0}; /* the references index it without reading */
    il_tensor *a = tu_mk(ctx, IL_DTYPE_F32, 2, s03, none), *b = tu_mk(ctx, IL_DTYPE_F64, 2, s30, none);
    il_tensor *r = NULL;
    check_reduce(ctx, IL_OP_SUM, a, none, 0, 0);  /* (3) of zeros */
    check_reduce(ctx, IL_OP_MEAN, a, none, 0, 1); /* (1, 3) of NaN */
    check_reduce(ctx, IL_OP_SUM, a, none, -1, 0);
    check_reduce(ctx, IL_OP_MEAN, b, none, -1, 0);
    check_reduce(ctx, IL_OP_SUM, b, none, 1, 0);
    check_reduce(ctx, IL_OP_MAX, a, none, 1, 0); /* (0): nothing to reduce over a size-3 axis */
    check_reduce(ctx, IL_OP_ARGMAX, b, none, 0, 0);
    for (int k = 2; k < NOPS; k++) {
        assert_int_equal(il_tensor_reduce(ctx, OPS[k], a, 0, 0, &r), IL_E_SHAPE);
        assert_null(r);
        assert_non_null(strstr(il_errmsg(ctx), il_op_name(OPS[k])));
        assert_int_equal(il_tensor_reduce(ctx, OPS[k], b, IL_AXIS_ALL, 0, &r), IL_E_SHAPE);
        assert_non_null(strstr(il_errmsg(ctx), il_op_name(OPS[k])));
    }
    il_tensor_free(a), il_tensor_free(b);
    tu_ctx_done_exact(ctx, base);
}

/* A 0-d tensor reduces over all (nothing) to itself; argmax is 0. */
static void test_reduce_scalar(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    double x = -2.5;
    for (int d = 0; d < 2; d++) {
        il_tensor *t = tu_mk(ctx, FLOATS[d], 0, NULL, &x);
        for (int k = 0; k < NOPS; k++) check_reduce(ctx, OPS[k], t, &x, -1, 0);
        il_tensor_free(t);
    }
    tu_ctx_done_exact(ctx, base);
}

/* i64: exact sums (wrapping, no UB), max/min/argmax; mean is a dtype error. */
static void test_reduce_i64(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t v[] = {INT64_MAX, 1, -4, INT64_MIN, 9, 9}, s[] = {6}, s23[] = {2, 3}, got[3];
    il_tensor *t, *m, *r;
    assert_int_equal(il_tensor_from_data(ctx, 1, s, IL_DTYPE_I64, IL_DEVICE_CPU, v, IL_DTYPE_I64,
                                         &t), IL_OK);
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUM, t, 0, 0, &r), IL_OK);
    assert_int_equal(il_tensor_read(ctx, r, got, IL_DTYPE_I64, 1), IL_OK);
    assert_true(got[0] == (int64_t)((uint64_t)INT64_MAX + 1u - 4u + (uint64_t)INT64_MIN + 18u));
    il_tensor_free(r);
    assert_int_equal(il_tensor_reshape(ctx, t, 2, s23, &m), IL_OK);
    const il_op ops[] = {IL_OP_MAX, IL_OP_MIN, IL_OP_ARGMAX};
    const int64_t want[3][3] = {{INT64_MAX, 9, 9}, {INT64_MIN, 1, -4}, {0, 1, 1}};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(il_tensor_reduce(ctx, ops[k], m, 0, 0, &r), IL_OK);
        assert_int_equal(il_tensor_read(ctx, r, got, IL_DTYPE_I64, 3), IL_OK);
        for (int i = 0; i < 3; i++) assert_true(got[i] == want[k][i]);
        il_tensor_free(r);
    }
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_MEAN, t, IL_AXIS_ALL, 0, &r), IL_E_DTYPE);
    assert_non_null(strstr(il_errmsg(ctx), "mean"));
    assert_non_null(strstr(il_errmsg(ctx), "i64"));
    il_tensor_free(t), il_tensor_free(m);
    tu_ctx_done_exact(ctx, base);
}

static void test_reduce_errors(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s[] = {2, 3};
    double v[6] = {0};
    il_tensor *t = tu_mk(ctx, IL_DTYPE_F32, 2, s, v), *r = NULL;
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUM, t, 2, 0, &r), IL_E_RANGE);
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_MAX, t, -3, 0, &r), IL_E_RANGE);
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUM, t, 7, 1, &r), IL_E_RANGE);
    assert_null(r);
    /* -1 is the last axis. */
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUM, t, -1, 0, &r), IL_OK);
    assert_int_equal(il_tensor_ndim(r), 1);
    assert_int_equal(il_tensor_shape(r)[0], 2);
    il_tensor_free(r), il_tensor_free(t);
    tu_ctx_done_exact(ctx, base);
}

/* Inputs over 1 << 17 elements with 1, 2 and 3 threads: leading, middle and last axis (both
 * loop shapes), all elements, a long 1-D vector, and a transposed input. */
static void test_reduce_large(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t s2[] = {700, 300}, s3[] = {40, 60, 70}, s1[] = {300001};
    for (int d = 0; d < 2; d++) {
        double *v = rand_vals(300001, FLOATS[d], -1, 1);
        il_tensor *a = tu_mk(ctx, FLOATS[d], 2, s2, v), *b = tu_mk(ctx, FLOATS[d], 3, s3, v);
        il_tensor *c = tu_mk(ctx, FLOATS[d], 1, s1, v), *at;
        assert_int_equal(il_tensor_transpose(ctx, a, 0, 1, &at), IL_OK);
        double *atv = tu_view_vals(a, v, at);
        for (int threads = 1; threads <= 3; threads++) {
            assert_int_equal(il_ctx_set_threads(ctx, threads), IL_OK);
            check_all_axes(ctx, a, v);
            check_all_axes(ctx, b, v);
            check_all_axes(ctx, c, v);
            check_all_axes(ctx, at, atv);
        }
        il_tensor_free(a), il_tensor_free(b), il_tensor_free(c), il_tensor_free(at);
        free(v), free(atv);
    }
    tu_ctx_done_exact(ctx, base);
}

/* ---- copy, conversion and fill ------------------------------------------------------------ */

static void test_convert(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    double v[] = {NAN, INFINITY, -INFINITY, 1e30, -1e30, -2.7, 2.7, 0.5, -0.5, 9.2e18, -9.3e18, 3};
    int64_t want[] = {0, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, -2, 2, 0, 0,
                      9200000000000000000LL, INT64_MIN, 3};
    int64_t sh[] = {12}, got[12];
    for (int d = 0; d < 2; d++) {
        il_tensor *t = tu_mk(ctx, FLOATS[d], 1, sh, v), *r;
        assert_int_equal(il_tensor_to_dtype(ctx, t, IL_DTYPE_I64, &r), IL_OK);
        assert_int_equal(il_tensor_read(ctx, r, got, IL_DTYPE_I64, 12), IL_OK);
        for (int i = 0; i < 12; i++)
            if (!(d == 0 && i == 9)) assert_true(got[i] == want[i]); /* 9.2e18 rounds in f32 */
        il_tensor *back;
        assert_int_equal(il_tensor_to_dtype(ctx, r, FLOATS[1 - d], &back), IL_OK);
        double *bv = tu_values(ctx, back);
        assert_true(bv[11] == 3.0 && bv[5] == -2.0 && bv[2] == -9223372036854775808.0);
        free(bv);
        il_tensor_free(t), il_tensor_free(r), il_tensor_free(back);
    }
    /* f64 -> f32 rounds; f32 -> f64 is exact. */
    double x = 0.1, y;
    il_tensor *t = tu_mk(ctx, IL_DTYPE_F64, 0, NULL, &x), *f, *g;
    assert_int_equal(il_tensor_to_dtype(ctx, t, IL_DTYPE_F32, &f), IL_OK);
    assert_int_equal(il_tensor_to_dtype(ctx, f, IL_DTYPE_F64, &g), IL_OK);
    assert_int_equal(il_tensor_item(ctx, g, &y), IL_OK);
    assert_true(y == (double)0.1f);
    il_tensor_free(t), il_tensor_free(f), il_tensor_free(g);
    tu_ctx_done_exact(ctx, base);
}

/* contiguous() of views, copy_ into a strided destination with broadcasting, fill_ of views. */
static void test_copy_fill(void **state) {
    size_t base;
    il_ctx *ctx = tu_ctx_base(&base);
    int64_t sh[] = {400, 500}, s5[] = {5}, n = 200000;
    double *v = rand_vals(n, IL_DTYPE_F64, -5, 5), *rv = rand_vals(5, IL_DTYPE_F64, -1, 1);
    for (int threads = 1; threads <= 3; threads += 2) {
        assert_int_equal(il_ctx_set_threads(ctx, threads), IL_OK);
        for (int d = 0; d < 3; d++) {
            il_dtype dt = d < 2 ? FLOATS[d] : IL_DTYPE_I64;
            double *vr = malloc((size_t)n * sizeof *vr);
            for (int64_t i = 0; i < n; i++) vr[i] = d < 2 ? v[i] : trunc(v[i] * 1000);
            if (dt == IL_DTYPE_F32)
                for (int64_t i = 0; i < n; i++) vr[i] = (double)(float)vr[i];
            il_tensor *t = tu_mk(ctx, dt, 2, sh, vr), *tt, *c, *nar, *row = tu_mk(ctx, dt, 1, s5, rv);
            assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &tt), IL_OK);
            assert_int_equal(il_tensor_contiguous(ctx, tt, &c), IL_OK);
            assert_true(il_tensor_is_contiguous(c));
            double *got = tu_values(ctx, c), *want = tu_view_vals(t, vr, tt);
            tu_assert_close_at("contiguous", got, want, n, 0, 0);
            free(got), free(want);
            /* copy_ a broadcast row into columns 10..14 of t (a strided destination). */
            assert_int_equal(il_tensor_narrow(ctx, t, 1, 10, 5, &nar), IL_OK);
            assert_int_equal(il_tensor_copy_(ctx, nar, row), IL_OK);
            double *rr = tu_values(ctx, row);
            got = tu_values(ctx, t);
            for (int64_t i = 0; i < n; i++) {
                int64_t col = i % 500;
                double w = col >= 10 && col < 15 ? rr[col - 10] : vr[i];
                if (got[i] != w) fail_msg("copy_ element %lld", (long long)i);
            }
            free(got), free(rr);
            /* fill_ the transposed view, then a narrowed one. */
            assert_int_equal(il_tensor_fill_(ctx, tt, 2.5), IL_OK);
            assert_int_equal(il_tensor_fill_(ctx, nar, -1e300), IL_OK);
            got = tu_values(ctx, t);
            for (int64_t i = 0; i < n; i++) {
                int64_t col = i % 500;
                double w = col >= 10 && col < 15 ? (d == 0 ? -INFINITY : d == 1 ? -1e300
                                                                       : (double)INT64_MIN)
                                                 : (d == 2 ? 2.0 : 2.5);
                if (got[i] != w) fail_msg("fill_ element %lld: %g vs %g", (long long)i, got[i], w);
            }
            free(got), free(vr);
            il_tensor *all[] = {t, tt, c, nar, row};
            for (int i = 0; i < 5; i++) il_tensor_free(all[i]);
        }
    }
    free(v), free(rv);
    tu_ctx_done_exact(ctx, base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_shapes), cmocka_unit_test(test_reduce_views),
        cmocka_unit_test(test_reduce_nan_ties), cmocka_unit_test(test_reduce_empty),
        cmocka_unit_test(test_reduce_scalar), cmocka_unit_test(test_reduce_i64),
        cmocka_unit_test(test_reduce_errors), cmocka_unit_test(test_reduce_large),
        cmocka_unit_test(test_convert),       cmocka_unit_test(test_copy_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
