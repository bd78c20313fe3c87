/*
 * matmul_lt.cu: MATMUL's FORWARD epilogue fused into the product by cuBLASLt, for one 2-D
 * product (no batch axes at all: (1, M, N) calls disagreed with the CPU on the first GPU run
 * and take the cuBLAS path until that is settled), f32 (FP32, or TF32 when the context opted in)
 * or f64 where cuBLASLt has the epilogue: out = in[0] · in[1] + bias (CUBLASLT_EPILOGUE_BIAS),
 * one launch instead of the product and a pass over out.
 *
 * Only where the result is the separate ops' to the bit (up to the product's own rounding):
 * cuBLASLt adds the bias to the FP32/FP64 product in the output type, as ADD does after the
 * product. Not fused:
 * - ReLU (CUBLASLT_EPILOGUE_RELU_BIAS): NVIDIA's ReLU epilogues are max(x, 0), which turns NaN
 *   into 0, where our RELU (and the CPU's) keeps NaN; a diverged layer would then look finite.
 *   LT_RELU enables it once tests/test_cuda_matmul.c's "lt relu nan" case passes on a GPU.
 * - GELU: ours is the tanh form, but cuBLASLt's approximation is not specified to the ulp.
 * - tanh, sigmoid, sine ...: cuBLASLt has no such epilogue.
 * Those, and every call this path declines (batches, an output cuBLAS cannot write as a
 * row-major matrix, a bias that is not one contiguous 16-byte-aligned row broadcast over M,
 * operands that need packing or overlap the output), take matmul.cu's cuBLAS path and the
 * separate epilogue pass.
 *
 * Layout: as in matmul.cu, row-major out (M x N) is column-major out^T (N x M) = in[1]^T in[0]^T,
 * so cuBLASLt's D has N rows and its bias vector (one value per row of D) is our bias row of
 * length N. Plans (descriptors and the chosen algorithm) are cached per problem in the context
 * (common.cuh), so a steady state neither allocates nor asks the heuristic again, and the call
 * is capturable in a CUDA graph (fixed workspace, no synchronisation).
 */
#include <string.h>

#include "common.cuh"

#define LT_RELU 0 /* see above */

/* One cuBLASLt call: the plan's key and the pointers. */
typedef struct lt_call {
    ilc_lt_key key;
    const void *a, *b, *bias; /* cuBLASLt's A (our in[1]) and B (our in[0]) */
    void *d;
} lt_call;

/* The alignment of p in bytes, up to 256 (what cuBLASLt assumes unless told otherwise). */
static int32_t align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    int32_t r = 1;
    while (r < 256 && (a & (uintptr_t)(2 * r - 1)) == 0) r *= 2;
    return r;
}

/* The cuBLASLt epilogue for the call's bias and activation, or -1 when it has none of ours. */
static int lt_epilogue(const il_opcall *c) {
    int bias = c->nin == 3;
    if (c->p[1] < 0) return bias ? (int)CUBLASLT_EPILOGUE_BIAS : -1;
    if (!LT_RELU || (il_op)(int)c->p[1] != IL_OP_RELU) return -1;
    return bias ? (int)CUBLASLT_EPILOGUE_RELU_BIAS : (int)CUBLASLT_EPILOGUE_RELU;
}

/* Non-zero when bias (out's shape) is one row of N contiguous values broadcast over the M axis,
 * aligned for cuBLASLt's vector loads, and apart from out. */
static int bias_ok(const il_tdesc *b, const il_tdesc *out, int64_t m, int64_t n) {
    int r = b->ndim - 2;
    if ((m > 1 && b->stride[r] != 0) || (n > 1 && b->stride[r + 1] != 1)) return 0;
    return ((uintptr_t)b->data & 15) == 0 && !ili_desc_overlap(b, out);
}

/* Fills x when cuBLASLt can run the call as it is; 0 otherwise. */
static int lt_problem(const il_opcall *c, int tf32, lt_call *x) {
    const il_tdesc *A = &c->in[0], *B = &c->in[1], *C = &c->out;
    int epi = lt_epilogue(c), nb = C->ndim - 2;
    if (epi < 0 || (C->dtype != IL_DTYPE_F32 && C->dtype != IL_DTYPE_F64) || c->nin < 2 ||
        A->dtype != C->dtype || B->dtype != C->dtype || A->ndim != 2 || B->ndim != 2 || nb != 0)
        return 0; /* 2-D only: batch axes, even of size 1, take the cuBLAS path (see top) */
    if (c->nin == 3 && c->in[2].ndim != 2) return 0;
    int64_t m = C->shape[nb], n = C->shape[nb + 1], k = A->shape[A->ndim - 1];
    ilc_blas_mat ma, mb, mc;
    if (m < 1 || n < 1 || k < 1 || !ilc_blas_layout(A, &ma) || !ilc_blas_layout(B, &mb) ||
        !ilc_blas_layout(C, &mc) || !mc.row_major || ma.ld < 1 || mb.ld < 1 || mc.ld < 1)
        return 0;
    if (ili_desc_overlap(A, C) || ili_desc_overlap(B, C)) return 0;
    if (c->nin == 3 && !bias_ok(&c->in[2], C, m, n)) return 0;
    memset(x, 0, sizeof *x);
    ilc_lt_key *q = &x->key;
    /* D (n x m, column-major) = op(in[1]^T) (n x k) · op(in[0]^T) (k x m) */
    q->m = n, q->n = m, q->k = k;
    q->lda = mb.ld, q->ldb = ma.ld, q->ldc = mc.ld;
    q->opa = mb.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
    q->opb = ma.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
    q->dtype = C->dtype;
    q->compute = C->dtype == IL_DTYPE_F64 ? CUBLAS_COMPUTE_64F
                 : tf32                   ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
    q->epilogue = epi;
    x->a = B->data, x->b = A->data, x->d = C->data;
    x->bias = c->nin == 3 ? c->in[2].data : NULL;
    q->align_a = align_of(x->a), q->align_b = align_of(x->b), q->align_c = align_of(x->d);
    return 1;
}

/* A descriptor or heuristic call of plan p: cuBLASLt declining the problem (NOT_SUPPORTED, or
 * INVALID_VALUE for a layout it does not take) marks the plan unusable (state -1: the call
 * takes the cuBLAS path); any other failure is IL_E_DEVICE, as ILC_BLAS makes it. */
#define LT_TRY(ctx, p, call)                                                                      \
    do {                                                                                          \
        cublasStatus_t lt_s_ = (call);                                                            \
        if (lt_s_ == CUBLAS_STATUS_NOT_SUPPORTED || lt_s_ == CUBLAS_STATUS_INVALID_VALUE) {       \
            (p)->state = -1;                                                                      \
            return IL_OK;                                                                         \
        }                                                                                         \
        if (lt_s_ != CUBLAS_STATUS_SUCCESS)                                                       \
            return ilc_fail_blas((ctx), #call, lt_s_, __FILE__, __LINE__);                        \
    } while (0)

/* The descriptors of plan p (key already set), column-major as cuBLASLt wants them. */
static il_status lt_describe(il_ctx *ctx, ilc_lt_plan *p, const void *bias) {
    const ilc_lt_key *q = &p->key;
    cudaDataType_t t = q->dtype == IL_DTYPE_F64 ? CUDA_R_64F : CUDA_R_32F;
    cublasOperation_t opa = (cublasOperation_t)q->opa, opb = (cublasOperation_t)q->opb;
    cublasLtEpilogue_t epi = (cublasLtEpilogue_t)q->epilogue;
    LT_TRY(ctx, p, cublasLtMatmulDescInit(&p->desc, (cublasComputeType_t)q->compute, t));
    LT_TRY(ctx, p, cublasLtMatmulDescSetAttribute(&p->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                      &opa, sizeof opa));
    LT_TRY(ctx, p, cublasLtMatmulDescSetAttribute(&p->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                      &opb, sizeof opb));
    LT_TRY(ctx, p, cublasLtMatmulDescSetAttribute(&p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                      &epi, sizeof epi));
    if (bias)
        LT_TRY(ctx, p, cublasLtMatmulDescSetAttribute(
                               &p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    int na = opa == CUBLAS_OP_N;
    int nbop = opb == CUBLAS_OP_N;
    LT_TRY(ctx, p, cublasLtMatrixLayoutInit(&p->la, t, (uint64_t)(na ? q->m : q->k),
                                                (uint64_t)(na ? q->k : q->m), q->lda));
    LT_TRY(ctx, p, cublasLtMatrixLayoutInit(&p->lb, t, (uint64_t)(nbop ? q->k : q->n),
                                                (uint64_t)(nbop ? q->n : q->k), q->ldb));
    LT_TRY(ctx, p, cublasLtMatrixLayoutInit(&p->lc, t, (uint64_t)q->m, (uint64_t)q->n,
                                                q->ldc));
    return IL_OK;
}

/* Asks the heuristic for plan p's algorithm within the context's workspace and the operands'
 * alignments; state -1 when cuBLASLt has none (the call then takes the cuBLAS path). */
static il_status lt_choose(il_ctx *ctx, ilc_lt_plan *p) {
    ilc_state *s = ilc_of(ctx);
    cublasLtMatmulPreferenceOpaque_t pref;
    uint64_t ws = s->blas_ws_n;
    uint32_t al[3] = {(uint32_t)p->key.align_a, (uint32_t)p->key.align_b,
                      (uint32_t)p->key.align_c};
    LT_TRY(ctx, p, cublasLtMatmulPreferenceInit(&pref));
    LT_TRY(ctx, p, cublasLtMatmulPreferenceSetAttribute(
                           &pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    LT_TRY(ctx, p, cublasLtMatmulPreferenceSetAttribute(
                           &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], 4));
    LT_TRY(ctx, p, cublasLtMatmulPreferenceSetAttribute(
                           &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], 4));
    LT_TRY(ctx, p, cublasLtMatmulPreferenceSetAttribute(
                           &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], 4));
    LT_TRY(ctx, p, cublasLtMatmulPreferenceSetAttribute(
                           &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[2], 4));
    cublasLtMatmulHeuristicResult_t r;
    memset(&r, 0, sizeof r);
    int nres = 0;
    LT_TRY(ctx, p, cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)s->blas, &p->desc, &p->la,
                                                  &p->lb, &p->lc, &p->lc, &pref, 1, &r, &nres));
    if (nres < 1 || r.state != CUBLAS_STATUS_SUCCESS) {
        p->state = -1;
        return IL_OK;
    }
    p->algo = r.algo;
    p->state = 1;
    return IL_OK;
}

/* The context's plan for x: found, or made in the next slot (round robin). */
static il_status lt_plan_for(il_ctx *ctx, const lt_call *x, ilc_lt_plan **out) {
    ilc_state *s = ilc_of(ctx);
    for (int i = 0; i < ILC_LT_PLANS; i++) {
        ilc_lt_plan *p = &s->lt_plans[i];
        if (p->state != 0 && memcmp(&p->key, &x->key, sizeof p->key) == 0) {
            *out = p;
            return IL_OK;
        }
    }
    ilc_lt_plan *p = &s->lt_plans[s->lt_next++ % ILC_LT_PLANS];
    memset(p, 0, sizeof *p); /* state 0 until complete: a failure below leaves no half plan */
    p->key = x->key;
    il_status st = lt_describe(ctx, p, x->bias);
    if (st == IL_OK && p->state == 0) st = lt_choose(ctx, p);
    if (st != IL_OK) p->state = 0;
    *out = p;
    return st;
}

/* The FORWARD epilogue through cuBLASLt when lt_problem takes the call (common.cuh). */
il_status ilc_matmul_lt(il_ctx *ctx, const il_opcall *c, int *done) {
    ilc_state *s = ilc_of(ctx);
    lt_call x;
    *done = 0;
    if (!lt_problem(c, s->tf32, &x)) return IL_OK;
    ilc_lt_plan *p;
    IL_TRY(lt_plan_for(ctx, &x, &p));
    if (p->state != 1) return IL_OK;
    if (x.bias)
        ILC_BLAS_HOST(ctx, cublasLtMatmulDescSetAttribute(
                               &p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &x.bias,
                               sizeof x.bias));
    float one_f = 1, zero_f = 0;
    double one_d = 1, zero_d = 0;
    int f32 = x.key.dtype == IL_DTYPE_F32;
    const void *alpha = f32 ? (const void *)&one_f : (const void *)&one_d;
    const void *beta = f32 ? (const void *)&zero_f : (const void *)&zero_d;
    ILC_BLAS(ctx, cublasLtMatmul((cublasLtHandle_t)s->blas, &p->desc, alpha, x.a, &p->la, x.b,
                                 &p->lb, beta, x.d, &p->lc, x.d, &p->lc, &p->algo, s->blas_ws,
                                 s->blas_ws_n, s->stream));
    *done = 1;
    return IL_OK;
}
