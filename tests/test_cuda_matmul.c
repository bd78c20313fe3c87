/*
 * test_cuda_matmul.c: MATMUL parity, CPU against CUDA (part of test_cuda_parity): shapes from
 * 1x1x1 to 128^3, operands contiguous, transposed, with padded rows and broadcast (stride 0),
 * outputs cuBLAS can write in place and ones it cannot, batches (strided, broadcast, several
 * axes), K = 0, and both fused epilogues (bias + activation; activation gradient + column sums).
 * The fast paths (cuda/matmul_small.cu, cuda/matmul_lt.cu) each get every epilogue on shapes
 * that reach them and on shapes that must fall back, with launch counts showing which ran, NaN
 * through ReLU, TF32 and run-to-run identical column sums.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cudatest.h"

#define S(...) ((const int64_t[]){__VA_ARGS__})

static il_ctx *ctx;

/* A (m, k) view of b in one of four layouts: 0 contiguous, 1 transposed (column-major),
 * 2 rows padded (row stride k + 3), 3 rows broadcast (stride 0 on the row axis). */
static ct_arg mat(ct_buf *b, int64_t r, int64_t c, int layout) {
    ct_arg a;
    if (layout == 1) return ct_swap(ct_contig(b, 2, (int64_t[]){c, r}), 0, 1);
    a = ct_contig(b, 2, (int64_t[]){r, c});
    if (layout == 2) a.stride[0] = c + 3;
    if (layout == 3) a.stride[0] = 0;
    return a;
}

/* Every call here is well formed (backend.h): both devices must accept it, so a case that
 * both refused alike (which ct_run_both counts as agreement) is reported here, at its site. */
static void product(const char *what, ct_arg A, ct_arg B, ct_arg C, const il_opcall *t,
                    const ct_arg *bias, const ct_arg *out2) {
    ct_arg ins[3] = {A, B, bias ? *bias : A};
    ct_buf *chk[2] = {C.b, out2 ? out2->b : C.b};
    il_status st = ct_run_both(ctx, what, t, bias ? 3 : 2, ins, &C, out2, chk, out2 ? 2 : 1, 0);
    CT_CHECK(st == IL_OK, "%s: refused: %s: %s", what, il_status_str(st), il_errmsg(ctx));
}

static il_opcall plain(void) {
    il_opcall t;
    memset(&t, 0, sizeof t);
    t.op = IL_OP_MATMUL;
    return t;
}

static void test_layouts(il_dtype dt, ct_buf *a, ct_buf *b, ct_buf *c) {
    const int64_t dims[6][3] = {{1, 1, 1}, {5, 7, 3}, {64, 37, 33}, {1, 50, 20}, {30, 50, 1},
                                {128, 128, 128}};
    il_opcall t = plain();
    char what[96];
    for (int s = 0; s < 6; s++) {
        int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
        for (int la = 0; la < 4; la++)
            for (int lb = 0; lb < 4; lb++)
                for (int lc = 0; lc < 3; lc++) {
                    ct_arg C = mat(c, m, n, lc == 2 ? 2 : lc);
                    if (lc == 2) C.stride[1] = 2, C.stride[0] = 2 * n + 1; /* not for cuBLAS */
                    snprintf(what, sizeof what, "matmul %s %lldx%lldx%lld layouts %d%d%d",
                             il_dtype_name(dt), (long long)m, (long long)k, (long long)n, la,
                             lb, lc);
                    product(what, mat(a, m, k, la), mat(b, k, n, lb), C, &t, NULL, NULL);
                }
    }
    /* K = 0: zeros */
    product("matmul k=0", mat(a, 4, 0, 0), mat(b, 0, 5, 0), mat(c, 4, 5, 0), &t, NULL, NULL);
}

static void test_batches(ct_buf *a, ct_buf *b, ct_buf *c) {
    il_opcall t = plain();
    ct_arg A = ct_contig(a, 3, S(3, 5, 7)), B = ct_contig(b, 3, S(3, 7, 4));
    ct_arg C = ct_contig(c, 3, S(3, 5, 4));
    product("matmul batched", A, B, C, &t, NULL, NULL);
    A.stride[0] = 0; /* one A for every batch */
    product("matmul batch-broadcast A", A, B, C, &t, NULL, NULL);
    B = ct_swap(ct_contig(b, 3, S(3, 4, 7)), 1, 2); /* transposed B matrices */
    product("matmul batched transposed B", A, B, C, &t, NULL, NULL);
    /* two batch axes that do not coalesce: B broadcast on the first */
    A = ct_contig(a, 4, S(2, 3, 5, 7));
    B = ct_contig(b, 4, S(2, 3, 7, 4));
    B.stride[0] = 0;
    C = ct_contig(c, 4, S(2, 3, 5, 4));
    product("matmul 2 batch axes", A, B, C, &t, NULL, NULL);
}

static void test_epilogues(ct_buf *a, ct_buf *b, ct_buf *c, ct_buf *d, ct_buf *e) {
    const il_op fwd[8] = {IL_OP_RELU /* unused: none */, IL_OP_RELU, IL_OP_TANH, IL_OP_SIGMOID, IL_OP_LEAKY_RELU,
                          IL_OP_GELU, IL_OP_SOFTPLUS, IL_OP_SINE};
    const il_op bwd[7] = {IL_OP_RELU_GRAD, IL_OP_TANH_GRAD, IL_OP_SIGMOID_GRAD,
                          IL_OP_LEAKY_RELU_GRAD, IL_OP_GELU_GRAD, IL_OP_SOFTPLUS_GRAD,
                          IL_OP_SINE_GRAD};
    il_opcall t = plain();
    char what[96];
    ct_arg A = mat(a, 50, 9, 0), B = mat(b, 9, 16, 1), C = mat(c, 50, 16, 0);
    ct_arg bias = mat(d, 50, 16, 3); /* one row broadcast over M */
    ct_arg v = mat(d, 50, 16, 0), sums = ct_contig(e, 2, S(1, 16));
    for (int i = 0; i < 8; i++) {
        t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = i ? (double)fwd[i] : -1, t.p[2] = 0.1;
        snprintf(what, sizeof what, "matmul + bias + %s", i ? il_op_name(fwd[i]) : "identity");
        product(what, A, B, C, &t, &bias, NULL);
        product(what, A, B, C, &t, NULL, NULL); /* without bias */
    }
    for (int i = 0; i < 7; i++) {
        t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = (double)bwd[i], t.p[2] = 0.1;
        snprintf(what, sizeof what, "matmul then %s and column sums", il_op_name(bwd[i]));
        product(what, A, B, C, &t, &v, &sums);
        product(what, A, B, C, &t, &v, NULL); /* without column sums */
    }
}

/* ---- fast paths ------------------------------------------------------------------------------ */

static const il_op fwd_ops[6] = {IL_OP_RELU /* unused: none */, IL_OP_RELU, IL_OP_TANH, IL_OP_GELU, IL_OP_SINE,
                                 IL_OP_LEAKY_RELU};
static const il_op grad_ops[7] = {IL_OP_RELU_GRAD,  IL_OP_TANH_GRAD, IL_OP_SIGMOID_GRAD,
                                  IL_OP_LEAKY_RELU_GRAD, IL_OP_GELU_GRAD,
                                  IL_OP_SOFTPLUS_GRAD, IL_OP_SINE_GRAD};

/* Launches (kernels and cuBLAS calls) of the call on CUDA alone. */
static int64_t launches(const il_opcall *t, int nin, const ct_arg *ins, const ct_arg *out,
                        const ct_arg *out2) {
    il_opcall g = *t;
    g.nin = nin;
    for (int k = 0; k < nin; k++) g.in[k] = ct_desc(&ins[k], 1);
    g.out = ct_desc(out, 1);
    if (out2) g.out2 = ct_desc(out2, 1);
    ili_cuda_counts a, b;
    ili_cuda_counts_get(ctx, &a);
    CT_OK(ctx, ili_backend_run(ctx, IL_DEVICE_CUDA, &g));
    ili_cuda_counts_get(ctx, &b);
    return (int64_t)(b.launches - a.launches);
}

/* One FORWARD or GRAD call on both devices (and, when want > 0, the launches it must take on
 * CUDA; f32 only for cuBLASLt, which may lack an f64 epilogue). */
static void epi_case(const char *what, il_opcall *t, ct_arg A, ct_arg B, ct_arg C,
                     const ct_arg *x, const ct_arg *sums, int64_t want) {
    product(what, A, B, C, t, x, sums);
    if (want <= 0) return;
    ct_arg ins[3] = {A, B, x ? *x : A};
    int64_t n = launches(t, x ? 3 : 2, ins, &C, sums);
    CT_CHECK(n == want, "%s: %lld launches, expected %lld", what, (long long)n, (long long)want);
}

/* Every epilogue on an m x k x n problem with operands in the given layouts (mat()). want_fwd:
 * launches of FORWARD with a bias and no activation; want_grad: of GRAD with sums (0: any). */
static void all_epilogues(il_dtype dt, int64_t m, int64_t k, int64_t n, int la, int lb,
                          ct_buf *a, ct_buf *b, ct_buf *c, ct_buf *d, ct_buf *e, int64_t want_fwd,
                          int64_t want_grad) {
    char what[128];
    il_opcall t = plain();
    ct_arg A = mat(a, m, k, la), B = mat(b, k, n, lb), C = mat(c, m, n, 0);
    ct_arg bias = mat(d, m, n, 3), v = mat(d, m, n, 0), sums = ct_contig(e, 2, S(1, n));
    snprintf(what, sizeof what, "fast %s %lldx%lldx%lld (%d%d) plain", il_dtype_name(dt),
             (long long)m, (long long)k, (long long)n, la, lb);
    epi_case(what, &t, A, B, C, NULL, NULL, want_fwd == 1 ? 1 : 0);
    for (int i = 0; i < 6; i++) {
        t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = i ? (double)fwd_ops[i] : -1, t.p[2] = 0.7;
        snprintf(what, sizeof what, "fast %s %lldx%lldx%lld (%d%d) + bias + %s",
                 il_dtype_name(dt), (long long)m, (long long)k, (long long)n, la, lb,
                 i ? il_op_name(fwd_ops[i]) : "identity");
        epi_case(what, &t, A, B, C, &bias, NULL, i == 0 ? want_fwd : 0);
        if (i > 0) epi_case(what, &t, A, B, C, NULL, NULL, 0); /* no bias */
    }
    for (int i = 0; i < 7; i++) {
        t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = (double)grad_ops[i], t.p[2] = 0.7;
        snprintf(what, sizeof what, "fast %s %lldx%lldx%lld (%d%d) %s + sums", il_dtype_name(dt),
                 (long long)m, (long long)k, (long long)n, la, lb, il_op_name(grad_ops[i]));
        epi_case(what, &t, A, B, C, &v, &sums, want_grad);
        epi_case(what, &t, A, B, C, &v, NULL, 0); /* no sums */
    }
}

/* Shapes that reach each path: the one-kernel small path (M*N <= 4096, K <= 64), cuBLASLt
 * (FORWARD, bias only), and the cuBLAS product with the one-pass GRAD epilogue. */
static void test_fast(il_dtype dt, ct_buf *a, ct_buf *b, ct_buf *c, ct_buf *d, ct_buf *e) {
    const int64_t small[6][3] = {{4, 2, 8}, {1, 1, 1}, {16, 16, 16}, {4096, 3, 1}, {1, 2, 4096},
                                 {7, 0, 5}};
    for (int s = 0; s < 6; s++)
        for (int l = 0; l < 4; l++)
            all_epilogues(dt, small[s][0], small[s][1], small[s][2], l & 1, l >> 1, a, b, c, d,
                          e, 1, 1);
    int lt = dt == IL_DTYPE_F32 ? 1 : 0; /* cuBLASLt may lack the f64 epilogue: no count */
    /* 64^3: small for FORWARD, too much work for the one-block GRAD: cuBLAS + one pass */
    all_epilogues(dt, 64, 64, 64, 0, 1, a, b, c, d, e, 1, 2);
    const int64_t big[5][3] = {{300, 40, 64}, {1, 5, 5000}, {5000, 7, 1}, {200, 1, 30},
                               {100, 70, 50}};
    /* cuBLASLt's launch count is checked where every leading dimension is a multiple of 16
     * bytes (elsewhere the heuristic may decline, and the cuBLAS path is as right); the GRAD
     * sums take a third launch, the fold, when M has several 64-row segments */
    for (int s = 0; s < 5; s++)
        for (int l = 0; l < 4; l++)
            all_epilogues(dt, big[s][0], big[s][1], big[s][2], l & 1, l >> 1, a, b, c, d, e,
                          s == 0 && l == 0 ? lt : 0, big[s][0] / 64 > 1 ? 3 : 2);
    all_epilogues(dt, 3000, 8, 13, 0, 0, a, b, c, d, e, 0, 3);
}

/* Calls the fast paths must decline, and do right anyway: batches, outputs cuBLAS cannot write,
 * broadcast rows, an unaligned bias, batch axes of size 1. */
static void test_fast_fallbacks(il_dtype dt, ct_buf *a, ct_buf *b, ct_buf *c, ct_buf *d,
                                ct_buf *e) {
    const int64_t dims[2][3] = {{16, 16, 16}, {300, 40, 64}};
    char what[128];
    for (int s = 0; s < 2; s++) {
        int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
        il_opcall t = plain();
        ct_arg A = mat(a, m, k, 0), B = mat(b, k, n, 0), C = mat(c, m, n, 0);
        ct_arg Cs = C, Ab = mat(a, m, k, 3), bias = mat(d, m, n, 3), v = mat(d, m, n, 0);
        ct_arg sums = ct_contig(e, 2, S(1, n));
        Cs.stride[1] = 2, Cs.stride[0] = 2 * n + 1; /* not for cuBLAS */
        ct_arg ub = bias;
        ub.off = 1; /* not 16-byte aligned */
        for (int i = 0; i < 2; i++) {
            t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = i ? IL_OP_RELU : -1, t.p[2] = 0;
            snprintf(what, sizeof what, "fallback %s %lld fwd %d", il_dtype_name(dt),
                     (long long)m, i);
            product(what, A, B, Cs, &t, &bias, NULL);
            product(what, Ab, B, C, &t, &bias, NULL);
            product(what, A, B, C, &t, &ub, NULL);
            t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = i ? IL_OP_TANH_GRAD : IL_OP_RELU_GRAD;
            product(what, A, B, Cs, &t, &v, &sums);
            product(what, Ab, B, C, &t, &v, &sums);
        }
    }
    /* batches: (3, 5, 4) with a bias row shared by every batch; sums (3, 1, 4) */
    il_opcall t = plain();
    ct_arg A = ct_contig(a, 3, S(3, 5, 7)), B = ct_contig(b, 3, S(3, 7, 4));
    ct_arg C = ct_contig(c, 3, S(3, 5, 4)), v = ct_contig(d, 3, S(3, 5, 4));
    ct_arg bias = v, sums = ct_contig(e, 3, S(3, 1, 4));
    bias.stride[0] = bias.stride[1] = 0;
    t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = IL_OP_RELU;
    product("fallback batched fwd", A, B, C, &t, &bias, NULL);
    t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = IL_OP_SIGMOID_GRAD;
    product("fallback batched grad", A, B, C, &t, &v, &sums);
    /* batch axes of size 1: (1, m, n) outputs take the general path (the fast ones are 2-D
     * only) */
    for (int s = 0; s < 2; s++) {
        int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
        A = ct_contig(a, 3, S(1, m, k)), B = ct_contig(b, 3, S(1, k, n));
        C = ct_contig(c, 3, S(1, m, n)), v = ct_contig(d, 3, S(1, m, n));
        bias = v, bias.stride[1] = 0, sums = ct_contig(e, 3, S(1, 1, n));
        t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = -1;
        product("unit batch fwd", A, B, C, &t, &bias, NULL);
        t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = IL_OP_GELU_GRAD;
        product("unit batch grad", A, B, C, &t, &v, &sums);
    }
}

/* A NaN in A makes a row of the product NaN: ReLU keeps it (as the CPU does) on every path, and
 * the column sums are NaN too. */
static void test_nan(il_dtype dt, ct_buf *c, ct_buf *d, ct_buf *e) {
    const int64_t dims[3][3] = {{4, 2, 8}, {300, 40, 64}, {3000, 8, 13}};
    double *x = malloc(sizeof(double) * 24001);
    if (x == NULL) exit(1);
    for (int i = 0; i < 24001; i++) x[i] = sin(0.37 * i);
    x[5] = NAN;
    ct_buf a = ct_buf_values(ctx, dt, 24000, x), b = ct_buf_values(ctx, dt, 24000, x + 1);
    free(x);
    il_opcall t = plain();
    for (int s = 0; s < 3; s++) {
        int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
        ct_arg A = mat(&a, m, k, 0), B = mat(&b, k, n, 0), C = mat(c, m, n, 0);
        B.off = 7; /* no NaN in B */
        ct_arg bias = mat(d, m, n, 3), v = mat(d, m, n, 0), sums = ct_contig(e, 2, S(1, n));
        t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = IL_OP_RELU;
        product("lt relu nan", A, B, C, &t, &bias, NULL);
        product("lt relu nan", A, B, C, &t, NULL, NULL);
        t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = IL_OP_SINE_GRAD, t.p[2] = 1;
        product("grad nan sums", A, B, C, &t, &v, &sums);
    }
    ct_buf_free(&a), ct_buf_free(&b);
}

/* |cpu - gpu| <= 1e-2 (scale + |cpu|): TF32 keeps 10 mantissa bits of each operand (scale:
 * sqrt of the number of terms a sum adds up). */
static void compare_tf32(const char *what, const ct_buf *buf, int64_t n, double scale) {
    size_t bytes = sizeof(double) * (size_t)buf->n;
    double *x = malloc(bytes), *y = malloc(bytes);
    if (!x || !y) exit(1);
    CT_OK(ctx, il_tensor_read(ctx, buf->cpu, x, IL_DTYPE_F64, buf->n));
    CT_OK(ctx, il_tensor_read(ctx, buf->gpu, y, IL_DTYPE_F64, buf->n));
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(x[i] - y[i]) <= 1e-2 * (scale + fabs(x[i]))) && bad++ < 3)
            CT_CHECK(0, "%s: element %lld: cpu %.9g, cuda %.9g", what, (long long)i, x[i], y[i]);
    free(x), free(y);
}

/* TF32 on (f32): cuBLASLt and cuBLAS in TF32, the small path in FP32; then the column sums of
 * the one-pass GRAD epilogue, identical bit for bit over two runs. */
static void test_tf32(ct_buf *a, ct_buf *b, ct_buf *c, ct_buf *d, ct_buf *e) {
    const int64_t dims[3][3] = {{300, 40, 64}, {16, 16, 16}, {3000, 8, 13}};
    CT_OK(ctx, il_cuda_set_tf32(ctx, 1));
    for (int s = 0; s < 3; s++) {
        int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
        il_opcall t = plain();
        ct_arg A = mat(a, m, k, 0), B = mat(b, k, n, 1), C = mat(c, m, n, 0);
        ct_arg ins[3] = {A, B, mat(d, m, n, 3)}, sums = ct_contig(e, 2, S(1, n));
        t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = -1;
        ct_run_both(ctx, "tf32 fwd", &t, 3, ins, &C, NULL, NULL, 0, 0);
        compare_tf32("tf32 fwd", c, m * n, 1);
        t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = IL_OP_TANH_GRAD;
        ins[2] = mat(d, m, n, 0);
        ct_run_both(ctx, "tf32 grad", &t, 3, ins, &C, &sums, NULL, 0, 0);
        compare_tf32("tf32 grad", c, m * n, 1);
        compare_tf32("tf32 grad sums", e, n, sqrt((double)m));
    }
    CT_OK(ctx, il_cuda_set_tf32(ctx, 0));
    /* determinism: the same sums twice */
    il_opcall t = plain();
    ct_arg ins[3] = {mat(a, 3000, 8, 0), mat(b, 8, 13, 0), mat(d, 3000, 13, 0)};
    ct_arg C = mat(c, 3000, 13, 0), sums = ct_contig(e, 2, S(1, 13));
    t.p[0] = IL_MATMUL_EPILOGUE_GRAD, t.p[1] = IL_OP_SOFTPLUS_GRAD;
    double *r[2] = {malloc(sizeof(double) * (size_t)e->n), malloc(sizeof(double) * (size_t)e->n)};
    if (!r[0] || !r[1]) exit(1);
    for (int i = 0; i < 2; i++) {
        launches(&t, 3, ins, &C, &sums);
        CT_OK(ctx, il_tensor_read(ctx, e->gpu, r[i], IL_DTYPE_F64, e->n));
    }
    CT_CHECK(memcmp(r[0], r[1], sizeof(double) * 13) == 0, "column sums differ between runs");
    free(r[0]), free(r[1]);
}

void ct_test_matmul(il_ctx *c);

void ct_test_matmul(il_ctx *c) {
    ctx = c;
    for (int d = 0; d < 2; d++) {
        il_dtype dt = d ? IL_DTYPE_F64 : IL_DTYPE_F32;
        ct_buf a = ct_buf_rand(ctx, dt, 40000, -1, 1), b = ct_buf_rand(ctx, dt, 40000, -1, 1);
        ct_buf o = ct_buf_rand(ctx, dt, 40000, -1, 1), v = ct_buf_rand(ctx, dt, 40000, -1, 1);
        ct_buf s = ct_buf_rand(ctx, dt, 5000, -1, 1);
        test_layouts(dt, &a, &b, &o);
        test_batches(&a, &b, &o);
        test_epilogues(&a, &b, &o, &v, &s);
        test_fast(dt, &a, &b, &o, &v, &s);
        test_fast_fallbacks(dt, &a, &b, &o, &v, &s);
        test_nan(dt, &o, &v, &s);
        if (d == 0) test_tf32(&a, &b, &o, &v, &s);
        ct_buf_free(&a), ct_buf_free(&b), ct_buf_free(&o), ct_buf_free(&v), ct_buf_free(&s);
    }
}
