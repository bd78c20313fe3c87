/*
 * matmul_small.cu: MATMUL paths that save launches and passes over the output.
 *
 * - ilc_matmul_small: a small 2-D product with its whole epilogue in one kernel (a 4-row XOR
 *   network step then costs one launch per matmul instead of two or three). Taken when
 *   M*N <= 4096 and K <= 64: at most 64 multiply-adds per output, so a thread per output (at
 *   most 16 blocks) finishes within about the time of one more launch, while cuBLAS's tiles
 *   would sit mostly idle. Each output is a plain dot product accumulated in the output type in
 *   K order, as the CPU's small-product loop does. The GRAD epilogue with column sums needs
 *   every row of a column: one block of 256 threads (a column tile of cw columns times rg row
 *   groups, fixed by the shape) computes all outputs and folds the column sums in a fixed
 *   order; it also needs M*N*K <= 65536 (at most 256 multiply-adds per thread), beyond which
 *   the product goes to cuBLAS and the next path runs.
 * - ilc_grad_colsums: after the product is in out, out = G(out, v) in place and out2 = the
 *   column sums of out, in one pass (instead of a gradient pass and a reduction reading out
 *   again). Blocks of 32 columns times 8 row groups over S row segments write per-segment
 *   partials (in double) to pooled scratch; a second small kernel folds them in segment order
 *   (a warp per column, a fixed tree), so results are identical run to run, as reduce.cu's.
 * Both take 2-D calls only (no batch axes, not even of size 1), read every operand through
 * its strides and take only calls whose operands do not overlap in ways the separate ops would
 * order differently; others go to matmul.cu's general path. Sums accumulate in double, as the
 * CPU's column sums and reduce.cu do.
 */
#include "common.cuh"
#include "ew_math.cuh"

enum { SM_FWD, SM_GRAD };

/* Everything a kernel needs: sizes, operands (element strides), the epilogue's second operand
 * x (bias for FORWARD, v for GRAD), the sums s (out2) and the block geometry. */
struct sm_args {
    int64_t m, n, k;
    const void *a, *b, *x;
    void *c, *s;
    int64_t ars, acs, brs, bcs, xrs, xcs, crs, ccs, ss;
    int has_x;
    double p;
    int cw, rg;       /* one-block GRAD: columns per tile, row groups (cw * rg = ILC_BLOCK) */
    int64_t chunk, S; /* ilc_grad_colsums: rows per segment, segments */
    double *parts;    /* (S, n) partial sums when S > 1 */
};

/* Row r of A times column j of B, accumulated in T in K order. */
template <typename T>
__device__ __forceinline__ T sm_dot(const sm_args &a, int64_t r, int64_t j) {
    const T *pa = (const T *)a.a + r * a.ars, *pb = (const T *)a.b + j * a.bcs;
    T s = 0;
    for (int64_t p = 0; p < a.k; p++) s += pa[p * a.acs] * pb[p * a.brs];
    return s;
}

/* The epilogue of one output: what the separate ADD and unary op, or gradient op, compute. */
template <typename T, int MODE, int OP>
__device__ __forceinline__ T sm_epi(const sm_args &a, T v, int64_t r, int64_t j) {
    if constexpr (MODE == SM_FWD) {
        if (a.has_x) v += ((const T *)a.x)[r * a.xrs + j * a.xcs];
        if constexpr (OP != E_NONE) v = fapply<OP, T>(v, (T)0, (T)a.p, (T)0);
        return v;
    } else {
        return fapply<OP, T>(v, ((const T *)a.x)[r * a.xrs + j * a.xcs], (T)a.p, (T)0);
    }
}

/* A thread per output (adjacent threads, adjacent columns). */
template <typename T, int MODE, int OP> __global__ void sm_kernel(sm_args a) {
    ILC_LOOP(i, a.m * a.n) {
        int64_t r = i / a.n, j = i - r * a.n;
        T v = sm_epi<T, MODE, OP>(a, sm_dot<T>(a, r, j), r, j);
        ((T *)a.c)[r * a.crs + j * a.ccs] = v;
    }
}

/* GRAD with column sums, one block: thread (tx, ty) takes column c0 + tx of each column tile
 * and rows ty, ty + rg, ...; the rg partials of a column are folded in ty order. */
template <typename T, int OP> __global__ void sm_grad_sums_kernel(sm_args a) {
    __shared__ double sh[ILC_BLOCK];
    const int tx = threadIdx.x % a.cw, ty = threadIdx.x / a.cw;
    for (int64_t c0 = 0; c0 < a.n; c0 += a.cw) {
        int64_t j = c0 + tx;
        double acc = 0;
        if (j < a.n)
            for (int64_t r = ty; r < a.m; r += a.rg) {
                T v = sm_epi<T, SM_GRAD, OP>(a, sm_dot<T>(a, r, j), r, j);
                ((T *)a.c)[r * a.crs + j * a.ccs] = v;
                acc += (double)v;
            }
        sh[threadIdx.x] = acc;
        __syncthreads();
        if (ty == 0 && j < a.n) {
            double t = 0;
            for (int y = 0; y < a.rg; y++) t += sh[y * a.cw + tx];
            ((T *)a.s)[j * a.ss] = (T)t;
        }
        __syncthreads();
    }
}

/* out = G(out, v) in place and the column sums of a row segment: block (32, 8) over 32
 * columns, blockIdx.y the segment; rows of the segment dealt to the 8 groups in turn. */
template <typename T, int OP> __global__ void grad_sums_kernel(sm_args a) {
    __shared__ double sh[8][32];
    int64_t j = (int64_t)blockIdx.x * 32 + threadIdx.x;
    double acc = 0;
    if (j < a.n) {
        int64_t r0 = (int64_t)blockIdx.y * a.chunk;
        int64_t r1 = r0 + a.chunk < a.m ? r0 + a.chunk : a.m;
        for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
            T *o = (T *)a.c + r * a.crs + j * a.ccs;
            T v = fapply<OP, T>(*o, ((const T *)a.x)[r * a.xrs + j * a.xcs], (T)a.p, (T)0);
            *o = v;
            acc += (double)v;
        }
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || j >= a.n) return;
    for (int y = 1; y < 8; y++) acc += sh[y][threadIdx.x];
    if (a.S == 1) ((T *)a.s)[j * a.ss] = (T)acc;
    else a.parts[blockIdx.y * a.n + j] = acc;
}

/* Folds the S partials of each column: a warp per column, lanes over segments, fixed tree. */
template <typename T> __global__ void sums_finish_kernel(sm_args a) {
    const int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t j = warp; j < a.n; j += nwarps) {
        double acc = 0;
        for (int64_t s = lane; s < a.S; s += 32) acc += a.parts[s * a.n + j];
        for (int d = 16; d > 0; d >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, d);
        if (lane == 0) ((T *)a.s)[j * a.ss] = (T)acc;
    }
}

/* ---- host side ------------------------------------------------------------------------------- */

typedef void (*sm_launch)(const sm_args &a, unsigned grid, cudaStream_t st);

template <typename T, int MODE, int OP>
static void launch_sm(const sm_args &a, unsigned grid, cudaStream_t st) {
    sm_kernel<T, MODE, OP><<<grid, ILC_BLOCK, 0, st>>>(a);
}
template <typename T, int OP>
static void launch_sm_sums(const sm_args &a, unsigned grid, cudaStream_t st) {
    sm_grad_sums_kernel<T, OP><<<1, ILC_BLOCK, 0, st>>>(a);
}
template <typename T, int OP>
static void launch_grad_sums(const sm_args &a, unsigned grid, cudaStream_t st) {
    dim3 g((unsigned)((a.n + 31) / 32), (unsigned)a.S), b(32, 8);
    grad_sums_kernel<T, OP><<<g, b, 0, st>>>(a);
}

/* The layer activations (FORWARD, E_NONE: none) and their gradients (GRAD) these kernels are
 * instantiated for; other ops take the general path. */
#define SM_FWD_OPS(X) X(E_NONE) X(E_RELU) X(E_TANH) X(E_SIGMOID) X(E_LEAKY) X(E_GELU)         \
    X(E_SOFTPLUS) X(E_SINE)
#define SM_GRAD_OPS(X) X(E_RELU_G) X(E_TANH_G) X(E_SIGM_G) X(E_LEAKY_G) X(E_GELU_G)           \
    X(E_SOFTPLUS_G) X(E_SINE_G)

/* kind 0: sm_kernel FORWARD, 1: sm_kernel GRAD, 2: one-block GRAD with sums, 3: grad_sums. */
template <typename T> static sm_launch pick_t(int kind, ew e) {
    switch (kind) {
#define F(E) case E: return launch_sm<T, SM_FWD, E>;
#define G(E) case E: return launch_sm<T, SM_GRAD, E>;
#define S(E) case E: return launch_sm_sums<T, E>;
#define P(E) case E: return launch_grad_sums<T, E>;
    case 0: switch (e) { SM_FWD_OPS(F) default: return NULL; }
    case 1: switch (e) { SM_GRAD_OPS(G) default: return NULL; }
    case 2: switch (e) { SM_GRAD_OPS(S) default: return NULL; }
    default: switch (e) { SM_GRAD_OPS(P) default: return NULL; }
#undef F
#undef G
#undef S
#undef P
    }
}

static sm_launch pick(int kind, int e, il_dtype dt) {
    if (e < 0) return NULL;
    if (dt == IL_DTYPE_F32) return pick_t<float>(kind, (ew)e);
    if (dt == IL_DTYPE_F64) return pick_t<double>(kind, (ew)e);
    return NULL;
}

/* Non-zero when no two (row, column) positions of an m x n view share an element. */
static int distinct(int64_t m, int64_t n, int64_t rs, int64_t cs) {
    rs = rs < 0 ? -rs : rs, cs = cs < 0 ? -cs : cs;
    if (m <= 1) return n <= 1 || cs > 0;
    if (n <= 1) return rs > 0;
    return (cs > 0 && rs >= n * cs) || (rs > 0 && cs >= m * rs);
}

/* The op code of the epilogue's activation or gradient: E_NONE for none; -1 for an op that is
 * not elementwise (the general path reports the malformed call). */
static int epi_code(const il_opcall *c, int mode) {
    if (mode == IL_MATMUL_EPILOGUE_NONE || (mode == IL_MATMUL_EPILOGUE_FORWARD && c->p[1] < 0))
        return E_NONE;
    ew e = code_of((il_op)(int)c->p[1]);
    return e == E_NONE ? -1 : (int)e;
}

/* Fills a with out's 2-D view and the epilogue's operands; 0 when the call is not a single
 * product of 2-D f32 or f64 matrices with one dtype. Calls with batch axes, even all of size 1,
 * take matmul.cu's general path: (1, M, N) calls disagreed with the CPU on the first GPU run
 * (tests/test_cuda_matmul.c "unit batch"), so these paths stay 2-D only until that is settled
 * on a GPU. */
static int view2d(const il_opcall *c, sm_args *a) {
    const il_tdesc *A = &c->in[0], *B = &c->in[1], *C = &c->out;
    il_dtype dt = C->dtype;
    int nb = C->ndim - 2;
    if ((dt != IL_DTYPE_F32 && dt != IL_DTYPE_F64) || c->nin < 2 || nb != 0 || A->ndim != 2 ||
        B->ndim != 2 || A->dtype != dt || B->dtype != dt)
        return 0;
    memset(a, 0, sizeof *a);
    int ra = A->ndim - 2, rb = B->ndim - 2;
    a->m = C->shape[nb], a->n = C->shape[nb + 1], a->k = A->shape[ra + 1];
    a->a = A->data, a->ars = A->stride[ra], a->acs = A->stride[ra + 1];
    a->b = B->data, a->brs = B->stride[rb], a->bcs = B->stride[rb + 1];
    a->c = C->data, a->crs = C->stride[nb], a->ccs = C->stride[nb + 1];
    a->has_x = c->nin == 3 && (int)c->p[0] != IL_MATMUL_EPILOGUE_NONE;
    if (a->has_x) {
        const il_tdesc *x = &c->in[2];
        if (x->dtype != dt || x->ndim != 2) return 0;
        a->x = x->data, a->xrs = x->stride[nb], a->xcs = x->stride[nb + 1];
    }
    if (c->out2.data) {
        if (c->out2.ndim != 2) return 0;
        a->s = c->out2.data, a->ss = c->out2.stride[nb + 1];
    }
    a->p = c->p[2];
    return a->m >= 1 && a->n >= 1 && distinct(a->m, a->n, a->crs, a->ccs);
}

/* Non-zero when out2 (if any) overlaps none of the other operands. */
static int sums_apart(const il_opcall *c) {
    const il_tdesc *o2 = &c->out2;
    if (o2->data == NULL) return 1;
    for (int i = 0; i < c->nin; i++)
        if (ili_desc_overlap(o2, &c->in[i])) return 0;
    return !ili_desc_overlap(o2, &c->out);
}

/* Block geometry of the one-block GRAD: up to 32 columns per tile, row groups covering M. */
static void one_block(sm_args *a) {
    int cw = 1, rg = 1;
    while (cw < 32 && cw < a->n) cw *= 2;
    while (rg < ILC_BLOCK / cw && rg < a->m) rg *= 2;
    a->rg = rg, a->cw = ILC_BLOCK / rg;
}

/* The whole call in one kernel when small enough (see the top of the file; common.cuh). */
il_status ilc_matmul_small(il_ctx *ctx, const il_opcall *c, int *done) {
    int mode = (int)c->p[0];
    sm_args a;
    *done = 0;
    if (!view2d(c, &a) || a.m * a.n > 4096 || a.k > 64) return IL_OK;
    if (ili_desc_overlap(&c->in[0], &c->out) || ili_desc_overlap(&c->in[1], &c->out))
        return IL_OK;
    if (mode == IL_MATMUL_EPILOGUE_FORWARD && a.has_x && ili_desc_overlap(&c->in[2], &c->out))
        return IL_OK;
    if (mode == IL_MATMUL_EPILOGUE_GRAD && ilc_unsafe_overlap(&c->out, &c->in[2])) return IL_OK;
    if (!sums_apart(c)) return IL_OK;
    int sums = mode == IL_MATMUL_EPILOGUE_GRAD && a.s != NULL;
    if (sums && a.m * a.n * a.k > 65536) return IL_OK;
    int kind = mode == IL_MATMUL_EPILOGUE_GRAD ? (sums ? 2 : 1) : 0;
    sm_launch fn = pick(kind, epi_code(c, mode), c->out.dtype);
    if (fn == NULL) return IL_OK;
    if (sums) one_block(&a);
    ilc_state *s = ilc_of(ctx);
    fn(a, ilc_grid(s, a.m * a.n), s->stream);
    ILC_LAUNCHED(ctx, "matmul (small)");
    *done = 1;
    return IL_OK;
}

/* The GRAD epilogue with column sums in one pass over out (see the top of the file). */
il_status ilc_grad_colsums(il_ctx *ctx, const il_opcall *c, int *done) {
    sm_args a;
    *done = 0;
    if (!view2d(c, &a) || a.s == NULL || !a.has_x || ilc_unsafe_overlap(&c->out, &c->in[2]) ||
        !sums_apart(c))
        return IL_OK;
    sm_launch fn = pick(3, epi_code(c, IL_MATMUL_EPILOGUE_GRAD), c->out.dtype);
    if (fn == NULL) return IL_OK;
    ilc_state *s = ilc_of(ctx);
    /* As reduce.cu's column reduction: enough (column block, segment) items to fill the GPU,
     * segments of at least 64 rows, at most 1024 of them. */
    int64_t want = (int64_t)s->nsm * 32, bx = (a.n + 31) / 32;
    int64_t S = want / bx > 1 ? want / bx : 1, cap = a.m / 64 > 1 ? a.m / 64 : 1;
    S = S < cap ? S : cap;
    S = S < 1024 ? S : 1024;
    a.chunk = (a.m + S - 1) / S;
    a.S = (a.m + a.chunk - 1) / a.chunk; /* no empty trailing segment */
    if (a.S > 1) {
        void *p;
        IL_TRY(ilc_scratch(ctx, ILC_SCR_PART, sizeof(double) * (size_t)(a.S * a.n), &p));
        a.parts = (double *)p;
    }
    fn(a, 0, s->stream);
    ILC_LAUNCHED(ctx, "matmul grad epilogue");
    if (a.S > 1) {
        if (c->out.dtype == IL_DTYPE_F32)
            sums_finish_kernel<float><<<ilc_grid(s, a.n * 32), ILC_BLOCK, 0, s->stream>>>(a);
        else
            sums_finish_kernel<double><<<ilc_grid(s, a.n * 32), ILC_BLOCK, 0, s->stream>>>(a);
        ILC_LAUNCHED(ctx, "matmul grad epilogue sums");
    }
    *done = 1;
    return IL_OK;
}
