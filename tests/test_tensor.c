/*
 * test_tensor.c: tensor creation, properties, views sharing storage, reshape, conversions,
 * reads, item, and text formatting.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_create_basic(void **state) {
    il_ctx *ctx = tu_ctx();
    int64_t shape[3] = {2, 3, 4};
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_full(ctx, 3, shape, 2.5, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_OK);
    tu_assert_shape(t, 3, 2, 3, 4);
    assert_int_equal(il_tensor_numel(t), 24);
    assert_int_equal(il_tensor_dtype(t), IL_DTYPE_F32);
    assert_int_equal(il_tensor_device(t), IL_DEVICE_CPU);
    assert_true(il_tensor_is_contiguous(t));
    assert_int_equal(il_tensor_strides(t)[0], 12);
    assert_int_equal(il_tensor_strides(t)[2], 1);
    assert_int_equal((uintptr_t)il_tensor_data(t) % 64, 0);
    double *v = tu_values(ctx, t);
    for (int i = 0; i < 24; i++) assert_true(v[i] == 2.5);
    free(v);
    il_tensor_free(t);
    /* 0-d and empty tensors */
    assert_int_equal(il_tensor_zeros(ctx, 0, NULL, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    assert_int_equal(il_tensor_numel(t), 1);
    double x = -1;
    assert_int_equal(il_tensor_item(ctx, t, &x), IL_OK);
    assert_true(x == 0.0);
    il_tensor_free(t);
    int64_t empty[2] = {0, 5};
    assert_int_equal(il_tensor_zeros(ctx, 2, empty, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_OK);
    assert_int_equal(il_tensor_numel(t), 0);
    il_tensor_free(t);
    tu_ctx_done(ctx);
}

static void test_create_errors(void **state) {
    il_ctx *ctx = tu_ctx();
    il_tensor *t = (il_tensor *)ctx;
    int64_t bad[2] = {2, -1};
    assert_int_equal(il_tensor_zeros(ctx, 2, bad, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_E_SHAPE);
    assert_null(t);
    tu_assert_errmsg(ctx, "negative size -1");
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(il_tensor_zeros(ctx, 9, nine, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "0 to 8 dimensions");
    assert_int_equal(il_tensor_zeros(ctx, 1, nine, (il_dtype)9, IL_DEVICE_CPU, &t), IL_E_DTYPE);
    if (il_cuda_available(ctx) == IL_OK) { /* with a GPU the same call succeeds */
        assert_int_equal(il_tensor_zeros(ctx, 1, nine, IL_DTYPE_F32, IL_DEVICE_CUDA, &t), IL_OK);
        il_tensor_free(t);
    } else {
        assert_int_equal(il_tensor_zeros(ctx, 1, nine, IL_DTYPE_F32, IL_DEVICE_CUDA, &t),
                         IL_E_DEVICE);
        tu_assert_errmsg(ctx, "cuda device not available");
    }
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_int_equal(il_tensor_zeros(ctx, 2, huge, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_E_NOMEM);
    int64_t big[1] = {INT64_C(1) << 50};
    assert_int_equal(il_tensor_zeros(ctx, 1, big, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_E_NOMEM);
    tu_assert_errmsg(ctx, "out of memory");
    assert_int_equal(il_tensor_rand(ctx, 1, nine, IL_DTYPE_I64, IL_DEVICE_CPU, &t), IL_E_DTYPE);
    tu_ctx_done(ctx);
}

static void test_random(void **state) {
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 7);
    int64_t n[1] = {100000};
    il_tensor *u = NULL, *g = NULL;
    assert_int_equal(il_tensor_rand(ctx, 1, n, IL_DTYPE_F32, IL_DEVICE_CPU, &u), IL_OK);
    assert_int_equal(il_tensor_randn(ctx, 1, n, IL_DTYPE_F64, IL_DEVICE_CPU, &g), IL_OK);
    double *a = tu_values(ctx, u), *b = tu_values(ctx, g);
    double su = 0, sg = 0, sg2 = 0;
    for (int i = 0; i < n[0]; i++) {
        assert_true(a[i] >= 0.0 && a[i] < 1.0);
        su += a[i];
        sg += b[i];
        sg2 += b[i] * b[i];
    }
    /* Means and variance within several standard errors of their expectations. */
    assert_true(fabs(su / n[0] - 0.5) < 0.01);
    assert_true(fabs(sg / n[0]) < 0.02);
    assert_true(fabs(sg2 / n[0] - 1.0) < 0.03);
    free(a);
    free(b);
    il_tensor_free(u);
    il_tensor_free(g);
    tu_ctx_done(ctx);
}

static void test_arange_linspace(void **state) {
    il_ctx *ctx = tu_ctx();
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_arange(ctx, 0, 1, 0.25, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    double want[4] = {0, 0.25, 0.5, 0.75};
    double *v = tu_values(ctx, t);
    tu_assert_shape(t, 1, 4);
    tu_assert_close(v, want, 4, 0, 0);
    free(v);
    il_tensor_free(t);
    assert_int_equal(il_tensor_arange(ctx, 5, 0, -2, IL_DTYPE_I64, IL_DEVICE_CPU, &t), IL_OK);
    double want2[3] = {5, 3, 1};
    v = tu_values(ctx, t);
    tu_assert_close(v, want2, 3, 0, 0);
    free(v);
    il_tensor_free(t);
    assert_int_equal(il_tensor_arange(ctx, 3, 1, 1, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_OK);
    assert_int_equal(il_tensor_numel(t), 0);
    il_tensor_free(t);
    assert_int_equal(il_tensor_arange(ctx, 0, 1, 0, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_E_ARG);
    assert_int_equal(il_tensor_arange(ctx, 0, NAN, 1, IL_DTYPE_F32, IL_DEVICE_CPU, &t),
                     IL_E_NUMERIC);
    assert_int_equal(il_tensor_linspace(ctx, -1, 1, 5, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_OK);
    double want3[5] = {-1, -0.5, 0, 0.5, 1};
    v = tu_values(ctx, t);
    tu_assert_close(v, want3, 5, 1e-7, 0);
    free(v);
    il_tensor_free(t);
    assert_int_equal(il_tensor_linspace(ctx, 0, 0.3, 7, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    v = tu_values(ctx, t);
    assert_true(v[6] == 0.3); /* the end point exactly */
    free(v);
    il_tensor_free(t);
    assert_int_equal(il_tensor_linspace(ctx, 2, 9, 1, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    v = tu_values(ctx, t);
    assert_true(v[0] == 2);
    free(v);
    il_tensor_free(t);
    assert_int_equal(il_tensor_linspace(ctx, 0, 1, -1, IL_DTYPE_F64, IL_DEVICE_CPU, &t),
                     IL_E_RANGE);
    tu_ctx_done(ctx);
}

static void test_from_data_read(void **state) {
    il_ctx *ctx = tu_ctx();
    float src[6] = {1.5f, -2, 3, 4.25f, 5, 6};
    int64_t shape[2] = {2, 3};
    il_tensor *t = NULL;
    assert_int_equal(
        il_tensor_from_data(ctx, 2, shape, IL_DTYPE_F64, IL_DEVICE_CPU, src, IL_DTYPE_F32, &t),
        IL_OK);
    int64_t back[6];
    assert_int_equal(il_tensor_read(ctx, t, back, IL_DTYPE_I64, 6), IL_OK);
    assert_int_equal(back[0], 1);
    assert_int_equal(back[1], -2);
    assert_int_equal(back[3], 4);
    assert_int_equal(il_tensor_read(ctx, t, back, IL_DTYPE_I64, 5), IL_E_RANGE);
    double x;
    assert_int_equal(il_tensor_item(ctx, t, &x), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "(2, 3) has 6 elements, not 1");
    il_tensor_free(t);
    assert_int_equal(
        il_tensor_from_data(ctx, 2, shape, IL_DTYPE_F64, IL_DEVICE_CPU, NULL, IL_DTYPE_F32, &t),
        IL_E_ARG);
    tu_ctx_done(ctx);
}

/* A 2x3 f64 tensor 0..5. */
static il_tensor *iota23(il_ctx *ctx) {
    double v[6] = {0, 1, 2, 3, 4, 5};
    return tu_tensor(ctx, IL_DTYPE_F64, v, 2, 2, 3);
}

static void test_views_share_storage(void **state) {
    il_ctx *ctx = tu_ctx();
    il_tensor *t = iota23(ctx), *tr = NULL, *nr = NULL, *ex = NULL;
    assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &tr), IL_OK);
    tu_assert_shape(tr, 2, 3, 2);
    assert_false(il_tensor_is_contiguous(tr));
    double *v = tu_values(ctx, tr);
    double want[6] = {0, 3, 1, 4, 2, 5};
    tu_assert_close(v, want, 6, 0, 0);
    free(v);
    assert_int_equal(il_tensor_narrow(ctx, t, 1, 1, 2, &nr), IL_OK);
    tu_assert_shape(nr, 2, 2, 2);
    assert_int_equal(il_tensor_fill_(ctx, nr, 9), IL_OK); /* writes through to t */
    v = tu_values(ctx, t);
    double want2[6] = {0, 9, 9, 3, 9, 9};
    tu_assert_close(v, want2, 6, 0, 0);
    free(v);
    int64_t es[3] = {4, 2, 3};
    assert_int_equal(il_tensor_expand(ctx, t, 3, es, &ex), IL_OK);
    assert_int_equal(il_tensor_strides(ex)[0], 0);
    il_tensor_free(t); /* the views keep the storage alive */
    v = tu_values(ctx, ex);
    assert_true(v[18 + 1] == 9);
    free(v);
    il_tensor_free(tr);
    il_tensor_free(nr);
    il_tensor_free(ex);
    tu_ctx_done(ctx);
}

static void test_view_errors(void **state) {
    il_ctx *ctx = tu_ctx();
    il_tensor *t = iota23(ctx), *o = NULL;
    assert_int_equal(il_tensor_transpose(ctx, t, 0, 2, &o), IL_E_RANGE);
    tu_assert_errmsg(ctx, "axis 2 out of range for a 2-d tensor");
    assert_int_equal(il_tensor_narrow(ctx, t, 1, 2, 2, &o), IL_E_RANGE);
    tu_assert_errmsg(ctx, "out of range for axis 1 of size 3");
    int64_t es[2] = {4, 3};
    assert_int_equal(il_tensor_expand(ctx, t, 2, es, &o), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "(2, 3) and (4, 3) do not broadcast");
    int64_t es2[1] = {3};
    assert_int_equal(il_tensor_expand(ctx, t, 1, es2, &o), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "cannot expand shape (2, 3) to (3)");
    il_tensor_free(t);
    tu_ctx_done(ctx);
}

static void test_reshape(void **state) {
    il_ctx *ctx = tu_ctx();
    il_tensor *t = iota23(ctx), *r = NULL, *tr = NULL, *r2 = NULL;
    int64_t s1[3] = {3, 1, -1};
    assert_int_equal(il_tensor_reshape(ctx, t, 3, s1, &r), IL_OK);
    tu_assert_shape(r, 3, 3, 1, 2);
    assert_ptr_equal(il_tensor_data(r), il_tensor_data(t)); /* a view */
    il_tensor_free(r);
    /* A transposed tensor cannot be flattened by a view: reshape copies. */
    assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &tr), IL_OK);
    int64_t s2[1] = {6};
    assert_int_equal(il_tensor_reshape(ctx, tr, 1, s2, &r2), IL_OK);
    assert_ptr_not_equal(il_tensor_data(r2), il_tensor_data(t));
    double *v = tu_values(ctx, r2);
    double want[6] = {0, 3, 1, 4, 2, 5};
    tu_assert_close(v, want, 6, 0, 0);
    free(v);
    il_tensor_free(r2);
    /* But splitting one of its axes can. */
    int64_t s3[3] = {3, 2, 1};
    assert_int_equal(il_tensor_reshape(ctx, tr, 3, s3, &r2), IL_OK);
    assert_ptr_equal(il_tensor_data(r2), il_tensor_data(t));
    il_tensor_free(r2);
    int64_t s4[2] = {4, 2};
    assert_int_equal(il_tensor_reshape(ctx, t, 2, s4, &r2), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "cannot reshape (2, 3) (6 elements) to (4, 2)");
    int64_t s5[2] = {-1, -1};
    assert_int_equal(il_tensor_reshape(ctx, t, 2, s5, &r2), IL_E_SHAPE);
    int64_t s6[2] = {4, -1};
    assert_int_equal(il_tensor_reshape(ctx, t, 2, s6, &r2), IL_E_SHAPE);
    il_tensor_free(tr);
    il_tensor_free(t);
    tu_ctx_done(ctx);
}

static void test_conversions(void **state) {
    il_ctx *ctx = tu_ctx();
    il_tensor *t = iota23(ctx), *tr = NULL, *c = NULL, *f = NULL, *k = NULL;
    assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &tr), IL_OK);
    assert_int_equal(il_tensor_contiguous(ctx, tr, &c), IL_OK);
    assert_true(il_tensor_is_contiguous(c));
    assert_int_equal(il_tensor_to_dtype(ctx, c, IL_DTYPE_F32, &f), IL_OK);
    assert_int_equal(il_tensor_dtype(f), IL_DTYPE_F32);
    assert_int_equal(il_tensor_clone(ctx, f, &k), IL_OK);
    assert_int_equal(il_tensor_fill_(ctx, k, 1), IL_OK); /* the clone is independent */
    double *v = tu_values(ctx, f);
    double want[6] = {0, 3, 1, 4, 2, 5};
    tu_assert_close(v, want, 6, 0, 0);
    free(v);
    il_tensor *g = NULL;
    if (il_cuda_available(ctx) == IL_OK) {
        assert_int_equal(il_tensor_to_device(ctx, f, IL_DEVICE_CUDA, &g), IL_OK);
        il_tensor_free(g);
        g = NULL;
    } else {
        assert_int_equal(il_tensor_to_device(ctx, f, IL_DEVICE_CUDA, &g), IL_E_DEVICE);
    }
    assert_int_equal(il_tensor_to_device(ctx, f, IL_DEVICE_CPU, &g), IL_OK);
    assert_ptr_not_equal(il_tensor_data(g), il_tensor_data(f));
    il_tensor_free(g);
    /* copy_ broadcasts a row into every row and checks shapes */
    double row[3] = {7, 8, 9};
    il_tensor *r = tu_tensor(ctx, IL_DTYPE_F64, row, 1, 3);
    assert_int_equal(il_tensor_copy_(ctx, t, r), IL_OK);
    v = tu_values(ctx, t);
    assert_true(v[3] == 7 && v[5] == 9);
    free(v);
    assert_int_equal(il_tensor_copy_(ctx, r, t), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "does not fit destination");
    il_tensor *objs[] = {t, tr, c, f, k, r};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) il_tensor_free(objs[i]);
    tu_ctx_done(ctx);
}

static void test_other_context(void **state) {
    il_ctx *a = tu_ctx(), *b = tu_ctx();
    il_tensor *t = iota23(a), *o = NULL;
    assert_int_equal(il_tensor_clone(b, t, &o), IL_E_ARG);
    tu_assert_errmsg(b, "another context");
    assert_int_equal(il_tensor_clone(b, NULL, &o), IL_E_ARG);
    il_tensor_free(t);
    tu_ctx_done(a);
    tu_ctx_done(b);
}

static char *format(il_ctx *ctx, const il_tensor *t) {
    char *s = NULL;
    assert_int_equal(il_tensor_format(ctx, t, &s), IL_OK);
    return s;
}

static void test_format(void **state) {
    il_ctx *ctx = tu_ctx();
    double v[4] = {1.5, -2, 0.25, 3};
    il_tensor *t = tu_tensor(ctx, IL_DTYPE_F32, v, 2, 2, 2);
    char *s = format(ctx, t);
    assert_string_equal(s, "tensor([[ 1.5000, -2.0000],\n"
                           "        [ 0.2500,  3.0000]], shape=(2, 2), dtype=f32, device=cpu)");
    il_ctx_free_string(ctx, s);
    il_tensor_free(t);
    double w[3] = {1, 2, 30};
    t = tu_tensor(ctx, IL_DTYPE_I64, w, 1, 3);
    s = format(ctx, t);
    assert_string_equal(s, "tensor([ 1,  2, 30], shape=(3), dtype=i64, device=cpu)");
    il_ctx_free_string(ctx, s);
    il_tensor_free(t);
    t = tu_tensor(ctx, IL_DTYPE_F64, w, 0);
    s = format(ctx, t);
    assert_string_equal(s, "tensor(1., shape=(), dtype=f64, device=cpu)");
    il_ctx_free_string(ctx, s);
    il_tensor_free(t);
    int64_t big[2] = {100, 100};
    assert_int_equal(il_tensor_zeros(ctx, 2, big, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_OK);
    s = format(ctx, t);
    assert_non_null(strstr(s, "..."));
    assert_non_null(strstr(s, "shape=(100, 100)"));
    assert_true(strlen(s) < 600); /* elided, not 10000 numbers */
    il_ctx_free_string(ctx, s);
    il_tensor_free(t);
    int64_t empty[2] = {0, 3};
    assert_int_equal(il_tensor_zeros(ctx, 2, empty, IL_DTYPE_F32, IL_DEVICE_CPU, &t), IL_OK);
    s = format(ctx, t);
    assert_string_equal(s, "tensor([], shape=(0, 3), dtype=f32, device=cpu)");
    il_ctx_free_string(ctx, s);
    il_tensor_free(t);
    il_ctx_free_string(ctx, NULL);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_basic),   cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_random),         cmocka_unit_test(test_arange_linspace),
        cmocka_unit_test(test_from_data_read), cmocka_unit_test(test_views_share_storage),
        cmocka_unit_test(test_view_errors),    cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_conversions),    cmocka_unit_test(test_other_context),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
