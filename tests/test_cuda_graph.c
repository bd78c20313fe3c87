/*
 * test_cuda_graph.c: training steps as CUDA graph replays (issue 9, core/nn_graph.c and
 * cuda/graph.cu). A replayed step computes what the eager step computes (same kernels, same
 * order), under a learning rate changed every step; it reads nothing back and allocates nothing
 * unless asked for the loss; a NaN loss skips the update on the device; steps that need the
 * host stay eager; a fixed set of batch tensors replays; a TF32 change records anew.
 * Exits 77 when there is no CUDA device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cudatest.h"
#include "nn_impl.h"

static il_ctx *ctx;

enum { BATCH = 64, IN = 3, OUT = 2 };

/* 3-16-16-2 tanh/relu net on CUDA, seeded; dropout p > 0 adds a dropout layer. */
static il_net *build(il_dtype dt, double dropout) {
    il_net *net = NULL;
    il_ctx_seed(ctx, 99);
    CT_OK(ctx, il_net_new(ctx, dt, &net));
    int node;
    CT_OK(ctx, il_net_input(net, IN, &node));
    il_layer_kind acts[2] = {IL_LAYER_TANH, IL_LAYER_RELU};
    for (int l = 0; l < 3; l++) {
        il_layer_opts o;
        memset(&o, 0, sizeof o);
        o.out_features = l == 2 ? OUT : 16;
        CT_OK(ctx, il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &node, &node));
        if (l == 2) break;
        memset(&o, 0, sizeof o);
        CT_OK(ctx, il_net_layer(net, acts[l], &o, 1, &node, &node));
        if (l == 0 && dropout > 0) {
            memset(&o, 0, sizeof o);
            o.p = dropout;
            CT_OK(ctx, il_net_layer(net, IL_LAYER_DROPOUT, &o, 1, &node, &node));
        }
    }
    CT_OK(ctx, il_net_move(net, IL_DEVICE_CUDA));
    return net;
}

/* Uniform [-1, 1) data of rows x cols on CUDA, from seed. */
static il_tensor *data(il_dtype dt, int64_t rows, int64_t cols, uint64_t seed) {
    int64_t shape[2] = {rows, cols};
    il_tensor *t = NULL, *u = NULL, *v = NULL;
    il_ctx_seed(ctx, seed);
    CT_OK(ctx, il_tensor_rand(ctx, 2, shape, dt, IL_DEVICE_CUDA, &t));
    CT_OK(ctx, il_tensor_binary_scalar(ctx, IL_OP_MUL, t, 2, 0, &u));
    CT_OK(ctx, il_tensor_binary_scalar(ctx, IL_OP_SUB, u, 1, 0, &v));
    il_tensor_free(t), il_tensor_free(u);
    return v;
}

/* An optimizer of kind for net: lr, momentum (SGD), clip_norm; the rest defaults. */
static il_optim *optim(il_net *net, il_optim_kind kind, double lr, double momentum, double clip) {
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = lr;
    oo.momentum = momentum;
    oo.clip_norm = clip;
    il_optim *opt = NULL;
    CT_OK(ctx, il_optim_new(net, kind, &oo, &opt));
    return opt;
}

static double *params_of(il_net *net) {
    int64_t n = il_net_num_params(net);
    double *p = malloc((size_t)n * sizeof *p);
    CT_OK(ctx, il_tensor_read(ctx, ili_net_params(net), p, IL_DTYPE_F64, n));
    return p;
}

/* Graph replays equal eager steps, losses and parameters, with lr changing every step. */
static void test_equal_to_eager(il_dtype dt) {
    enum { STEPS = 12 };
    il_tensor *x = data(dt, BATCH, IN, 1), *y = data(dt, BATCH, OUT, 2);
    const il_tensor *xs[1] = {x};
    il_loss loss = {IL_LOSS_MSE, 0};
    double lg[STEPS], le[STEPS];
    double *pg = NULL, *pe = NULL;
    for (int mode = 0; mode < 2; mode++) {
        il_net *net = build(dt, 0);
        CT_OK(ctx, il_net_set_graph(net, mode ? IL_GRAPH_OFF : IL_GRAPH_AUTO));
        il_optim *opt = optim(net, IL_OPTIM_ADAM, 1e-2, 0, 0);
        for (int s = 0; s < STEPS; s++) {
            CT_OK(ctx, il_optim_set_lr(opt, 1e-2 / (1 + s)));
            CT_OK(ctx, il_net_step(net, 1, xs, y, &loss, opt, mode ? &le[s] : &lg[s]));
            int want = mode ? 0 : s == 0 ? 0 : s == 1 ? 1 : 2;
            CT_CHECK(il_net_last_step_graph(net) == want, "step %d ran as %d, not %d", s,
                     il_net_last_step_graph(net), want);
        }
        CT_CHECK(il_optim_steps(opt) == STEPS, "optimizer steps %lld",
                 (long long)il_optim_steps(opt));
        if (mode) pe = params_of(net);
        else pg = params_of(net);
        il_optim_free(opt);
        il_net_free(net);
    }
    double tol = dt == IL_DTYPE_F32 ? 1e-6 : 1e-13;
    for (int s = 0; s < STEPS; s++)
        CT_CHECK(fabs(lg[s] - le[s]) <= tol * fabs(le[s]), "%s step %d: loss %.17g graph, %.17g eager",
                 il_dtype_name(dt), s, lg[s], le[s]);
    int64_t bad = 0, n = 16 * IN + 16 + 16 * 16 + 16 + 16 * OUT + OUT;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(pg[i] - pe[i]) <= tol * (fabs(pe[i]) + 1e-3)) && bad++ < 3)
            ct_fail(__FILE__, __LINE__, "%s parameter %lld: %.17g graph, %.17g eager",
                    il_dtype_name(dt), (long long)i, pg[i], pe[i]);
    printf("%s: %d steps, graph replays equal eager steps (%s)\n", il_dtype_name(dt), STEPS,
           bad ? "NOT equal" : "within 1e-6 / 1e-13");
    free(pg), free(pe);
    il_tensor_free(x), il_tensor_free(y);
}

/* Replays without a loss read: no sync, no copy, no allocation; one launch per step. */
static void test_no_readback(void) {
    il_tensor *x = data(IL_DTYPE_F32, BATCH, IN, 3), *y = data(IL_DTYPE_F32, BATCH, OUT, 4);
    const il_tensor *xs[1] = {x};
    il_loss loss = {IL_LOSS_MSE, 0};
    il_net *net = build(IL_DTYPE_F32, 0);
    il_optim *opt = optim(net, IL_OPTIM_ADAM, 1e-2, 0, 0);
    for (int s = 0; s < 3; s++) CT_OK(ctx, il_net_step(net, 1, xs, y, &loss, opt, NULL));
    ili_cuda_counts a, b;
    ili_cuda_counts_get(ctx, &a);
    enum { N = 20 };
    for (int s = 0; s < N; s++) CT_OK(ctx, il_net_step(net, 1, xs, y, &loss, opt, NULL));
    ili_cuda_counts_get(ctx, &b);
    printf("graph replay, per step: %.1f launches, %.1f graph nodes, %llu syncs, %llu d2h, "
           "%llu h2d, %llu mallocs over %d steps\n",
           (double)(b.launches - a.launches) / N, (double)(b.graph_nodes - a.graph_nodes) / N,
           (unsigned long long)(b.syncs - a.syncs), (unsigned long long)(b.d2h - a.d2h),
           (unsigned long long)(b.h2d - a.h2d), (unsigned long long)(b.mallocs - a.mallocs), N);
    CT_CHECK(b.graphs - a.graphs == N && b.launches - a.launches == N, "not one graph per step");
    CT_CHECK(b.syncs == a.syncs && b.d2h == a.d2h && b.h2d == a.h2d, "host traffic per step");
    CT_CHECK(b.mallocs == a.mallocs && b.frees == a.frees, "allocations per step");
    double l = 0;
    CT_OK(ctx, il_net_last_loss(net, &l));
    CT_CHECK(isfinite(l) && l > 0, "last loss %g", l);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x), il_tensor_free(y);
}

/* A NaN loss during replays: the update is skipped on the device, the read reports it. */
static void test_nan_guard(void) {
    il_tensor *x = data(IL_DTYPE_F32, BATCH, IN, 5), *y = data(IL_DTYPE_F32, BATCH, OUT, 6);
    const il_tensor *xs[1] = {x};
    il_loss loss = {IL_LOSS_MSE, 0};
    il_net *net = build(IL_DTYPE_F32, 0);
    il_optim *opt = optim(net, IL_OPTIM_SGD, 0.1, 0.9, 0);
    for (int s = 0; s < 4; s++) CT_OK(ctx, il_net_step(net, 1, xs, y, &loss, opt, NULL));
    CT_CHECK(il_net_last_step_graph(net) == 2, "not replaying");
    double *before = params_of(net);
    CT_OK(ctx, il_tensor_fill_(ctx, y, NAN)); /* same memory: the graph reads it */
    CT_OK(ctx, il_net_step(net, 1, xs, y, &loss, opt, NULL));
    CT_CHECK(il_net_last_step_graph(net) == 2, "the NaN step did not replay");
    double v = 0;
    CT_CHECK(il_net_last_loss(net, &v) == IL_E_NUMERIC, "NaN loss not reported");
    CT_CHECK(strstr(il_errmsg(ctx), "loss is nan at step 5; its update was skipped") != NULL,
             "message: %s", il_errmsg(ctx));
    double *after = params_of(net);
    int64_t n = il_net_num_params(net), changed = 0;
    for (int64_t i = 0; i < n; i++) changed += before[i] != after[i];
    CT_CHECK(changed == 0, "%lld parameters changed by a NaN step", (long long)changed);
    CT_CHECK(il_net_step(net, 1, xs, y, &loss, opt, &v) == IL_E_NUMERIC, "reading step");
    free(before), free(after);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x), il_tensor_free(y);
}

/* Steps that need the host stay eager: dropout in training, clipping, class indices, OFF. */
static void test_eager_cases(void) {
    il_tensor *x = data(IL_DTYPE_F32, BATCH, IN, 7), *y = data(IL_DTYPE_F32, BATCH, OUT, 8);
    const il_tensor *xs[1] = {x};
    il_tensor *cls = NULL;
    int64_t cs[1] = {BATCH};
    CT_OK(ctx, il_tensor_zeros(ctx, 1, cs, IL_DTYPE_I64, IL_DEVICE_CUDA, &cls));
    struct {
        const char *name;
        double dropout, clip;
        il_loss_kind loss;
        const il_tensor *target;
        il_graph_mode mode;
    } cases[] = {
        {"dropout", 0.25, 0, IL_LOSS_MSE, y, IL_GRAPH_AUTO},
        {"clip_norm", 0, 1.0, IL_LOSS_MSE, y, IL_GRAPH_AUTO},
        {"class indices", 0, 0, IL_LOSS_CROSS_ENTROPY, cls, IL_GRAPH_AUTO},
        {"graph off", 0, 0, IL_LOSS_MSE, y, IL_GRAPH_OFF},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        il_net *net = build(IL_DTYPE_F32, cases[c].dropout);
        CT_OK(ctx, il_net_set_graph(net, cases[c].mode));
        il_optim *opt = optim(net, IL_OPTIM_SGD, 1e-2, 0, cases[c].clip);
        il_loss loss = {cases[c].loss, 0};
        int graphs = 0;
        for (int s = 0; s < 4; s++) {
            CT_OK(ctx, il_net_step(net, 1, xs, cases[c].target, &loss, opt, NULL));
            graphs += il_net_last_step_graph(net) != 0;
        }
        CT_CHECK(graphs == 0, "%s: %d steps ran as graphs", cases[c].name, graphs);
        il_optim_free(opt);
        il_net_free(net);
    }
    CT_CHECK(il_net_set_graph(NULL, IL_GRAPH_AUTO) == IL_E_ARG, "NULL net");
    il_tensor_free(cls);
    il_tensor_free(x), il_tensor_free(y);
}

/* Two batches alternating both replay; a TF32 change records anew. */
static void test_keys(void) {
    il_tensor *xa = data(IL_DTYPE_F32, BATCH, IN, 9), *ya = data(IL_DTYPE_F32, BATCH, OUT, 10);
    il_tensor *xb = data(IL_DTYPE_F32, BATCH, IN, 11), *yb = data(IL_DTYPE_F32, BATCH, OUT, 12);
    const il_tensor *xas[1] = {xa}, *xbs[1] = {xb};
    il_loss loss = {IL_LOSS_MSE, 0};
    il_net *net = build(IL_DTYPE_F32, 0);
    il_optim *opt = optim(net, IL_OPTIM_ADAM, 1e-2, 0, 0);
    int seen[6];
    for (int s = 0; s < 6; s++) {
        CT_OK(ctx, il_net_step(net, 1, s % 2 ? xbs : xas, s % 2 ? yb : ya, &loss, opt, NULL));
        seen[s] = il_net_last_step_graph(net);
    }
    CT_CHECK(seen[0] == 0 && seen[1] == 0 && seen[2] == 1 && seen[3] == 1 && seen[4] == 2 &&
                 seen[5] == 2,
             "alternating batches ran as %d %d %d %d %d %d", seen[0], seen[1], seen[2], seen[3],
             seen[4], seen[5]);
    CT_OK(ctx, il_cuda_set_tf32(ctx, 1));
    for (int s = 0; s < 3; s++) {
        CT_OK(ctx, il_net_step(net, 1, xas, ya, &loss, opt, NULL));
        seen[s] = il_net_last_step_graph(net);
    }
    CT_OK(ctx, il_cuda_set_tf32(ctx, 0));
    CT_CHECK(seen[0] == 0 && seen[1] == 1 && seen[2] == 2, "after a TF32 change: %d %d %d",
             seen[0], seen[1], seen[2]);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(xa), il_tensor_free(ya), il_tensor_free(xb), il_tensor_free(yb);
}

int main(void) {
    ctx = ct_begin_cuda();
    test_equal_to_eager(IL_DTYPE_F32);
    test_equal_to_eager(IL_DTYPE_F64);
    test_no_readback();
    test_nan_guard();
    test_eager_cases();
    test_keys();
    return ct_end(ctx);
}
