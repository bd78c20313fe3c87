/*
 * test_train_ref.c: acceptance test of a training step. A 2-5-5-1 network (linear, tanh,
 * linear, tanh, linear) is trained in float64 for 20 SGD steps (lr 0.1, MSE, one fixed batch of
 * 8) through il_net_step, and compared with the same 20 steps written here by hand in plain C
 * loops (forward, MSE, backward, SGD with PyTorch's momentum rule), starting from the
 * network's own initial weights. Parameters and losses must agree to 1e-10.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define B 8
#define STEPS 20
#define LR 0.1

/* Sizes of the three linear layers: in -> out. */
static const int dims[4] = {2, 5, 5, 1};

/* The hand-written reference: weights w[l] (in, out) row-major, biases b[l] (out). */
typedef struct ref {
    double w[3][25], b[3][5];
    double vw[3][25], vb[3][5]; /* momentum buffers */
} ref;

/* a (B, in) x w (in, out) + b -> z (B, out) */
static void affine(const double *a, const double *w, const double *b, double *z, int in,
                   int out) {
    for (int r = 0; r < B; r++)
        for (int j = 0; j < out; j++) {
            double s = b[j];
            for (int k = 0; k < in; k++) s += a[r * in + k] * w[k * out + j];
            z[r * out + j] = s;
        }
}

/* dw = a^T dz, db = column sums of dz, da = dz w^T (da may be NULL). */
static void affine_back(const double *a, const double *w, const double *dz, double *dw,
                        double *db, double *da, int in, int out) {
    for (int k = 0; k < in; k++)
        for (int j = 0; j < out; j++) {
            double s = 0;
            for (int r = 0; r < B; r++) s += a[r * in + k] * dz[r * out + j];
            dw[k * out + j] = s;
        }
    for (int j = 0; j < out; j++) {
        double s = 0;
        for (int r = 0; r < B; r++) s += dz[r * out + j];
        db[j] = s;
    }
    for (int r = 0; da && r < B; r++)
        for (int k = 0; k < in; k++) {
            double s = 0;
            for (int j = 0; j < out; j++) s += dz[r * out + j] * w[k * out + j];
            da[r * in + k] = s;
        }
}

/* p -= lr * g, or with momentum m: v = g (first step) or m v + g, then p -= lr * v. */
static void sgd(double *p, double *v, const double *g, int n, double m, int first) {
    for (int i = 0; i < n; i++) {
        double d = g[i];
        if (m > 0) {
            v[i] = first ? g[i] : m * v[i] + g[i];
            d = v[i];
        }
        p[i] -= LR * d;
    }
}

/* One step of the reference; returns the loss before the update. */
static double ref_step(ref *R, const double *x, const double *t, double m, int first) {
    double z1[B * 5], h1[B * 5], z2[B * 5], h2[B * 5], y[B];
    affine(x, R->w[0], R->b[0], z1, 2, 5);
    for (int i = 0; i < B * 5; i++) h1[i] = tanh(z1[i]);
    affine(h1, R->w[1], R->b[1], z2, 5, 5);
    for (int i = 0; i < B * 5; i++) h2[i] = tanh(z2[i]);
    affine(h2, R->w[2], R->b[2], y, 5, 1);
    double loss = 0, dy[B];
    for (int r = 0; r < B; r++) {
        loss += (y[r] - t[r]) * (y[r] - t[r]) / B;
        dy[r] = 2 * (y[r] - t[r]) / B;
    }
    double gw[3][25], gb[3][5], dh2[B * 5], dh1[B * 5];
    affine_back(h2, R->w[2], dy, gw[2], gb[2], dh2, 5, 1);
    for (int i = 0; i < B * 5; i++) dh2[i] *= 1 - h2[i] * h2[i];
    affine_back(h1, R->w[1], dh2, gw[1], gb[1], dh1, 5, 5);
    for (int i = 0; i < B * 5; i++) dh1[i] *= 1 - h1[i] * h1[i];
    affine_back(x, R->w[0], dh1, gw[0], gb[0], NULL, 2, 5);
    for (int l = 0; l < 3; l++) {
        sgd(R->w[l], R->vw[l], gw[l], dims[l] * dims[l + 1], m, first);
        sgd(R->b[l], R->vb[l], gb[l], dims[l + 1], m, first);
    }
    return loss;
}

static il_net *build(il_ctx *ctx) {
    il_net *net = NULL;
    int id;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &id), IL_OK);
    for (int l = 0; l < 3; l++) {
        il_layer_opts o;
        memset(&o, 0, sizeof o);
        o.out_features = dims[l + 1];
        o.init = IL_INIT_UNIFORM; /* non-zero biases, so they are checked too */
        assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &id, &id), IL_OK);
        if (l < 2) assert_int_equal(il_net_layer(net, IL_LAYER_TANH, NULL, 1, &id, &id), IL_OK);
    }
    return net;
}

/* Reads the net's parameters into (or, with cmp, compares them against) the reference. */
static void sync_params(il_ctx *ctx, il_net *net, ref *R, int cmp) {
    il_tensor *p[6];
    const char *names[6];
    int n = 0;
    assert_int_equal(il_net_parameters(net, p, names, 6, &n), IL_OK);
    assert_int_equal(n, 6);
    assert_string_equal(names[0], "linear1.weight");
    assert_string_equal(names[5], "linear5.bias");
    for (int l = 0; l < 3; l++) {
        double *w = tu_values(ctx, p[2 * l]), *b = tu_values(ctx, p[2 * l + 1]);
        int nw = dims[l] * dims[l + 1], nb = dims[l + 1];
        if (cmp) {
            tu_assert_close(w, R->w[l], nw, 1e-10, 0);
            tu_assert_close(b, R->b[l], nb, 1e-10, 0);
        } else {
            memcpy(R->w[l], w, sizeof(double) * (size_t)nw);
            memcpy(R->b[l], b, sizeof(double) * (size_t)nb);
        }
        free(w), free(b);
    }
    for (int i = 0; i < 6; i++) il_tensor_free(p[i]);
}

static void run(double momentum) {
    il_ctx *ctx = tu_ctx();
    il_ctx_seed(ctx, 2024);
    double x[B * 2], t[B];
    srand(7);
    for (int i = 0; i < B * 2; i++) x[i] = 2.0 * rand() / RAND_MAX - 1;
    for (int i = 0; i < B; i++) t[i] = sin(3 * x[2 * i]) * x[2 * i + 1];
    il_net *net = build(ctx);
    ref R;
    memset(&R, 0, sizeof R);
    sync_params(ctx, net, &R, 0);
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = LR;
    oo.momentum = momentum;
    il_optim *opt = NULL;
    assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, &oo, &opt), IL_OK);
    il_tensor *xt = tu_tensor(ctx, IL_DTYPE_F64, x, 2, B, 2);
    il_tensor *tt = tu_tensor(ctx, IL_DTYPE_F64, t, 2, B, 1);
    const il_tensor *xs[1] = {xt};
    il_loss loss = {IL_LOSS_MSE, 0};
    double first = 0, last = 0;
    for (int s = 0; s < STEPS; s++) {
        double got = NAN, want = ref_step(&R, x, t, momentum, s == 0);
        il_status st = il_net_step(net, 1, xs, tt, &loss, opt, &got);
        if (st != IL_OK) fail_msg("step %d: %s", s, il_errmsg(ctx));
        tu_assert_close(&got, &want, 1, 1e-10, 0);
        if (s == 0) first = got;
        last = got;
    }
    assert_true(last < first); /* it does learn */
    sync_params(ctx, net, &R, 1);
    assert_int_equal(il_optim_steps(opt), STEPS);
    il_tensor_free(xt), il_tensor_free(tt);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

static void test_sgd(void **state) {
    (void)state;
    run(0);
}

static void test_sgd_momentum(void **state) {
    (void)state;
    run(0.9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_sgd_momentum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
