/*
 * loss.cu: the LOSS ops on the device, with core/cpu_loss.c's formulas: mse, bce, bce_logits,
 * l1, huber (elementwise over (B, F)) and cross-entropy over logits with class-index or
 * probability targets, mean reduction, optional gradient.
 *
 * Arithmetic is in double, as on the CPU. Each block writes one partial sum to pooled scratch
 * and one more block folds them in a fixed order and writes the 0-d value: deterministic, no
 * atomics, no host round trip, except for class-index targets, whose validity the host must
 * know to return IL_E_RANGE (one 8-byte read per call; the value itself stays on the device).
 */
#include "common.cuh"

/* A strided 2-D view read as double: element (i, j) at base + i*s0 + j*s1 (elements). */
struct dmat {
    char *base;
    int dt;
    int64_t s0, s1;
};

__device__ __forceinline__ double ld(const dmat &m, int64_t i, int64_t j) {
    int64_t o = i * m.s0 + j * m.s1;
    if (m.dt == IL_DTYPE_F32) return (double)((const float *)m.base)[o];
    if (m.dt == IL_DTYPE_F64) return ((const double *)m.base)[o];
    return (double)((const long long *)m.base)[o];
}

__device__ __forceinline__ void st(const dmat &m, int64_t i, int64_t j, double v) {
    int64_t o = i * m.s0 + j * m.s1;
    if (m.dt == IL_DTYPE_F32) ((float *)m.base)[o] = (float)v;
    else ((double *)m.base)[o] = v;
}

struct loss_args {
    int64_t B, F;
    dmat x, y, g;  /* predictions, targets, gradient (g.base NULL: none) */
    double scale;  /* 1/N or 1/B */
    double delta;  /* HUBER */
    double eps;    /* BCE clamp */
    double *parts; /* one per block */
    unsigned long long *bad; /* CE_INDEX: B - first bad row (0: none) */
};

enum { L_MSE, L_BCE, L_BCE_LOGITS, L_L1, L_HUBER };

/* One element's loss; *g = d loss / dx before the 1/N. */
template <int L> __device__ __forceinline__ double term(const loss_args &a, double x, double y,
                                                        double *g) {
    double d = x - y;
    if constexpr (L == L_MSE) {
        *g = 2 * d;
        return d * d;
    } else if constexpr (L == L_L1) {
        *g = d > 0 ? 1.0 : d < 0 ? -1.0 : d;
        return fabs(d);
    } else if constexpr (L == L_HUBER) {
        double ad = fabs(d), k = a.delta;
        if (ad <= k) {
            *g = d;
            return 0.5 * d * d;
        }
        *g = d > 0 ? k : -k;
        return k * (ad - 0.5 * k);
    } else if constexpr (L == L_BCE) {
        double p = x < a.eps ? a.eps : x > 1 - a.eps ? 1 - a.eps : x;
        *g = (p - y) / (p * (1 - p));
        return -(y * log(p) + (1 - y) * log1p(-p));
    } else {
        double e = exp(-fabs(x));
        double sig = x >= 0 ? 1 / (1 + e) : e / (1 + e);
        *g = sig - y;
        return (x > 0 ? x : 0) - x * y + log1p(e);
    }
}

/* Sums v over the block (fixed tree: deterministic); thread 0 gets the total. */
__device__ double block_sum(double v) {
    __shared__ double sh[32];
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = 0;
    if (w == 0) {
        v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0;
        for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    }
    return v;
}

template <int L> __global__ void ew_loss_kernel(loss_args a) {
    double sum = 0, g;
    ILC_LOOP(e, a.B * a.F) {
        int64_t i = e / a.F, j = e - i * a.F;
        sum += term<L>(a, ld(a.x, i, j), ld(a.y, i, j), &g);
        if (a.g.base) st(a.g, i, j, g * a.scale);
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) a.parts[blockIdx.x] = sum;
}

/* A warp per row of logits: log-sum-exp, then the loss and its gradient. */
template <int PROBS> __global__ void ce_kernel(loss_args a) {
    const int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    double sum = 0;
    for (int64_t i = warp; i < a.B; i += nwarps) {
        double m = ld(a.x, i, 0), s = 0, ysum = 0, part = 0;
        for (int64_t j = lane; j < a.F; j += 32) {
            double v = ld(a.x, i, j);
            m = (v > m || v != v) && m == m ? v : m;
        }
        for (int d = 16; d > 0; d >>= 1) {
            double o = __shfl_xor_sync(0xffffffffu, m, d);
            m = (o > m || o != o) && m == m ? o : m;
        }
        for (int64_t j = lane; j < a.F; j += 32) s += exp(ld(a.x, i, j) - m);
        for (int d = 16; d > 0; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);
        double lse = m + log(s);
        int64_t k = 0;
        if constexpr (PROBS) {
            for (int64_t j = lane; j < a.F; j += 32) {
                double y = ld(a.y, i, j);
                ysum += y;
                if (y != 0) part += y * (lse - ld(a.x, i, j)); /* 0 * -inf stays out */
            }
            for (int d = 16; d > 0; d >>= 1) ysum += __shfl_xor_sync(0xffffffffu, ysum, d);
        } else {
            double v = ld(a.y, i, 0);
            if (!(v >= 0 && v < (double)a.F) || v != floor(v)) {
                if (lane == 0) atomicMax(a.bad, (unsigned long long)(a.B - i));
                continue;
            }
            k = (int64_t)v;
            if (lane == 0) part = lse - ld(a.x, i, k);
        }
        sum += part;
        if (!a.g.base) continue;
        for (int64_t j = lane; j < a.F; j += 32) {
            double sm = exp(ld(a.x, i, j) - lse);
            double gv = PROBS ? sm * ysum - ld(a.y, i, j) : sm - (j == k);
            st(a.g, i, j, gv * a.scale);
        }
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) a.parts[blockIdx.x] = sum;
}

/* One block: folds the partials in order and writes value = sum / n as the value's dtype. */
__global__ void finish_kernel(const double *parts, int n, double inv, void *value, int f32) {
    double s = 0;
    for (int b = threadIdx.x; b < n; b += blockDim.x) s += parts[b];
    s = block_sum(s);
    if (threadIdx.x != 0) return;
    double v = s * inv;
    if (f32) *(float *)value = (float)v;
    else *(double *)value = v;
}

/* ---- host side ------------------------------------------------------------------------------- */

static void mat_of(const il_tdesc *d, dmat *m) {
    m->base = (char *)d->data;
    m->dt = d->dtype;
    m->s0 = d->ndim > 0 ? d->stride[0] : 0;
    m->s1 = d->ndim > 1 ? d->stride[1] : 0; /* (B) reads as (B, 1) */
}

/* IL_E_INTERNAL unless the call is well formed (the core vetted the user's input). */
static il_status check_call(il_ctx *ctx, const il_opcall *c) {
    const il_tdesc *x = &c->in[0], *y = &c->in[1], *g = &c->out;
    int isf = x->dtype == IL_DTYPE_F32 || x->dtype == IL_DTYPE_F64;
    int ok = c->nin == 2 && isf && x->ndim == 2 && c->out2.dtype == x->dtype && c->out2.data;
    int ce_index = c->op == IL_OP_LOSS_CE_INDEX;
    if (ok && ce_index) ok = (y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1));
    else if (ok)
        ok = (y->ndim == 2 && y->shape[1] == x->shape[1]) || (y->ndim == 1 && x->shape[1] == 1);
    ok = ok && y->shape[0] == x->shape[0] && (unsigned)y->dtype < IL_DTYPE_COUNT;
    if (ok && g->data)
        ok = g->dtype == x->dtype && g->ndim == 2 && g->shape[0] == x->shape[0] &&
             g->shape[1] == x->shape[1];
    if (ok && ce_index) ok = x->shape[1] > 0;
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "cuda loss: bad %s call", il_op_name(c->op));
    return IL_OK;
}

/* After a class-index loss: IL_E_RANGE naming the first bad row and its value, as the CPU. */
static il_status check_indices(il_ctx *ctx, const loss_args *a, const il_tdesc *y) {
    ilc_state *s = ilc_of(ctx);
    unsigned long long bad;
    IL_TRY(ilc_read(ctx, s->host_flag, a->bad, sizeof bad));
    memcpy(&bad, s->host_flag, sizeof bad);
    if (bad == 0) return IL_OK;
    int64_t row = a->B - (int64_t)bad;
    size_t es = il_dtype_size(y->dtype);
    const char *p = (const char *)y->data + row * y->stride[0] * (int64_t)es;
    union { float f; double d; long long i; } v;
    IL_TRY(ilc_read(ctx, &v, p, es));
    double val = y->dtype == IL_DTYPE_F32 ? v.f : y->dtype == IL_DTYPE_F64 ? v.d : (double)v.i;
    if (y->dtype == IL_DTYPE_I64)
        return ili_seterr(ctx, IL_E_RANGE,
                          "cross_entropy: target %lld in row %lld is not a class index in "
                          "0..%lld",
                          v.i, (long long)row, (long long)(a->F - 1));
    return ili_seterr(ctx, IL_E_RANGE,
                      "cross_entropy: target %g in row %lld is not a class index in 0..%lld",
                      val, (long long)row, (long long)(a->F - 1));
}

static void launch(il_op op, const loss_args &a, unsigned grid, cudaStream_t st) {
    switch (op) {
    case IL_OP_LOSS_MSE: ew_loss_kernel<L_MSE><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    case IL_OP_LOSS_BCE: ew_loss_kernel<L_BCE><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    case IL_OP_LOSS_BCE_LOGITS: ew_loss_kernel<L_BCE_LOGITS><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    case IL_OP_LOSS_L1: ew_loss_kernel<L_L1><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    case IL_OP_LOSS_HUBER: ew_loss_kernel<L_HUBER><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    case IL_OP_LOSS_CE_INDEX: ce_kernel<0><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    default: ce_kernel<1><<<grid, ILC_BLOCK, 0, st>>>(a); break;
    }
}

/*
 * A LOSS op: in[0] predictions (B, F), in[1] targets, out2 the 0-d value, out the gradient
 * (skipped when out.data is NULL), p[0] the Huber delta. IL_E_RANGE for a class index outside
 * 0..F-1; IL_E_INTERNAL, IL_E_NOMEM, IL_E_DEVICE.
 */
il_status ilc_loss(il_ctx *ctx, const il_opcall *c) {
    if (c->op != IL_OP_LOSS_MSE && c->op != IL_OP_LOSS_BCE && c->op != IL_OP_LOSS_BCE_LOGITS &&
        c->op != IL_OP_LOSS_CE_INDEX && c->op != IL_OP_LOSS_CE_PROBS && c->op != IL_OP_LOSS_L1 &&
        c->op != IL_OP_LOSS_HUBER)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda loss: unexpected op %s", il_op_name(c->op));
    IL_TRY(check_call(ctx, c));
    ilc_state *s = ilc_of(ctx);
    loss_args a;
    memset(&a, 0, sizeof a);
    a.B = c->in[0].shape[0];
    a.F = c->in[0].shape[1];
    a.delta = c->p[0];
    mat_of(&c->in[0], &a.x);
    mat_of(&c->in[1], &a.y);
    mat_of(&c->out, &a.g);
    int ce = c->op == IL_OP_LOSS_CE_INDEX || c->op == IL_OP_LOSS_CE_PROBS;
    double n = ce ? (double)a.B : (double)a.B * (double)a.F;
    a.scale = 1.0 / n;
    a.eps = c->in[0].dtype == IL_DTYPE_F32 ? 1e-7 : 1e-12;
    unsigned grid = ilc_grid(s, ce ? a.B * 32 : a.B * a.F);
    void *p;
    IL_TRY(ilc_scratch(ctx, ILC_SCR_PART, sizeof(double) * grid, &p));
    a.parts = (double *)p;
    if (c->op == IL_OP_LOSS_CE_INDEX) {
        IL_TRY(ilc_scratch(ctx, ILC_SCR_FLAG, sizeof(unsigned long long), &p));
        a.bad = (unsigned long long *)p;
        ILC_CUDA(ctx, cudaMemsetAsync(a.bad, 0, sizeof *a.bad, s->stream));
    }
    launch(c->op, a, grid, s->stream);
    ILC_LAUNCHED(ctx, il_op_name(c->op));
    /* an empty batch gives NaN (0 * inf), as torch's mean does */
    finish_kernel<<<1, ILC_BLOCK, 0, s->stream>>>(a.parts, (int)grid, 1.0 / n, c->out2.data,
                                                  c->out2.dtype == IL_DTYPE_F32);
    ILC_LAUNCHED(ctx, "loss value");
    if (c->op == IL_OP_LOSS_CE_INDEX) return check_indices(ctx, &a, &c->in[1]);
    return IL_OK;
}
