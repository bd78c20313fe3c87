/*
 * test_nn.c: networks: XOR trains; forward of a trained net; recompiling when the batch size
 * changes; zero allocations in a steady-state step; parameter views that write through; the
 * summary text; dropout; inputs of other dtypes and strides. Errors and the allocation-failure
 * sweep are in test_nn_errors.c.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double xor_x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, xor_y[4] = {0, 1, 1, 0};

/* input(in) -> linear(hidden) -> tanh -> linear(out) -> sigmoid, in dtype dt. */
static il_status mlp(il_ctx *ctx, il_dtype dt, int64_t in, int64_t hidden, int64_t out,
                     il_net **pnet) {
    il_net *net = NULL;
    il_layer_opts h = {.out_features = hidden}, o = {.out_features = out};
    int id;
    il_status s = il_net_new(ctx, dt, &net);
    if (s == IL_OK) s = il_net_input(net, in, &id);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_LINEAR, &h, 1, &id, &id);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_TANH, NULL, 1, &id, &id);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &id, &id);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_SIGMOID, NULL, 1, &id, &id);
    if (s != IL_OK) il_net_free(net), net = NULL;
    *pnet = net;
    return s;
}

static il_optim *adam(il_net *net, double lr) {
    il_optim_opts o;
    memset(&o, 0, sizeof o);
    o.lr = lr;
    il_optim *opt = NULL;
    assert_int_equal(il_optim_new(net, IL_OPTIM_ADAM, &o, &opt), IL_OK);
    return opt;
}

static void test_xor(void **state) {
    (void)state;
    for (int dt = 0; dt < 2; dt++) {
        il_ctx *ctx = tu_ctx();
        il_ctx_seed(ctx, 42);
        il_net *net = NULL;
        assert_int_equal(mlp(ctx, dt ? IL_DTYPE_F32 : IL_DTYPE_F64, 2, 4, 1, &net), IL_OK);
        il_optim *opt = adam(net, 0.05);
        il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
        il_tensor *y = tu_tensor(ctx, IL_DTYPE_F64, xor_y, 2, 4, 1);
        const il_tensor *xs[1] = {x};
        il_loss mse = {IL_LOSS_MSE, 0};
        double loss = 1;
        int steps = 0;
        while (loss >= 0.01 && steps < 5000) {
            assert_int_equal(il_net_step(net, 1, xs, y, &mse, opt, &loss), IL_OK);
            steps++;
        }
        assert_true(loss < 0.01);
        /* forward of the trained net classifies all four points */
        il_tensor *p = NULL;
        assert_int_equal(il_net_forward(net, 1, xs, &p), IL_OK);
        tu_assert_shape(p, 2, 4, 1);
        assert_int_equal(il_tensor_dtype(p), dt ? IL_DTYPE_F32 : IL_DTYPE_F64);
        double *v = tu_values(ctx, p);
        for (int i = 0; i < 4; i++) assert_true(fabs(v[i] - xor_y[i]) < 0.3);
        free(v);
        il_tensor_free(p), il_tensor_free(x), il_tensor_free(y);
        il_optim_free(opt);
        il_net_free(net);
        tu_ctx_done(ctx);
    }
}

/* Forward with batch 4, then 3 (the first 3 rows), then 4 again: same rows, same values. */
static void test_recompile(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    assert_int_equal(mlp(ctx, IL_DTYPE_F64, 2, 6, 2, &net), IL_OK);
    il_tensor *x4 = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
    il_tensor *x3 = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 3, 2);
    il_tensor *a = NULL, *b = NULL, *c = NULL;
    const il_tensor *xs4[1] = {x4}, *xs3[1] = {x3};
    assert_int_equal(il_net_forward(net, 1, xs4, &a), IL_OK);
    assert_int_equal(il_net_forward(net, 1, xs3, &b), IL_OK);
    il_mem_stats m0, m1;
    il_ctx_memory(ctx, &m0);
    assert_int_equal(il_net_forward(net, 1, xs4, &c), IL_OK);
    il_ctx_memory(ctx, &m1);
    /* back to 4 rows: the arena is reused, only the result tensor (3 blocks) is new */
    assert_true(m1.n_allocs - m0.n_allocs <= 3);
    tu_assert_shape(b, 2, 3, 2);
    double *va = tu_values(ctx, a), *vb = tu_values(ctx, b), *vc = tu_values(ctx, c);
    tu_assert_close(vb, va, 6, 0, 0);
    tu_assert_close(vc, va, 8, 0, 0);
    free(va), free(vb), free(vc);
    il_tensor_free(a), il_tensor_free(b), il_tensor_free(c);
    il_tensor_free(x4), il_tensor_free(x3);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* A steady-state step (same batch, no custom layers) allocates nothing. */
static void test_no_allocs(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    assert_int_equal(mlp(ctx, IL_DTYPE_F32, 2, 8, 1, &net), IL_OK);
    il_optim *opt = adam(net, 0.01);
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2); /* f64 into an f32 net */
    il_tensor *y = tu_tensor(ctx, IL_DTYPE_F32, xor_y, 2, 4, 1);
    const il_tensor *xs[1] = {x};
    il_loss mse = {IL_LOSS_MSE, 0};
    double loss;
    assert_int_equal(il_net_step(net, 1, xs, y, &mse, opt, &loss), IL_OK);
    il_mem_stats m0, m1;
    il_ctx_memory(ctx, &m0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(il_net_step(net, 1, xs, y, &mse, opt, &loss), IL_OK);
    il_ctx_memory(ctx, &m1);
    assert_int_equal(m1.n_allocs, m0.n_allocs);
    assert_int_equal(m1.bytes_in_use, m0.bytes_in_use);
    il_tensor_free(x), il_tensor_free(y);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* The same for a network whose matmuls take the packed, threaded path (2-64-1-64, batch
 * 2048): packing buffers come from the context's workspaces, not from each call. */
static void test_no_allocs_large(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    assert_int_equal(il_ctx_set_threads(ctx, 2), IL_OK);
    il_net *net = NULL;
    assert_int_equal(mlp(ctx, IL_DTYPE_F32, 2, 64, 1, &net), IL_OK);
    il_layer_opts h = {.out_features = 64};
    int id = 4, node;
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &h, 1, &id, &node), IL_OK);
    assert_int_equal(il_net_set_output(net, node), IL_OK);
    il_optim *opt = adam(net, 1e-3);
    int64_t xs_shape[2] = {2048, 2}, ys_shape[2] = {2048, 64};
    il_tensor *x = NULL, *y = NULL;
    assert_int_equal(il_tensor_rand(ctx, 2, xs_shape, IL_DTYPE_F32, IL_DEVICE_CPU, &x), IL_OK);
    assert_int_equal(il_tensor_rand(ctx, 2, ys_shape, IL_DTYPE_F32, IL_DEVICE_CPU, &y), IL_OK);
    const il_tensor *xs[1] = {x};
    il_loss mse = {IL_LOSS_MSE, 0};
    double loss;
    assert_int_equal(il_net_step(net, 1, xs, y, &mse, opt, &loss), IL_OK);
    il_mem_stats m0, m1;
    il_ctx_memory(ctx, &m0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(il_net_step(net, 1, xs, y, &mse, opt, &loss), IL_OK);
    il_ctx_memory(ctx, &m1);
    assert_int_equal(m1.n_allocs, m0.n_allocs);
    il_tensor_free(x), il_tensor_free(y);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* Parameter views share the buffer: zeroing weights and setting biases shows in forward. */
static void test_parameters(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    assert_int_equal(mlp(ctx, IL_DTYPE_F64, 2, 3, 1, &net), IL_OK);
    assert_int_equal(il_net_num_params(net), 2 * 3 + 3 + 3 * 1 + 1);
    assert_int_equal(il_net_num_inputs(net), 1);
    int n = -1;
    assert_int_equal(il_net_parameters(net, NULL, NULL, 0, &n), IL_OK);
    assert_int_equal(n, 4);
    il_tensor *p[4];
    const char *names[4];
    assert_int_equal(il_net_parameters(net, p, names, 4, &n), IL_OK);
    assert_string_equal(names[0], "linear1.weight");
    assert_string_equal(names[1], "linear1.bias");
    assert_string_equal(names[2], "linear3.weight");
    assert_string_equal(names[3], "linear3.bias");
    tu_assert_shape(p[0], 2, 2, 3);
    tu_assert_shape(p[1], 1, 3);
    tu_assert_shape(p[2], 2, 3, 1);
    for (int i = 0; i < 3; i++) assert_int_equal(il_tensor_fill_(ctx, p[i], 0), IL_OK);
    assert_int_equal(il_tensor_fill_(ctx, p[3], 2.0), IL_OK);
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2), *y = NULL;
    const il_tensor *xs[1] = {x};
    assert_int_equal(il_net_forward(net, 1, xs, &y), IL_OK);
    double *v = tu_values(ctx, y), want = 1 / (1 + exp(-2.0));
    for (int i = 0; i < 4; i++) assert_true(fabs(v[i] - want) < 1e-15);
    free(v);
    for (int i = 0; i < 4; i++) il_tensor_free(p[i]);
    il_tensor_free(x), il_tensor_free(y);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static void test_summary(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    assert_int_equal(mlp(ctx, IL_DTYPE_F32, 2, 4, 1, &net), IL_OK);
    char *s = NULL;
    assert_int_equal(il_net_summary(net, &s), IL_OK);
    assert_non_null(strstr(s, "input0"));
    assert_non_null(strstr(s, "linear1   linear "));
    assert_non_null(strstr(s, "(-1, 4)"));
    assert_non_null(strstr(s, "sigmoid4"));
    assert_non_null(strstr(s, "total params: 17"));
    assert_non_null(strstr(s, "12\n"));
    il_ctx_free_string(ctx, s);
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2), *y = NULL;
    const il_tensor *xs[1] = {x};
    assert_int_equal(il_net_forward(net, 1, xs, &y), IL_OK);
    assert_int_equal(il_net_summary(net, &s), IL_OK);
    assert_non_null(strstr(s, "(4, 4)"));
    assert_non_null(strstr(s, "(4, 1)"));
    il_ctx_free_string(ctx, s);
    il_tensor_free(x), il_tensor_free(y);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* Dropout: identity in eval mode; in train mode a fresh, seeded mask per forward. */
static void test_dropout(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double xv[400];
    for (int i = 0; i < 400; i++) xv[i] = 1 + i % 7;
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xv, 2, 4, 100), *y[3] = {0};
    const il_tensor *xs[1] = {x};
    double *v[3];
    for (int run = 0; run < 2; run++) {
        il_ctx_seed(ctx, 5);
        il_net *net = NULL;
        int id;
        il_layer_opts o;
        memset(&o, 0, sizeof o);
        o.p = 0.25;
        assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
        assert_int_equal(il_net_input(net, 100, &id), IL_OK);
        assert_int_equal(il_net_layer(net, IL_LAYER_DROPOUT, &o, 1, &id, &id), IL_OK);
        for (int k = 0; k < 2; k++) assert_int_equal(il_net_forward(net, 1, xs, &y[k]), IL_OK);
        il_net_train(net, 0);
        assert_int_equal(il_net_forward(net, 1, xs, &y[2]), IL_OK);
        for (int k = 0; k < 3; k++) v[k] = tu_values(ctx, y[k]), il_tensor_free(y[k]);
        tu_assert_close(v[2], xv, 400, 0, 0);
        int dropped = 0, differ = 0;
        for (int i = 0; i < 400; i++) {
            assert_true(v[0][i] == 0 || fabs(v[0][i] - xv[i] / 0.75) < 1e-12);
            dropped += v[0][i] == 0;
            differ += (v[0][i] == 0) != (v[1][i] == 0);
        }
        assert_true(dropped > 60 && dropped < 140 && differ > 0);
        static double first[400];
        if (run == 0) memcpy(first, v[0], sizeof first);
        else tu_assert_close(v[0], first, 400, 0, 0); /* il_ctx_seed reproduces the masks */
        for (int k = 0; k < 3; k++) free(v[k]);
        il_net_free(net);
    }
    il_tensor_free(x);
    tu_ctx_done(ctx);
}

/* An f32 transposed view is accepted and gives what the contiguous f64 input gives. */
static void test_input_conversion(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    assert_int_equal(mlp(ctx, IL_DTYPE_F64, 2, 3, 1, &net), IL_OK);
    double xt[8] = {0, 0, 1, 1, 0, 1, 0, 1}; /* xor_x transposed (2, 4) */
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
    il_tensor *t = tu_tensor(ctx, IL_DTYPE_F32, xt, 2, 2, 4), *tv = NULL, *a = NULL, *b = NULL;
    assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &tv), IL_OK);
    const il_tensor *xa[1] = {x}, *xb[1] = {tv};
    assert_int_equal(il_net_forward(net, 1, xa, &a), IL_OK);
    assert_int_equal(il_net_forward(net, 1, xb, &b), IL_OK);
    double *va = tu_values(ctx, a), *vb = tu_values(ctx, b);
    tu_assert_close(vb, va, 4, 0, 0);
    free(va), free(vb);
    il_tensor_free(a), il_tensor_free(b), il_tensor_free(x), il_tensor_free(t);
    il_tensor_free(tv);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* A wide net stepped with 1 and with 4 threads (the kernels split rows) ends up the same. */
static void wide_step(il_ctx *ctx, int threads, double **out, int64_t *n) {
    il_ctx_seed(ctx, 9);
    il_net *net = NULL;
    int id;
    il_layer_opts h = {.out_features = 64}, o = {.out_features = 8};
    static const il_layer_kind acts[] = {IL_LAYER_GELU, IL_LAYER_SOFTPLUS, IL_LAYER_SINE};
    assert_int_equal(il_ctx_set_threads(ctx, threads), IL_OK);
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 16, &id), IL_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &h, 1, &id, &id), IL_OK);
        assert_int_equal(il_net_layer(net, acts[i], NULL, 1, &id, &id), IL_OK);
    }
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &id, &id), IL_OK);
    assert_int_equal(il_net_layer(net, IL_LAYER_SOFTMAX, NULL, 1, &id, &id), IL_OK);
    il_tensor *x = NULL, *t = NULL, *p[8];
    int64_t xs_[2] = {2048, 16}, ts[2] = {2048, 8};
    assert_int_equal(il_tensor_randn(ctx, 2, xs_, IL_DTYPE_F64, IL_DEVICE_CPU, &x), IL_OK);
    assert_int_equal(il_tensor_rand(ctx, 2, ts, IL_DTYPE_F64, IL_DEVICE_CPU, &t), IL_OK);
    il_optim *opt = adam(net, 0.01);
    const il_tensor *xs[1] = {x};
    il_loss mse = {IL_LOSS_MSE, 0};
    double lv;
    for (int i = 0; i < 3; i++) assert_int_equal(il_net_step(net, 1, xs, t, &mse, opt, &lv), IL_OK);
    int np;
    assert_int_equal(il_net_parameters(net, p, NULL, 8, &np), IL_OK);
    *out = tu_values(ctx, p[0]);
    *n = il_tensor_numel(p[0]);
    for (int i = 0; i < np; i++) il_tensor_free(p[i]);
    il_tensor_free(x), il_tensor_free(t);
    il_optim_free(opt);
    il_net_free(net);
}

static void test_threads(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double *a, *b;
    int64_t n;
    wide_step(ctx, 1, &a, &n);
    wide_step(ctx, 4, &b, &n);
    tu_assert_close(b, a, n, 1e-12, 1e-12);
    free(a), free(b);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xor),           cmocka_unit_test(test_recompile),
        cmocka_unit_test(test_no_allocs),     cmocka_unit_test(test_no_allocs_large),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_summary),       cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_input_conversion), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
