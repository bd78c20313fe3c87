/*
 * test_fused.c: the MATMUL epilogues (bias + activation; activation gradient + column sums)
 * against the separate ops they stand for, on every product path, kernel set, dtype and 1-3
 * threads; malformed epilogues; and the layer graph's linear -> activation fusion against the
 * same network with fusion blocked (a training run in float64, and a gradient check).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu_gemm_impl.h"
#include "cpu_iter_impl.h"
#include "il_impl.h"
#include "testutil.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

/* A random (r, c) tensor, transposed in memory when trans. Some entries are exactly 0, so
 * relu's edge is exercised. */
static il_tensor *rnd(il_ctx *ctx, il_dtype dt, int64_t r, int64_t c, int trans) {
    int64_t s[2] = {trans ? c : r, trans ? r : c};
    double *v = malloc((size_t)(r * c + 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < r * c; i++)
        v[i] = i % 17 == 3 ? 0.0 : tu_urand(&rng_state, -1.0, 1.0);
    il_tensor *t, *u;
    assert_int_equal(il_tensor_from_data(ctx, 2, s, dt, IL_DEVICE_CPU, v, IL_DTYPE_F64, &t),
                     IL_OK);
    free(v);
    if (!trans) return t;
    assert_int_equal(il_tensor_transpose(ctx, t, 0, 1, &u), IL_OK);
    il_tensor_free(t);
    return u;
}

typedef struct kase {
    int64_t m, k, n;
    int ta, tc; /* A transposed; output transposed */
} kase;

/* One epilogue call: mode, op p1 (FWD: a unary op or -1; GRAD: a gradient op), parameter. */
typedef struct epi {
    int mode;
    int op;
    double p;
    int bias, sums;
} epi;

/* Runs the fused call (kern, path) and the separate ops on copies, and compares: the outputs
 * bit for bit (same product, same formulas), the column sums to rounding (summed in another
 * order). */
static void compare(il_ctx *ctx, const ili_gemm_kernel *kern, int path, il_dtype dt,
                    const kase *k, const epi *e) {
    il_tensor *a = rnd(ctx, dt, k->m, k->k, k->ta), *b = rnd(ctx, dt, k->k, k->n, 0);
    il_tensor *bias = rnd(ctx, dt, 1, k->n, 0), *y = rnd(ctx, dt, k->m, k->n, 0);
    il_tensor *o1 = rnd(ctx, dt, k->m, k->n, k->tc), *o2 = rnd(ctx, dt, k->m, k->n, k->tc);
    il_tensor *s1 = rnd(ctx, dt, 1, k->n, 0), *s2 = rnd(ctx, dt, 1, k->n, 0);
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL, c.nin = 2;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(b, &c.in[1]);
    ili_tensor_desc(o1, &c.out);
    c.p[0] = e->mode, c.p[1] = e->op, c.p[2] = e->p;
    if (e->mode == IL_MATMUL_EPILOGUE_GRAD) ili_tensor_desc(y, &c.in[c.nin++]);
    if (e->mode == IL_MATMUL_EPILOGUE_FORWARD && e->bias) {
        ili_tensor_desc(bias, &c.in[c.nin++]);
        c.in[2].shape[0] = k->m, c.in[2].stride[0] = 0;
    }
    if (e->sums) ili_tensor_desc(s1, &c.out2);
    assert_int_equal(ili_cpu_matmul_path(ctx, &c, kern, path), IL_OK);
    /* the definition: plain product, then the separate ops */
    il_opcall p = c, q;
    p.nin = 2, p.p[0] = 0;
    memset(&p.out2, 0, sizeof p.out2);
    ili_tensor_desc(o2, &p.out);
    assert_int_equal(ili_cpu_matmul_path(ctx, &p, kern, path), IL_OK);
    memset(&q, 0, sizeof q);
    q.out = q.in[0] = p.out;
    q.in[1] = c.in[2];
    q.p[0] = e->p;
    if (e->mode == IL_MATMUL_EPILOGUE_FORWARD && e->bias) {
        q.op = IL_OP_ADD, q.nin = 2;
        assert_int_equal(ili_cpu_binary(ctx, &q), IL_OK);
    }
    if (e->mode == IL_MATMUL_EPILOGUE_FORWARD && e->op >= 0) {
        q.op = (il_op)e->op, q.nin = 1;
        assert_int_equal(ili_cpu_unary(ctx, &q), IL_OK);
    }
    if (e->mode == IL_MATMUL_EPILOGUE_GRAD) {
        q.op = (il_op)e->op, q.nin = 2;
        assert_int_equal(ili_cpu_binary(ctx, &q), IL_OK);
    }
    double *v1 = tu_values(ctx, o1), *v2 = tu_values(ctx, o2);
    for (int64_t i = 0; i < k->m * k->n; i++)
        if (memcmp(&v1[i], &v2[i], sizeof *v1) != 0 && !(isnan(v1[i]) && isnan(v2[i])))
            fail_msg("(%lld, %lld, %lld) mode %d op %s element %lld: %.9g vs %.9g",
                     (long long)k->m, (long long)k->k, (long long)k->n, e->mode,
                     e->op >= 0 ? il_op_name((il_op)e->op) : "none", (long long)i, v1[i], v2[i]);
    if (e->sums) {
        il_tensor *sum = NULL;
        assert_int_equal(il_tensor_reduce(ctx, IL_OP_SUM, o2, 0, 1, &sum), IL_OK);
        double *w1 = tu_values(ctx, s1), *w2 = tu_values(ctx, sum);
        double tol = dt == IL_DTYPE_F32 ? 2e-6 * (double)k->m : 1e-13 * (double)k->m;
        tu_assert_close(w1, w2, k->n, tol, 0);
        free(w1), free(w2);
        il_tensor_free(sum);
    }
    free(v1), free(v2);
    il_tensor *all[] = {a, b, bias, y, o1, o2, s1, s2};
    for (int i = 0; i < 8; i++) il_tensor_free(all[i]);
}

static const epi epis[] = {
    {IL_MATMUL_EPILOGUE_FORWARD, -1, 0, 1, 0},
    {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_RELU, 0, 1, 0},
    {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_RELU, 0, 0, 0},
    {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_LEAKY_RELU, 0.1, 1, 0},
    {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_TANH, 0, 1, 0},
    {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_SIGMOID, 0, 1, 0},
    {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_GELU, 0, 1, 0}, /* not fused: the separate ops */
    {IL_MATMUL_EPILOGUE_GRAD, IL_OP_RELU_GRAD, 0, 0, 1},
    {IL_MATMUL_EPILOGUE_GRAD, IL_OP_RELU_GRAD, 0, 0, 0},
    {IL_MATMUL_EPILOGUE_GRAD, IL_OP_LEAKY_RELU_GRAD, 0.2, 0, 1},
    {IL_MATMUL_EPILOGUE_GRAD, IL_OP_TANH_GRAD, 0, 0, 1},
    {IL_MATMUL_EPILOGUE_GRAD, IL_OP_SIGMOID_GRAD, 0, 0, 1},
    {IL_MATMUL_EPILOGUE_GRAD, IL_OP_GELU_GRAD, 0, 0, 1}, /* not fused */
};
#define NEPI (int)(sizeof epis / sizeof epis[0])

/* Shapes and the path each takes: tiny (plain loop), blocked with edge tiles and K blocks,
 * rows-dot, outer products, split K, a transposed output (the kernels' strided store). */
static void test_epilogues(void **state) {
    (void)state;
    const kase ks[] = {{3, 2, 4, 0, 0},    {45, 70, 37, 0, 0},  {29, 300, 33, 1, 0},
                       {600, 2, 40, 0, 0}, {1100, 17, 1, 0, 0}, {2, 4200, 33, 1, 0},
                       {40, 4200, 1, 1, 0}, {20, 30, 40, 0, 1}, {20, 4200, 20, 1, 0}};
    const int paths[] = {ILI_PATH_AUTO, ILI_PATH_BLOCKED, ILI_PATH_AUTO, ILI_PATH_AUTO,
                         ILI_PATH_DOT,  ILI_PATH_GER,     ILI_PATH_GER,  ILI_PATH_AUTO,
                         ILI_PATH_SPLIT};
    const char *names[] = {"generic", "avx2", "avx512", NULL};
    for (int th = 1; th <= 3; th++) {
        il_ctx *ctx = tu_ctx();
        assert_int_equal(il_ctx_set_threads(ctx, th), IL_OK);
        int last = th == 1 ? 2 : -1; /* each kernel set on one thread; the auto one on all */
        for (int kn = -1; kn <= last; kn++) {
            const ili_gemm_kernel *kern = kn < 0 ? NULL : ili_gemm_by_name(names[kn]);
            if (kn >= 0 && !kern) continue;
            for (il_dtype dt = IL_DTYPE_F32; dt <= IL_DTYPE_F64; dt++)
                for (size_t s = 0; s < sizeof ks / sizeof ks[0]; s++)
                    for (int e = 0; e < NEPI; e++)
                        compare(ctx, kern, kern ? paths[s] : ILI_PATH_AUTO, dt, &ks[s], &epis[e]);
        }
        tu_ctx_done(ctx);
    }
}

/* Malformed epilogues are IL_E_INTERNAL. */
static void test_malformed(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_tensor *a = rnd(ctx, IL_DTYPE_F32, 4, 3, 0), *b = rnd(ctx, IL_DTYPE_F32, 3, 5, 0);
    il_tensor *o = rnd(ctx, IL_DTYPE_F32, 4, 5, 0), *w = rnd(ctx, IL_DTYPE_F32, 4, 4, 0);
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL, c.nin = 2;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(b, &c.in[1]);
    ili_tensor_desc(o, &c.out);
    const double bad[][2] = {{3, -1}, {0.5, -1}, {IL_MATMUL_EPILOGUE_FORWARD, IL_OP_ADD},
                             {IL_MATMUL_EPILOGUE_GRAD, IL_OP_RELU_GRAD}, /* no in[2] */
                             {IL_MATMUL_EPILOGUE_GRAD, IL_OP_RELU}};
    for (int i = 0; i < 5; i++) {
        c.p[0] = bad[i][0], c.p[1] = bad[i][1];
        assert_int_equal(ili_cpu_matmul(ctx, &c), IL_E_INTERNAL);
    }
    c.p[0] = IL_MATMUL_EPILOGUE_GRAD, c.p[1] = IL_OP_RELU_GRAD, c.nin = 3;
    ili_tensor_desc(w, &c.in[2]); /* wrong shape */
    assert_int_equal(ili_cpu_matmul(ctx, &c), IL_E_INTERNAL);
    il_tensor_free(a), il_tensor_free(b), il_tensor_free(o), il_tensor_free(w);
    tu_ctx_done(ctx);
}

/* ---- the layer graph --------------------------------------------------------------------- */

static int add(il_net *net, il_layer_kind kind, int from, int64_t out, double alpha) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = out;
    o.alpha = alpha;
    int id;
    assert_int_equal(il_net_layer(net, kind, &o, 1, &from, &id), IL_OK);
    return id;
}

/* linear -> relu -> linear -> tanh -> linear -> leaky(0.1) -> linear -> sigmoid -> linear ->
 * leaky(-0.2) -> linear. With block, every linear and activation also feeds a layer past the
 * output, which never runs but stops fusion: the same network, unfused. */
static il_net *chain(il_ctx *ctx, int block) {
    il_net *net;
    il_ctx_seed(ctx, 5);
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    int x, ids[11], n = 0;
    assert_int_equal(il_net_input(net, 3, &x), IL_OK);
    const il_layer_kind acts[] = {IL_LAYER_RELU, IL_LAYER_TANH, IL_LAYER_LEAKY_RELU,
                                  IL_LAYER_SIGMOID, IL_LAYER_LEAKY_RELU};
    const double alpha[] = {0, 0, 0.1, 0, -0.2};
    int prev = x;
    for (int i = 0; i < 5; i++) {
        ids[n++] = prev = add(net, IL_LAYER_LINEAR, prev, 6 + i, 0);
        ids[n++] = prev = add(net, acts[i], prev, 0, alpha[i]);
    }
    int out = add(net, IL_LAYER_LINEAR, prev, 2, 0);
    for (int i = 0; block && i < n; i++) add(net, IL_LAYER_TANH, ids[i], 0, 0);
    assert_int_equal(il_net_set_output(net, out), IL_OK);
    return net;
}

/* Ten SGD steps of the fused and the unfused network agree to rounding in float64, and so do
 * their predictions; the fused one passes a gradient check. */
static void test_net_fusion(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_tensor *x = rnd(ctx, IL_DTYPE_F64, 50, 3, 0), *t = rnd(ctx, IL_DTYPE_F64, 50, 2, 0);
    il_net *net[2];
    il_optim *opt[2];
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = 0.1;
    il_loss loss = {IL_LOSS_MSE, 0};
    const il_tensor *xs[1] = {x};
    double lv[2];
    for (int i = 0; i < 2; i++) {
        net[i] = chain(ctx, i);
        assert_int_equal(il_optim_new(net[i], IL_OPTIM_SGD, &oo, &opt[i]), IL_OK);
    }
    for (int step = 0; step < 10; step++) {
        for (int i = 0; i < 2; i++)
            assert_int_equal(il_net_step(net[i], 1, xs, t, &loss, opt[i], &lv[i]), IL_OK);
        assert_true(fabs(lv[0] - lv[1]) <= 1e-12 * fabs(lv[1]));
    }
    il_tensor *y[2];
    for (int i = 0; i < 2; i++) assert_int_equal(il_net_forward(net[i], 1, xs, &y[i]), IL_OK);
    double *v0 = tu_values(ctx, y[0]), *v1 = tu_values(ctx, y[1]);
    tu_assert_close(v0, v1, 100, 1e-12, 1e-12);
    double err = 1;
    assert_int_equal(il_net_gradcheck(net[0], 1, xs, 0, &err), IL_OK);
    assert_true(err < 1e-6);
    free(v0), free(v1);
    for (int i = 0; i < 2; i++) il_tensor_free(y[i]), il_optim_free(opt[i]), il_net_free(net[i]);
    il_tensor_free(x), il_tensor_free(t);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epilogues),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_net_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
