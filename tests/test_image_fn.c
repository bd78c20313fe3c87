/*
 * test_image_fn.c: the layers that fit images as functions of coordinates: the SIREN inits
 * (ranges, then a gradient check through sine layers) and FOURIER features (width, values
 * against a plain-C reference, its fixed B exposed by il_net_buffers and never trained,
 * reproducible from a seed, gradient check in f64 and via an f32 net, and option errors).
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define BATCH 6

/* x (BATCH, f) in [-1, 1], as image coordinates are. */
static il_tensor *coords(il_ctx *ctx, il_dtype dt, int f, unsigned seed) {
    double v[BATCH * 8];
    srand(seed);
    for (int i = 0; i < BATCH * f; i++)
        v[i] = 2.0 * rand() / RAND_MAX - 1.0;
    return tu_tensor(ctx, dt, v, 2, BATCH, f);
}

/* A fourier layer of f frequencies (sigma, seed) on node from. */
static int fourier(il_net *net, int from, int f, double sigma, uint64_t seed) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = f, o.sigma = sigma, o.seed = seed;
    return tu_layer(net, IL_LAYER_FOURIER, from, &o);
}

/* linear (SIREN init) then sine, as il.nn.siren builds them. */
static int siren(il_net *net, int from, int out, int first, double omega) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = out, o.omega = omega;
    o.init = first ? IL_INIT_SIREN_FIRST : IL_INIT_SIREN;
    int l = tu_layer(net, IL_LAYER_LINEAR, from, &o);
    memset(&o, 0, sizeof o);
    o.omega = omega;
    return tu_layer(net, IL_LAYER_SINE, l, &o);
}

static void test_siren_init(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 3);
    il_net *net = NULL;
    int in;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in), IL_OK);
    int h = siren(net, in, 64, 1, 30);
    siren(net, h, 64, 0, 30);
    il_tensor *p[4];
    int n = 0;
    assert_int_equal(il_net_parameters(net, p, NULL, 4, &n), IL_OK);
    assert_int_equal(n, 4);
    /* bounds: 1/in (first), sqrt(6/in)/omega (later), biases 1/sqrt(in) */
    double bound[4] = {1.0 / 2, 1 / sqrt(2.0), sqrt(6.0 / 64) / 30, 1 / sqrt(64.0)};
    for (int k = 0; k < 4; k++) {
        double *v = tu_values(ctx, p[k]), mx = 0;
        int64_t cnt = il_tensor_numel(p[k]);
        for (int64_t i = 0; i < cnt; i++)
            mx = fmax(mx, fabs(v[i]));
        assert_true(mx <= bound[k] && mx > 0.8 * bound[k]);
        free(v);
        il_tensor_free(p[k]);
    }
    il_tensor *x = coords(ctx, IL_DTYPE_F64, 2, 1);
    tu_gradcheck(ctx, net, x, "siren 2-64-64");
    il_tensor_free(x);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* Values against sin/cos of 2 pi x B computed here from the B il_net_buffers shows. */
static void test_fourier_values(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in), IL_OK);
    fourier(net, in, 5, 3.0, 42);
    assert_int_equal(il_net_num_params(net), 0);
    il_tensor *b = NULL;
    const char *name = NULL;
    int n = 0;
    assert_int_equal(il_net_buffers(net, &b, &name, 1, &n), IL_OK);
    assert_int_equal(n, 1);
    assert_string_equal(name, "fourier1.B");
    tu_assert_shape(b, 2, 2, 5);
    il_tensor *x = coords(ctx, IL_DTYPE_F64, 2, 5), *y = NULL;
    const il_tensor *xs[1] = {x};
    assert_int_equal(il_net_forward(net, 1, xs, &y), IL_OK);
    tu_assert_shape(y, 2, BATCH, 10);
    double *bv = tu_values(ctx, b), *xv = tu_values(ctx, x), *yv = tu_values(ctx, y);
    double want[BATCH * 10];
    for (int r = 0; r < BATCH; r++)
        for (int j = 0; j < 5; j++) {
            double t = 2 * M_PI * (xv[2 * r] * bv[j] + xv[2 * r + 1] * bv[5 + j]);
            want[r * 10 + j] = sin(t), want[r * 10 + 5 + j] = cos(t);
        }
    tu_assert_close(yv, want, BATCH * 10, 1e-12, 1e-12);
    free(bv), free(xv), free(yv);
    il_tensor_free(y);
    il_tensor_free(b);
    il_tensor_free(x);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* The same seed gives the same B whatever the context's generator did; seed 0 uses it. */
static void test_fourier_seed(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double *v[3];
    for (int k = 0; k < 3; k++) {
        il_net *net = NULL;
        int in, n;
        il_ctx_seed(ctx, (uint64_t)k + 1);
        assert_int_equal(il_net_new(ctx, IL_DTYPE_F32, &net), IL_OK);
        assert_int_equal(il_net_input(net, 3, &in), IL_OK);
        fourier(net, in, 4, 10, k < 2 ? 7 : 0);
        il_tensor *b = NULL;
        assert_int_equal(il_net_buffers(net, &b, NULL, 1, &n), IL_OK);
        v[k] = tu_values(ctx, b);
        il_tensor_free(b);
        il_net_free(net);
    }
    assert_memory_equal(v[0], v[1], 12 * sizeof(double));
    assert_memory_not_equal(v[0], v[2], 12 * sizeof(double));
    for (int k = 0; k < 3; k++)
        free(v[k]);
    tu_ctx_done(ctx);
}

/* fourier -> linear -> tanh -> linear, in f64 and (cloned to f64 by the check) f32. */
static void test_fourier_gradcheck(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 4);
    for (int d = 0; d < 2; d++) {
        il_dtype dt = d ? IL_DTYPE_F32 : IL_DTYPE_F64;
        il_net *net = NULL;
        int in;
        assert_int_equal(il_net_new(ctx, dt, &net), IL_OK);
        assert_int_equal(il_net_input(net, 2, &in), IL_OK);
        int f = fourier(net, in, 6, 1.5, 9);
        il_layer_opts o;
        memset(&o, 0, sizeof o);
        o.out_features = 8;
        int h = tu_layer(net, IL_LAYER_LINEAR, f, &o);
        h = tu_layer(net, IL_LAYER_TANH, h, NULL);
        o.out_features = 1;
        tu_layer(net, IL_LAYER_LINEAR, h, &o);
        il_tensor *x = coords(ctx, dt, 2, 11);
        tu_gradcheck(ctx, net, x, d ? "fourier mlp (f32 net)" : "fourier mlp (f64)");
        il_tensor_free(x);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

/* Training moves the weights, never B. */
static void test_fourier_fixed(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    il_optim *opt = NULL;
    int in, n;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F32, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in), IL_OK);
    int f = fourier(net, in, 4, 2, 1);
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = 1;
    tu_layer(net, IL_LAYER_LINEAR, f, &o);
    il_tensor *b = NULL;
    assert_int_equal(il_net_buffers(net, &b, NULL, 1, &n), IL_OK);
    double *before = tu_values(ctx, b);
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = 0.1, oo.weight_decay = 0.5;
    assert_int_equal(il_optim_new(net, IL_OPTIM_ADAMW, &oo, &opt), IL_OK);
    il_tensor *x = coords(ctx, IL_DTYPE_F32, 2, 2), *t = coords(ctx, IL_DTYPE_F32, 1, 3);
    il_loss loss = {IL_LOSS_MSE, 0};
    const il_tensor *xs[1] = {x};
    double lv;
    for (int i = 0; i < 5; i++)
        assert_int_equal(il_net_step(net, 1, xs, t, &loss, opt, &lv), IL_OK);
    double *after = tu_values(ctx, b);
    assert_memory_equal(before, after, 8 * sizeof(double));
    free(before), free(after);
    il_tensor_free(b), il_tensor_free(x), il_tensor_free(t);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* A B written through il_net_buffers (as a checkpoint restore does) is the one used: zero
 * frequencies give sin 0 = 0 and cos 0 = 1 everywhere. */
static void test_fourier_restore(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in, n;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F32, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in), IL_OK);
    fourier(net, in, 3, 5, 2);
    il_tensor *b = NULL, *x = coords(ctx, IL_DTYPE_F32, 2, 4), *y = NULL;
    assert_int_equal(il_net_buffers(net, &b, NULL, 1, &n), IL_OK);
    assert_int_equal(il_tensor_fill_(ctx, b, 0), IL_OK);
    const il_tensor *xs[1] = {x};
    assert_int_equal(il_net_forward(net, 1, xs, &y), IL_OK);
    double *v = tu_values(ctx, y), want[BATCH * 6];
    for (int i = 0; i < BATCH * 6; i++)
        want[i] = i % 6 < 3 ? 0 : 1;
    tu_assert_close(v, want, BATCH * 6, 1e-6, 0);
    free(v);
    il_tensor_free(y), il_tensor_free(b), il_tensor_free(x);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static void test_fourier_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in, id;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in), IL_OK);
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    assert_int_equal(il_net_layer(net, IL_LAYER_FOURIER, &o, 1, &in, &id), IL_E_ARG);
    tu_assert_errmsg(ctx, "fourier: features must be in [1, 2^39], not 0");
    o.out_features = 3, o.sigma = -1;
    assert_int_equal(il_net_layer(net, IL_LAYER_FOURIER, &o, 1, &in, &id), IL_E_ARG);
    tu_assert_errmsg(ctx, "fourier: sigma must be finite and > 0, not -1");
    assert_int_equal(il_net_buffers(net, NULL, NULL, 1, &id), IL_E_ARG);
    assert_int_equal(il_net_buffers(NULL, NULL, NULL, 0, &id), IL_E_ARG);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* fourier -> siren: built, run, gradient-checked (the f32 -> f64 clone copies B) and B
 * listed; every step may fail for lack of memory. */
static il_status alloc_scenario(il_ctx *ctx, void *ud) {
    il_net *net = NULL;
    il_tensor *x = NULL, *y = NULL, *b = NULL;
    int in, id, n;
    double err;
    int64_t shape[2] = {3, 2};
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = 4, o.seed = 1;
    il_status s = il_net_new(ctx, IL_DTYPE_F32, &net);
    if (s == IL_OK) s = il_net_input(net, 2, &in);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_FOURIER, &o, 1, &in, &id);
    o.init = IL_INIT_SIREN_FIRST;
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &id, &id);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_SINE, NULL, 1, &id, &id);
    if (s == IL_OK) s = il_tensor_rand(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CPU, &x);
    const il_tensor *xs[1] = {x};
    if (s == IL_OK) s = il_net_forward(net, 1, xs, &y);
    if (s == IL_OK) s = il_net_gradcheck(net, 1, xs, 0, &err);
    if (s == IL_OK) s = il_net_buffers(net, &b, NULL, 1, &n);
    il_tensor_free(b), il_tensor_free(y), il_tensor_free(x);
    il_net_free(net);
    return s;
}

static void test_alloc_fail(void **state) {
    (void)state;
    tu_alloc_sweep(alloc_scenario, NULL, 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siren_init),     cmocka_unit_test(test_fourier_values),
        cmocka_unit_test(test_fourier_seed),   cmocka_unit_test(test_fourier_gradcheck),
        cmocka_unit_test(test_fourier_fixed),  cmocka_unit_test(test_fourier_restore),
        cmocka_unit_test(test_fourier_errors), cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
