/*
 * matmul.cu: the MATMUL op through cuBLAS: out (B..., M, N) = in[0] (B..., M, K) · in[1]
 * (B..., K, N), f32 or f64, any strides, batch axes broadcast (stride 0).
 *
 * cuBLAS is column-major; a row-major matrix is its transpose there. Each operand is used in
 * place when one of its two strides is 1 (the transpose flags absorb the layout) and the other
 * is a valid leading dimension; otherwise it is first packed into pooled scratch. The batch
 * axes are coalesced across the three operands: one strided-batched call covers the innermost
 * batch axis, a host loop the rest (rare). f32 uses full-precision FP32 unless the context
 * opted into TF32 (il_cuda_set_tf32). Small products and the fusable epilogues take the faster
 * paths of matmul_small.cu and matmul_lt.cu first (ilc_matmul).
 */
#include "common.cuh"
#include "ew_math.cuh"

/*
 * Can a (rows, cols) matrix with strides (rs, cs) be handed to cuBLAS as is? Row-major needs
 * cs == 1 (or one column) and rs >= cols; column-major needs rs == 1 (or one row) and
 * cs >= rows. A size-1 axis has no meaningful stride, so any is accepted there.
 */
static int layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, ilc_blas_mat *m) {
    if ((cs == 1 || cols == 1) && (rows == 1 || rs >= (cols > 1 ? cols : 1))) {
        m->row_major = 1;
        m->ld = rows == 1 ? (cols > 1 ? cols : 1) : rs;
        return 1;
    }
    if ((rs == 1 || rows == 1) && (cols == 1 || cs >= (rows > 1 ? rows : 1))) {
        m->row_major = 0;
        m->ld = cols == 1 ? (rows > 1 ? rows : 1) : cs;
        return 1;
    }
    return 0;
}

/* Layout of the last two axes of d (common.cuh); 0 when cuBLAS cannot read it in place. */
int ilc_blas_layout(const il_tdesc *d, ilc_blas_mat *m) {
    int n = d->ndim;
    m->p = d->data;
    return layout(d->shape[n - 2], d->shape[n - 1], d->stride[n - 2], d->stride[n - 1], m);
}

/* One GEMM problem: sizes, operands, and the batch walk. */
typedef struct mm {
    int64_t m, n, k;
    il_dtype dt;
    ilc_blas_mat A, B, C;
    ilc_geom batch; /* coalesced batch axes: operand 0 = C, 1 = A, 2 = B */
} mm;

/* cuBLAS call for `count` matrices starting at the given element offsets. */
static il_status gemm(il_ctx *ctx, const mm *x, int64_t oc, int64_t oa, int64_t ob,
                      int64_t count, int64_t sc, int64_t sa, int64_t sb) {
    ilc_state *s = ilc_of(ctx);
    size_t es = il_dtype_size(x->dt);
    if (count == 1) sc = sa = sb = 0; /* one matrix: no batch strides to speak of */
    const char *pa = (const char *)x->A.p + oa * (int64_t)es;
    const char *pb = (const char *)x->B.p + ob * (int64_t)es;
    char *pc = (char *)x->C.p + oc * (int64_t)es;
    cudaDataType_t t = x->dt == IL_DTYPE_F32 ? CUDA_R_32F : CUDA_R_64F;
    cublasComputeType_t ct = x->dt == IL_DTYPE_F64 ? CUBLAS_COMPUTE_64F
                             : s->tf32             ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                   : CUBLAS_COMPUTE_32F;
    float one_f = 1, zero_f = 0;
    double one_d = 1, zero_d = 0;
    const void *alpha = x->dt == IL_DTYPE_F32 ? (const void *)&one_f : (const void *)&one_d;
    const void *beta = x->dt == IL_DTYPE_F32 ? (const void *)&zero_f : (const void *)&zero_d;
    if (x->C.row_major) {
        /* C^T (N x M) = B^T A^T: a row-major operand is already its transpose column-major. */
        ILC_BLAS(ctx, cublasGemmStridedBatchedEx_64(
                          s->blas, x->B.row_major ? CUBLAS_OP_N : CUBLAS_OP_T,
                          x->A.row_major ? CUBLAS_OP_N : CUBLAS_OP_T, x->n, x->m, x->k, alpha,
                          pb, t, x->B.ld, sb, pa, t, x->A.ld, sa, beta, pc, t, x->C.ld, sc,
                          count, ct, CUBLAS_GEMM_DEFAULT));
    } else {
        /* C (M x N) = A B with column-major C. */
        ILC_BLAS(ctx, cublasGemmStridedBatchedEx_64(
                          s->blas, x->A.row_major ? CUBLAS_OP_T : CUBLAS_OP_N,
                          x->B.row_major ? CUBLAS_OP_T : CUBLAS_OP_N, x->m, x->n, x->k, alpha,
                          pa, t, x->A.ld, sa, pb, t, x->B.ld, sb, beta, pc, t, x->C.ld, sc,
                          count, ct, CUBLAS_GEMM_DEFAULT));
    }
    return IL_OK;
}

/* Walks the outer batch axes on the host; the innermost is one strided-batched call. */
static il_status run_batches(il_ctx *ctx, const mm *x) {
    const ilc_geom *g = &x->batch;
    int last = g->nd - 1;
    int64_t inner = g->shape[last], outer = g->numel / (inner > 0 ? inner : 1);
    for (int64_t o = 0; o < outer; o++) {
        int64_t off[3] = {0, 0, 0}, rem = o;
        for (int d = last - 1; d >= 0; d--) {
            int64_t q = rem / g->shape[d], r = rem - q * g->shape[d];
            for (int k = 0; k < 3; k++) off[k] += r * g->st[k][d];
            rem = q;
        }
        IL_TRY(gemm(ctx, x, off[0], off[1], off[2], inner, g->st[0][last], g->st[1][last],
                    g->st[2][last]));
    }
    return IL_OK;
}

/* The batch axes of d (its leading ndim - 2) aligned to C's, missing ones broadcast. */
static void batch_desc(const il_tdesc *d, int nb, il_tdesc *out) {
    memset(out, 0, sizeof *out);
    out->dtype = d->dtype;
    out->ndim = nb;
    int lead = nb - (d->ndim - 2);
    for (int i = 0; i < nb; i++) {
        int j = i - lead;
        out->shape[i] = j >= 0 ? d->shape[j] : 1;
        out->stride[i] = j >= 0 ? d->stride[j] : 0;
    }
}

/* Copies operand d into scratch slot as a packed row-major tensor; *p gets the copy. */
static il_status pack(il_ctx *ctx, int slot, const il_tdesc *d, il_tdesc *p) {
    void *buf;
    size_t nb = (size_t)ili_numel(d->ndim, d->shape) * il_dtype_size(d->dtype);
    IL_TRY(ilc_scratch(ctx, slot, nb, &buf));
    ilc_desc_packed(p, buf, d, d->dtype);
    return ilc_copy_desc(ctx, p, d);
}

/* Zero-fills C (the K == 0 product). */
static il_status zero(il_ctx *ctx, const il_tdesc *C) {
    il_opcall f;
    memset(&f, 0, sizeof f);
    f.op = IL_OP_FILL;
    f.out = *C;
    return ilc_fill(ctx, &f);
}

/* Sets up the operands (packing those cuBLAS cannot read, or that overlap C) and runs. */
static il_status run_mm(il_ctx *ctx, const il_tdesc *A0, const il_tdesc *B0, const il_tdesc *C0,
                        il_tdesc *Cuse) {
    mm x;
    memset(&x, 0, sizeof x);
    x.dt = C0->dtype;
    int nb = C0->ndim - 2;
    x.m = C0->shape[nb];
    x.n = C0->shape[nb + 1];
    x.k = A0->shape[A0->ndim - 1];
    il_tdesc A = *A0, B = *B0;
    if (!ilc_blas_layout(&A, &x.A) || ili_desc_overlap(&A, Cuse)) {
        IL_TRY(pack(ctx, ILC_SCR_A, A0, &A));
        ilc_blas_layout(&A, &x.A);
    }
    if (!ilc_blas_layout(&B, &x.B) || ili_desc_overlap(&B, Cuse)) {
        IL_TRY(pack(ctx, ILC_SCR_B, B0, &B));
        ilc_blas_layout(&B, &x.B);
    }
    ilc_blas_layout(Cuse, &x.C);
    il_tdesc bc, ba, bb;
    batch_desc(Cuse, nb, &bc);
    batch_desc(&A, nb, &ba);
    batch_desc(&B, nb, &bb);
    const il_tdesc *ops[3] = {&bc, &ba, &bb};
    ilc_geom_init(&x.batch, 3, ops);
    return run_batches(ctx, &x);
}

/* The plain product out = in[0] · in[1]. */
static il_status product(il_ctx *ctx, const il_opcall *c) {
    const il_tdesc *A = &c->in[0], *B = &c->in[1], *C = &c->out;
    if (C->dtype != IL_DTYPE_F32 && C->dtype != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "matmul does not support dtype %s",
                          il_dtype_name(C->dtype));
    if (c->nin < 2 || C->ndim < 2 || A->ndim < 2 || B->ndim < 2 || A->dtype != C->dtype ||
        B->dtype != C->dtype)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda matmul: malformed call");
    if (ili_numel(C->ndim, C->shape) == 0) return IL_OK;
    if (A->shape[A->ndim - 1] == 0) return zero(ctx, C);
    ilc_blas_mat probe;
    if (ilc_blas_layout(C, &probe) && probe.ld > 0)
        return run_mm(ctx, A, B, C, (il_tdesc *)C);
    /* An output cuBLAS cannot write in place: compute packed, then copy. */
    void *buf;
    il_tdesc T;
    size_t nb = (size_t)ili_numel(C->ndim, C->shape) * il_dtype_size(C->dtype);
    IL_TRY(ilc_scratch(ctx, ILC_SCR_C, nb, &buf));
    ilc_desc_packed(&T, buf, C, C->dtype);
    IL_TRY(run_mm(ctx, A, B, C, &T));
    return ilc_copy_desc(ctx, C, &T);
}

static int same_shape(const il_tdesc *a, const il_tdesc *b) {
    if (a->ndim != b->ndim || a->dtype != b->dtype) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* The UNARY (FORWARD) or BINARY (GRAD) ops of il_ops.def, as the CPU's check takes them. */
static int epilogue_op(double p1, int grad) {
    if (!(p1 >= 0 && p1 < IL_OP_COUNT)) return 0;
    ew e = code_of((il_op)(int)p1);
    if (grad) return (e >= E_ADD && e <= E_MIN) || (e >= E_TANH_G && e <= E_SINE_G);
    return e >= E_NEG && e <= E_SINE;
}

/* IL_E_INTERNAL unless p[0..2], in[2] and out2 form a valid epilogue (ironlearn/backend.h),
 * with the CPU's rules (cpu_matmul_op.c check_epi), so that both refuse the same calls before
 * touching out (an op no path here runs would otherwise be refused only after the product). */
static il_status check_epilogue(il_ctx *ctx, const il_opcall *c, int mode) {
    const il_tdesc *o = &c->out, *o2 = &c->out2;
    int ok = c->p[0] == mode && mode >= IL_MATMUL_EPILOGUE_NONE &&
             mode <= IL_MATMUL_EPILOGUE_GRAD;
    if (ok && mode == IL_MATMUL_EPILOGUE_FORWARD)
        ok = c->nin <= 3 && (c->p[1] < 0 || epilogue_op(c->p[1], 0));
    if (ok && mode == IL_MATMUL_EPILOGUE_GRAD) ok = c->nin == 3 && epilogue_op(c->p[1], 1);
    if (ok && mode != IL_MATMUL_EPILOGUE_NONE && c->nin == 3) ok = same_shape(&c->in[2], o);
    if (ok && mode == IL_MATMUL_EPILOGUE_GRAD && o2->data) {
        ok = o2->ndim == o->ndim && o2->dtype == o->dtype;
        for (int i = 0; ok && i < o->ndim; i++)
            ok = o2->shape[i] == (i == o->ndim - 2 ? 1 : o->shape[i]);
    }
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "matmul: malformed epilogue");
    return IL_OK;
}

/* The GRAD epilogue after the product: out = G(out, in[2]) in place, then, when out2 is set,
 * out2 = the column sums of out; one fused pass where ilc_grad_colsums takes the call, else the
 * gradient op and the deterministic reduction. */
static il_status grad_epilogue(il_ctx *ctx, const il_opcall *c) {
    int done = 0;
    if (c->out2.data) IL_TRY(ilc_grad_colsums(ctx, c, &done));
    if (done) return IL_OK;
    IL_TRY(ilc_act_grad_inplace(ctx, (il_op)(int)c->p[1], &c->out, &c->in[2], c->p[2]));
    if (c->out2.data == NULL) return IL_OK;
    il_opcall r;
    memset(&r, 0, sizeof r);
    r.op = IL_OP_SUM;
    r.nin = 1;
    r.axis = c->out.ndim - 2;
    r.in[0] = c->out;
    r.out = c->out2;
    return ilc_reduce(ctx, &r);
}

/*
 * MATMUL: out = in[0] · in[1] over the batch axes, then the epilogue p[0] (backend.h). Paths,
 * first that takes the call: a small 2-D product (any epilogue) in one kernel
 * (matmul_small.cu); a FORWARD epilogue cuBLASLt can fuse (matmul_lt.cu); otherwise the cuBLAS
 * product, then the FORWARD epilogue (bias and activation) as one pass over out, or the GRAD
 * one (grad_epilogue). IL_E_DTYPE for i64, IL_E_INTERNAL for a malformed call, IL_E_NOMEM when
 * scratch cannot grow, IL_E_DEVICE.
 */
il_status ilc_matmul(il_ctx *ctx, const il_opcall *c) {
    int mode = (int)c->p[0], done = 0;
    IL_TRY(check_epilogue(ctx, c, mode));
    IL_TRY(ilc_matmul_small(ctx, c, &done));
    if (!done && mode == IL_MATMUL_EPILOGUE_FORWARD) IL_TRY(ilc_matmul_lt(ctx, c, &done));
    if (done) return IL_OK;
    IL_TRY(product(ctx, c));
    if (mode == IL_MATMUL_EPILOGUE_NONE) return IL_OK;
    if (mode == IL_MATMUL_EPILOGUE_FORWARD) {
        if (c->nin < 3 && c->p[1] < 0) return IL_OK;
        return ilc_bias_act(ctx, &c->out, c->nin == 3 ? &c->in[2] : NULL, c->p[1], c->p[2]);
    }
    return grad_epilogue(ctx, c);
}
