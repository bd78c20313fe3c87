/*
 * test_external.c: tensors over host memory (il_tensor_from_host): no copy, views keep the
 * buffer in use, the release hook runs exactly once (also on failure), and writes made through
 * the tensor land in the host's buffer.
 */
#include "testutil.h"

#include <string.h>

static void count_release(void *ud) { (*(int *)ud)++; }

static void test_wraps_without_copy(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    float buf[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    int released = 0;
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_from_host(ctx, 2, shape, IL_DTYPE_F32, buf, count_release,
                                         &released, &t), IL_OK);
    assert_ptr_equal(il_tensor_data(t), buf);
    assert_true(il_tensor_is_contiguous(t));
    tu_assert_shape(t, 2, 2, 3);
    /* The host's later writes are what the tensor reads. */
    buf[4] = 50;
    double v = 0;
    il_tensor *row = NULL, *e = NULL;
    assert_int_equal(il_tensor_narrow(ctx, t, 0, 1, 1, &row), IL_OK);
    assert_int_equal(il_tensor_narrow(ctx, row, 1, 1, 1, &e), IL_OK);
    assert_int_equal(il_tensor_item(ctx, e, &v), IL_OK);
    assert_true(v == 50);
    il_tensor_free(e);
    il_tensor_free(row);
    il_tensor_free(t);
    assert_int_equal(released, 1);
    tu_ctx_done(ctx);
}

static void test_views_keep_it_alive(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double buf[4] = {1, 2, 3, 4};
    const int64_t shape[1] = {4}, shape2[2] = {2, 2};
    int released = 0;
    il_tensor *t = NULL, *v = NULL, *tr = NULL;
    assert_int_equal(il_tensor_from_host(ctx, 1, shape, IL_DTYPE_F64, buf, count_release,
                                         &released, &t), IL_OK);
    assert_int_equal(il_tensor_reshape(ctx, t, 2, shape2, &v), IL_OK);
    assert_int_equal(il_tensor_transpose(ctx, v, 0, 1, &tr), IL_OK);
    il_tensor_free(t);
    il_tensor_free(v);
    assert_int_equal(released, 0); /* tr still views the buffer */
    /* In-place writes through a view reach the host's memory. */
    assert_int_equal(il_tensor_fill_(ctx, tr, 7), IL_OK);
    for (int i = 0; i < 4; i++) assert_true(buf[i] == 7);
    il_tensor_free(tr);
    assert_int_equal(released, 1);
    tu_ctx_done(ctx);
}

static void test_copy_into_host(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    float out[3] = {0, 0, 0};
    const int64_t shape[1] = {3};
    il_tensor *dst = NULL, *src = NULL;
    assert_int_equal(il_tensor_from_host(ctx, 1, shape, IL_DTYPE_F32, out, NULL, NULL, &dst),
                     IL_OK);
    assert_int_equal(il_tensor_arange(ctx, 1, 4, 1, IL_DTYPE_F64, IL_DEVICE_CPU, &src), IL_OK);
    assert_int_equal(il_tensor_copy_(ctx, dst, src), IL_OK);
    assert_true(out[0] == 1 && out[1] == 2 && out[2] == 3);
    il_tensor_free(src);
    il_tensor_free(dst); /* no release hook: nothing to call, and out is not freed */
    tu_ctx_done(ctx);
}

static void test_errors_release_once(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    float buf[4];
    const int64_t shape[1] = {4}, bad[1] = {-1};
    int released = 0;
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_from_host(ctx, 1, bad, IL_DTYPE_F32, buf, count_release,
                                         &released, &t), IL_E_SHAPE);
    assert_null(t);
    assert_int_equal(released, 1);
    assert_int_equal(il_tensor_from_host(ctx, 1, shape, IL_DTYPE_F32, NULL, count_release,
                                         &released, &t), IL_E_ARG);
    assert_int_equal(released, 2);
    assert_int_equal(il_tensor_from_host(ctx, 1, shape, IL_DTYPE_F32, (char *)buf + 1,
                                         count_release, &released, &t), IL_E_ARG);
    tu_assert_errmsg(ctx, "aligned");
    assert_int_equal(released, 3);
    tu_ctx_done(ctx);
}

static void test_nomem_releases(void **state) {
    (void)state;
    tu_alloc a = {0};
    il_ctx *ctx = NULL;
    assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a), IL_OK);
    float buf[2] = {0, 0};
    const int64_t shape[1] = {2};
    int released = 0;
    il_tensor *t = NULL;
    a.fail_at = a.count + 1;
    assert_int_equal(il_tensor_from_host(ctx, 1, shape, IL_DTYPE_F32, buf, count_release,
                                         &released, &t), IL_E_NOMEM);
    assert_int_equal(released, 1);
    a.fail_at = a.count + 2; /* the storage succeeds, the handle fails */
    assert_int_equal(il_tensor_from_host(ctx, 1, shape, IL_DTYPE_F32, buf, count_release,
                                         &released, &t), IL_E_NOMEM);
    assert_int_equal(released, 2);
    a.fail_at = 0;
    il_ctx_free(ctx);
    assert_int_equal(a.live_blocks, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wraps_without_copy),
        cmocka_unit_test(test_views_keep_it_alive),
        cmocka_unit_test(test_copy_into_host),
        cmocka_unit_test(test_errors_release_once),
        cmocka_unit_test(test_nomem_releases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
