/*
 * test_optim.c: the optimizers. The OPTIM kernels over a few steps against
 * float64 references of torch.optim's formulas written here; the SUMSQ
 * reduction; then il_optim_* on a real network: options and their errors,
 * clipping to exactly clip_norm, set_lr, AdamW vs Adam, buffers of another or a
 * grown network, no allocation in steady-state steps, and an allocation-failure
 * sweep over il_optim_new.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

#define N 37
#define STEPS 5

static const il_dtype FLOATS[2] = {IL_DTYPE_F32, IL_DTYPE_F64};
static uint64_t rng = 0x13198A2E03707344ull;

/* ---- float64 references (torch.optim, defaults elsewhere)
 * --------------------------------- */

typedef struct hyper {
    double lr, mom, wd, b1, b2, eps, alpha;
    int nesterov, decoupled;
} hyper;

/* One step of kind (0 SGD, 1 Adam/AdamW, 2 RMSprop) at step t (1-based) on n
 * elements. */
static void ref_step(int kind, const hyper *h, int t, double *w, const double *grad, double *s0,
                     double *s1, int n) {
    for (int i = 0; i < n; i++) {
        double g = grad[i];
        if (kind == 1 && h->decoupled) {
            w[i] *= 1 - h->lr * h->wd;
        } else {
            g += h->wd * w[i];
        }
        if (kind == 0) {
            if (h->mom != 0) {
                s0[i] = t == 1 ? g : h->mom * s0[i] + g;
                g = h->nesterov ? g + h->mom * s0[i] : s0[i];
            }
            w[i] -= h->lr * g;
        } else if (kind == 1) {
            s0[i] = h->b1 * s0[i] + (1 - h->b1) * g;
            s1[i] = h->b2 * s1[i] + (1 - h->b2) * g * g;
            double mhat = s0[i] / (1 - pow(h->b1, t)), vhat = s1[i] / (1 - pow(h->b2, t));
            w[i] -= h->lr * mhat / (sqrt(vhat) + h->eps);
        } else {
            s0[i] = h->alpha * s0[i] + (1 - h->alpha) * g * g;
            double r = g / (sqrt(s0[i]) + h->eps);
            if (h->mom > 0) r = s1[i] = h->mom * s1[i] + r;
            w[i] -= h->lr * r;
        }
    }
}

/* ---- kernels through the backend
 * ---------------------------------------------------------- */

static il_tensor *vec(il_ctx *ctx, il_dtype dt, const double *v) {
    return tu_tensor(ctx, dt, v, 1, N);
}

/* The opcall of kind for hyper h at step t, on w, g and states s[0..1]. */
static void make_call(int kind, const hyper *h, int t, il_tensor *w, il_tensor *g,
                      il_tensor *const *s, il_opcall *c) {
    memset(c, 0, sizeof *c);
    ili_tensor_desc(w, &c->out);
    ili_tensor_desc(g, &c->in[0]);
    ili_tensor_desc(s[0], &c->in[1]);
    ili_tensor_desc(s[1], &c->in[2]);
    c->nin = 3;
    double p0[IL_MAX_OP_PARAMS] = {h->lr, h->mom, h->wd, h->nesterov, t == 1};
    double p1[IL_MAX_OP_PARAMS] = {
        h->lr, h->b1, h->b2, h->eps, h->wd, h->decoupled, 1 - pow(h->b1, t), 1 - pow(h->b2, t)};
    double p2[IL_MAX_OP_PARAMS] = {h->lr, h->alpha, h->eps, h->wd, h->mom};
    c->op = kind == 0 ? IL_OP_SGD_UPDATE : kind == 1 ? IL_OP_ADAM_UPDATE : IL_OP_RMSPROP_UPDATE;
    memcpy(c->p, kind == 0 ? p0 : kind == 1 ? p1 : p2, sizeof c->p);
}

static void check_kernel(il_ctx *ctx, int kind, const hyper *h, il_dtype dt) {
    double w[N], s0[N] = {0}, s1[N] = {0}, g[N], zero[N] = {0};
    for (int i = 0; i < N; i++)
        w[i] = tu_urand(&rng, -1, 1);
    il_tensor *wt = vec(ctx, dt, w), *s[2] = {vec(ctx, dt, zero), vec(ctx, dt, zero)};
    double *wv = tu_values(ctx, wt); /* the reference starts from the rounded values */
    memcpy(w, wv, sizeof w);
    free(wv);
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++)
            g[i] = tu_urand(&rng, -2, 2);
        il_tensor *gt = vec(ctx, dt, g);
        double *gv = tu_values(ctx, gt);
        il_opcall c;
        make_call(kind, h, t, wt, gt, s, &c);
        assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_OK);
        ref_step(kind, h, t, w, gv, s0, s1, N);
        free(gv);
        il_tensor_free(gt);
    }
    double tol = dt == IL_DTYPE_F32 ? 2e-5 : 1e-12;
    double *got = tu_values(ctx, wt), *g0 = tu_values(ctx, s[0]);
    tu_assert_close(got, w, N, tol, tol);
    if (kind != 0 || h->mom != 0) tu_assert_close(g0, s0, N, tol, tol);
    free(got), free(g0);
    il_tensor_free(wt), il_tensor_free(s[0]), il_tensor_free(s[1]);
}

static void test_kernels(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    const struct {
        int kind;
        hyper h;
    } cases[] = {
        {0, {.lr = 0.1}},
        {0, {.lr = 0.1, .wd = 0.05}},
        {0, {.lr = 0.05, .mom = 0.9}},
        {0, {.lr = 0.05, .mom = 0.9, .wd = 0.01, .nesterov = 1}},
        {1, {.lr = 1e-2, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8}},
        {1, {.lr = 1e-2, .b1 = 0.8, .b2 = 0.99, .eps = 1e-6, .wd = 0.1}},
        {1, {.lr = 1e-2, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 0.1, .decoupled = 1}},
        {2, {.lr = 1e-2, .alpha = 0.99, .eps = 1e-8}},
        {2, {.lr = 1e-2, .alpha = 0.9, .eps = 1e-8, .mom = 0.5, .wd = 0.02}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int d = 0; d < 2; d++) check_kernel(ctx, cases[k].kind, &cases[k].h, FLOATS[d]);
    tu_ctx_done(ctx);
}

/* SUMSQ over all elements and along an axis, f32 and f64; not for i64. */
static void test_sumsq(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double v[12];
    for (int i = 0; i < 12; i++)
        v[i] = tu_urand(&rng, -3, 3);
    for (int d = 0; d < 2; d++) {
        il_tensor *t = tu_tensor(ctx, FLOATS[d], v, 2, 3, 4), *r = NULL, *tt = NULL;
        double *tv = tu_values(ctx, t), all = 0, rows[3] = {0}, cols[4] = {0};
        for (int i = 0; i < 12; i++) all += tv[i] * tv[i];
        for (int i = 0; i < 12; i++) rows[i / 4] += tv[i] * tv[i], cols[i % 4] += tv[i] * tv[i];
        double tol = d == 0 ? 1e-6 : 1e-14;
        assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUMSQ, t, IL_AXIS_ALL, 0, &r), IL_OK);
        double *rv = tu_values(ctx, r);
        tu_assert_close(rv, &all, 1, tol, tol);
        free(rv), il_tensor_free(r);
        assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUMSQ, t, 1, 0, &r), IL_OK);
        rv = tu_values(ctx, r);
        tu_assert_close(rv, rows, 3, tol, tol);
        free(rv), il_tensor_free(r);
        assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &tt), IL_OK);
        assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUMSQ, tt, 1, 0, &r), IL_OK);
        rv = tu_values(ctx, r);
        tu_assert_close(rv, cols, 4, tol, tol);
        free(rv), free(tv), il_tensor_free(r), il_tensor_free(tt), il_tensor_free(t);
    }
    il_tensor *i = tu_tensor(ctx, IL_DTYPE_I64, v, 1, 3), *r = NULL;
    assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUMSQ, i, IL_AXIS_ALL, 0, &r), IL_E_DTYPE);
    il_tensor_free(i);
    tu_ctx_done(ctx);
}

/* ---- il_optim_* on a network
 * ---------------------------------------------------------------- */

/* A 3-4-2 linear network (14 + 10 = ... parameters) of dtype dt. */
static il_net *small_net(il_ctx *ctx, il_dtype dt, int layers) {
    il_net *net = NULL;
    int node = 0;
    if (il_net_new(ctx, dt, &net) != IL_OK) fail_msg("il_net_new: %s", il_errmsg(ctx));
    assert_int_equal(il_net_input(net, 3, &node), IL_OK);
    for (int k = 0; k < layers; k++) {
        il_layer_opts o = {.out_features = k == layers - 1 ? 2 : 4};
        if (il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &node, &node) != IL_OK)
            fail_msg("il_net_layer: %s", il_errmsg(ctx));
    }
    return net;
}

static void set_grads(il_net *net, double scale) {
    il_tensor *g = ili_net_grads(net);
    int64_t n = il_tensor_numel(g);
    for (int64_t i = 0; i < n; i++) {
        double v = scale * tu_urand(&rng, -1, 1);
        if (g->dtype == IL_DTYPE_F32)
            ((float *)il_tensor_data(g))[i] = (float)v;
        else
            ((double *)il_tensor_data(g))[i] = v;
    }
}

static void apply(il_optim *opt, il_net *net) {
    il_status s = ili_optim_apply(opt, ili_net_params(net), ili_net_grads(net));
    if (s != IL_OK) fail_msg("apply: %s", il_errmsg(il_tensor_ctx(ili_net_params(net))));
}

/* Steps of the optimizer (kind, opts) against the reference with hyper h, in
 * f64. */
static void check_net(il_ctx *ctx, il_optim_kind kind, const il_optim_opts *o, int rk,
                      const hyper *h) {
    il_net *net = small_net(ctx, IL_DTYPE_F64, 2);
    il_optim *opt = NULL;
    if (il_optim_new(net, kind, o, &opt) != IL_OK) fail_msg("optim_new: %s", il_errmsg(ctx));
    int64_t n = il_net_num_params(net);
    double *w = il_tensor_data(ili_net_params(net)), *g = il_tensor_data(ili_net_grads(net));
    double *rw = calloc((size_t)n * 3, sizeof(double));
    memcpy(rw, w, (size_t)n * sizeof(double));
    for (int t = 1; t <= STEPS; t++) {
        set_grads(net, 1);
        ref_step(rk, h, t, rw, g, rw + n, rw + 2 * n, (int)n);
        apply(opt, net);
        assert_int_equal(il_optim_steps(opt), t);
    }
    tu_assert_close(w, rw, n, 1e-13, 1e-12);
    free(rw);
    il_optim_free(opt);
    il_net_free(net);
}

static void test_net_updates(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_optim_opts sgd = {.lr = 0.1, .momentum = 0.9, .nesterov = 1, .weight_decay = 0.01};
    check_net(ctx, IL_OPTIM_SGD, &sgd, 0,
              &(hyper){.lr = 0.1, .mom = 0.9, .wd = 0.01, .nesterov = 1});
    il_optim_opts adam = {.lr = 0.01, .weight_decay = 0.1};
    hyper ha = {.lr = 0.01, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 0.1};
    check_net(ctx, IL_OPTIM_ADAM, &adam, 1, &ha);
    ha.decoupled = 1;
    check_net(ctx, IL_OPTIM_ADAMW, &adam, 1, &ha);
    il_optim_opts adamw = {.lr = 0.01}; /* AdamW's default weight decay is 0.01 */
    ha.wd = 0.01;
    check_net(ctx, IL_OPTIM_ADAMW, &adamw, 1, &ha);
    il_optim_opts rms = {.lr = 0.01, .momentum = 0.5};
    check_net(ctx, IL_OPTIM_RMSPROP, &rms, 2,
              &(hyper){.lr = 0.01, .alpha = 0.99, .eps = 1e-8, .mom = 0.5});
    tu_ctx_done(ctx);
}

/* Same gradients, Adam vs AdamW with weight decay: different parameters. */
static void test_adamw_differs(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double *w[2];
    il_net *nets[2];
    il_optim *opts[2];
    il_optim_opts o = {.lr = 0.1, .weight_decay = 0.5};
    for (int k = 0; k < 2; k++) {
        il_ctx_seed(ctx, 7);
        rng = 99;
        nets[k] = small_net(ctx, IL_DTYPE_F64, 1);
        assert_int_equal(il_optim_new(nets[k], k ? IL_OPTIM_ADAMW : IL_OPTIM_ADAM, &o, &opts[k]),
                         IL_OK);
        set_grads(nets[k], 1);
        apply(opts[k], nets[k]);
        w[k] = il_tensor_data(ili_net_params(nets[k]));
    }
    int64_t n = il_net_num_params(nets[0]), differ = 0;
    for (int64_t i = 0; i < n; i++) differ += fabs(w[0][i] - w[1][i]) > 1e-6;
    assert_true(differ > n / 2);
    for (int k = 0; k < 2; k++) il_optim_free(opts[k]), il_net_free(nets[k]);
    tu_ctx_done(ctx);
}

static double grad_norm(il_net *net) {
    double *v = tu_values(il_tensor_ctx(ili_net_grads(net)), ili_net_grads(net)), s = 0;
    for (int64_t i = 0; i < il_net_num_params(net); i++) s += v[i] * v[i];
    free(v);
    return sqrt(s);
}

/* Clipping scales the gradients to norm clip_norm exactly; below it nothing
 * changes. */
static void test_clipping(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    for (int d = 0; d < 2; d++) {
        il_net *net = small_net(ctx, FLOATS[d], 2);
        il_optim *opt = NULL;
        il_optim_opts o = {.lr = 0.1, .clip_norm = 0.5};
        assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, &o, &opt), IL_OK);
        set_grads(net, 10);
        assert_true(grad_norm(net) > 1);
        apply(opt, net);
        double got = grad_norm(net), want = 0.5, tol = d == 0 ? 1e-6 : 1e-14;
        tu_assert_close(&got, &want, 1, tol, tol);
        set_grads(net, 0.01); /* norm below 0.5: untouched */
        double before = grad_norm(net);
        apply(opt, net);
        got = grad_norm(net);
        tu_assert_close(&got, &before, 1, 0, 0);
        /* a non-finite gradient norm: IL_E_NUMERIC, parameters and step count
         * unchanged */
        double *w0 = tu_values(ctx, ili_net_params(net));
        il_tensor_fill_(ctx, ili_net_grads(net), INFINITY);
        assert_int_equal(ili_optim_apply(opt, ili_net_params(net), ili_net_grads(net)),
                         IL_E_NUMERIC);
        tu_assert_errmsg(ctx, "step 3");
        double *w1 = tu_values(ctx, ili_net_params(net));
        tu_assert_close(w1, w0, il_net_num_params(net), 0, 0);
        assert_int_equal(il_optim_steps(opt), 2);
        free(w0), free(w1);
        il_optim_free(opt);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

/* set_lr takes effect on the next step. */
static void test_set_lr(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = small_net(ctx, IL_DTYPE_F64, 1);
    il_optim *opt = NULL;
    il_optim_opts o = {.lr = 0.1};
    assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, &o, &opt), IL_OK);
    assert_true(il_optim_lr(opt) == 0.1);
    double *w = il_tensor_data(ili_net_params(net)), *g = il_tensor_data(ili_net_grads(net));
    set_grads(net, 1);
    double w0 = w[0], g0 = g[0];
    apply(opt, net);
    tu_assert_close(&w[0], &(double){w0 - 0.1 * g0}, 1, 0, 1e-15);
    assert_int_equal(il_optim_set_lr(opt, 0.01), IL_OK);
    assert_true(il_optim_lr(opt) == 0.01);
    w0 = w[0];
    apply(opt, net);
    tu_assert_close(&w[0], &(double){w0 - 0.01 * g0}, 1, 0, 1e-15);
    assert_int_equal(il_optim_set_lr(opt, -0.5), IL_E_ARG);
    tu_assert_errmsg(ctx, "sgd: lr must be");
    assert_int_equal(il_optim_set_lr(opt, 0), IL_OK); /* a schedule may reach 0: no update */
    w0 = w[0];
    apply(opt, net);
    assert_true(w[0] == w0);
    assert_int_equal(il_optim_set_lr(opt, NAN), IL_E_ARG);
    assert_int_equal(il_optim_set_lr(NULL, 1), IL_E_ARG);
    assert_true(il_optim_lr(NULL) == 0 && il_optim_steps(NULL) == 0);
    il_optim_free(opt);
    il_optim_free(NULL);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static void bad(il_net *net, il_optim_kind kind, il_optim_opts o, const char *msg) {
    il_optim *opt = (il_optim *)&o; /* must be reset to NULL */
    il_status s = il_optim_new(net, kind, &o, &opt);
    il_ctx *ctx = ili_net_ctx(net);
    if (s != IL_E_ARG) fail_msg("%s: got %s", msg, il_status_str(s));
    assert_null(opt);
    tu_assert_errmsg(ctx, msg);
}

static void test_bad_options(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = small_net(ctx, IL_DTYPE_F32, 1);
    bad(net, IL_OPTIM_SGD, (il_optim_opts){.lr = 0}, "sgd: lr must be finite and > 0 (got 0)");
    bad(net, IL_OPTIM_ADAM, (il_optim_opts){.lr = -1}, "adam: lr must be");
    bad(net, IL_OPTIM_SGD, (il_optim_opts){.lr = 1, .momentum = -0.5}, "momentum must be >= 0");
    bad(net, IL_OPTIM_ADAM, (il_optim_opts){.lr = 1, .beta1 = 1}, "beta1 must be in [0, 1)");
    bad(net, IL_OPTIM_ADAMW, (il_optim_opts){.lr = 1, .beta2 = -0.1}, "beta2 must be in [0, 1)");
    bad(net, IL_OPTIM_SGD, (il_optim_opts){.lr = 1, .nesterov = 1}, "nesterov needs momentum");
    bad(net, IL_OPTIM_RMSPROP, (il_optim_opts){.lr = 1, .weight_decay = -1}, "weight_decay");
    bad(net, IL_OPTIM_RMSPROP, (il_optim_opts){.lr = 1, .alpha = 1.5}, "alpha must be in [0, 1]");
    bad(net, IL_OPTIM_ADAM, (il_optim_opts){.lr = 1, .eps = -1}, "eps must be >= 0");
    bad(net, IL_OPTIM_SGD, (il_optim_opts){.lr = 1, .clip_norm = -1}, "clip_norm must be >= 0");
    bad(net, IL_OPTIM_SGD, (il_optim_opts){.lr = 1, .beta1 = 0.5}, "option beta1 does not apply");
    bad(net, IL_OPTIM_ADAM, (il_optim_opts){.lr = 1, .momentum = 0.5}, "option momentum");
    bad(net, IL_OPTIM_COUNT, (il_optim_opts){.lr = 1}, "unknown kind");
    il_optim *opt = NULL;
    assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, NULL, &opt), IL_E_ARG);
    tu_assert_errmsg(ctx, "lr is required");
    assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, &(il_optim_opts){.lr = 1}, NULL), IL_E_ARG);
    assert_int_equal(il_optim_new(NULL, IL_OPTIM_SGD, &(il_optim_opts){.lr = 1}, &opt), IL_E_ARG);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* Buffers of another network, or of this one after it grew, are refused. */
static void test_wrong_network(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *a = small_net(ctx, IL_DTYPE_F64, 1), *b = small_net(ctx, IL_DTYPE_F64, 1);
    il_optim *opt = NULL;
    assert_int_equal(il_optim_new(a, IL_OPTIM_ADAM, &(il_optim_opts){.lr = 1}, &opt), IL_OK);
    assert_int_equal(ili_optim_apply(opt, ili_net_params(b), ili_net_grads(b)), IL_E_ARG);
    tu_assert_errmsg(ctx, "another network");
    int node = 1;
    il_layer_opts lo = {.out_features = 3};
    assert_int_equal(il_net_layer(a, IL_LAYER_LINEAR, &lo, 1, &node, &node), IL_OK);
    assert_int_equal(ili_optim_apply(opt, ili_net_params(a), ili_net_grads(a)), IL_E_SHAPE);
    tu_assert_errmsg(ctx, "make a new optimizer");
    il_optim_free(opt);
    il_net_free(a), il_net_free(b);
    tu_ctx_done(ctx);
}

/* After the first step, steps allocate nothing, whatever the kind, with
 * clipping on. */
static void test_no_alloc(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    for (int k = 0; k < IL_OPTIM_COUNT; k++) {
        il_net *net = small_net(ctx, IL_DTYPE_F32, 3);
        il_optim *opt = NULL;
        il_optim_opts o = {.lr = 0.01, .clip_norm = 0.1};
        if (k == IL_OPTIM_SGD || k == IL_OPTIM_RMSPROP) o.momentum = 0.9;
        assert_int_equal(il_optim_new(net, (il_optim_kind)k, &o, &opt), IL_OK);
        set_grads(net, 1);
        apply(opt, net);
        il_mem_stats m0, m1;
        il_ctx_memory(ctx, &m0);
        for (int t = 0; t < 10; t++) {
            set_grads(net, 1);
            apply(opt, net);
        }
        il_ctx_memory(ctx, &m1);
        assert_int_equal(m1.n_allocs, m0.n_allocs);
        il_optim_free(opt);
        il_net_free(net);
    }
    tu_ctx_done(ctx);
}

/* Builds a network and its optimizers; on a failure the second optimizer was not made. */
static il_status alloc_scenario(il_ctx *ctx, void *ud) {
    il_net *net = NULL;
    il_optim *o1 = NULL, *o2 = NULL;
    int node = 0;
    il_layer_opts lo = {.out_features = 4};
    il_status s = il_net_new(ctx, IL_DTYPE_F32, &net);
    if (s == IL_OK) s = il_net_input(net, 3, &node);
    if (s == IL_OK) s = il_net_layer(net, IL_LAYER_LINEAR, &lo, 1, &node, &node);
    if (s == IL_OK) s = il_optim_new(net, IL_OPTIM_ADAM, &(il_optim_opts){.lr = 1}, &o1);
    if (s == IL_OK)
        s = il_optim_new(net, IL_OPTIM_SGD,
                         &(il_optim_opts){.lr = 1, .momentum = 0.9, .clip_norm = 1}, &o2);
    if (s != IL_OK) assert_true(o2 == NULL);
    il_optim_free(o1), il_optim_free(o2), il_net_free(net);
    return s;
}

/* Fails allocation 1..N in building a network and its optimizers: no leak,
 * clean status. */
static void test_alloc_fail(void **state) {
    (void)state;
    tu_alloc_sweep(alloc_scenario, NULL, 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),     cmocka_unit_test(test_sumsq),
        cmocka_unit_test(test_net_updates), cmocka_unit_test(test_adamw_differs),
        cmocka_unit_test(test_clipping),    cmocka_unit_test(test_set_lr),
        cmocka_unit_test(test_bad_options), cmocka_unit_test(test_wrong_network),
        cmocka_unit_test(test_no_alloc),    cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
