/*
 * test_loss.c: the losses (il_loss_eval, ili_loss_check, ili_loss_run and the
 * CPU LOSS kernels) against float64 references written here by hand,
 * finite-difference gradient checks in float64, numerical edge cases, target
 * dtypes and layouts, error messages, and the absence of allocations in
 * ili_loss_run.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

#define B 5
#define F 3
#define MAXN 64

static const il_dtype FLOATS[2] = {IL_DTYPE_F32, IL_DTYPE_F64};
static uint64_t rng = 0x243F6A8885A308D3ull;

/* ---- float64 references
 * ------------------------------------------------------------------- */

/* Loss of x (b, f) against y (b, f) (for CE with index targets y holds b
 * indices), and its gradient into g. Written from the textbook formulas,
 * independently of cpu_loss.c. */
static double ref_loss(il_loss_kind k, int probs, double delta, const double *x, const double *y,
                       int b, int f, double *g) {
    double sum = 0;
    if (k == IL_LOSS_CROSS_ENTROPY) {
        for (int i = 0; i < b; i++) {
            const double *r = x + i * f;
            double m = r[0], s = 0, ys = 0;
            for (int j = 1; j < f; j++) m = fmax(m, r[j]);
            for (int j = 0; j < f; j++) s += exp(r[j] - m);
            double lse = m + log(s);
            for (int j = 0; j < f; j++) {
                double t = probs ? y[i * f + j] : (j == (int)y[i]);
                ys += t;
                sum += t * (lse - r[j]);
            }
            for (int j = 0; j < f; j++)
                g[i * f + j] =
                    (exp(r[j] - lse) * ys - (probs ? y[i * f + j] : (j == (int)y[i]))) / b;
        }
        return sum / b;
    }
    int n = b * f;
    for (int i = 0; i < n; i++) {
        double d = x[i] - y[i];
        switch (k) {
        case IL_LOSS_MSE: sum += d * d, g[i] = 2 * d / n; break;
        case IL_LOSS_L1: sum += fabs(d), g[i] = (d > 0) - (d < 0), g[i] /= n; break;
        case IL_LOSS_HUBER:
            sum += fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
            g[i] = (fabs(d) <= delta ? d : copysign(delta, d)) / n;
            break;
        case IL_LOSS_BCE:
            sum -= y[i] * log(x[i]) + (1 - y[i]) * log(1 - x[i]);
            g[i] = (x[i] - y[i]) / (x[i] * (1 - x[i])) / n;
            break;
        default: /* BCE_LOGITS, written the naive way: tests keep |x| small */
            sum -= y[i] * log(1 / (1 + exp(-x[i]))) + (1 - y[i]) * log(1 - 1 / (1 + exp(-x[i])));
            g[i] = (1 / (1 + exp(-x[i])) - y[i]) / n;
            break;
        }
    }
    return sum / n;
}

/* Random predictions and targets suited to the loss; away from kinks (l1, huber
 * at delta). */
static void rand_case(il_loss_kind k, int probs, double delta, double *x, double *y) {
    for (int i = 0; i < B * F; i++) {
        x[i] = k == IL_LOSS_BCE ? tu_urand(&rng, 0.05, 0.95) : tu_urand(&rng, -3, 3);
        y[i] = (k == IL_LOSS_BCE || k == IL_LOSS_BCE_LOGITS || probs) ? tu_urand(&rng, 0, 1)
                                                                      : tu_urand(&rng, -3, 3);
        double d = fabs(x[i] - y[i]);
        if (d < 1e-3 || fabs(d - delta) < 1e-3) x[i] += 0.01;
    }
    if (k == IL_LOSS_CROSS_ENTROPY && !probs)
        for (int i = 0; i < B; i++)
            y[i] = (double)(int)tu_urand(&rng, 0, F);
}

static il_tensor *target_tensor(il_ctx *ctx, il_dtype dt, il_loss_kind k, int probs,
                                const double *y) {
    if (k == IL_LOSS_CROSS_ENTROPY && !probs) return tu_tensor(ctx, dt, y, 1, B);
    return tu_tensor(ctx, dt, y, 2, B, F);
}

static void eval(il_ctx *ctx, const il_loss *l, il_tensor *x, il_tensor *y, double *v,
                 il_tensor *g) {
    il_status s = il_loss_eval(ctx, l, x, y, v, g);
    if (s != IL_OK) fail_msg("%s", il_errmsg(ctx));
}

/* Each loss in f32 and f64 against the reference, on the values the tensors
 * really hold. */
static void test_against_reference(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    for (int k = 0; k < IL_LOSS_COUNT; k++)
        for (int probs = 0; probs <= (k == IL_LOSS_CROSS_ENTROPY); probs++)
            for (int d = 0; d < 2; d++) {
                double x[MAXN], y[MAXN], gr[MAXN], v, delta = k == IL_LOSS_HUBER ? 0.7 : 0;
                rand_case((il_loss_kind)k, probs, delta, x, y);
                il_loss l = {(il_loss_kind)k, delta};
                il_tensor *xt = tu_tensor(ctx, FLOATS[d], x, 2, B, F);
                il_tensor *yt = target_tensor(ctx, FLOATS[d], l.kind, probs, y);
                il_tensor *gt = tu_tensor(ctx, FLOATS[d], x, 2, B, F);
                double *xv = tu_values(ctx, xt), *yv = tu_values(ctx, yt);
                double want = ref_loss(l.kind, probs, delta, xv, yv, B, F, gr);
                eval(ctx, &l, xt, yt, &v, gt);
                double *gv = tu_values(ctx, gt), tol = d == 0 ? 1e-6 : 1e-13;
                tu_assert_close(&v, &want, 1, tol, tol);
                tu_assert_close(gv, gr, B * F, tol, tol);
                eval(ctx, &l, xt, yt, &v, NULL); /* value only */
                tu_assert_close(&v, &want, 1, tol, tol);
                free(xv), free(yv), free(gv);
                il_tensor_free(xt), il_tensor_free(yt), il_tensor_free(gt);
            }
    tu_ctx_done(ctx);
}

/* Central differences in f64: every gradient element within 1e-6 relative
 * error. */
static void test_finite_differences(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    for (int k = 0; k < IL_LOSS_COUNT; k++)
        for (int probs = 0; probs <= (k == IL_LOSS_CROSS_ENTROPY); probs++) {
            double x[MAXN], y[MAXN], lp, lm, h = 1e-6, delta = k == IL_LOSS_HUBER ? 1.3 : 0;
            rand_case((il_loss_kind)k, probs, delta, x, y);
            il_loss l = {(il_loss_kind)k, delta};
            il_tensor *xt = tu_tensor(ctx, IL_DTYPE_F64, x, 2, B, F);
            il_tensor *yt = target_tensor(ctx, IL_DTYPE_F64, l.kind, probs, y);
            il_tensor *gt = tu_tensor(ctx, IL_DTYPE_F64, x, 2, B, F);
            double *xd = il_tensor_data(xt), *gd = il_tensor_data(gt), worst = 0;
            eval(ctx, &l, xt, yt, &lp, gt);
            for (int i = 0; i < B * F; i++) {
                double x0 = xd[i];
                xd[i] = x0 + h;
                eval(ctx, &l, xt, yt, &lp, NULL);
                xd[i] = x0 - h;
                eval(ctx, &l, xt, yt, &lm, NULL);
                xd[i] = x0;
                double num = (lp - lm) / (2 * h);
                double den = fmax(fmax(fabs(num), fabs(gd[i])), 1e-8);
                worst = fmax(worst, fabs(num - gd[i]) / den);
            }
            if (!(worst < 1e-6)) fail_msg("loss %d probs %d: relative error %g", k, probs, worst);
            il_tensor_free(xt), il_tensor_free(yt), il_tensor_free(gt);
        }
    tu_ctx_done(ctx);
}

/* The value and gradient of one case, asserted finite; returns the value. */
static double one(il_ctx *ctx, il_dtype dt, il_loss_kind k, double delta, int n, int f,
                  const double *x, const double *y, int ny, double *g) {
    il_loss l = {k, delta};
    il_tensor *xt = tu_tensor(ctx, dt, x, 2, n, f), *gt = tu_tensor(ctx, dt, x, 2, n, f);
    il_tensor *yt = ny == n ? tu_tensor(ctx, dt, y, 1, n) : tu_tensor(ctx, dt, y, 2, n, f);
    double v;
    eval(ctx, &l, xt, yt, &v, gt);
    double *gv = tu_values(ctx, gt);
    for (int i = 0; i < n * f; i++) {
        assert_true(isfinite(gv[i]));
        g[i] = gv[i];
    }
    assert_true(isfinite(v));
    free(gv);
    il_tensor_free(xt), il_tensor_free(yt), il_tensor_free(gt);
    return v;
}

static void test_edges(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double g[8];
    for (int d = 0; d < 2; d++) {
        il_dtype dt = FLOATS[d];
        double tol = d == 0 ? 1e-6 : 1e-12;
        /* bce at exactly 0 and 1: right answers give 0 loss (nearly), wrong ones
         * large but finite; gradients point the right way */
        double p[4] = {0, 1, 0, 1}, y[4] = {0, 1, 1, 0};
        double v = one(ctx, dt, IL_LOSS_BCE, 0, 4, 1, p, y, 4, g);
        assert_true(v > 5 && v < 30);
        assert_true(g[2] < 0 && g[3] > 0 && fabs(g[0]) < 1 && fabs(g[1]) < 1);
        /* bce_logits at |x| = 100: log1p(exp(-100)) is all that differs from 0 or
         * 100 */
        double x[4] = {100, -100, 100, -100}, t[4] = {1, 0, 0, 1};
        v = one(ctx, dt, IL_LOSS_BCE_LOGITS, 0, 4, 1, x, t, 4, g);
        double want = 200.0 / 4, gw[4] = {0, 0, 0.25, -0.25};
        tu_assert_close(&v, &want, 1, tol, tol);
        tu_assert_close(g, gw, 4, 1e-30, 1e-12);
        /* cross-entropy of logits 1000 apart */
        double z[4] = {0, 1000, 1000, 0}, cls[2] = {0, 0};
        v = one(ctx, dt, IL_LOSS_CROSS_ENTROPY, 0, 2, 2, z, cls, 2, g);
        double wz = 500, gz[4] = {-0.5, 0.5, 0, 0};
        tu_assert_close(&v, &wz, 1, tol, tol);
        tu_assert_close(g, gz, 4, 1e-30, 1e-12);
        /* huber at |d| == delta (0.5) on both sides: 0.5 d^2 = delta (|d| - delta /
         * 2) */
        double hx[2] = {1.5, -0.5}, hy[2] = {1.0, 0.0};
        v = one(ctx, dt, IL_LOSS_HUBER, 0.5, 2, 1, hx, hy, 2, g);
        double wh = 0.125, gh[2] = {0.25, -0.25};
        tu_assert_close(&v, &wh, 1, tol, tol);
        tu_assert_close(g, gh, 2, 0, tol);
        /* huber's default delta is 1; l1 has gradient 0 at 0 */
        double hx2[2] = {3, 0.5}, zero2[2] = {0, 0.5};
        v = one(ctx, dt, IL_LOSS_HUBER, 0, 2, 1, hx2, zero2, 2, g);
        double wh2 = 2.5 / 2;
        tu_assert_close(&v, &wh2, 1, tol, tol);
        v = one(ctx, dt, IL_LOSS_L1, 0, 2, 1, hx2, zero2, 2, g);
        assert_true(g[0] == 0.5 && g[1] == 0);
    }
    tu_ctx_done(ctx);
}

/* NaN in the predictions reaches the value (il_net_step turns it into an
 * error). */
static void test_nan(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double x[4] = {0.5, NAN, 0.25, 0.75}, y[4] = {0, 1, 1, 0}, cls[2] = {0, 1}, v;
    for (int k = 0; k < IL_LOSS_COUNT; k++) {
        il_loss l = {(il_loss_kind)k, 0};
        il_tensor *xt = tu_tensor(ctx, IL_DTYPE_F32, x, 2, 2, 2);
        il_tensor *yt = k == IL_LOSS_CROSS_ENTROPY ? tu_tensor(ctx, IL_DTYPE_F32, cls, 1, 2)
                                                   : tu_tensor(ctx, IL_DTYPE_F32, y, 2, 2, 2);
        eval(ctx, &l, xt, yt, &v, NULL);
        if (!isnan(v)) fail_msg("loss %d: %g, not NaN", k, v);
        il_tensor_free(xt), il_tensor_free(yt);
    }
    tu_ctx_done(ctx);
}

/* Targets of another dtype, (B) for one feature, (B, 1) indices, and strided
 * views. */
static void test_target_layouts(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double x[12], y[12], gr[12], v, want, wide[24];
    for (int i = 0; i < 12; i++)
        x[i] = tu_urand(&rng, -2, 2), y[i] = (double)(i % 3);
    for (int i = 0; i < 24; i++) wide[i] = i % 2 ? 99 : y[i / 2];
    il_tensor *x1 = tu_tensor(ctx, IL_DTYPE_F64, x, 2, 12, 1);
    il_loss mse = {IL_LOSS_MSE, 0}, ce = {IL_LOSS_CROSS_ENTROPY, 0};
    want = ref_loss(IL_LOSS_MSE, 0, 0, x, y, 12, 1, gr);
    /* (12) i64, (12, 1) f32, and column 0 of a (12, 2) table (stride 2) */
    il_tensor *ya = tu_tensor(ctx, IL_DTYPE_I64, y, 1, 12);
    il_tensor *yb = tu_tensor(ctx, IL_DTYPE_F32, y, 2, 12, 1);
    il_tensor *yw = tu_tensor(ctx, IL_DTYPE_F64, wide, 2, 12, 2), *yc = NULL;
    assert_int_equal(il_tensor_narrow(ctx, yw, 1, 0, 1, &yc), IL_OK);
    il_tensor *ts[3] = {ya, yb, yc};
    for (int i = 0; i < 3; i++) {
        eval(ctx, &mse, x1, ts[i], &v, NULL);
        tu_assert_close(&v, &want, 1, 1e-14, 1e-14);
    }
    /* cross-entropy on (4, 3) logits with the same 4 labels in each layout */
    il_tensor *x4 = tu_tensor(ctx, IL_DTYPE_F64, x, 2, 4, 3),
              *g4 = tu_tensor(ctx, IL_DTYPE_F64, x, 2, 4, 3);
    want = ref_loss(IL_LOSS_CROSS_ENTROPY, 0, 0, x, y, 4, 3, gr);
    il_tensor *ci = tu_tensor(ctx, IL_DTYPE_I64, y, 2, 4, 1), *cn = NULL;
    assert_int_equal(il_tensor_narrow(ctx, yc, 0, 0, 4, &cn), IL_OK);
    il_tensor *cs[2] = {ci, cn};
    for (int i = 0; i < 2; i++) {
        eval(ctx, &ce, x4, cs[i], &v, g4);
        double *gv = tu_values(ctx, g4);
        tu_assert_close(&v, &want, 1, 1e-14, 1e-14);
        tu_assert_close(gv, gr, 12, 1e-15, 1e-13);
        free(gv);
    }
    il_tensor *all[9] = {x1, ya, yb, yw, yc, x4, g4, ci, cn};
    for (int i = 0; i < 9; i++) il_tensor_free(all[i]);
    tu_ctx_done(ctx);
}

static void expect(il_ctx *ctx, il_status got, il_status want, const char *msg) {
    if (got != want)
        fail_msg("got %s, want %s (%s)", il_status_str(got), il_status_str(want), il_errmsg(ctx));
    if (msg) tu_assert_errmsg(ctx, msg);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    double z[16] = {0}, bad[4] = {0, 3, 1, 0}, frac[4] = {0, 1.5, 0, 0}, neg[4] = {0, 0, -1, 0};
    il_tensor *p41 = tu_tensor(ctx, IL_DTYPE_F32, z, 2, 4, 1),
              *t42 = tu_tensor(ctx, IL_DTYPE_F32, z, 2, 4, 2);
    il_tensor *p43 = tu_tensor(ctx, IL_DTYPE_F64, z, 2, 4, 3),
              *t4 = tu_tensor(ctx, IL_DTYPE_F64, z, 1, 4);
    il_tensor *p1 = tu_tensor(ctx, IL_DTYPE_F64, z, 1, 4),
              *pi = tu_tensor(ctx, IL_DTYPE_I64, z, 2, 4, 1);
    il_tensor *tb = tu_tensor(ctx, IL_DTYPE_F64, bad, 1, 4),
              *tf = tu_tensor(ctx, IL_DTYPE_F32, frac, 1, 4);
    il_tensor *tn = tu_tensor(ctx, IL_DTYPE_I64, neg, 2, 4, 1),
              *t3 = tu_tensor(ctx, IL_DTYPE_F64, z, 1, 3);
    il_loss mse = {IL_LOSS_MSE, 0}, ce = {IL_LOSS_CROSS_ENTROPY, 0}, bk = {IL_LOSS_COUNT, 0};
    il_loss hub = {IL_LOSS_HUBER, -1};
    double v;
    expect(ctx, il_loss_eval(ctx, &mse, p41, t42, &v, NULL), IL_E_SHAPE,
           "mse: target shape (4, 2) does not match predictions (4, 1)");
    expect(ctx, il_loss_eval(ctx, &mse, t42, t4, &v, NULL), IL_E_SHAPE,
           "mse: target shape (4) does not match predictions (4, 2)");
    expect(ctx, il_loss_eval(ctx, &ce, p43, t42, &v, NULL), IL_E_SHAPE,
           "cross_entropy: target shape (4, 2) does not match logits (4, 3)");
    expect(ctx, il_loss_eval(ctx, &ce, p43, t3, &v, NULL), IL_E_SHAPE, "target shape (3)");
    expect(ctx, il_loss_eval(ctx, &mse, p1, t4, &v, NULL), IL_E_SHAPE, "must be 2-D");
    expect(ctx, il_loss_eval(ctx, &bk, p41, t4, &v, NULL), IL_E_ARG, "unknown kind");
    expect(ctx, il_loss_eval(ctx, &hub, p41, t4, &v, NULL), IL_E_ARG, "huber: delta");
    expect(ctx, il_loss_eval(ctx, NULL, p41, t4, &v, NULL), IL_E_ARG, NULL);
    expect(ctx, il_loss_eval(ctx, &mse, p41, NULL, &v, NULL), IL_E_ARG, "target is NULL");
    expect(ctx, il_loss_eval(ctx, &mse, p41, t4, NULL, NULL), IL_E_ARG, NULL);
    expect(ctx, il_loss_eval(ctx, &mse, pi, t4, &v, NULL), IL_E_DTYPE, "f32 or f64");
    expect(ctx, il_loss_eval(ctx, &mse, p41, t4, &v, t42), IL_E_SHAPE, "loss gradient");
    expect(ctx, il_loss_eval(ctx, &mse, t42, t42, &v, p43), IL_E_SHAPE, "loss gradient");
    expect(ctx, il_loss_eval(ctx, &ce, p43, tb, &v, NULL), IL_E_RANGE, "target 3 in row 1");
    expect(ctx, il_loss_eval(ctx, &ce, p43, tf, &v, NULL), IL_E_RANGE, "target 1.5 in row 1");
    expect(ctx, il_loss_eval(ctx, &ce, p43, tn, &v, p43), IL_E_RANGE, "target -1 in row 2");
    tu_assert_errmsg(ctx, "0..2");
    il_tensor *all[10] = {p41, t42, p43, t4, p1, pi, tb, tf, tn, t3};
    for (int i = 0; i < 10; i++) il_tensor_free(all[i]);
    tu_ctx_done(ctx);
}

/* ili_loss_run on preallocated buffers allocates nothing, whatever the target's
 * layout. */
/* Runs every loss (cross-entropy alone, or all the others) on pred against each target
 * through ili_loss_run. */
static void run_all(il_ctx *ctx, il_tensor *pred, il_tensor *grad, il_tensor *val, int ce,
                    il_tensor *const *ts, int nt) {
    il_tdesc pd, gd, vd;
    ili_tensor_desc(pred, &pd), ili_tensor_desc(grad, &gd), ili_tensor_desc(val, &vd);
    for (int k = 0; k < IL_LOSS_COUNT; k++) {
        if ((k == IL_LOSS_CROSS_ENTROPY) != ce) continue;
        il_loss l = {(il_loss_kind)k, 0};
        for (int t = 0; t < nt; t++) {
            assert_int_equal(ili_loss_check(ctx, &l, 2, pred->shape, ts[t]), IL_OK);
            il_status s = ili_loss_run(ctx, IL_DEVICE_CPU, &l, &pd, ts[t], &gd, &vd);
            if (s != IL_OK) fail_msg("loss %d target %d: %s", k, t, il_errmsg(ctx));
        }
    }
}

/* ili_loss_run on preallocated buffers allocates nothing, whatever the target's layout. */
static void test_no_alloc(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    int64_t n = 64;
    double x[64], y[64];
    for (int i = 0; i < 64; i++)
        x[i] = tu_urand(&rng, 0.1, 0.9), y[i] = i % 2;
    il_tensor *t[11] = {0};
    t[0] = tu_tensor(ctx, IL_DTYPE_F32, x, 2, 64, 1); /* predictions, gradient, targets */
    t[1] = tu_tensor(ctx, IL_DTYPE_F32, x, 2, 64, 1);
    t[2] = tu_tensor(ctx, IL_DTYPE_F32, y, 2, 64, 1);
    t[3] = tu_tensor(ctx, IL_DTYPE_I64, y, 1, 64);
    assert_int_equal(il_tensor_reshape(ctx, t[2], 1, &n, &t[4]), IL_OK);
    t[5] = tu_tensor(ctx, IL_DTYPE_F64, x, 2, 32, 2); /* logits, gradient, targets */
    t[6] = tu_tensor(ctx, IL_DTYPE_F64, x, 2, 32, 2);
    t[7] = tu_tensor(ctx, IL_DTYPE_F32, y, 2, 32, 2);
    assert_int_equal(il_tensor_narrow(ctx, t[7], 1, 1, 1, &t[8]), IL_OK); /* stride 2 */
    assert_int_equal(il_tensor_zeros(ctx, 0, NULL, IL_DTYPE_F32, IL_DEVICE_CPU, &t[9]), IL_OK);
    assert_int_equal(il_tensor_zeros(ctx, 0, NULL, IL_DTYPE_F64, IL_DEVICE_CPU, &t[10]), IL_OK);
    il_tensor *yi = NULL; /* the first 32 labels of t[3] */
    assert_int_equal(il_tensor_narrow(ctx, t[3], 0, 0, 32, &yi), IL_OK);
    il_tensor *ce[3] = {yi, t[7], t[8]};
    il_mem_stats m0, m1;
    il_ctx_memory(ctx, &m0);
    run_all(ctx, t[0], t[1], t[9], 0, &t[2], 3);
    run_all(ctx, t[5], t[6], t[10], 1, ce, 3);
    il_ctx_memory(ctx, &m1);
    assert_int_equal(m1.n_allocs, m0.n_allocs);
    il_tensor_free(yi);
    for (int i = 0; i < 11; i++) il_tensor_free(t[i]);
    tu_ctx_done(ctx);
}

/* A large batch split across threads gives the same value as one thread, bit
 * for bit. */
static void test_threads(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    int64_t shape[2] = {20000, 8};
    il_tensor *x = NULL, *y = NULL, *g = NULL;
    assert_int_equal(il_tensor_randn(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CPU, &x), IL_OK);
    assert_int_equal(il_tensor_rand(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CPU, &y), IL_OK);
    assert_int_equal(il_tensor_zeros(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CPU, &g), IL_OK);
    for (int k = 0; k < IL_LOSS_COUNT; k++) {
        il_loss l = {(il_loss_kind)k, 0};
        double v1, v2;
        assert_int_equal(il_ctx_set_threads(ctx, 1), IL_OK);
        eval(ctx, &l, x, y, &v1, g);
        assert_int_equal(il_ctx_set_threads(ctx, 3), IL_OK);
        eval(ctx, &l, x, y, &v2, g);
        if (v1 != v2) fail_msg("loss %d: %.17g vs %.17g", k, v1, v2);
    }
    il_tensor_free(x), il_tensor_free(y), il_tensor_free(g);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_nan),
        cmocka_unit_test(test_target_layouts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_alloc),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
