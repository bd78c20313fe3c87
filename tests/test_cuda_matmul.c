/*
 * test_cuda_matmul.c: MATMUL parity, CPU against CUDA (part of test_cuda_parity): shapes from
 * 1x1x1 to 128^3, operands contiguous, transposed, with padded rows and broadcast (stride 0),
 * outputs cuBLAS can write in place and ones it cannot, batches (strided, broadcast, several
 * axes), K = 0, and both fused epilogues (bias + activation; activation gradient + column sums).
 */
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

static void product(const char *what, ct_arg A, ct_arg B, ct_arg C, const il_opcall *t,
                    const ct_arg *bias, const ct_arg *out2) {
    ct_arg ins[3] = {A, B, bias ? *bias : A};
    ct_buf *chk[2] = {C.b, out2 ? out2->b : C.b};
    ct_run_both(ctx, what, t, bias ? 3 : 2, ins, &C, out2, chk, out2 ? 2 : 1, 0);
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
    const il_op fwd[8] = {(il_op)-1, IL_OP_RELU, IL_OP_TANH, IL_OP_SIGMOID, IL_OP_LEAKY_RELU,
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
        t.p[0] = IL_MATMUL_EPILOGUE_FORWARD, t.p[1] = (double)fwd[i], t.p[2] = 0.1;
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

void ct_test_matmul(il_ctx *c);

void ct_test_matmul(il_ctx *c) {
    ctx = c;
    for (int d = 0; d < 2; d++) {
        il_dtype dt = d ? IL_DTYPE_F64 : IL_DTYPE_F32;
        ct_buf a = ct_buf_rand(ctx, dt, 40000, -1, 1), b = ct_buf_rand(ctx, dt, 40000, -1, 1);
        ct_buf o = ct_buf_rand(ctx, dt, 40000, -1, 1), v = ct_buf_rand(ctx, dt, 40000, -1, 1);
        ct_buf s = ct_buf_rand(ctx, dt, 64, -1, 1);
        test_layouts(dt, &a, &b, &o);
        test_batches(&a, &b, &o);
        test_epilogues(&a, &b, &o, &v, &s);
        ct_buf_free(&a), ct_buf_free(&b), ct_buf_free(&o), ct_buf_free(&v), ct_buf_free(&s);
    }
}
