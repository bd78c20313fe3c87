/*
 * nn.cu: the ROW ops along the last axis of a matrix (R, C) or one row (C), any strides, f32
 * and f64: SOFTMAX (stable: exp(x - max), the sum in double as on the CPU) and SOFTMAX_GRAD
 * (out = y * (dy - sum(dy * y)), the dot product in double, taken before out is written, so
 * out may alias dy). One warp per row; a row's lanes stride along its columns.
 */
#include "common.cuh"

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }

__device__ __forceinline__ double warp_sum(double v) {
    for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
    return v;
}

/* The CPU's running maximum: a NaN wins (and then every output is NaN). */
template <typename T> __device__ __forceinline__ T nanmax(T a, T b) {
    return (b > a || b != b) && a == a ? b : a;
}

typedef struct row_args {
    int64_t nrow, ncol;
    char *base[3];
    int64_t rs[3], cs[3]; /* elements */
} row_args;

template <typename T> __global__ void softmax_kernel(row_args a) {
    const int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < a.nrow; r += nwarps) {
        T *o = (T *)a.base[0] + r * a.rs[0];
        const T *x = (const T *)a.base[1] + r * a.rs[1];
        T m = x[0];
        for (int64_t j = lane; j < a.ncol; j += 32) m = nanmax(m, x[j * a.cs[1]]);
        for (int d = 16; d > 0; d >>= 1) m = nanmax(m, __shfl_xor_sync(0xffffffffu, m, d));
        double sum = 0;
        for (int64_t j = lane; j < a.ncol; j += 32) {
            T e = m_exp(x[j * a.cs[1]] - m);
            o[j * a.cs[0]] = e; /* same lane, same element: safe when o aliases x */
            sum += (double)e;
        }
        T inv = (T)(1.0 / warp_sum(sum));
        for (int64_t j = lane; j < a.ncol; j += 32) o[j * a.cs[0]] *= inv;
    }
}

template <typename T> __global__ void softmax_grad_kernel(row_args a) {
    const int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < a.nrow; r += nwarps) {
        T *o = (T *)a.base[0] + r * a.rs[0];
        const T *dy = (const T *)a.base[1] + r * a.rs[1];
        const T *y = (const T *)a.base[2] + r * a.rs[2];
        double dot = 0;
        for (int64_t j = lane; j < a.ncol; j += 32)
            dot += (double)dy[j * a.cs[1]] * (double)y[j * a.cs[2]];
        T t = (T)warp_sum(dot); /* every lane has read its dy before any lane writes */
        for (int64_t j = lane; j < a.ncol; j += 32)
            o[j * a.cs[0]] = y[j * a.cs[2]] * (dy[j * a.cs[1]] - t);
    }
}

/* Operand d (1-D: one row; 2-D: rows) into slot k; 0 when it does not match out. */
static int take_rows(row_args *a, int k, const il_tdesc *d, const il_tdesc *out) {
    if (d->ndim != out->ndim || d->dtype != out->dtype) return 0;
    for (int i = 0; i < d->ndim; i++)
        if (d->shape[i] != out->shape[i]) return 0;
    a->base[k] = (char *)d->data;
    a->rs[k] = d->ndim == 2 ? d->stride[0] : 0;
    a->cs[k] = d->stride[d->ndim - 1];
    return 1;
}

/* SOFTMAX / SOFTMAX_GRAD as the CPU's ili_cpu_row. IL_E_INTERNAL, IL_E_DTYPE, IL_E_DEVICE. */
il_status ilc_row(il_ctx *ctx, const il_opcall *c) {
    int nin = c->op == IL_OP_SOFTMAX_GRAD ? 2 : 1;
    if ((c->op != IL_OP_SOFTMAX && c->op != IL_OP_SOFTMAX_GRAD) || c->nin < nin)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda row: unexpected op %s", il_op_name(c->op));
    const il_tdesc *o = &c->out;
    if (o->dtype != IL_DTYPE_F32 && o->dtype != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(o->dtype));
    row_args a;
    memset(&a, 0, sizeof a);
    if (o->ndim < 1 || o->ndim > 2 || !take_rows(&a, 0, o, o))
        return ili_seterr(ctx, IL_E_INTERNAL, "%s: expected a matrix", il_op_name(c->op));
    for (int k = 0; k < nin; k++)
        if (!take_rows(&a, k + 1, &c->in[k], o))
            return ili_seterr(ctx, IL_E_INTERNAL, "%s: operand %d does not match the output",
                              il_op_name(c->op), k);
    /* Rows that overlap other rows (stride 0 broadcast) would race: the core never makes them,
     * and a different out/in layout is a copy away. */
    for (int k = 0; k < nin; k++)
        if (ilc_unsafe_overlap(o, &c->in[k]))
            return ili_seterr(ctx, IL_E_UNSUPPORTED, "%s: output overlaps input %d",
                              il_op_name(c->op), k);
    a.ncol = o->shape[o->ndim - 1];
    a.nrow = o->ndim == 2 ? o->shape[0] : 1;
    if (a.ncol == 0 || a.nrow == 0) return IL_OK;
    ilc_state *s = ilc_of(ctx);
    unsigned grid = ilc_grid(s, a.nrow * 32);
    int f32 = o->dtype == IL_DTYPE_F32;
    if (c->op == IL_OP_SOFTMAX) {
        if (f32) softmax_kernel<float><<<grid, ILC_BLOCK, 0, s->stream>>>(a);
        else softmax_kernel<double><<<grid, ILC_BLOCK, 0, s->stream>>>(a);
    } else {
        if (f32) softmax_grad_kernel<float><<<grid, ILC_BLOCK, 0, s->stream>>>(a);
        else softmax_grad_kernel<double><<<grid, ILC_BLOCK, 0, s->stream>>>(a);
    }
    ILC_LAUNCHED(ctx, il_op_name(c->op));
    return IL_OK;
}
