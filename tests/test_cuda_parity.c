/*
 * test_cuda_parity.c: every op of il_ops.def run on the CPU and on CUDA on the same fresh random
 * inputs, in several shapes (contiguous, broadcast, transposed and strided views, 8 dims,
 * in place), f32 and f64 (and i64 where an op takes it; TAKE_ROWS in all three); results agree within
 * |a - b| <= 1e-5 + 1e-4 |cpu| in f32 and 1e-12 + 1e-10 |cpu| in f64, exactly for integer
 * results and the dropout mask, and failures agree in status and message. Layers, losses and
 * optimizers inside a network, memory and counters are in test_cuda_train.c.
 * Exits 77 when there is no CUDA device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cudatest.h"

static il_ctx *ctx;

#define S(...) ((const int64_t[]){__VA_ARGS__})

/* One call: op with p[0..1], nin inputs, out; compares out's buffer. */
static il_status run(const char *what, il_op op, int nin, const ct_arg *ins, const ct_arg *out,
                     double p0, double p1, int exact) {
    il_opcall t;
    memset(&t, 0, sizeof t);
    t.op = op;
    t.p[0] = p0;
    t.p[1] = p1;
    ct_buf *chk[1] = {out->b};
    return ct_run_both(ctx, what, &t, nin, ins, out, NULL, chk, 1, exact);
}

/* ---- elementwise ----------------------------------------------------------------------------- */

static const il_op binary_ops[] = {
    IL_OP_ADD, IL_OP_SUB, IL_OP_MUL, IL_OP_DIV, IL_OP_POW, IL_OP_MAXIMUM, IL_OP_MINIMUM,
    IL_OP_TANH_GRAD, IL_OP_SIGMOID_GRAD, IL_OP_RELU_GRAD, IL_OP_LEAKY_RELU_GRAD, IL_OP_GELU_GRAD,
    IL_OP_SOFTPLUS_GRAD, IL_OP_SINE_GRAD};
static const il_op unary_ops[] = {
    IL_OP_NEG, IL_OP_EXP, IL_OP_LOG, IL_OP_TANH, IL_OP_SIGMOID, IL_OP_RELU, IL_OP_SIN,
    IL_OP_COS, IL_OP_ABS, IL_OP_SQRT, IL_OP_CLAMP, IL_OP_LEAKY_RELU, IL_OP_GELU,
    IL_OP_SOFTPLUS, IL_OP_SINE};

#define NOPS(a) ((int)(sizeof(a) / sizeof(a[0])))

/* Parameters the op reads: CLAMP's bounds, the leaky slope, the sine frequency. */
static void params_of(il_op op, double *p0, double *p1) {
    *p0 = op == IL_OP_CLAMP ? -0.5 : op == IL_OP_SINE || op == IL_OP_SINE_GRAD ? 30 : 0.1;
    *p1 = op == IL_OP_CLAMP ? 0.7 : 0;
}

/* Runs op over the layouts: contiguous, broadcast, transposed views, 8 dims, in place. */
static void elementwise_layouts(il_op op, int nin, il_dtype dt) {
    double lo = dt == IL_DTYPE_I64 ? -1000 : -2, hi = -lo, p0, p1;
    params_of(op, &p0, &p1);
    ct_buf a = ct_buf_rand(ctx, dt, 4096, lo, hi), b = ct_buf_rand(ctx, dt, 4096, lo, hi);
    ct_buf o = ct_buf_rand(ctx, dt, 4096, lo, hi);
    char what[96];
    snprintf(what, sizeof what, "%s %s", il_op_name(op), il_dtype_name(dt));
    /* contiguous (3, 5, 7) */
    ct_arg in[2] = {ct_contig(&a, 3, S(3, 5, 7)), ct_contig(&b, 3, S(3, 5, 7))};
    ct_arg out = ct_contig(&o, 3, S(3, 5, 7));
    run(what, op, nin, in, &out, p0, p1, 0);
    /* broadcast: in[1] (1, 5, 1) and in[0] (3, 1, 7) expanded with stride 0 */
    in[0].stride[1] = 0, in[1].stride[0] = in[1].stride[2] = 0;
    run(what, op, nin, in, &out, p0, p1, 0);
    /* transposed views: in[0] is (7, 5, 3) seen as (3, 5, 7), out written transposed too */
    in[0] = ct_swap(ct_contig(&a, 3, S(7, 5, 3)), 0, 2);
    in[1] = ct_contig(&b, 3, S(3, 5, 7));
    in[1].off = 11;
    out = ct_swap(ct_contig(&o, 3, S(7, 5, 3)), 0, 2);
    run(what, op, nin, in, &out, p0, p1, 0);
    /* 8 dims with broadcast axes */
    in[0] = ct_contig(&a, 8, S(2, 1, 3, 2, 2, 1, 3, 2));
    in[1] = ct_contig(&b, 8, S(2, 4, 3, 2, 2, 3, 3, 2));
    in[0].shape[1] = 4, in[0].stride[1] = 0, in[0].shape[5] = 3, in[0].stride[5] = 0;
    out = ct_contig(&o, 8, S(2, 4, 3, 2, 2, 3, 3, 2));
    run(what, op, nin, in, &out, p0, p1, 0);
    /* in place: out is in[0] */
    in[0] = ct_contig(&a, 2, S(40, 50));
    in[1] = ct_contig(&b, 2, S(40, 50));
    run(what, op, nin, in, &in[0], p0, p1, 0);
    /* overlapping: out one element before in[0] in the same buffer (the CPU reads each input
     * before the write that clobbers it; CUDA goes through scratch) */
    out = in[0];
    in[0].off = 1;
    in[0].shape[0] = in[1].shape[0] = out.shape[0] = 20;
    run(what, op, nin, in, &out, p0, p1, 0);
    ct_buf_free(&a), ct_buf_free(&b), ct_buf_free(&o);
}

static void test_elementwise(void) {
    il_dtype fl[2] = {IL_DTYPE_F32, IL_DTYPE_F64};
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < NOPS(binary_ops); i++) elementwise_layouts(binary_ops[i], 2, fl[d]);
        for (int i = 0; i < NOPS(unary_ops); i++) elementwise_layouts(unary_ops[i], 1, fl[d]);
    }
    /* i64 where supported; elsewhere both backends refuse with the same message */
    for (int i = 0; i < NOPS(binary_ops); i++) elementwise_layouts(binary_ops[i], 2, IL_DTYPE_I64);
    for (int i = 0; i < NOPS(unary_ops); i++) elementwise_layouts(unary_ops[i], 1, IL_DTYPE_I64);
}

/* ---- copy, fill, bernoulli --------------------------------------------------------------- */

static void test_copy_fill(void) {
    il_dtype all[3] = {IL_DTYPE_F32, IL_DTYPE_F64, IL_DTYPE_I64};
    const double odd[8] = {NAN, INFINITY, -INFINITY, 1e30, -1e30, 2.7, -2.7, 0.5};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            ct_buf s = ct_buf_rand(ctx, all[j], 2048, -1e3, 1e3), o = ct_buf_rand(ctx, all[i], 2048, 0, 1);
            ct_buf v = ct_buf_values(ctx, all[j], 8, odd);
            char what[64];
            snprintf(what, sizeof what, "copy %s to %s", il_dtype_name(all[j]),
                     il_dtype_name(all[i]));
            ct_arg in = ct_contig(&s, 2, S(30, 40)), out = ct_contig(&o, 2, S(30, 40));
            run(what, IL_OP_COPY, 1, &in, &out, 0, 0, 1);
            in = ct_swap(ct_contig(&s, 2, S(40, 30)), 0, 1); /* transposed source */
            run(what, IL_OP_COPY, 1, &in, &out, 0, 0, 1);
            in.stride[0] = 0; /* broadcast rows */
            out.stride[0] = 41, out.off = 3; /* strided destination */
            run(what, IL_OP_COPY, 1, &in, &out, 0, 0, 1);
            in = ct_contig(&v, 1, S(8)), out = ct_contig(&o, 1, S(8)); /* NaN, inf, huge */
            run(what, IL_OP_COPY, 1, &in, &out, 0, 0, 1);
            ct_buf_free(&s), ct_buf_free(&o), ct_buf_free(&v);
        }
    for (int i = 0; i < 3; i++) {
        ct_buf o = ct_buf_rand(ctx, all[i], 4096, 0, 1);
        ct_arg out = ct_swap(ct_contig(&o, 3, S(9, 8, 7)), 0, 2);
        run("fill", IL_OP_FILL, 0, NULL, &out, 2.5, 0, 1);
        run("fill nan", IL_OP_FILL, 0, NULL, &out, NAN, 0, 1);
        run("fill -1e300", IL_OP_FILL, 0, NULL, &out, -1e300, 0, 1);
        /* the dropout mask: bit for bit the CPU's, contiguous and strided */
        il_opcall t;
        memset(&t, 0, sizeof t);
        t.op = IL_OP_BERNOULLI;
        t.p[0] = 0.7, t.p[1] = 1 / 0.7, t.p[2] = 12345, t.p[3] = 678;
        ct_buf *chk[1] = {&o};
        ct_run_both(ctx, "bernoulli", &t, 0, NULL, &out, NULL, chk, 1, 1);
        out = ct_contig(&o, 2, S(50, 60));
        ct_run_both(ctx, "bernoulli", &t, 0, NULL, &out, NULL, chk, 1, 1);
        t.p[2] = -1; /* refused alike */
        ct_run_both(ctx, "bernoulli bad seed", &t, 0, NULL, &out, NULL, chk, 1, 1);
        ct_buf_free(&o);
    }
}

/* ---- take_rows ----------------------------------------------------------------------------- */

/* TAKE_ROWS: contiguous, strided data, strided indices, strided output, 1-D data, empty, and a
 * long gather; bit for bit (bits are copied). */
static void test_take_rows(void) {
    il_dtype all[3] = {IL_DTYPE_F32, IL_DTYPE_F64, IL_DTYPE_I64};
    enum { NI = 65536 };
    double *iv = malloc(sizeof(double) * NI);
    if (iv == NULL) exit(1);
    for (int64_t i = 0; i < NI; i++) iv[i] = (double)((i * 7919 + 13) % 50);
    ct_buf ib = ct_buf_values(ctx, IL_DTYPE_I64, NI, iv);
    for (int64_t i = 0; i < NI; i++) iv[i] = (double)((i * 7919 + 13) % 100000);
    ct_buf big = ct_buf_values(ctx, IL_DTYPE_I64, NI, iv);
    free(iv);
    for (int d = 0; d < 3; d++) {
        char what[64];
        snprintf(what, sizeof what, "take_rows %s", il_dtype_name(all[d]));
        ct_buf x = ct_buf_rand(ctx, all[d], 300000, -1e3, 1e3);
        ct_buf o = ct_buf_rand(ctx, all[d], 3 * NI, 0, 1);
        ct_arg in[2] = {ct_contig(&x, 3, S(50, 6, 4)), ct_contig(&ib, 1, S(30))};
        ct_arg out = ct_contig(&o, 3, S(30, 6, 4));
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        in[0] = ct_swap(ct_contig(&x, 3, S(6, 50, 4)), 0, 1); /* strided rows */
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        out = ct_swap(ct_contig(&o, 3, S(6, 30, 4)), 0, 1); /* strided destination */
        out.off = 5;
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        in[1].shape[0] = 15, in[1].stride[0] = 2, in[1].off = 1; /* strided indices */
        out = ct_contig(&o, 3, S(15, 6, 4));
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        in[0] = ct_contig(&x, 1, S(50)), in[1] = ct_contig(&ib, 1, S(40)); /* 1-D data */
        out = ct_contig(&o, 1, S(40));
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        in[1].shape[0] = 0, out.shape[0] = 0; /* nothing */
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        in[0] = ct_contig(&x, 2, S(100000, 3)), in[1] = ct_contig(&big, 1, S(NI)); /* long */
        out = ct_contig(&o, 2, S(NI, 3));
        run(what, IL_OP_TAKE_ROWS, 2, in, &out, 0, 0, 1);
        ct_buf_free(&x), ct_buf_free(&o);
    }
    ct_buf_free(&ib), ct_buf_free(&big);
}

/* ---- reductions ------------------------------------------------------------------------------ */

static const il_op red_ops[] = {IL_OP_SUM, IL_OP_MEAN, IL_OP_MAX, IL_OP_MIN, IL_OP_ARGMAX,
                                IL_OP_SUMSQ};

/* op over every axis and all of in (shape sh), into keepdim outputs. */
static void reduce_all_axes(il_op op, ct_arg in, const char *layout) {
    il_dtype odt = op == IL_OP_ARGMAX ? IL_DTYPE_I64 : in.b->dt;
    int64_t n = 1;
    for (int d = 0; d < in.ndim; d++) n *= in.shape[d];
    ct_buf o = ct_buf_rand(ctx, odt, n + 64, 0, 1); /* + 64: keepdim outputs of empty inputs */
    char what[96];
    for (int axis = -1; axis < in.ndim; axis++) {
        il_opcall t;
        memset(&t, 0, sizeof t);
        t.op = op;
        t.axis = axis < 0 ? IL_AXIS_ALL : axis;
        int64_t sh[IL_MAX_DIMS];
        for (int d = 0; d < in.ndim; d++) sh[d] = axis < 0 || d == axis ? 1 : in.shape[d];
        ct_arg out = ct_contig(&o, in.ndim, sh);
        snprintf(what, sizeof what, "%s %s %s axis %d", il_op_name(op), il_dtype_name(in.b->dt),
                 layout, axis);
        ct_buf *chk[1] = {&o};
        ct_run_both(ctx, what, &t, 1, &in, &out, NULL, chk, 1, op == IL_OP_ARGMAX);
    }
    ct_buf_free(&o);
}

static void test_reduce(void) {
    il_dtype all[3] = {IL_DTYPE_F32, IL_DTYPE_F64, IL_DTYPE_I64};
    /* IL_CT_QUICK (under compute-sanitizer): a tenth of the long inputs; still segmented */
    int64_t L = getenv("IL_CT_QUICK") ? 10000 : 100000;
    for (int d = 0; d < 3; d++) {
        double lo = d == 2 ? -1e6 : -1, hi = -lo;
        ct_buf a = ct_buf_rand(ctx, all[d], 4 * L, lo, hi);
        for (int i = 0; i < NOPS(red_ops); i++) {
            il_op op = red_ops[i];
            reduce_all_axes(op, ct_contig(&a, 3, S(6, 37, 129)), "contiguous");
            reduce_all_axes(op, ct_swap(ct_contig(&a, 3, S(129, 37, 6)), 0, 2), "transposed");
            reduce_all_axes(op, ct_contig(&a, 2, S(3, L)), "long rows");
            reduce_all_axes(op, ct_contig(&a, 2, S(L, 3)), "long columns");
            reduce_all_axes(op, ct_contig(&a, 1, S(4 * L - 1)), "1-D");
            reduce_all_axes(op, ct_contig(&a, 2, S(3, 0)), "empty");
        }
        ct_buf_free(&a);
    }
    /* ties and NaN: first maximum, NaN wins, NaN propagates */
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = (double)(i * 7 % 4) - 1;
    v[5] = v[17] = v[19] = NAN;
    for (int d = 0; d < 2; d++) {
        ct_buf a = ct_buf_values(ctx, all[d], 24, v);
        for (int i = 0; i < NOPS(red_ops); i++)
            reduce_all_axes(red_ops[i], ct_contig(&a, 2, S(4, 6)), "ties and NaN");
        ct_buf_free(&a);
    }
}

/* ---- rows, losses, optimizers ----------------------------------------------------------------- */

static void test_rows(il_dtype dt) {
    ct_buf x = ct_buf_rand(ctx, dt, 8192, -5, 5), y = ct_buf_rand(ctx, dt, 8192, 0, 1);
    ct_buf o = ct_buf_rand(ctx, dt, 8192, 0, 1);
    const int64_t shapes[4][2] = {{17, 5}, {3, 1000}, {1, 7}, {64, 33}};
    for (int s = 0; s < 4; s++) {
        ct_arg in[2] = {ct_contig(&x, 2, shapes[s]), ct_contig(&y, 2, shapes[s])};
        ct_arg out = ct_contig(&o, 2, shapes[s]);
        run("softmax", IL_OP_SOFTMAX, 1, in, &out, 0, 0, 0);
        run("softmax_grad", IL_OP_SOFTMAX_GRAD, 2, in, &out, 0, 0, 0);
        int64_t tr[2] = {shapes[s][1], shapes[s][0]};
        in[0] = ct_swap(ct_contig(&x, 2, tr), 0, 1); /* column-major input */
        run("softmax transposed", IL_OP_SOFTMAX, 1, in, &out, 0, 0, 0);
        run("softmax_grad transposed", IL_OP_SOFTMAX_GRAD, 2, in, &out, 0, 0, 0);
    }
    ct_arg in1 = ct_contig(&x, 1, S(7)), out1 = ct_contig(&o, 1, S(7));
    run("softmax 1-D", IL_OP_SOFTMAX, 1, &in1, &out1, 0, 0, 0);
    ct_arg ip = ct_contig(&o, 2, S(20, 30));
    run("softmax in place", IL_OP_SOFTMAX, 1, &ip, &ip, 0, 0, 0);
    ct_buf_free(&x), ct_buf_free(&y), ct_buf_free(&o);
}

/* One loss op on predictions (B, F) against target t, with and without the gradient. */
static void loss_case(il_op op, ct_arg pred, ct_arg tgt, double delta, const char *what) {
    il_dtype dt = pred.b->dt;
    ct_buf g = ct_buf_rand(ctx, dt, pred.shape[0] * pred.shape[1] + 1, 0, 1);
    ct_buf v = ct_buf_rand(ctx, dt, 1, 0, 1);
    ct_arg gout = ct_contig(&g, 2, pred.shape), vout = ct_contig(&v, 0, NULL);
    ct_arg ins[2] = {pred, tgt};
    il_opcall t;
    memset(&t, 0, sizeof t);
    t.op = op;
    t.p[0] = delta;
    ct_buf *chk[2] = {&v, &g};
    ct_run_both(ctx, what, &t, 2, ins, &gout, &vout, chk, 2, 0);
    ct_run_both(ctx, what, &t, 2, ins, NULL, &vout, chk, 1, 0); /* value only */
    ct_buf_free(&g), ct_buf_free(&v);
}

static void test_losses(il_dtype dt) {
    const il_op ew[5] = {IL_OP_LOSS_MSE, IL_OP_LOSS_BCE, IL_OP_LOSS_BCE_LOGITS, IL_OP_LOSS_L1,
                         IL_OP_LOSS_HUBER};
    il_dtype tdt[3] = {IL_DTYPE_F32, IL_DTYPE_F64, IL_DTYPE_I64};
    ct_buf p = ct_buf_rand(ctx, dt, 70000, 0.001, 0.999);
    for (int k = 0; k < 3; k++) {
        ct_buf y = ct_buf_rand(ctx, tdt[k], 70000, 0, k == 2 ? 5 : 1);
        for (int i = 0; i < 5; i++) {
            char what[80];
            snprintf(what, sizeof what, "%s %s targets %s", il_op_name(ew[i]), il_dtype_name(dt),
                     il_dtype_name(tdt[k]));
            loss_case(ew[i], ct_contig(&p, 2, S(300, 7)), ct_contig(&y, 2, S(300, 7)), 0.3, what);
            loss_case(ew[i], ct_contig(&p, 2, S(40000, 1)), ct_contig(&y, 1, S(40000)), 0.3, what);
            loss_case(ew[i], ct_swap(ct_contig(&p, 2, S(7, 30)), 0, 1),
                      ct_swap(ct_contig(&y, 2, S(7, 30)), 0, 1), 0.3, what);
        }
        /* cross-entropy: logits (B, C) with class indices (B) / (B, 1), or probabilities */
        double idx[3000];
        for (int r = 0; r < 3000; r++) idx[r] = (double)(r * 7 % 10);
        ct_buf cls = ct_buf_values(ctx, tdt[k], 3000, idx);
        loss_case(IL_OP_LOSS_CE_INDEX, ct_contig(&p, 2, S(3000, 10)), ct_contig(&cls, 1, S(3000)),
                  0, "cross_entropy");
        loss_case(IL_OP_LOSS_CE_INDEX, ct_contig(&p, 2, S(50, 10)),
                  ct_contig(&cls, 2, S(50, 1)), 0, "cross_entropy (B, 1)");
        if (tdt[k] != IL_DTYPE_I64)
            loss_case(IL_OP_LOSS_CE_PROBS, ct_contig(&p, 2, S(300, 10)),
                      ct_contig(&y, 2, S(300, 10)), 0, "cross_entropy probs");
        loss_case(IL_OP_LOSS_CE_INDEX, ct_contig(&p, 2, S(50, 3)), ct_contig(&cls, 1, S(50)), 0,
                  "cross_entropy bad index"); /* classes 0..9 of 3: IL_E_RANGE alike */
        ct_buf_free(&y), ct_buf_free(&cls);
    }
    ct_buf_free(&p);
}

static void test_optim(il_dtype dt) {
    const double sgd[5] = {0.1, 0.9, 0.01, 1, 0}, adam[8] = {1e-3, 0.9, 0.999, 1e-8, 0.01, 1,
                                                              1 - 0.9 * 0.9 * 0.9,
                                                              1 - 0.999 * 0.999 * 0.999};
    const double rms[5] = {0.01, 0.99, 1e-8, 0.001, 0.9};
    const il_op ops[3] = {IL_OP_SGD_UPDATE, IL_OP_ADAM_UPDATE, IL_OP_RMSPROP_UPDATE};
    const double *ps[3] = {sgd, adam, rms};
    int np[3] = {5, 8, 5};
    for (int i = 0; i < 3; i++) {
        int64_t n = 100003;
        ct_buf w = ct_buf_rand(ctx, dt, n, -1, 1), g = ct_buf_rand(ctx, dt, n, -1, 1);
        ct_buf s0 = ct_buf_rand(ctx, dt, n, 0, 1), s1 = ct_buf_rand(ctx, dt, n, 0, 1);
        ct_arg ins[3] = {ct_contig(&g, 1, &n), ct_contig(&s0, 1, &n), ct_contig(&s1, 1, &n)};
        ct_arg out = ct_contig(&w, 1, &n);
        il_opcall t;
        memset(&t, 0, sizeof t);
        t.op = ops[i];
        memcpy(t.p, ps[i], sizeof(double) * (size_t)np[i]);
        ct_buf *chk[3] = {&w, &s0, &s1};
        for (int step = 0; step < 3; step++)
            ct_run_both(ctx, il_op_name(ops[i]), &t, 3, ins, &out, NULL, chk, 3, 0);
        ct_buf_free(&w), ct_buf_free(&g), ct_buf_free(&s0), ct_buf_free(&s1);
    }
}

void ct_test_matmul(il_ctx *c); /* test_cuda_matmul.c */

int main(void) {
    ctx = ct_begin_cuda();
    il_ctx_set_threads(ctx, 1); /* the overlap cases assume the CPU's sequential order */
    test_elementwise();
    test_copy_fill();
    test_take_rows();
    test_reduce();
    for (int d = 0; d < 2; d++) {
        il_dtype dt = d ? IL_DTYPE_F64 : IL_DTYPE_F32;
        test_rows(dt);
        test_losses(dt);
        test_optim(dt);
    }
    ct_test_matmul(ctx);
    return ct_end(ctx);
}
