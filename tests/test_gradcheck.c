/*
 * test_gradcheck.c: finite-difference checks (il_net_gradcheck, float64) of every layer kind's
 * backward, for inputs and parameters: linear with each init, every activation, softmax,
 * dropout (eval: identity; train: a fixed mask), the add and concat joins, a custom layer
 * written in C, and a DAG with a skip connection. Each must stay below 1e-6.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-6
#define BATCH 5

/* x (BATCH, f) with |values| in [0.2, 1.2], away from relu's kink at 0. */
static il_tensor *input(il_ctx *ctx, int f, unsigned seed) {
    double v[BATCH * 16];
    srand(seed);
    for (int i = 0; i < BATCH * f; i++) {
        double m = 0.2 + (double)rand() / RAND_MAX;
        v[i] = (rand() & 1) ? m : -m;
    }
    return tu_tensor(ctx, IL_DTYPE_F64, v, 2, BATCH, f);
}

static int linear(il_net *net, int from, int out, il_init init) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = out;
    o.init = init;
    return tu_layer(net, IL_LAYER_LINEAR, from, &o);
}

static void test_linear_inits(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 1);
    static const char *names[IL_INIT_COUNT] = {"xavier_uniform", "xavier_normal", "he_uniform",
                                               "he_normal", "normal", "uniform", "zeros",
                                               "siren_first", "siren"};
    for (int init = 0; init < IL_INIT_COUNT; init++) {
        il_net *net = NULL;
        int in;
        assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
        assert_int_equal(il_net_input(net, 3, &in), IL_OK);
        int h = linear(net, in, 4, (il_init)init);
        linear(net, h, 2, IL_INIT_XAVIER_UNIFORM);
        il_tensor *x = input(ctx, 3, 7);
        char what[64];
        snprintf(what, sizeof what, "linear %s", names[init]);
        tu_gradcheck(ctx, net, x, what);
        il_tensor_free(x);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

static void test_activations(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 2);
    static const struct {
        il_layer_kind k;
        const char *name;
        double alpha, omega;
    } acts[] = {
        {IL_LAYER_TANH, "tanh", 0, 0},          {IL_LAYER_SIGMOID, "sigmoid", 0, 0},
        {IL_LAYER_RELU, "relu", 0, 0},          {IL_LAYER_LEAKY_RELU, "leaky_relu", 0, 0},
        {IL_LAYER_LEAKY_RELU, "leaky_relu 0.2", 0.2, 0}, {IL_LAYER_GELU, "gelu", 0, 0},
        {IL_LAYER_SOFTPLUS, "softplus", 0, 0},  {IL_LAYER_SINE, "sine omega 30", 0, 0},
        {IL_LAYER_SINE, "sine omega 2", 0, 2},  {IL_LAYER_SOFTMAX, "softmax", 0, 0},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        il_net *net = NULL;
        int in;
        il_layer_opts o;
        memset(&o, 0, sizeof o);
        o.alpha = acts[i].alpha;
        o.omega = acts[i].omega;
        assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
        assert_int_equal(il_net_input(net, 4, &in), IL_OK);
        /* the input feeds the activation directly, so relu's inputs stay away from 0 */
        int a = tu_layer(net, acts[i].k, in, &o);
        linear(net, a, 3, IL_INIT_XAVIER_UNIFORM);
        il_tensor *x = input(ctx, 4, 11 + (unsigned)i);
        tu_gradcheck(ctx, net, x, acts[i].name);
        il_tensor_free(x);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

/* softmax as the output, after a linear layer (the common classifier head) */
static void test_softmax_head(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &in), IL_OK);
    int h = linear(net, in, 5, IL_INIT_NORMAL);
    tu_layer(net, IL_LAYER_SOFTMAX, h, NULL);
    il_tensor *x = input(ctx, 3, 5);
    tu_gradcheck(ctx, net, x, "linear + softmax");
    il_tensor_free(x);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static void test_dropout(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in;
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.p = 0.4;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 6, &in), IL_OK);
    int h = linear(net, in, 6, IL_INIT_XAVIER_UNIFORM);
    int d = tu_layer(net, IL_LAYER_DROPOUT, h, &o);
    linear(net, d, 2, IL_INIT_XAVIER_UNIFORM);
    il_tensor *x = input(ctx, 6, 3);
    il_net_train(net, 0);
    tu_gradcheck(ctx, net, x, "dropout (eval)");
    il_net_train(net, 1);
    tu_gradcheck(ctx, net, x, "dropout (train, fixed mask)");
    il_tensor_free(x);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static void test_joins(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in[2], j;
    /* add: two branches of one input */
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &in[0]), IL_OK);
    int b[3] = {linear(net, in[0], 4, IL_INIT_XAVIER_UNIFORM), 0, 0};
    b[1] = linear(net, in[0], 4, IL_INIT_XAVIER_UNIFORM);
    b[2] = b[0]; /* the same node twice: its gradient is summed */
    assert_int_equal(il_net_layer(net, IL_LAYER_ADD, NULL, 3, b, &j), IL_OK);
    tu_layer(net, IL_LAYER_TANH, j, NULL);
    il_tensor *x = input(ctx, 3, 21), *x2 = input(ctx, 2, 22);
    tu_gradcheck(ctx, net, x, "add join");
    il_net_free(net);
    /* concat: two graph inputs side by side, one of them twice */
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &in[0]), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in[1]), IL_OK);
    int c[3] = {in[0], in[1], in[1]};
    assert_int_equal(il_net_layer(net, IL_LAYER_CONCAT, NULL, 3, c, &j), IL_OK);
    linear(net, j, 2, IL_INIT_XAVIER_UNIFORM);
    const il_tensor *xs[2] = {x, x2};
    double err = -1;
    assert_int_equal(il_net_gradcheck(net, 2, xs, 0, &err), IL_OK);
    printf("  %-28s max rel err %.3g\n", "concat join", err);
    assert_true(err < TOL);
    il_tensor_free(x), il_tensor_free(x2);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* ---- a custom layer in C: y = x * x, dx = 2 x dy ----------------------------------------- */

static int released;

static il_status sq_infer(void *ud, il_ctx *ctx, int nin, const int64_t *in, int64_t *out) {
    (void)ud, (void)ctx, (void)nin;
    *out = in[0];
    return IL_OK;
}

static il_status sq_forward(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                            il_tensor *y) {
    (void)ud, (void)nin;
    il_tensor *t = NULL;
    il_status s = il_tensor_binary(ctx, IL_OP_MUL, x[0], x[0], &t);
    if (s == IL_OK) s = il_tensor_copy_(ctx, y, t);
    il_tensor_free(t);
    return s;
}

static il_status sq_backward(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                             const il_tensor *y, const il_tensor *dy, il_tensor *const *dx) {
    (void)ud, (void)nin, (void)y;
    il_tensor *t = NULL, *u = NULL;
    il_status s = il_tensor_binary(ctx, IL_OP_MUL, x[0], dy, &t);
    if (s == IL_OK) s = il_tensor_binary_scalar(ctx, IL_OP_MUL, t, 2.0, 0, &u);
    if (s == IL_OK) s = il_tensor_copy_(ctx, dx[0], u);
    il_tensor_free(t), il_tensor_free(u);
    return s;
}

static void sq_release(void *ud) { released += ud == &released; }

static void test_custom(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in, c;
    il_custom_layer cl = {&released, sq_infer, sq_forward, sq_backward, sq_release, "square"};
    released = 0;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &in), IL_OK);
    int h = linear(net, in, 4, IL_INIT_XAVIER_UNIFORM);
    assert_int_equal(il_net_custom(net, &cl, 1, &h, &c), IL_OK);
    linear(net, c, 2, IL_INIT_XAVIER_UNIFORM);
    il_tensor *x = input(ctx, 3, 31);
    tu_gradcheck(ctx, net, x, "custom (C callbacks)");
    il_tensor_free(x);
    il_net_free(net);
    assert_int_equal(released, 1);
    tu_ctx_done(ctx);
}

/* x -> l1 -> tanh -> l2 -> add(l2, l1) -> sigmoid -> l3: l1 has two consumers */
static void test_skip_dag(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    for (int dt = 0; dt < 2; dt++) {
        il_net *net = NULL;
        int in, j;
        assert_int_equal(il_net_new(ctx, dt ? IL_DTYPE_F32 : IL_DTYPE_F64, &net), IL_OK);
        assert_int_equal(il_net_input(net, 3, &in), IL_OK);
        int l1 = linear(net, in, 5, IL_INIT_XAVIER_UNIFORM);
        int t = tu_layer(net, IL_LAYER_TANH, l1, NULL);
        int l2 = linear(net, t, 5, IL_INIT_XAVIER_UNIFORM);
        int a[2] = {l2, l1};
        assert_int_equal(il_net_layer(net, IL_LAYER_ADD, NULL, 2, a, &j), IL_OK);
        int s = tu_layer(net, IL_LAYER_SIGMOID, j, NULL);
        linear(net, s, 2, IL_INIT_XAVIER_UNIFORM);
        il_tensor *x = input(ctx, 3, 41);
        tu_gradcheck(ctx, net, x, dt ? "skip-connection DAG (f32 net)" : "skip-connection DAG");
        il_tensor_free(x);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int in;
    double err;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &in), IL_OK);
    linear(net, in, 2, IL_INIT_XAVIER_UNIFORM);
    il_tensor *x = input(ctx, 4, 1);
    const il_tensor *xs[1] = {x};
    assert_int_equal(il_net_gradcheck(net, 1, xs, 0, &err), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "input 1: expected (batch, 3), got (5, 4)");
    assert_int_equal(il_net_gradcheck(net, 1, xs, -1, &err), IL_E_ARG);
    assert_int_equal(il_net_gradcheck(net, 1, xs, 0, NULL), IL_E_ARG);
    assert_int_equal(il_net_gradcheck(NULL, 1, xs, 0, &err), IL_E_ARG);
    il_tensor_free(x);
    il_net_free(net);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_inits), cmocka_unit_test(test_activations),
        cmocka_unit_test(test_softmax_head), cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_joins),        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_skip_dag),     cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
