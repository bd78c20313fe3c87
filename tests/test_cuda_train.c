/*
 * test_cuda_train.c: layers, losses and optimizers through whole networks trained a few steps
 * on the CPU and on CUDA from the same initial weights and data; the per-step losses and the
 * final parameters agree (f64 tightly, f32 within the f32 parity tolerance). Then the steady
 * state: after warm-up, a training step on CUDA makes no cudaMalloc/cudaFree and no
 * host-to-device copy (counted by the backend); the one device-to-host copy per step is the
 * loss il_net_step returns. Exits 77 when there is no CUDA device.
 *
 * Networks are placed on CUDA by setting net->device before any layer is added, so the
 * initial weights are written straight to the device (the public route, il_net_move after
 * building, is what scripts/bench/gpu/bench_gpu.c uses).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cudatest.h"
#include "nn_impl.h"

static il_ctx *ctx;

/* One dense block: linear(out) then activation kind (IL_LAYER_INPUT: none). */
static int dense(il_net *net, int prev, int64_t out, il_layer_kind act, double p) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = out;
    int node;
    CT_OK(ctx, il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &prev, &node));
    if (act == IL_LAYER_INPUT) return node;
    memset(&o, 0, sizeof o);
    o.alpha = p, o.omega = p, o.p = p;
    CT_OK(ctx, il_net_layer(net, act, &o, 1, &node, &node));
    return node;
}

/* A net exercising every layer kind: two branches joined by add and concat, dropout. */
static il_net *build(il_device dev, il_dtype dt, int64_t in, int64_t out, int variant) {
    il_net *net = NULL;
    il_ctx_seed(ctx, 1234);
    CT_OK(ctx, il_net_new(ctx, dt, &net));
    net->device = dev;
    int x, a, b, j;
    CT_OK(ctx, il_net_input(net, in, &x));
    if (variant == 0) { /* the benchmark's shape: 2-64-64-64-1 relu */
        a = dense(net, x, 64, IL_LAYER_RELU, 0);
        a = dense(net, a, 64, IL_LAYER_RELU, 0);
        a = dense(net, a, 64, IL_LAYER_RELU, 0);
        dense(net, a, out, IL_LAYER_INPUT, 0);
        return net;
    }
    a = dense(net, x, 16, IL_LAYER_TANH, 0);
    a = dense(net, a, 16, IL_LAYER_LEAKY_RELU, 0.05);
    b = dense(net, x, 16, IL_LAYER_GELU, 0);
    b = dense(net, b, 16, IL_LAYER_SINE, 2.0);
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    int ab[2] = {a, b};
    CT_OK(ctx, il_net_layer(net, IL_LAYER_ADD, &o, 2, ab, &j));
    CT_OK(ctx, il_net_layer(net, IL_LAYER_CONCAT, &o, 2, ab, &a));
    ab[0] = j, ab[1] = a;
    CT_OK(ctx, il_net_layer(net, IL_LAYER_CONCAT, &o, 2, ab, &j));
    j = dense(net, j, 24, IL_LAYER_SOFTPLUS, 0);
    j = dense(net, j, 24, IL_LAYER_DROPOUT, 0.25);
    j = dense(net, j, 24, IL_LAYER_SIGMOID, 0);
    j = dense(net, j, 24, IL_LAYER_RELU, 0);
    if (variant == 2) { /* probabilities out (for bce) */
        dense(net, j, out, IL_LAYER_SOFTMAX, 0);
    } else {
        dense(net, j, out, IL_LAYER_INPUT, 0);
    }
    return net;
}

typedef struct run_cfg {
    const char *name;
    il_dtype dt;
    int variant;
    int64_t batch, in, out;
    il_loss loss;
    il_optim_kind opt;
    il_optim_opts oo;
    int class_targets; /* cross-entropy with class indices */
} run_cfg;

/* Trains cfg's net `steps` steps on dev; losses[] gets each step's loss; params are copied
 * to the host buffer `params` (nparams doubles). */
static void train(const run_cfg *c, il_device dev, il_tensor *x, il_tensor *y, int steps,
                  double *losses, double *params, int64_t *nparams) {
    il_net *net = build(dev, c->dt, c->in, c->out, c->variant);
    il_optim *opt = NULL;
    il_tensor *xd = NULL, *yd = NULL;
    CT_OK(ctx, il_tensor_to_device(ctx, x, dev, &xd));
    CT_OK(ctx, il_tensor_to_device(ctx, y, dev, &yd));
    CT_OK(ctx, il_optim_new(net, c->opt, &c->oo, &opt));
    const il_tensor *xs[1] = {xd};
    for (int s = 0; s < steps; s++) CT_OK(ctx, il_net_step(net, 1, xs, yd, &c->loss, opt, &losses[s]));
    *nparams = il_net_num_params(net);
    CT_OK(ctx, il_tensor_read(ctx, ili_net_params(net), params, IL_DTYPE_F64, *nparams));
    il_tensor_free(xd), il_tensor_free(yd);
    il_optim_free(opt);
    il_net_free(net);
}

/* Data for cfg: inputs in [-1, 1), targets in [0, 1) (or class indices), made on the CPU. */
static void make_data(const run_cfg *c, il_tensor **x, il_tensor **y) {
    int64_t xs[2] = {c->batch, c->in}, ys[2] = {c->batch, c->class_targets ? 1 : c->out};
    il_ctx_seed(ctx, 77);
    CT_OK(ctx, il_tensor_rand(ctx, 2, xs, c->dt, IL_DEVICE_CPU, x));
    il_tensor *t = NULL;
    CT_OK(ctx, il_tensor_binary_scalar(ctx, IL_OP_MUL, *x, 2, 0, &t));
    il_tensor_free(*x);
    CT_OK(ctx, il_tensor_binary_scalar(ctx, IL_OP_SUB, t, 1, 0, x));
    il_tensor_free(t);
    CT_OK(ctx, il_tensor_rand(ctx, 2, ys, c->dt, IL_DEVICE_CPU, y));
    if (!c->class_targets) return;
    CT_OK(ctx, il_tensor_binary_scalar(ctx, IL_OP_MUL, *y, (double)c->out, 0, &t));
    il_tensor_free(*y);
    CT_OK(ctx, il_tensor_to_dtype(ctx, t, IL_DTYPE_I64, y)); /* truncates to 0..out-1 */
    il_tensor_free(t);
}

static void parity_run(const run_cfg *c) {
    enum { STEPS = 6 };
    il_tensor *x = NULL, *y = NULL;
    make_data(c, &x, &y);
    double lc[STEPS], lg[STEPS];
    static double pc[1 << 16], pg[1 << 16];
    int64_t nc = 0, ng = 0;
    train(c, IL_DEVICE_CPU, x, y, STEPS, lc, pc, &nc);
    train(c, IL_DEVICE_CUDA, x, y, STEPS, lg, pg, &ng);
    double atol = c->dt == IL_DTYPE_F32 ? 1e-5 : 1e-10, rtol = c->dt == IL_DTYPE_F32 ? 1e-4 : 1e-8;
    for (int s = 0; s < STEPS; s++)
        CT_CHECK(fabs(lc[s] - lg[s]) <= atol + rtol * fabs(lc[s]), "%s step %d: loss %.17g / %.17g",
                 c->name, s, lc[s], lg[s]);
    CT_CHECK(nc == ng && nc > 0, "%s: %lld / %lld parameters", c->name, (long long)nc,
             (long long)ng);
    int64_t bad = 0;
    for (int64_t i = 0; i < nc && i < ng; i++)
        if (!(fabs(pc[i] - pg[i]) <= atol + rtol * fabs(pc[i])) && bad++ < 3)
            ct_fail(__FILE__, __LINE__, "%s: parameter %lld: %.17g / %.17g", c->name,
                    (long long)i, pc[i], pg[i]);
    printf("%-28s losses %.6g -> %.6g on both devices\n", c->name, lc[0], lc[STEPS - 1]);
    il_tensor_free(x), il_tensor_free(y);
}

static void test_parity(void) {
    const il_dtype F64 = IL_DTYPE_F64;
    run_cfg cfgs[] = {
        {"mse adam f64", F64, 1, 256, 3, 2, {IL_LOSS_MSE, 0}, IL_OPTIM_ADAM, {.lr = 1e-2}, 0},
        {"huber adamw f64", F64, 1, 256, 3, 2, {IL_LOSS_HUBER, 0.5}, IL_OPTIM_ADAMW, {.lr = 1e-2}, 0},
        {"l1 rmsprop f64", F64, 1, 100, 3, 2, {IL_LOSS_L1, 0}, IL_OPTIM_RMSPROP,
         {.lr = 1e-3, .momentum = 0.5}, 0},
        {"bce sgd f64", F64, 2, 128, 3, 4, {IL_LOSS_BCE, 0}, IL_OPTIM_SGD,
         {.lr = 0.1, .momentum = 0.9, .nesterov = 1, .clip_norm = 1.0}, 0},
        {"bce_logits sgd f64", F64, 1, 128, 3, 4, {IL_LOSS_BCE_LOGITS, 0}, IL_OPTIM_SGD,
         {.lr = 0.1, .weight_decay = 1e-3}, 0},
        {"ce index adam f64", F64, 1, 300, 3, 5, {IL_LOSS_CROSS_ENTROPY, 0}, IL_OPTIM_ADAM,
         {.lr = 1e-2}, 1},
        {"ce probs sgd f64", F64, 1, 300, 3, 5, {IL_LOSS_CROSS_ENTROPY, 0}, IL_OPTIM_SGD,
         {.lr = 0.1}, 0},
        {"2-64-64-64-1 mse sgd f32", IL_DTYPE_F32, 0, 4096, 2, 1, {IL_LOSS_MSE, 0}, IL_OPTIM_SGD,
         {.lr = 0.05, .momentum = 0.9}, 0},
        {"mse sgd f32", IL_DTYPE_F32, 1, 512, 3, 2, {IL_LOSS_MSE, 0}, IL_OPTIM_SGD, {.lr = 0.05},
         0},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) parity_run(&cfgs[i]);
}

/* After warm-up, steps allocate nothing and copy nothing to the device. IL_CT_QUICK (under
 * compute-sanitizer, which checks every access) shrinks the batch. */
static void test_steady_state(void) {
    int64_t n = getenv("IL_CT_QUICK") ? 4000 : 40000;
    run_cfg c = {"steady", IL_DTYPE_F32, 0, n, 2, 1, {IL_LOSS_MSE, 0}, IL_OPTIM_ADAM,
                 {.lr = 1e-3}, 0};
    il_tensor *x = NULL, *y = NULL, *xd = NULL, *yd = NULL;
    make_data(&c, &x, &y);
    il_net *net = build(IL_DEVICE_CUDA, c.dt, c.in, c.out, 0);
    il_optim *opt = NULL;
    CT_OK(ctx, il_tensor_to_device(ctx, x, IL_DEVICE_CUDA, &xd));
    CT_OK(ctx, il_tensor_to_device(ctx, y, IL_DEVICE_CUDA, &yd));
    CT_OK(ctx, il_optim_new(net, c.opt, &c.oo, &opt));
    const il_tensor *xs[1] = {xd};
    double loss;
    for (int s = 0; s < 3; s++) CT_OK(ctx, il_net_step(net, 1, xs, yd, &c.loss, opt, &loss));
    ili_cuda_counts a, b;
    ili_cuda_counts_get(ctx, &a);
    enum { N = 20 };
    for (int s = 0; s < N; s++) CT_OK(ctx, il_net_step(net, 1, xs, yd, &c.loss, opt, &loss));
    ili_cuda_counts_get(ctx, &b);
    printf("steady state, per step: %.1f launches, %.1f syncs, %.1f d2h, %llu mallocs, "
           "%llu frees, %llu h2d over %d steps\n",
           (double)(b.launches - a.launches) / N, (double)(b.syncs - a.syncs) / N,
           (double)(b.d2h - a.d2h) / N, (unsigned long long)(b.mallocs - a.mallocs),
           (unsigned long long)(b.frees - a.frees), (unsigned long long)(b.h2d - a.h2d), N);
    CT_CHECK(b.mallocs == a.mallocs && b.frees == a.frees, "allocations in steady state");
    CT_CHECK(b.h2d == a.h2d, "host-to-device copies in steady state");
    CT_CHECK(b.d2h - a.d2h <= N, "more than the loss read back per step");
    il_tensor_free(x), il_tensor_free(y), il_tensor_free(xd), il_tensor_free(yd);
    il_optim_free(opt);
    il_net_free(net);
}

int main(void) {
    ctx = ct_begin_cuda();
    test_parity();
    test_steady_state();
    return ct_end(ctx);
}
