/*
 * reduce.cu: SUM, MEAN, MAX, MIN, ARGMAX and SUMSQ over one axis or over all elements, on the
 * device, for f32, f64 and i64 (no MEAN or SUMSQ for i64), with the CPU's semantics: float sums
 * accumulate in double (so f32 results match a float64 reference, as on the CPU), i64 sums wrap,
 * MAX/MIN propagate NaN, ARGMAX returns the first maximum with NaN counting as the maximum.
 *
 * The reduction is seen as K outputs, each folding R elements. Two kernels cover the shapes:
 * - "line": a warp per (output, segment), lanes striding along the reduced elements; for
 *   reductions along the smallest stride and for all-elements reductions.
 * - "cols": a thread per output (32 adjacent outputs per block row, coalesced), 8 row groups
 *   per block; for reductions across rows (e.g. a bias gradient over the batch) and short R.
 * Large R with few outputs is split into S segments whose partials go to pooled scratch and are
 * folded in segment order by a third kernel, so results are deterministic run to run (no
 * atomics) and a steady state allocates nothing.
 */
#include <type_traits>

#include "common.cuh"

enum { R_SUM, R_SUMSQ, R_MAX, R_MIN, R_ARG };

/* A partial result: d for float values and sums, i for i64, idx the (first) element's index
 * along the reduction or -1 while empty. */
struct part {
    double d;
    long long i;
    long long idx;
};

template <typename T> constexpr bool is_int() { return std::is_integral<T>::value; }

__host__ __device__ __forceinline__ int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int64_t lmax(int64_t a, int64_t b) { return a > b ? a : b; }

/* True when b should replace a (both non-empty). */
template <int OP, typename T> __device__ __forceinline__ bool better(const part &b, const part &a) {
    if constexpr (is_int<T>()) {
        if constexpr (OP == R_MAX) return b.i > a.i;
        else if constexpr (OP == R_MIN) return b.i < a.i;
        else return b.i > a.i || (b.i == a.i && b.idx < a.idx);
    } else {
        bool bn = b.d != b.d, an = a.d != a.d;
        if constexpr (OP == R_MAX) return !an && (bn || b.d > a.d);
        else if constexpr (OP == R_MIN) return !an && (bn || b.d < a.d);
        else { /* first NaN, else first maximum: independent of the folding order */
            if (an || bn) return bn && (!an || b.idx < a.idx);
            return b.d > a.d || (b.d == a.d && b.idx < a.idx);
        }
    }
}

template <int OP, typename T> __device__ __forceinline__ void comb(part &a, const part &b) {
    if (b.idx < 0) return;
    if constexpr (OP == R_SUM || OP == R_SUMSQ) {
        a.d += b.d;
        a.i = (long long)((unsigned long long)a.i + (unsigned long long)b.i);
        a.idx = 0;
    } else {
        if (a.idx < 0 || better<OP, T>(b, a)) a = b;
    }
}

template <int OP, typename T> __device__ __forceinline__ void add(part &a, T v, int64_t r) {
    part p;
    p.idx = r;
    if constexpr (is_int<T>()) {
        p.i = (long long)v;
        p.d = 0;
    } else {
        p.d = OP == R_SUMSQ ? (double)v * (double)v : (double)v;
        p.i = 0;
    }
    comb<OP, T>(a, p);
}

__device__ __forceinline__ part empty_part() {
    part p = {0.0, 0, -1};
    return p;
}

/* Writes a final value: mean divides by count; ARGMAX writes the index. */
template <int OP, typename T>
__device__ __forceinline__ void store(char *out, int64_t off, const part &p, int mean,
                                      int64_t count) {
    if constexpr (OP == R_ARG) ((long long *)out)[off] = p.idx;
    else if constexpr (is_int<T>()) ((T *)out)[off] = (T)p.i;
    else ((T *)out)[off] = (T)(mean ? p.d / (double)count : p.d);
}

template <int N> __device__ __forceinline__ void offs(const ilc_geom &g, int64_t i, int64_t *o) {
    if (g.nd == 1) {
#pragma unroll
        for (int k = 0; k < N; k++) o[k] = i * g.st[k][0];
    } else {
        ilc_offsets<N>(g, i, o);
    }
}

/* What every kernel needs: kept geometry (operand 0 = out, 1 = in), reduced geometry (in),
 * sizes, the segment count and where partials go. */
struct red_args {
    ilc_geom gk, gr;
    int64_t K, R, S, chunk;
    const char *in;
    char *out;
    part *parts; /* (S, K) when S > 1 */
    int mean;
};

__device__ __forceinline__ part shfl_part(const part &p, int delta) {
    part q;
    q.d = __shfl_down_sync(0xffffffffu, p.d, delta);
    q.i = __shfl_down_sync(0xffffffffu, p.i, delta);
    q.idx = __shfl_down_sync(0xffffffffu, p.idx, delta);
    return q;
}

/* A warp per work item w = k * S + seg over elements [seg*chunk, (seg+1)*chunk) of output k. */
template <int OP, typename T> __global__ void line_kernel(red_args a) {
    const int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t w = warp; w < a.K * a.S; w += nwarps) {
        int64_t k = w / a.S, seg = w - k * a.S, ko[2];
        offs<2>(a.gk, k, ko);
        const T *x = (const T *)a.in + ko[1];
        int64_t r0 = seg * a.chunk, r1 = lmin(a.R, r0 + a.chunk);
        part acc = empty_part();
        for (int64_t r = r0 + lane; r < r1; r += 32) {
            int64_t ro;
            offs<1>(a.gr, r, &ro);
            add<OP, T>(acc, x[ro], r);
        }
        /* lanes hold strided interleavings; fold them pairwise (index ties keep the first) */
        for (int delta = 16; delta > 0; delta >>= 1) comb<OP, T>(acc, shfl_part(acc, delta));
        if (lane != 0) continue;
        if (a.S == 1) store<OP, T>(a.out, ko[0], acc, a.mean, a.R);
        else a.parts[seg * a.K + k] = acc;
    }
}

/* Block (32, 8): thread x one output of 32 adjacent ones, y one of 8 row groups; blockIdx.y one
 * of S segments. Rows of a segment are dealt to the 8 groups in turn. */
template <int OP, typename T> __global__ void cols_kernel(red_args a) {
    __shared__ part sh[8][32];
    int64_t k = (int64_t)blockIdx.x * 32 + threadIdx.x;
    int64_t ko[2] = {0, 0};
    part acc = empty_part();
    if (k < a.K) {
        offs<2>(a.gk, k, ko);
        const T *x = (const T *)a.in + ko[1];
        int64_t r0 = (int64_t)blockIdx.y * a.chunk, r1 = lmin(a.R, r0 + a.chunk);
        for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
            int64_t ro;
            offs<1>(a.gr, r, &ro);
            add<OP, T>(acc, x[ro], r);
        }
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || k >= a.K) return;
    for (int y = 1; y < 8; y++) comb<OP, T>(acc, sh[y][threadIdx.x]);
    if (a.S == 1) store<OP, T>(a.out, ko[0], acc, a.mean, a.R);
    else a.parts[blockIdx.y * a.K + k] = acc;
}

/* Folds the S partials of each output: a warp per output, lanes striding over segments, then
 * the same fixed tree as line_kernel, so the result does not depend on timing. */
template <int OP, typename T> __global__ void finish_kernel(red_args a) {
    const int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t k = warp; k < a.K; k += nwarps) {
        part acc = empty_part();
        for (int64_t s = lane; s < a.S; s += 32) comb<OP, T>(acc, a.parts[s * a.K + k]);
        for (int delta = 16; delta > 0; delta >>= 1) comb<OP, T>(acc, shfl_part(acc, delta));
        if (lane != 0) continue;
        int64_t ko[2];
        offs<2>(a.gk, k, ko);
        store<OP, T>(a.out, ko[0], acc, a.mean, a.R);
    }
}

/* ---- host side ------------------------------------------------------------------------------- */

/* Launches the kernels of one (op, dtype): cols or line, then finish when segmented. */
template <int OP, typename T>
static il_status launch(il_ctx *ctx, red_args &a, int cols) {
    ilc_state *s = ilc_of(ctx);
    int64_t want = (int64_t)s->nsm * 32; /* work items that keep every SM busy */
    if (cols) {
        int64_t bx = (a.K + 31) / 32;
        a.S = lmin(lmax(1, want / bx), lmax(1, a.R / 64));
        a.S = lmin(a.S, 1024);
    } else {
        a.S = lmin(lmax(1, (want * 8) / a.K), lmax(1, a.R / 256));
        a.S = lmin(a.S, 4096);
    }
    a.chunk = (a.R + a.S - 1) / a.S;
    a.S = (a.R + a.chunk - 1) / a.chunk; /* no empty trailing segment */
    if (a.S > 1) {
        void *p;
        IL_TRY(ilc_scratch(ctx, ILC_SCR_PART, sizeof(part) * (size_t)(a.S * a.K), &p));
        a.parts = (part *)p;
    }
    if (cols) {
        dim3 grid((unsigned)((a.K + 31) / 32), (unsigned)a.S), block(32, 8);
        cols_kernel<OP, T><<<grid, block, 0, s->stream>>>(a);
    } else {
        int64_t blocks = lmin((a.K * a.S + 7) / 8, (int64_t)s->nsm * 32);
        line_kernel<OP, T><<<(unsigned)blocks, ILC_BLOCK, 0, s->stream>>>(a);
    }
    ILC_LAUNCHED(ctx, "reduce");
    if (a.S == 1) return IL_OK;
    finish_kernel<OP, T><<<ilc_grid(s, a.K * 32), ILC_BLOCK, 0, s->stream>>>(a);
    ILC_LAUNCHED(ctx, "reduce finish");
    return IL_OK;
}

typedef il_status (*red_fn)(il_ctx *, red_args &, int);

template <typename T> static red_fn pick_t(il_op op) {
    switch (op) {
    case IL_OP_SUM:
    case IL_OP_MEAN: return launch<R_SUM, T>;
    case IL_OP_SUMSQ: return launch<R_SUMSQ, T>;
    case IL_OP_MAX: return launch<R_MAX, T>;
    case IL_OP_MIN: return launch<R_MIN, T>;
    case IL_OP_ARGMAX: return launch<R_ARG, T>;
    default: return NULL;
    }
}

static red_fn pick(il_op op, il_dtype dt) {
    switch (dt) {
    case IL_DTYPE_F32: return pick_t<float>(op);
    case IL_DTYPE_F64: return pick_t<double>(op);
    case IL_DTYPE_I64: return op == IL_OP_MEAN || op == IL_OP_SUMSQ ? NULL : pick_t<int64_t>(op);
    default: return NULL;
    }
}

/* IL_E_INTERNAL unless out has in[0]'s shape with the reduced axis (or all) set to 1. */
static il_status check_call(il_ctx *ctx, const il_opcall *c) {
    const il_tdesc *in = &c->in[0], *out = &c->out;
    il_dtype want = c->op == IL_OP_ARGMAX ? IL_DTYPE_I64 : in->dtype;
    int ok = c->nin >= 1 && out->dtype == want;
    if (ok && c->axis == IL_AXIS_ALL) {
        for (int d = 0; d < out->ndim; d++) ok &= out->shape[d] == 1;
    } else if (ok) {
        ok = c->axis >= 0 && c->axis < in->ndim && out->ndim == in->ndim;
        for (int d = 0; ok && d < in->ndim; d++)
            ok = out->shape[d] == (d == c->axis ? 1 : in->shape[d]);
    }
    if (!ok)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda reduce: bad %s call (axis %d)",
                          il_op_name(c->op), c->axis);
    return IL_OK;
}

/* Fills a's geometries: kept (out, in without the axis) and reduced (the axis, or all of in). */
static void geometry(const il_opcall *c, red_args *a) {
    const il_tdesc *in = &c->in[0];
    il_tdesc ko = c->out, ki = *in, r = *in;
    if (c->axis == IL_AXIS_ALL) {
        ko.ndim = ki.ndim = 0;
    } else {
        for (int d = c->axis; d + 1 < in->ndim; d++) {
            ko.shape[d] = ko.shape[d + 1], ko.stride[d] = ko.stride[d + 1];
            ki.shape[d] = ki.shape[d + 1], ki.stride[d] = ki.stride[d + 1];
        }
        ko.ndim = ki.ndim = in->ndim - 1;
        r.ndim = 1;
        r.shape[0] = in->shape[c->axis];
        r.stride[0] = in->stride[c->axis];
    }
    const il_tdesc *kops[2] = {&ko, &ki}, *rops[1] = {&r};
    ilc_geom_init(&a->gk, 2, kops);
    ilc_geom_init(&a->gr, 1, rops);
    a->K = a->gk.numel;
    a->R = a->gr.numel;
}

/*
 * Reduces in[0] over c->axis (or all elements) into out. Statuses as the CPU's: IL_E_DTYPE,
 * IL_E_SHAPE for MAX/MIN/ARGMAX of nothing, IL_E_INTERNAL for a malformed call, IL_E_DEVICE.
 */
il_status ilc_reduce(il_ctx *ctx, const il_opcall *c) {
    red_fn fn = pick(c->op, c->in[0].dtype);
    if (fn == NULL)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(c->in[0].dtype));
    IL_TRY(check_call(ctx, c));
    red_args a;
    memset(&a, 0, sizeof a);
    geometry(c, &a);
    int all = c->axis == IL_AXIS_ALL;
    int sums = c->op == IL_OP_SUM || c->op == IL_OP_MEAN || c->op == IL_OP_SUMSQ;
    if (a.R == 0 && !sums) {
        if (all) return ili_seterr(ctx, IL_E_SHAPE, "%s of an empty tensor", il_op_name(c->op));
        return ili_seterr(ctx, IL_E_SHAPE, "%s over an empty axis (axis %d has size 0)",
                          il_op_name(c->op), c->axis);
    }
    if (a.K == 0) return IL_OK;
    if (a.R == 0) { /* SUM/SUMSQ of nothing is 0, MEAN NaN, as on the CPU */
        il_opcall f;
        memset(&f, 0, sizeof f);
        f.op = IL_OP_FILL;
        f.out = c->out;
        f.p[0] = c->op == IL_OP_MEAN ? NAN : 0.0;
        return ilc_fill(ctx, &f);
    }
    a.in = (const char *)c->in[0].data;
    a.out = (char *)c->out.data;
    a.mean = c->op == IL_OP_MEAN;
    /* Outputs adjacent in memory and the reduced axis further apart: a thread per output reads
     * rows coalesced. Very short reductions also take a thread per output. */
    int64_t inner = a.gk.st[1][a.gk.nd - 1];
    int64_t rs = a.gr.st[0][a.gr.nd - 1];
    int cols = !all && a.K > 1 && (llabs(inner) < llabs(rs) || a.R <= 32);
    return fn(ctx, a, cols);
}
