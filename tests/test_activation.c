/*
 * test_activation.c: the CPU kernels of the layer ops: LEAKY_RELU, GELU, SOFTPLUS, SINE and
 * the *_GRAD ops (against float64 formulas and central differences of the forward ops),
 * BERNOULLI (deterministic, counter-based, the right keep rate) and the ROW ops SOFTMAX and
 * SOFTMAX_GRAD (stable for large logits, strided operands), in f32 and f64.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "il_impl.h"

#define N 64

/* A 1-D descriptor over host memory. */
static il_tdesc desc(void *p, il_dtype dt, int64_t n, int64_t stride) {
    il_tdesc d;
    memset(&d, 0, sizeof d);
    d.data = p, d.dtype = dt, d.ndim = 1, d.shape[0] = n, d.stride[0] = stride;
    return d;
}

/* Runs op on f64 arrays: out[i] = op(a[i] (, b[i])) with p[0] = p0. */
static il_status run64(il_ctx *ctx, il_op op, double *out, const double *a, const double *b,
                       double p0, int64_t n) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.nin = b ? 2 : 1;
    c.in[0] = desc((void *)a, IL_DTYPE_F64, n, 1);
    if (b) c.in[1] = desc((void *)b, IL_DTYPE_F64, n, 1);
    c.out = desc(out, IL_DTYPE_F64, n, 1);
    c.p[0] = p0;
    return ili_backend_run(ctx, IL_DEVICE_CPU, &c);
}

/* Same in f32 (through float copies), results widened back. */
static il_status run32(il_ctx *ctx, il_op op, double *out, const double *a, const double *b,
                       double p0, int64_t n) {
    float fa[N], fb[N], fo[N];
    for (int64_t i = 0; i < n; i++) fa[i] = (float)a[i], fb[i] = b ? (float)b[i] : 0;
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.nin = b ? 2 : 1;
    c.in[0] = desc(fa, IL_DTYPE_F32, n, 1);
    c.in[1] = desc(fb, IL_DTYPE_F32, n, 1);
    c.out = desc(fo, IL_DTYPE_F32, n, 1);
    c.p[0] = p0;
    il_status s = ili_backend_run(ctx, IL_DEVICE_CPU, &c);
    for (int64_t i = 0; i < n; i++) out[i] = fo[i];
    return s;
}

static double ref_fwd(il_op op, double x, double p) {
    switch (op) {
    case IL_OP_LEAKY_RELU: return x > 0 ? x : p * x;
    case IL_OP_GELU:
        return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case IL_OP_SOFTPLUS: return log1p(exp(x)); /* fine in the test range */
    case IL_OP_SINE: return sin(p * x);
    case IL_OP_TANH: return tanh(x);
    case IL_OP_SIGMOID: return 1 / (1 + exp(-x));
    case IL_OP_RELU: return x > 0 ? x : 0;
    default: return NAN;
    }
}

static void fill_x(double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = -4 + 8.0 * (double)i / (double)(n - 1) + 0.013;
}

static void test_forward(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    static const il_op ops[] = {IL_OP_LEAKY_RELU, IL_OP_GELU, IL_OP_SOFTPLUS, IL_OP_SINE};
    static const double ps[] = {0.1, 0, 0, 3};
    double x[N], want[N], got[N];
    fill_x(x, N);
    for (size_t k = 0; k < 4; k++) {
        for (int i = 0; i < N; i++) want[i] = ref_fwd(ops[k], x[i], ps[k]);
        assert_int_equal(run64(ctx, ops[k], got, x, NULL, ps[k], N), IL_OK);
        tu_assert_close(got, want, N, 1e-14, 1e-13);
        assert_int_equal(run32(ctx, ops[k], got, x, NULL, ps[k], N), IL_OK);
        tu_assert_close(got, want, N, 1e-6, 1e-5);
    }
    /* softplus does not overflow and keeps precision at both ends */
    double big[4] = {1000, -1000, 40, -40}, out[4];
    assert_int_equal(run64(ctx, IL_OP_SOFTPLUS, out, big, NULL, 0, 4), IL_OK);
    assert_true(out[0] == 1000 && out[1] >= 0 && out[1] < 1e-300);
    assert_true(fabs(out[2] - 40) < 1e-15 && fabs(out[3] - exp(-40)) < 1e-30);
    assert_int_equal(run32(ctx, IL_OP_SOFTPLUS, out, big, NULL, 0, 4), IL_OK);
    assert_true(out[0] == 1000 && isfinite(out[1]));
    /* in place: out aliases the input */
    double y[N];
    memcpy(y, x, sizeof y);
    assert_int_equal(run64(ctx, IL_OP_GELU, y, y, NULL, 0, N), IL_OK);
    for (int i = 0; i < N; i++) want[i] = ref_fwd(IL_OP_GELU, x[i], 0);
    tu_assert_close(y, want, N, 1e-14, 1e-13);
    tu_ctx_done(ctx);
}

/* Each *_GRAD op against a central difference of its forward op, times dy. */
static void test_grads(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    static const struct {
        il_op grad, fwd;
        int uses_y;
        double p;
    } g[] = {
        {IL_OP_TANH_GRAD, IL_OP_TANH, 1, 0},
        {IL_OP_SIGMOID_GRAD, IL_OP_SIGMOID, 1, 0},
        {IL_OP_RELU_GRAD, IL_OP_RELU, 0, 0},
        {IL_OP_LEAKY_RELU_GRAD, IL_OP_LEAKY_RELU, 0, 0.01},
        {IL_OP_GELU_GRAD, IL_OP_GELU, 0, 0},
        {IL_OP_SOFTPLUS_GRAD, IL_OP_SOFTPLUS, 0, 0},
        {IL_OP_SINE_GRAD, IL_OP_SINE, 0, 30},
    };
    double x[N], dy[N], v[N], want[N], got[N];
    fill_x(x, N);
    for (int i = 0; i < N; i++) dy[i] = 0.5 + 0.01 * i;
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        const double h = 1e-6;
        for (int i = 0; i < N; i++) {
            double d = (ref_fwd(g[k].fwd, x[i] + h, g[k].p) - ref_fwd(g[k].fwd, x[i] - h, g[k].p));
            want[i] = dy[i] * d / (2 * h);
            v[i] = g[k].uses_y ? ref_fwd(g[k].fwd, x[i], 0) : x[i];
        }
        assert_int_equal(run64(ctx, g[k].grad, got, dy, v, g[k].p, N), IL_OK);
        tu_assert_close(got, want, N, 1e-7, 1e-6);
        assert_int_equal(run32(ctx, g[k].grad, got, dy, v, g[k].p, N), IL_OK);
        tu_assert_close(got, want, N, 1e-4, 1e-4);
    }
    /* the kink: relu' is 0 at x = 0, leaky relu' is alpha there */
    double z = 0, one = 1, o;
    assert_int_equal(run64(ctx, IL_OP_RELU_GRAD, &o, &one, &z, 0, 1), IL_OK);
    assert_true(o == 0);
    assert_int_equal(run64(ctx, IL_OP_LEAKY_RELU_GRAD, &o, &one, &z, 0.2, 1), IL_OK);
    assert_true(o == 0.2);
    tu_ctx_done(ctx);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    int64_t a[4] = {1, 2, 3, 4}, o[4];
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_GELU, c.nin = 1;
    c.in[0] = desc(a, IL_DTYPE_I64, 4, 1), c.out = desc(o, IL_DTYPE_I64, 4, 1);
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_DTYPE);
    tu_assert_errmsg(ctx, "gelu");
    c.op = IL_OP_BERNOULLI;
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_DTYPE);
    c.op = IL_OP_SOFTMAX;
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_DTYPE);
    double d[4], e[4];
    c.op = IL_OP_SINE_GRAD, c.nin = 2;
    c.in[0] = desc(d, IL_DTYPE_F64, 4, 1), c.in[1] = desc(a, IL_DTYPE_I64, 4, 1);
    c.out = desc(e, IL_DTYPE_F64, 4, 1);
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_INTERNAL);
    c.op = IL_OP_BERNOULLI, c.nin = 0, c.p[2] = -1;
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_E_ARG);
    tu_ctx_done(ctx);
}

/* ---- BERNOULLI ------------------------------------------------------------------------------ */

static void bern(il_ctx *ctx, void *out, il_dtype dt, int64_t n, int64_t stride, double keep,
                 double scale, double seed, double counter) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_BERNOULLI;
    c.out = desc(out, dt, n, stride);
    c.p[0] = keep, c.p[1] = scale, c.p[2] = seed, c.p[3] = counter;
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_OK);
}

static void test_bernoulli(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    enum { M = 20000 };
    double *a = malloc(M * sizeof *a), *b = malloc(M * sizeof *b);
    float *f = malloc(M * sizeof *f);
    bern(ctx, a, IL_DTYPE_F64, M, 1, 0.7, 1 / 0.7, 12345, 0);
    int64_t kept = 0;
    for (int i = 0; i < M; i++) {
        assert_true(a[i] == 0 || a[i] == 1 / 0.7);
        kept += a[i] != 0;
    }
    assert_true(fabs((double)kept / M - 0.7) < 0.02);
    /* the same (seed, counter) gives the same mask in f32; element i depends on counter + i */
    bern(ctx, f, IL_DTYPE_F32, M, 1, 0.7, 2, 12345, 0);
    for (int i = 0; i < M; i++) assert_true((f[i] != 0) == (a[i] != 0));
    bern(ctx, b, IL_DTYPE_F64, M - 100, 1, 0.7, 1 / 0.7, 12345, 100);
    for (int i = 0; i < M - 100; i++) assert_true(b[i] == a[i + 100]);
    /* another seed: a different mask */
    bern(ctx, b, IL_DTYPE_F64, M, 1, 0.7, 1 / 0.7, 12346, 0);
    int64_t same = 0;
    for (int i = 0; i < M; i++) same += (a[i] != 0) == (b[i] != 0);
    assert_true(same < M * 0.7);
    /* a strided output gets the same values at its positions */
    for (int i = 0; i < M; i++) b[i] = -1;
    bern(ctx, b, IL_DTYPE_F64, M / 2, 2, 0.7, 1 / 0.7, 12345, 0);
    for (int i = 0; i < M / 2; i++) assert_true(b[2 * i] == a[i] && b[2 * i + 1] == -1);
    free(a), free(b), free(f);
    tu_ctx_done(ctx);
}

/* ---- SOFTMAX -------------------------------------------------------------------------------- */

static void row_op(il_ctx *ctx, il_op op, il_dtype dt, void *out, const void *a, const void *b,
                   int64_t r, int64_t cols, int64_t rs_in) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.nin = b ? 2 : 1;
    il_tdesc d = desc((void *)a, dt, 0, 1);
    d.ndim = 2, d.shape[0] = r, d.shape[1] = cols, d.stride[0] = rs_in, d.stride[1] = 1;
    c.in[0] = d;
    c.in[1] = d, c.in[1].data = (void *)b;
    c.out = d, c.out.data = out, c.out.stride[0] = cols;
    assert_int_equal(ili_backend_run(ctx, IL_DEVICE_CPU, &c), IL_OK);
}

static void test_softmax(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    /* 3 rows of 4 read with row stride 5 (a column of padding), huge logits included */
    double x[15] = {1, 2, 3, 4, 99, 1000, 1000, 999, -1000, 99, -3, 0, 3, 0.5, 99};
    double y[12], want[12];
    for (int r = 0; r < 3; r++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < 4; j++) m = fmax(m, x[5 * r + j]);
        for (int j = 0; j < 4; j++) s += exp(x[5 * r + j] - m);
        for (int j = 0; j < 4; j++) want[4 * r + j] = exp(x[5 * r + j] - m) / s;
    }
    row_op(ctx, IL_OP_SOFTMAX, IL_DTYPE_F64, y, x, NULL, 3, 4, 5);
    tu_assert_close(y, want, 12, 1e-15, 1e-14);
    float xf[15], yf[12];
    for (int i = 0; i < 15; i++) xf[i] = (float)x[i];
    row_op(ctx, IL_OP_SOFTMAX, IL_DTYPE_F32, yf, xf, NULL, 3, 4, 5);
    for (int i = 0; i < 12; i++) y[i] = yf[i];
    tu_assert_close(y, want, 12, 1e-7, 1e-5);
    /* gradient: y * (dy - sum(dy * y)) (test_gradcheck checks it by finite differences) */
    double dy[12], g[12], gw[12];
    for (int i = 0; i < 12; i++) dy[i] = 0.1 * i - 0.4;
    row_op(ctx, IL_OP_SOFTMAX_GRAD, IL_DTYPE_F64, g, dy, want, 3, 4, 4);
    for (int r = 0; r < 3; r++) {
        double dot = 0;
        for (int j = 0; j < 4; j++) dot += dy[4 * r + j] * want[4 * r + j];
        for (int j = 0; j < 4; j++) gw[4 * r + j] = want[4 * r + j] * (dy[4 * r + j] - dot);
    }
    tu_assert_close(g, gw, 12, 1e-15, 1e-13);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),   cmocka_unit_test(test_grads),
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_bernoulli),
        cmocka_unit_test(test_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
