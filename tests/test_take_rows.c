/*
 * test_take_rows.c: the TAKE_ROWS op on the CPU and the row gathers over it
 * (il_data_take_rows, il_data_take_rows_t, il_data_take_rows_into): every dtype, strided data,
 * indices and destinations, empty gathers, and each error, against references computed in
 * float64 from the data's values.
 */
#include <stdlib.h>
#include <string.h>

#include "il_impl.h"
#include "testutil.h"

static const il_dtype dtypes[3] = {IL_DTYPE_F32, IL_DTYPE_F64, IL_DTYPE_I64};

/* A (d0, d1, d2) tensor of small integers (exact in every dtype), distinct per element. */
static il_tensor *mk3(il_ctx *ctx, il_dtype dt, int64_t d0, int64_t d1, int64_t d2) {
    int64_t shape[3] = {d0, d1, d2}, n = d0 * d1 * d2;
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (double)(i * 7 % 1001) - 500;
    il_tensor *t = tu_mk(ctx, dt, 3, shape, v);
    free(v);
    return t;
}

static il_tensor *mkidx(il_ctx *ctx, const int64_t *idx, int64_t n) {
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_from_data(ctx, 1, &n, IL_DTYPE_I64, IL_DEVICE_CPU, idx,
                                         IL_DTYPE_I64, &t),
                     IL_OK);
    return t;
}

/* Asserts that got holds rows idx of t (as values in row-major order). */
static void assert_rows(il_ctx *ctx, const il_tensor *t, const int64_t *idx, int64_t n,
                        const il_tensor *got) {
    int64_t rows = il_tensor_shape(t)[0], row = rows ? il_tensor_numel(t) / rows : 0;
    assert_int_equal(il_tensor_shape(got)[0], n);
    assert_int_equal(il_tensor_numel(got), n * row);
    double *tv = tu_values(ctx, t), *gv = tu_values(ctx, got);
    double *want = malloc(sizeof(double) * (size_t)(n * row + 1));
    for (int64_t i = 0; i < n; i++) memcpy(want + i * row, tv + idx[i] * row, sizeof(double) * (size_t)row);
    tu_assert_close(gv, want, n * row, 0, 0);
    free(tv), free(gv), free(want);
}

static void test_dtypes_and_layouts(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    const int64_t idx[6] = {3, 0, 9, 3, 5, 9};
    for (int d = 0; d < 3; d++) {
        il_tensor *t = mk3(ctx, dtypes[d], 10, 3, 4), *it = mkidx(ctx, idx, 6), *r = NULL;
        /* contiguous, by tensor and by host list */
        assert_int_equal(il_data_take_rows_t(ctx, t, it, &r), IL_OK);
        assert_int_equal(il_tensor_dtype(r), dtypes[d]);
        tu_assert_shape(r, 3, 6, 3, 4);
        assert_rows(ctx, t, idx, 6, r);
        il_tensor_free(r);
        assert_int_equal(il_data_take_rows(ctx, t, idx, 6, &r), IL_OK);
        assert_rows(ctx, t, idx, 6, r);
        il_tensor_free(r);
        /* strided data: (4, 10, 3) seen as (10, 4, 3) */
        il_tensor *b = mk3(ctx, dtypes[d], 4, 10, 3), *tv = NULL;
        assert_int_equal(il_tensor_transpose(ctx, b, 0, 1, &tv), IL_OK);
        assert_int_equal(il_data_take_rows_t(ctx, tv, it, &r), IL_OK);
        assert_rows(ctx, tv, idx, 6, r);
        /* into a strided destination: a transposed (3, 6, 4) buffer seen as (6, 3, 4) */
        il_tensor *dbuf = mk3(ctx, dtypes[d], 3, 6, 4), *dv = NULL;
        assert_int_equal(il_tensor_transpose(ctx, dbuf, 0, 1, &dv), IL_OK);
        assert_int_equal(il_data_take_rows_into(ctx, t, it, 1, dv), IL_OK);
        assert_rows(ctx, t, idx, 6, dv);
        il_tensor *dbuf2 = mk3(ctx, dtypes[d], 4, 6, 3), *dv2 = NULL; /* strided both sides */
        assert_int_equal(il_tensor_transpose(ctx, dbuf2, 0, 1, &dv2), IL_OK);
        assert_int_equal(il_data_take_rows_into(ctx, tv, it, 0, dv2), IL_OK);
        assert_rows(ctx, tv, idx, 6, dv2);
        il_tensor_free(r), il_tensor_free(b), il_tensor_free(tv);
        il_tensor_free(dbuf), il_tensor_free(dv), il_tensor_free(dbuf2), il_tensor_free(dv2);
        /* 1-D data: each row one element */
        il_tensor *flat = NULL;
        int64_t n120 = 120;
        assert_int_equal(il_tensor_reshape(ctx, t, 1, &n120, &flat), IL_OK);
        const int64_t fidx[4] = {119, 0, 57, 57};
        il_tensor *fi = mkidx(ctx, fidx, 4);
        assert_int_equal(il_data_take_rows_t(ctx, flat, fi, &r), IL_OK);
        tu_assert_shape(r, 1, 4);
        assert_rows(ctx, flat, fidx, 4, r);
        il_tensor_free(r), il_tensor_free(flat), il_tensor_free(fi);
        il_tensor_free(t), il_tensor_free(it);
    }
    tu_ctx_done(ctx);
}

/* The op itself with a strided index vector and a narrowed (offset) one. */
static void test_op_strided_index(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    for (int d = 0; d < 3; d++) {
        il_tensor *t = mk3(ctx, dtypes[d], 7, 2, 5), *o = mk3(ctx, dtypes[d], 4, 2, 5);
        const int64_t raw[9] = {6, -1, 0, -1, 6, -1, 2, -1, 4}; /* every other one used */
        int64_t n9 = 9;
        il_tensor *it = NULL;
        assert_int_equal(il_tensor_from_data(ctx, 1, &n9, IL_DTYPE_I64, IL_DEVICE_CPU, raw,
                                             IL_DTYPE_I64, &it),
                         IL_OK);
        il_opcall c;
        memset(&c, 0, sizeof c);
        c.op = IL_OP_TAKE_ROWS;
        c.nin = 2;
        ili_tensor_desc(t, &c.in[0]);
        ili_tensor_desc(it, &c.in[1]);
        c.in[1].shape[0] = 4;
        c.in[1].stride[0] = 2;
        ili_tensor_desc(o, &c.out);
        assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_OK);
        const int64_t want[4] = {6, 0, 6, 2};
        assert_rows(ctx, t, want, 4, o);
        /* malformed operands are refused by the wrapper */
        c.in[1].shape[0] = 3;
        assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_INTERNAL);
        c.in[1].shape[0] = 4;
        c.in[1].dtype = IL_DTYPE_F64;
        assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_INTERNAL);
        c.in[1].dtype = IL_DTYPE_I64;
        c.out.shape[2] = 4;
        assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_INTERNAL);
        c.out.shape[2] = 5;
        c.nin = 1;
        assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_INTERNAL);
        /* a narrowed index tensor through the public call */
        il_tensor *nv = NULL, *r = NULL;
        assert_int_equal(il_tensor_narrow(ctx, it, 0, 6, 3, &nv), IL_OK); /* 2, -1, 4 */
        assert_int_equal(il_data_take_rows_t(ctx, t, nv, &r), IL_E_RANGE);
        tu_assert_errmsg(ctx, "row -1 out of range for 7 rows");
        il_tensor_free(nv);
        assert_int_equal(il_tensor_narrow(ctx, it, 0, 8, 1, &nv), IL_OK); /* 4 */
        assert_int_equal(il_data_take_rows_t(ctx, t, nv, &r), IL_OK);
        assert_rows(ctx, t, (const int64_t[]){4}, 1, r);
        il_tensor_free(r), il_tensor_free(nv);
        il_tensor_free(t), il_tensor_free(o), il_tensor_free(it);
    }
    tu_ctx_done(ctx);
}

static void test_empty(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_tensor *t = mk3(ctx, IL_DTYPE_F32, 5, 2, 3), *it = mkidx(ctx, NULL, 0), *r = NULL;
    assert_int_equal(il_data_take_rows_t(ctx, t, it, &r), IL_OK);
    tu_assert_shape(r, 3, 0, 2, 3);
    il_tensor_free(r);
    assert_int_equal(il_data_take_rows(ctx, t, NULL, 0, &r), IL_OK);
    tu_assert_shape(r, 3, 0, 2, 3);
    il_tensor_free(r);
    /* no rows at all, no indices: fine */
    il_tensor *e = mk3(ctx, IL_DTYPE_F64, 0, 2, 3);
    assert_int_equal(il_data_take_rows_t(ctx, e, it, &r), IL_OK);
    tu_assert_shape(r, 3, 0, 2, 3);
    il_tensor_free(r), il_tensor_free(e), il_tensor_free(t), il_tensor_free(it);
    tu_ctx_done(ctx);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_tensor *t = mk3(ctx, IL_DTYPE_F64, 10, 2, 2), *r = NULL;
    const int64_t bad[4] = {1, 12, -1, 3};
    il_tensor *it = mkidx(ctx, bad, 4);
    assert_int_equal(il_data_take_rows_t(ctx, t, it, &r), IL_E_RANGE);
    tu_assert_errmsg(ctx, "take_rows: row 12 out of range for 10 rows");
    assert_null(r);
    assert_int_equal(il_data_take_rows(ctx, t, bad + 2, 2, &r), IL_E_RANGE);
    tu_assert_errmsg(ctx, "row -1 out of range for 10 rows");
    /* unchecked: a bad index gives some row of t, never a read outside it */
    il_tensor *dst = mk3(ctx, IL_DTYPE_F64, 4, 2, 2);
    assert_int_equal(il_data_take_rows_into(ctx, t, it, 0, dst), IL_OK);
    assert_int_equal(il_data_take_rows_into(ctx, t, it, 1, dst), IL_E_RANGE);
    /* index dtype and rank */
    il_tensor *fidx = tu_tensor(ctx, IL_DTYPE_F64, (double[]){1, 2}, 1, 2);
    assert_int_equal(il_data_take_rows_t(ctx, t, fidx, &r), IL_E_ARG);
    tu_assert_errmsg(ctx, "indices must be a 1-d i64 tensor");
    il_tensor *i2 = tu_tensor(ctx, IL_DTYPE_I64, (double[]){1, 2}, 2, 1, 2);
    assert_int_equal(il_data_take_rows_t(ctx, t, i2, &r), IL_E_ARG);
    /* destinations */
    il_tensor *ok = mkidx(ctx, (int64_t[]){0, 1, 2, 3}, 4);
    il_tensor *wrong = mk3(ctx, IL_DTYPE_F64, 4, 2, 3), *wdt = mk3(ctx, IL_DTYPE_F32, 4, 2, 2);
    assert_int_equal(il_data_take_rows_into(ctx, t, ok, 1, wrong), IL_E_SHAPE);
    assert_int_equal(il_data_take_rows_into(ctx, t, ok, 1, wdt), IL_E_DTYPE);
    il_tensor *self = NULL;
    assert_int_equal(il_tensor_narrow(ctx, t, 0, 0, 4, &self), IL_OK);
    assert_int_equal(il_data_take_rows_into(ctx, t, ok, 1, self), IL_E_ARG);
    tu_assert_errmsg(ctx, "shares memory");
    /* 0-d data, NULL arguments */
    il_tensor *z = tu_tensor(ctx, IL_DTYPE_F64, (double[]){1}, 0);
    assert_int_equal(il_data_take_rows_t(ctx, z, ok, &r), IL_E_SHAPE);
    assert_int_equal(il_data_take_rows_t(ctx, t, ok, NULL), IL_E_ARG);
    assert_int_equal(il_data_take_rows_t(ctx, t, NULL, &r), IL_E_ARG);
    assert_int_equal(il_data_take_rows_t(NULL, t, ok, &r), IL_E_ARG);
    il_tensor_free(t), il_tensor_free(it), il_tensor_free(dst), il_tensor_free(fidx);
    il_tensor_free(i2), il_tensor_free(ok), il_tensor_free(wrong), il_tensor_free(wdt);
    il_tensor_free(self), il_tensor_free(z);
    tu_ctx_done(ctx);
}

/* Allocation failures anywhere in a gather: the right status, nothing leaked; failing the
 * first allocation fails both calls, and from some point on both succeed. */
static void test_alloc_fail(void **state) {
    (void)state;
    int64_t k;
    for (k = 1; k < 40; k++) {
        tu_alloc a = {0, 0, 0};
        il_ctx *ctx = NULL;
        assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a), IL_OK);
        il_tensor *t = mk3(ctx, IL_DTYPE_F32, 10, 2, 2), *it = mkidx(ctx, (int64_t[]){4, 2}, 2);
        il_tensor *r = NULL;
        a.fail_at = a.count + k;
        il_status s = il_data_take_rows_t(ctx, t, it, &r);
        assert_true(s == IL_OK || s == IL_E_NOMEM);
        if (s != IL_OK) assert_null(r);
        il_tensor *r2 = NULL;
        il_status s2 = il_data_take_rows(ctx, t, (int64_t[]){1}, 1, &r2);
        assert_true(s2 == IL_OK || s2 == IL_E_NOMEM);
        if (s2 != IL_OK) {
            assert_null(r2);
            tu_assert_errmsg(ctx, "out of memory");
        }
        if (k == 1) {
            assert_int_equal(s, IL_E_NOMEM);
            assert_int_equal(s2, IL_E_NOMEM);
        }
        a.fail_at = 0;
        il_tensor_free(r), il_tensor_free(r2), il_tensor_free(t), il_tensor_free(it);
        assert_int_equal(il_ctx_live_tensors(ctx), 0);
        il_ctx_free(ctx);
        assert_int_equal(a.live_blocks, 0);
        if (s == IL_OK && s2 == IL_OK) break; /* every earlier failure point was exercised */
    }
    assert_true(k < 40);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_and_layouts),
        cmocka_unit_test(test_op_strided_index),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
