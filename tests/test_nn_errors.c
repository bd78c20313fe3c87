/*
 * test_nn_errors.c: what networks say when used wrongly (bad layers, mismatched widths, bad
 * inputs, a foreign optimizer, a NaN loss with parameters left unchanged, failing custom
 * layers), and an allocation-failure sweep over build + compile + step + forward + gradcheck:
 * every failure is a clean IL_E_NOMEM with nothing leaked.
 */
#include "testutil.h"

#include "ironlearn/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double xor_x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, xor_y[4] = {0, 1, 1, 0};

/* ---- a custom layer whose callbacks can be told to fail ------------------------------------ */

typedef struct cust {
    int releases, fail_infer, fail_forward;
} cust;

static il_status c_infer(void *ud, il_ctx *ctx, int nin, const int64_t *in, int64_t *out) {
    (void)nin;
    if (((cust *)ud)->fail_infer) return il_ctx_error(ctx, IL_E_SHAPE, "custom says no");
    *out = in[0];
    return IL_OK;
}

static il_status c_forward(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                           il_tensor *y) {
    (void)nin;
    if (((cust *)ud)->fail_forward) return il_ctx_error(ctx, IL_E_ARG, "boom in forward");
    return il_tensor_copy_(ctx, y, x[0]);
}

static il_status c_backward(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                            const il_tensor *y, const il_tensor *dy, il_tensor *const *dx) {
    (void)ud, (void)nin, (void)x, (void)y;
    return il_tensor_copy_(ctx, dx[0], dy);
}

static void c_release(void *ud) { ((cust *)ud)->releases++; }

static il_custom_layer custom(cust *c) {
    il_custom_layer cl = {c, c_infer, c_forward, c_backward, c_release, "ident"};
    return cl;
}

/* ---- building ------------------------------------------------------------------------------ */

static void test_build_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in, l1, id;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_I64, &net), IL_E_DTYPE);
    assert_null(net);
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 0, &in), IL_E_ARG);
    assert_int_equal(il_net_input(net, 3, &in), IL_OK);
    il_layer_opts o = {.out_features = 4};
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &in, &l1), IL_OK);
    /* a linear layer told its input width, fed another */
    o = (il_layer_opts){.out_features = 2};
    o.in_features = 3;
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &l1, &id), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "linear2: expected input of 3 features, got 4");
    int two[2] = {in, l1};
    assert_int_equal(il_net_layer(net, IL_LAYER_ADD, NULL, 2, two, &id), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "add2: expected input of 3 features, got 4");
    assert_int_equal(il_net_layer(net, IL_LAYER_TANH, NULL, 2, two, &id), IL_E_ARG);
    tu_assert_errmsg(ctx, "tanh takes 1 input, not 2");
    assert_int_equal(il_net_layer(net, IL_LAYER_CONCAT, NULL, 1, two, &id), IL_E_ARG);
    tu_assert_errmsg(ctx, "concat takes at least 2 inputs, not 1");
    int bad = 7;
    assert_int_equal(il_net_layer(net, IL_LAYER_RELU, NULL, 1, &bad, &id), IL_E_RANGE);
    o = (il_layer_opts){.out_features = 0};
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &l1, &id), IL_E_ARG);
    tu_assert_errmsg(ctx, "out_features");
    o = (il_layer_opts){.out_features = 2};
    o.init = IL_INIT_COUNT;
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &l1, &id), IL_E_ARG);
    memset(&o, 0, sizeof o);
    o.p = 1;
    assert_int_equal(il_net_layer(net, IL_LAYER_DROPOUT, &o, 1, &l1, &id), IL_E_ARG);
    assert_int_equal(il_net_layer(net, IL_LAYER_INPUT, NULL, 1, &l1, &id), IL_E_ARG);
    memset(&o, 0, sizeof o);
    o.name = "linear1";
    assert_int_equal(il_net_layer(net, IL_LAYER_TANH, &o, 1, &l1, &id), IL_E_ARG);
    tu_assert_errmsg(ctx, "layer name 'linear1' is already used");
    assert_int_equal(il_net_set_output(net, 9), IL_E_RANGE);
    /* nothing above changed the net: the next node is number 2, parameters as before */
    assert_int_equal(il_net_num_params(net), 16);
    assert_int_equal(il_net_layer(net, IL_LAYER_TANH, NULL, 1, &l1, &id), IL_OK);
    assert_int_equal(id, 2);
    /* custom layers: the net takes ud even when adding fails */
    cust c = {0, 1, 0};
    il_custom_layer cl = custom(&c);
    assert_int_equal(il_net_custom(net, &cl, 1, &id, &id), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "custom says no");
    assert_int_equal(c.releases, 1);
    cl.forward = NULL;
    assert_int_equal(il_net_custom(net, &cl, 1, &id, &id), IL_E_ARG);
    assert_int_equal(c.releases, 2);
    il_net_free(net);
    il_net_free(NULL);
    tu_ctx_done(ctx);
}

/* ---- running ------------------------------------------------------------------------------- */

static il_net *small_net(il_ctx *ctx, int64_t in, int64_t out) {
    il_net *net = NULL;
    int id;
    il_layer_opts o = {.out_features = out};
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, in, &id), IL_OK);
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &id, &id), IL_OK);
    return net;
}

static il_optim *sgd(il_net *net) {
    il_optim_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 0.1;
    il_optim *opt = NULL;
    assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, &o, &opt), IL_OK);
    return opt;
}

static void test_run_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = small_net(ctx, 2, 1), *other = small_net(ctx, 2, 1);
    il_tensor *y = NULL, *x43 = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
    il_tensor *bad = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 2, 3), *v1 = NULL;
    const il_tensor *xs[2] = {bad, x};
    assert_int_equal(il_net_forward(net, 1, xs, &y), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "input 1: expected (batch, 2), got (2, 3)");
    assert_int_equal(il_net_forward(net, 2, xs, &y), IL_E_ARG);
    tu_assert_errmsg(ctx, "network takes 1 input, got 2");
    assert_int_equal(il_net_forward(net, 1, &xs[1], NULL), IL_E_ARG);
    /* a 1-D tensor is not a batch, even for a net of width 1 */
    il_net *one = small_net(ctx, 1, 1);
    il_tensor *flat = tu_tensor(ctx, IL_DTYPE_F64, xor_y, 1, 4);
    const il_tensor *xf[1] = {flat};
    assert_int_equal(il_net_forward(one, 1, xf, &y), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "input 1: expected (batch, 1), got (4)");
    il_net_free(one);
    /* a net of inputs only */
    il_net *empty = NULL;
    int id;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &empty), IL_OK);
    assert_int_equal(il_net_input(empty, 2, &id), IL_OK);
    assert_int_equal(il_net_forward(empty, 1, &xs[1], &y), IL_E_ARG);
    tu_assert_errmsg(ctx, "network has no layers");
    il_net_free(empty);
    /* steps: foreign optimizer, bad labels, missing loss */
    il_optim *opt = sgd(other);
    il_tensor *t = tu_tensor(ctx, IL_DTYPE_F64, xor_y, 2, 4, 1);
    il_tensor *t2 = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
    il_loss mse = {IL_LOSS_MSE, 0};
    double lv;
    assert_int_equal(il_net_step(net, 1, &xs[1], t, &mse, opt, &lv), IL_E_ARG);
    tu_assert_errmsg(ctx, "optimizer was built for another network");
    il_optim_free(opt);
    opt = sgd(net);
    assert_int_equal(il_net_step(net, 1, &xs[1], t2, &mse, opt, &lv), IL_E_SHAPE);
    assert_int_equal(il_net_step(net, 1, &xs[1], t, NULL, opt, &lv), IL_E_ARG);
    assert_int_equal(il_net_step(net, 1, &xs[1], t, &mse, opt, &lv), IL_OK);
    /* a two-input net wants one batch size */
    il_net *two = NULL;
    int in2[2], j;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &two), IL_OK);
    assert_int_equal(il_net_input(two, 2, &in2[0]), IL_OK);
    assert_int_equal(il_net_input(two, 2, &in2[1]), IL_OK);
    assert_int_equal(il_net_layer(two, IL_LAYER_CONCAT, NULL, 2, in2, &j), IL_OK);
    assert_int_equal(il_tensor_narrow(ctx, x43, 0, 0, 3, &v1), IL_OK);
    const il_tensor *xx[2] = {x, v1};
    assert_int_equal(il_net_forward(two, 2, xx, &y), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "input 2: expected (4, 2), got (3, 2)");
    il_net_free(two);
    /* a failing custom layer: its error comes back, nothing leaks */
    cust c = {0, 0, 1};
    il_custom_layer cl = custom(&c);
    int nid;
    assert_int_equal(il_net_custom(net, &cl, 1, &(int){1}, &nid), IL_OK);
    assert_int_equal(il_net_forward(net, 1, &xs[1], &y), IL_E_ARG);
    tu_assert_errmsg(ctx, "boom in forward");
    il_optim_free(opt);
    il_net_free(net);
    il_net_free(other);
    assert_int_equal(c.releases, 1);
    il_tensor_free(x), il_tensor_free(x43), il_tensor_free(bad), il_tensor_free(flat);
    il_tensor_free(t), il_tensor_free(t2), il_tensor_free(v1);
    tu_ctx_done(ctx);
}

/* A NaN loss stops the step before the update and names the step. */
static void test_nan_loss(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = small_net(ctx, 2, 1);
    il_optim *opt = sgd(net);
    double xn[8] = {0, 0, 0, 1, 1, NAN, 1, 1};
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F64, xor_x, 2, 4, 2);
    il_tensor *bad = tu_tensor(ctx, IL_DTYPE_F64, xn, 2, 4, 2);
    il_tensor *t = tu_tensor(ctx, IL_DTYPE_F64, xor_y, 2, 4, 1), *p[2];
    const il_tensor *xs[1] = {x}, *xb[1] = {bad};
    il_loss mse = {IL_LOSS_MSE, 0};
    double lv;
    for (int i = 0; i < 2; i++) assert_int_equal(il_net_step(net, 1, xs, t, &mse, opt, &lv), IL_OK);
    int n;
    assert_int_equal(il_net_parameters(net, p, NULL, 2, &n), IL_OK);
    double *before = tu_values(ctx, p[0]);
    assert_int_equal(il_net_step(net, 1, xb, t, &mse, opt, &lv), IL_E_NUMERIC);
    tu_assert_errmsg(ctx, "loss is nan at step 3");
    double *after = tu_values(ctx, p[0]);
    tu_assert_close(after, before, 2, 0, 0);
    assert_int_equal(il_optim_steps(opt), 2);
    assert_int_equal(il_net_step(net, 1, xs, t, &mse, opt, &lv), IL_OK); /* recovers */
    free(before), free(after);
    il_tensor_free(p[0]), il_tensor_free(p[1]);
    il_tensor_free(x), il_tensor_free(bad), il_tensor_free(t);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* ---- allocation failures ------------------------------------------------------------------- */

#define TRY(expr)                                                                                 \
    do {                                                                                          \
        if ((s = (expr)) != IL_OK) goto out;                                                      \
    } while (0)

/* Builds a DAG with every kind of node, trains it, forwards other batches, inspects it. */
static il_status scenario(il_ctx *ctx, cust *c) {
    il_net *net = NULL;
    il_optim *opt = NULL;
    il_tensor *x = NULL, *t = NULL, *y = NULL, *x3 = NULL, *p[8] = {0};
    char *sum = NULL;
    il_status s;
    int in, a, b, j, id, n;
    il_layer_opts h = {.out_features = 4}, o = {.out_features = 1}, d;
    memset(&d, 0, sizeof d);
    d.p = 0.2;
    TRY(il_net_new(ctx, IL_DTYPE_F32, &net));
    TRY(il_net_input(net, 2, &in));
    TRY(il_net_layer(net, IL_LAYER_LINEAR, &h, 1, &in, &a));
    TRY(il_net_layer(net, IL_LAYER_TANH, NULL, 1, &a, &b));
    il_custom_layer cl = custom(c);
    TRY(il_net_custom(net, &cl, 1, &b, &b));
    TRY(il_net_layer(net, IL_LAYER_DROPOUT, &d, 1, &b, &b));
    int two[2] = {a, b};
    TRY(il_net_layer(net, IL_LAYER_CONCAT, NULL, 2, two, &j));
    TRY(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &j, &id));
    TRY(il_net_layer(net, IL_LAYER_SIGMOID, NULL, 1, &id, &id));
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = 0.01;
    TRY(il_optim_new(net, IL_OPTIM_ADAM, &oo, &opt));
    int64_t s42[2] = {4, 2}, s41[2] = {4, 1};
    TRY(il_tensor_from_data(ctx, 2, s42, IL_DTYPE_F64, IL_DEVICE_CPU, xor_x, IL_DTYPE_F64, &x));
    TRY(il_tensor_from_data(ctx, 2, s41, IL_DTYPE_F32, IL_DEVICE_CPU, xor_y, IL_DTYPE_F64, &t));
    const il_tensor *xs[1] = {x};
    il_loss mse = {IL_LOSS_MSE, 0};
    double lv, err;
    for (int i = 0; i < 2; i++) TRY(il_net_step(net, 1, xs, t, &mse, opt, &lv));
    TRY(il_tensor_narrow(ctx, x, 0, 1, 3, &x3));
    const il_tensor *xs3[1] = {x3};
    TRY(il_net_forward(net, 1, xs3, &y));
    TRY(il_net_summary(net, &sum));
    TRY(il_net_parameters(net, p, NULL, 8, &n));
    TRY(il_net_gradcheck(net, 1, xs3, 0, &err));
out:
    il_ctx_free_string(ctx, sum);
    for (int i = 0; i < 8; i++) il_tensor_free(p[i]);
    il_tensor_free(x), il_tensor_free(t), il_tensor_free(y), il_tensor_free(x3);
    il_optim_free(opt);
    il_net_free(net);
    return s;
}

/* scenario on a fresh custom layer; it was released once if the net got as far as taking it. */
static il_status sweep_scenario(il_ctx *ctx, void *ud) {
    (void)ud;
    cust c = {0, 0, 0};
    il_status s = scenario(ctx, &c);
    assert_true(c.releases <= 1);
    return s;
}

static void test_alloc_fail(void **state) {
    (void)state;
    int64_t n = tu_alloc_sweep(sweep_scenario, NULL, 100000);
    printf("  alloc sweep: succeeded at fail_at=%lld\n", (long long)n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_nan_loss),
        cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
