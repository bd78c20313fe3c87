/*
 * test_alloc_fail.c: reruns key scenarios with the Nth allocation failing, for every N until the
 * scenario succeeds. Each run must end with a clean status (IL_OK or IL_E_NOMEM), no crash, and
 * every block returned to the allocator.
 */
#include "testutil.h"

#include <string.h>

/* Frees whichever tensors were made, then returns s. */
static il_status done(il_status s, il_tensor **ts, int n) {
    for (int i = 0; i < n; i++) il_tensor_free(ts[i]);
    return s;
}

#define STEP(expr)                                                                                \
    do {                                                                                          \
        s = (expr);                                                                               \
        if (s != IL_OK) return done(s, t, (int)(sizeof t / sizeof t[0]));                         \
    } while (0)

static il_status scenario_ops(il_ctx *ctx, void *ud) {
    il_tensor *t[8] = {0};
    il_status s;
    int64_t a[2] = {3, 1}, b[2] = {1, 4}, m[2] = {4, 5};
    STEP(il_tensor_rand(ctx, 2, a, IL_DTYPE_F32, IL_DEVICE_CPU, &t[0]));
    STEP(il_tensor_randn(ctx, 2, b, IL_DTYPE_F32, IL_DEVICE_CPU, &t[1]));
    STEP(il_tensor_binary(ctx, IL_OP_ADD, t[0], t[1], &t[2]));
    STEP(il_tensor_binary_scalar(ctx, IL_OP_SUB, t[2], 1.0, 1, &t[3]));
    STEP(il_tensor_unary(ctx, IL_OP_TANH, t[3], &t[4]));
    STEP(il_tensor_full(ctx, 2, m, 0.5, IL_DTYPE_F64, IL_DEVICE_CPU, &t[5]));
    STEP(il_tensor_matmul(ctx, t[4], t[5], &t[6])); /* promotes f32 to f64 first */
    STEP(il_tensor_reduce(ctx, IL_OP_SUM, t[6], 1, 0, &t[7]));
    return done(IL_OK, t, 8);
}

static il_status scenario_views(il_ctx *ctx, void *ud) {
    il_tensor *t[6] = {0};
    il_status s;
    int64_t a[3] = {2, 3, 4}, flat[1] = {24};
    char *str = NULL;
    STEP(il_tensor_arange(ctx, 0, 24, 1, IL_DTYPE_F64, IL_DEVICE_CPU, &t[0]));
    STEP(il_tensor_reshape(ctx, t[0], 3, a, &t[1]));
    STEP(il_tensor_transpose(ctx, t[1], 0, 2, &t[2]));
    STEP(il_tensor_reshape(ctx, t[2], 1, flat, &t[3])); /* needs a copy */
    STEP(il_tensor_narrow(ctx, t[3], 0, 2, 5, &t[4]));
    STEP(il_tensor_to_dtype(ctx, t[4], IL_DTYPE_I64, &t[5]));
    STEP(il_tensor_format(ctx, t[1], &str));
    il_ctx_free_string(ctx, str);
    return done(IL_OK, t, 6);
}

static il_status scenario_threads(il_ctx *ctx, void *ud) {
    il_tensor *t[3] = {0};
    il_status s;
    int64_t a[2] = {512, 256};
    STEP(il_ctx_set_threads(ctx, 2));
    STEP(il_tensor_rand(ctx, 2, a, IL_DTYPE_F32, IL_DEVICE_CPU, &t[0]));
    STEP(il_tensor_unary(ctx, IL_OP_EXP, t[0], &t[1]));
    STEP(il_tensor_binary(ctx, IL_OP_MUL, t[0], t[1], &t[2]));
    return done(IL_OK, t, 3);
}

static void test_sweep_ops(void **state) {
    tu_alloc_sweep(scenario_ops, NULL, 10000);
}
static void test_sweep_views(void **state) {
    tu_alloc_sweep(scenario_views, NULL, 10000);
}
static void test_sweep_threads(void **state) {
    tu_alloc_sweep(scenario_threads, NULL, 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_ops),
        cmocka_unit_test(test_sweep_views),
        cmocka_unit_test(test_sweep_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
