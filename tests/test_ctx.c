/*
 * test_ctx.c: contexts, allocator hooks, statuses, names, seeding and thread settings.
 */
#include "testutil.h"

#include <string.h>

static void test_new_free(void **state) {
    il_ctx *ctx = tu_ctx();
    assert_string_equal(il_errmsg(ctx), "");
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    assert_true(m.bytes_in_use > 0);
    assert_int_equal(m.n_allocs, 1);
    il_ctx_free(ctx);
    il_ctx_free(NULL); /* harmless */
    assert_int_equal(il_ctx_new(NULL), IL_E_ARG);
}

static void test_alloc_hook_counts(void **state) {
    tu_alloc a = {0, 0, 0};
    il_ctx *ctx = NULL;
    assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a), IL_OK);
    int64_t shape[2] = {10, 10};
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_zeros(ctx, 2, shape, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    assert_true(m.bytes_in_use >= 800);
    assert_true(m.bytes_peak >= m.bytes_in_use);
    assert_int_equal(a.live_blocks, (int64_t)(m.n_allocs - m.n_frees));
    il_tensor_free(t);
    il_ctx_memory(ctx, &m);
    assert_int_equal(m.n_allocs - m.n_frees, 1);
    il_ctx_free(ctx);
    assert_int_equal(a.live_blocks, 0);
}

static void test_ctx_new_nomem(void **state) {
    tu_alloc a = {0, 1, 0};
    il_ctx *ctx = (il_ctx *)&a;
    assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a), IL_E_NOMEM);
    assert_null(ctx);
    assert_int_equal(il_ctx_new_with_alloc(&ctx, NULL, NULL), IL_E_ARG);
}

static void test_status_names(void **state) {
    for (int s = IL_OK; s >= IL_E_INTERNAL; s--) {
        const char *n = il_status_str((il_status)s);
        assert_non_null(n);
        assert_non_null(strstr(n, s == 0 ? "IL_OK" : "IL_E_"));
    }
    assert_string_equal(il_status_str((il_status)-99), "unknown status");
    assert_string_equal(il_status_str(IL_E_SHAPE), "IL_E_SHAPE: shape mismatch");
}

static void test_dtype_device_names(void **state) {
    il_dtype dt;
    assert_int_equal(il_dtype_parse("f32", &dt), IL_OK);
    assert_int_equal(dt, IL_DTYPE_F32);
    assert_int_equal(il_dtype_parse("float64", &dt), IL_OK);
    assert_int_equal(dt, IL_DTYPE_F64);
    assert_int_equal(il_dtype_parse("int64", &dt), IL_OK);
    assert_int_equal(dt, IL_DTYPE_I64);
    assert_int_equal(il_dtype_parse("f16", &dt), IL_E_DTYPE);
    assert_int_equal(il_dtype_parse(NULL, &dt), IL_E_ARG);
    assert_string_equal(il_dtype_name(IL_DTYPE_F64), "f64");
    assert_string_equal(il_dtype_name((il_dtype)42), "?");
    assert_int_equal(il_dtype_size(IL_DTYPE_F32), 4);
    assert_int_equal(il_dtype_size((il_dtype)42), 0);
    il_device dev;
    assert_int_equal(il_device_parse("cuda", &dev), IL_OK);
    assert_int_equal(dev, IL_DEVICE_CUDA);
    assert_int_equal(il_device_parse("tpu", &dev), IL_E_DEVICE);
    assert_string_equal(il_device_name(IL_DEVICE_CPU), "cpu");
    assert_string_equal(il_op_name(IL_OP_MATMUL), "matmul");
    assert_string_equal(il_op_name(IL_OP_COUNT), "?");
    assert_string_equal(il_version(), IL_VERSION_STRING);
}

static void sample(il_ctx *ctx, double *out, int n) {
    int64_t shape[1] = {n};
    il_tensor *t = NULL;
    assert_int_equal(il_tensor_rand(ctx, 1, shape, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    assert_int_equal(il_tensor_read(ctx, t, out, IL_DTYPE_F64, n), IL_OK);
    il_tensor_free(t);
}

static void test_seed_is_per_context(void **state) {
    il_ctx *a = tu_ctx(), *b = tu_ctx();
    double x[8], y[8], z[8];
    il_ctx_seed(a, 42);
    il_ctx_seed(b, 42);
    sample(a, x, 8);
    sample(b, y, 8); /* b's stream is untouched by a's draws */
    assert_memory_equal(x, y, sizeof x);
    il_ctx_seed(a, 43);
    sample(a, z, 8);
    assert_memory_not_equal(x, z, sizeof x);
    tu_ctx_done(a);
    tu_ctx_done(b);
}

static void test_threads(void **state) {
    il_ctx *ctx = tu_ctx();
    assert_true(il_ctx_threads(ctx) >= 1);
    assert_int_equal(il_ctx_set_threads(ctx, 3), IL_OK);
    assert_int_equal(il_ctx_threads(ctx), 3);
    assert_int_equal(il_ctx_set_threads(ctx, 0), IL_E_RANGE);
    tu_assert_errmsg(ctx, "thread count 0 out of range");
    assert_int_equal(il_ctx_set_threads(ctx, 257), IL_E_RANGE);
    assert_int_equal(il_ctx_threads(ctx), 3);
    il_ctx_clear_error(ctx);
    assert_string_equal(il_errmsg(ctx), "");
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_free),
        cmocka_unit_test(test_alloc_hook_counts),
        cmocka_unit_test(test_ctx_new_nomem),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_dtype_device_names),
        cmocka_unit_test(test_seed_is_per_context),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
