/*
 * test_forward_chunk.c: il_net_forward over a batch in chunks of rows (il_net_set_forward_chunk
 * and the automatic budget) gives exactly the one-pass result, for every built-in layer kind
 * (dropout in train mode included), f32 and f64 nets, several inputs, chunk sizes 1 (raised to
 * the net's least chunk, see il_net_set_forward_chunk), ones that do not divide the batch and
 * ones larger than it; the arena stays within one chunk's size and is not reallocated by
 * chunking. (Every chunk size from 1 to the batch was checked once on these nets.)
 */
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"
#include "testutil.h"

/* Adds a layer of kind on node `in`, asserting success; returns the new node. */
static int add(il_net *net, il_layer_kind kind, il_layer_opts o, int in) {
    int node = -1;
    assert_int_equal(il_net_layer(net, kind, &o, 1, &in, &node), IL_OK);
    return node;
}

/* One input (3): fourier features, then linears with every activation, two dropouts, a
 * softmax at the end. */
static il_net *deep_net(il_ctx *ctx, il_dtype dt) {
    il_net *net = NULL;
    int x = -1;
    assert_int_equal(il_net_new(ctx, dt, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &x), IL_OK);
    il_layer_opts o = {.out_features = 4}, none;
    memset(&none, 0, sizeof none);
    o.sigma = 2;
    o.seed = 7;
    int h = add(net, IL_LAYER_FOURIER, o, x);
    h = add(net, IL_LAYER_TANH, none,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 48}, h));
    il_layer_opts d = none;
    d.p = 0.25;
    h = add(net, IL_LAYER_DROPOUT, d, h);
    h = add(net, IL_LAYER_RELU, none,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 40}, h));
    h = add(net, IL_LAYER_LEAKY_RELU, none,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 40}, h));
    d.p = 0.5;
    h = add(net, IL_LAYER_DROPOUT, d, h);
    h = add(net, IL_LAYER_SIGMOID, none,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 24}, h));
    il_layer_opts s = none;
    s.omega = 3;
    h = add(net, IL_LAYER_SINE, s,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 24}, h));
    h = add(net, IL_LAYER_SOFTPLUS, none,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 16}, h));
    h = add(net, IL_LAYER_GELU, none,
            add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 37}, h)); /* odd */
    add(net, IL_LAYER_SOFTMAX, none,
        add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 6}, h));
    return net;
}

/* Two inputs (2 and 3) joined by add and concat. */
static il_net *two_input_net(il_ctx *ctx, il_dtype dt) {
    il_net *net = NULL;
    int a = -1, b = -1, j = -1;
    il_layer_opts none;
    memset(&none, 0, sizeof none);
    assert_int_equal(il_net_new(ctx, dt, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &a), IL_OK);
    assert_int_equal(il_net_input(net, 3, &b), IL_OK);
    int ha = add(net, IL_LAYER_TANH, none,
                 add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 16}, a));
    int hb = add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 16}, b);
    int ins[3] = {ha, hb, b};
    assert_int_equal(il_net_layer(net, IL_LAYER_ADD, &none, 2, ins, &j), IL_OK);
    ins[0] = j;
    assert_int_equal(il_net_layer(net, IL_LAYER_CONCAT, &none, 2, (int[]){j, b}, &j), IL_OK);
    add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 3}, add(net, IL_LAYER_GELU, none, j));
    return net;
}

/* A (rows, w) tensor of uniform values in [-1, 1). */
static il_tensor *rand_x(il_ctx *ctx, il_dtype dt, int64_t rows, int64_t w) {
    il_tensor *u = NULL, *x = NULL;
    int64_t shape[2] = {rows, w};
    assert_int_equal(il_tensor_rand(ctx, 2, shape, dt, IL_DEVICE_CPU, &u), IL_OK);
    assert_int_equal(il_tensor_binary_scalar(ctx, IL_OP_MUL, u, 2, 0, &x), IL_OK);
    il_tensor_free(u);
    assert_int_equal(il_tensor_binary_scalar(ctx, IL_OP_SUB, x, 1, 0, &u), IL_OK);
    il_tensor_free(x);
    return u;
}

/* Forward with the chunk setting `chunk`, from dropout counter c0; returns the values. */
static double *forward_vals(il_ctx *ctx, il_net *net, int nin, il_tensor **x, int64_t chunk,
                            uint64_t c0, uint64_t *c_after, int64_t *n) {
    il_tensor *y = NULL;
    assert_int_equal(il_net_set_forward_chunk(net, chunk), IL_OK);
    net->drop_counter = c0;
    assert_int_equal(il_net_forward(net, nin, (const il_tensor *const *)x, &y), IL_OK);
    *c_after = net->drop_counter;
    *n = il_tensor_numel(y);
    double *v = tu_values(ctx, y);
    il_tensor_free(y);
    return v;
}

/* The one-pass result against chunks of several sizes, bit for bit, and the dropout counter
 * left where the one pass leaves it. */
static void check_chunks(il_ctx *ctx, il_net *net, int nin, il_tensor **x, int64_t batch) {
    uint64_t c0 = 12345, ref_after, after;
    int64_t n, m;
    double *ref = forward_vals(ctx, net, nin, x, batch, c0, &ref_after, &n);
    const int64_t chunks[6] = {1, 7, 64, batch - 1, batch / 3, batch + 5};
    for (int k = 0; k < 6; k++) {
        if (chunks[k] < 1) continue;
        double *got = forward_vals(ctx, net, nin, x, chunks[k], c0, &after, &m);
        assert_int_equal(m, n);
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&got[i], &ref[i], sizeof(double)) != 0)
                fail_msg("chunk %lld: element %lld is %.17g, one pass %.17g",
                         (long long)chunks[k], (long long)i, got[i], ref[i]);
        assert_true(after == ref_after);
        free(got);
    }
    free(ref);
}

static void test_deep(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 11);
    il_dtype dts[2] = {IL_DTYPE_F64, IL_DTYPE_F32};
    for (int d = 0; d < 2; d++) {
        il_net *net = deep_net(ctx, dts[d]);
        il_tensor *x = rand_x(ctx, dts[d], 333, 3);
        il_net_train(net, 0);
        check_chunks(ctx, net, 1, &x, 333);
        il_net_train(net, 1); /* dropout draws masks: the same ones */
        check_chunks(ctx, net, 1, &x, 333);
        il_tensor_free(x);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

static void test_two_inputs(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_dtype dts[2] = {IL_DTYPE_F64, IL_DTYPE_F32};
    for (int d = 0; d < 2; d++) {
        il_net *net = two_input_net(ctx, dts[d]);
        il_tensor *x[2] = {rand_x(ctx, dts[d], 200, 2), rand_x(ctx, dts[d], 200, 3)};
        check_chunks(ctx, net, 2, x, 200);
        /* a strided input (a transposed buffer) chunks the same */
        il_tensor *buf = rand_x(ctx, dts[d], 3, 200), *t = NULL;
        assert_int_equal(il_tensor_transpose(ctx, buf, 0, 1, &t), IL_OK);
        il_tensor *xs[2] = {x[0], t};
        check_chunks(ctx, net, 2, xs, 200);
        il_tensor_free(buf), il_tensor_free(t), il_tensor_free(x[0]), il_tensor_free(x[1]);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

/* 100,000 rows in chunks of 4096 equal one pass; the chunked arena is one chunk's. */
static void test_large_batch(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL, *small = NULL;
    il_layer_opts none;
    memset(&none, 0, sizeof none);
    il_net *nets[2];
    for (int k = 0; k < 2; k++) {
        int x = -1;
        assert_int_equal(il_net_new(ctx, IL_DTYPE_F32, &nets[k]), IL_OK);
        assert_int_equal(il_net_input(nets[k], 2, &x), IL_OK);
        int h = add(nets[k], IL_LAYER_TANH, none,
                    add(nets[k], IL_LAYER_LINEAR, (il_layer_opts){.out_features = 32}, x));
        h = add(nets[k], IL_LAYER_RELU, none,
                add(nets[k], IL_LAYER_LINEAR, (il_layer_opts){.out_features = 32}, h));
        add(nets[k], IL_LAYER_LINEAR, (il_layer_opts){.out_features = 1}, h);
    }
    net = nets[0], small = nets[1];
    il_tensor *x = rand_x(ctx, IL_DTYPE_F32, 100000, 2), *y = NULL, *ys = NULL, *xs = NULL;
    assert_int_equal(il_net_set_forward_chunk(net, 4096), IL_OK);
    assert_int_equal(il_net_forward(net, 1, (const il_tensor *const *)&x, &y), IL_OK);
    tu_assert_shape(y, 2, 100000, 1);
    /* the arena is at most what a 4096-row pass needs, and a second pass keeps it */
    assert_int_equal(il_tensor_narrow(ctx, x, 0, 0, 4096, &xs), IL_OK);
    assert_int_equal(il_net_forward(small, 1, (const il_tensor *const *)&xs, &ys), IL_OK);
    assert_true(net->arena_cap <= small->arena_cap); /* 25 chunks of 4000 */
    il_tensor *arena = net->arena, *y2 = NULL;
    assert_int_equal(il_net_forward(net, 1, (const il_tensor *const *)&x, &y2), IL_OK);
    assert_ptr_equal(net->arena, arena);
    il_tensor_free(y2);
    /* and the values are the one pass's (params copied from net into small) */
    il_tensor *pa[8], *pb[8];
    int na = 0, nb = 0;
    assert_int_equal(il_net_parameters(net, pa, NULL, 8, &na), IL_OK);
    assert_int_equal(il_net_parameters(small, pb, NULL, 8, &nb), IL_OK);
    for (int i = 0; i < na; i++) {
        assert_int_equal(il_tensor_copy_(ctx, pb[i], pa[i]), IL_OK);
        il_tensor_free(pa[i]), il_tensor_free(pb[i]);
    }
    il_tensor *yref = NULL;
    assert_int_equal(il_net_forward(small, 1, (const il_tensor *const *)&x, &yref), IL_OK);
    double *a = tu_values(ctx, y), *b = tu_values(ctx, yref);
    assert_memory_equal(a, b, sizeof(double) * 100000);
    free(a), free(b);
    il_tensor_free(y), il_tensor_free(ys), il_tensor_free(xs), il_tensor_free(yref);
    il_tensor_free(x);
    il_net_free(net), il_net_free(small);
    tu_ctx_done(ctx);
}

/* The automatic budget: a net whose one-pass arena passes 256 MiB runs in chunks whose arena
 * stays within it, with the result of explicit chunks. */
static void test_auto_budget(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int x = -1;
    il_layer_opts f = {.out_features = 2048}; /* 4096 wide: 4 regions of it per row, f64 */
    f.seed = 3;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &x), IL_OK);
    add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 1}, add(net, IL_LAYER_FOURIER, f, x));
    /* per row about (4 + 1) * 4096 elements of 8 bytes: 164 KiB, so 2000 rows pass 256 MiB */
    il_tensor *in = rand_x(ctx, IL_DTYPE_F64, 2000, 2), *y = NULL;
    assert_int_equal(il_net_forward(net, 1, (const il_tensor *const *)&in, &y), IL_OK);
    assert_true(net->arena_cap * 8 <= (256 << 20));
    assert_true(net->arena_cap > 1000 * 5 * 4096 && net->arena_cap < 2000 * 5 * 4096);
    uint64_t after;
    int64_t n;
    double *ref = tu_values(ctx, y);
    double *got = forward_vals(ctx, net, 1, &in, 300, net->drop_counter, &after, &n);
    assert_int_equal(n, 2000);
    assert_memory_equal(got, ref, sizeof(double) * 2000);
    free(ref), free(got);
    il_tensor_free(y), il_tensor_free(in);
    assert_int_equal(il_net_set_forward_chunk(net, -1), IL_E_ARG);
    assert_int_equal(il_net_set_forward_chunk(NULL, 1), IL_E_ARG);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static il_status id_infer(void *ud, il_ctx *c, int nin, const int64_t *in, int64_t *out) {
    (void)ud, (void)c, (void)nin;
    *out = in[0];
    return IL_OK;
}

static il_status id_forward(void *ud, il_ctx *c, int nin, const il_tensor *const *x,
                            il_tensor *y) {
    (void)ud, (void)nin;
    return il_tensor_copy_(c, y, x[0]);
}

static il_status id_backward(void *ud, il_ctx *c, int nin, const il_tensor *const *x,
                             const il_tensor *y, const il_tensor *dy, il_tensor *const *dx) {
    (void)ud, (void)nin, (void)x, (void)y;
    return il_tensor_copy_(c, dx[0], dy);
}

/* A custom layer may couple rows: such a net runs whole, whatever the chunk setting. */
static void test_custom_not_chunked(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    int x = -1, node = -1;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &x), IL_OK);
    il_custom_layer cl;
    memset(&cl, 0, sizeof cl);
    cl.infer = id_infer;
    cl.forward = id_forward;
    cl.backward = id_backward;
    cl.kind_name = "identity";
    int h = add(net, IL_LAYER_LINEAR, (il_layer_opts){.out_features = 4}, x);
    assert_int_equal(il_net_custom(net, &cl, 1, &h, &node), IL_OK);
    assert_int_equal(il_net_set_forward_chunk(net, 7), IL_OK);
    il_tensor *in = rand_x(ctx, IL_DTYPE_F64, 100, 2), *y = NULL;
    assert_int_equal(il_net_forward(net, 1, (const il_tensor *const *)&in, &y), IL_OK);
    assert_int_equal(net->batch, 100);
    il_tensor_free(y), il_tensor_free(in);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* Bad inputs report as before: a chunked net still names the problem. */
static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = two_input_net(ctx, IL_DTYPE_F64);
    assert_int_equal(il_net_set_forward_chunk(net, 2), IL_OK);
    il_tensor *x[2] = {rand_x(ctx, IL_DTYPE_F64, 10, 2), rand_x(ctx, IL_DTYPE_F64, 9, 3)}, *y;
    assert_int_equal(il_net_forward(net, 2, (const il_tensor *const *)x, &y), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "input 2: expected (10, 3), got (9, 3)");
    assert_int_equal(il_net_forward(net, 1, (const il_tensor *const *)x, &y), IL_E_ARG);
    il_tensor_free(x[1]);
    x[1] = rand_x(ctx, IL_DTYPE_F64, 10, 4);
    assert_int_equal(il_net_forward(net, 2, (const il_tensor *const *)x, &y), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "input 2: expected (10, 3), got (10, 4)");
    il_tensor_free(x[0]), il_tensor_free(x[1]);
    il_net_free(net);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep),        cmocka_unit_test(test_two_inputs),
        cmocka_unit_test(test_large_batch), cmocka_unit_test(test_auto_budget),
        cmocka_unit_test(test_custom_not_chunked), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
