/*
 * common.cuh: what every file of the CUDA backend shares: the per-context state that hangs off
 * il_ctx, the one check macro for CUDA and cuBLAS calls, the launch check, the iteration
 * geometry of strided operands (broadcasting by index arithmetic, up to 8 dims), and the
 * entry points of the op families (one .cu each). Not installed; C++ only (nvcc).
 */
#ifndef IL_CUDA_COMMON_CUH
#define IL_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include "il_impl.h"

/* ---- per-context state -------------------------------------------------------------------- */

/* Device scratch slots, grow-only (like ili_scratch) so steady-state work allocates nothing. */
enum {
    ILC_SCR_PART = 0, /* partial results of reductions and losses */
    ILC_SCR_A,        /* matmul: contiguous copy of A */
    ILC_SCR_B,        /* matmul: contiguous copy of B */
    ILC_SCR_C,        /* matmul result / overlapping elementwise output */
    ILC_SCR_FLAG,     /* small flags read back by the host (cross-entropy's bad row) */
    ILC_NSCRATCH
};

/* ---- matmul: cuBLASLt plans (matmul_lt.cu) ---------------------------------------------------
 * One plan per cuBLASLt problem (its column-major view of out = in[0] · in[1] + epilogue): the
 * descriptors in caller-owned opaque storage (nothing to destroy) and the algorithm the
 * heuristic chose, asked once per problem, so a steady-state step neither allocates nor calls
 * cublasLtMatmulAlgoGetHeuristic. The key is compared bytewise (no padding in it). */
#define ILC_LT_PLANS 16
typedef struct ilc_lt_key {
    int64_t m, n, k, lda, ldb, ldc; /* cuBLASLt's problem: D (m x n) = op(A) (m x k) op(B) */
    int32_t dtype, compute, epilogue, opa, opb;
    int32_t align_a, align_b, align_c; /* pointer alignments in bytes (up to 256) */
} ilc_lt_key;
typedef struct ilc_lt_plan {
    ilc_lt_key key;
    int state; /* 0: empty slot; 1: ready; -1: cuBLASLt has no algorithm (use the cuBLAS path) */
    cublasLtMatmulDescOpaque_t desc;
    cublasLtMatrixLayoutOpaque_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} ilc_lt_plan;

struct ilc_state {
    int device;         /* the CUDA device ordinal (0) */
    int nsm;            /* multiprocessors, to size grids */
    cudaStream_t stream; /* every kernel, copy and cuBLAS call of this context, in order */
    cudaMemPool_t pool;  /* this context's own pool: cudaMallocAsync/cudaFreeAsync */
    cublasHandle_t blas;
    void *blas_ws;        /* cuBLAS workspace from the pool, set once (graph-capture safe) */
    size_t blas_ws_n;
    void *scratch[ILC_NSCRATCH];
    size_t scratch_n[ILC_NSCRATCH];
    void *host_flag; /* 64 pinned host bytes for flag readbacks */
    size_t allocated, peak, limit; /* bytes handed out; limit 0 = none */
    int tf32;
    ili_cuda_counts counts;
    /* matmul (matmul_lt.cu): cuBLASLt plans, replaced round robin (lt_next); cuBLASLt runs on
     * `blas` (a cuBLAS handle is a valid cuBLASLt handle) with the `blas_ws` workspace (one
     * stream: never in use by two calls at once). */
    ilc_lt_plan lt_plans[ILC_LT_PLANS];
    unsigned lt_next;
    /* Graph capture (graph.cu). Between ili_cuda_capture_begin and _end the stream records
     * instead of running: allocation and host round trips are refused then (see ilc_alloc,
     * ilc_read). cap_guard is the loss value that a captured OPTIM kernel checks; cap_optim_func
     * the OPTIM kernel launched during the capture, whose node each replay updates. */
    int capturing;
    const void *cap_guard;
    int cap_guard_f64;
    const void *cap_optim_func;
    cudaGraphNode_t cap_optim_node; /* its node, taken from the capture as it is recorded */
    uint64_t cap_launches; /* counts.launches when the capture began */
    /* Bumped whenever memory a captured graph may point at is replaced (scratch regrowth):
     * graphs captured under an older value are not replayed. */
    uint64_t scratch_gen;
};

/* The state of a context whose device is ready (ili_cuda_ready succeeded). */
static inline ilc_state *ilc_of(il_ctx *ctx) { return (ilc_state *)ctx->cuda; }

/* ---- checks --------------------------------------------------------------------------------- */

/* IL_E_DEVICE naming the call, the error's name and the driver's message. */
il_status ilc_fail_cuda(il_ctx *ctx, const char *call, cudaError_t e, const char *file, int line);
il_status ilc_fail_blas(il_ctx *ctx, const char *call, cublasStatus_t e, const char *file,
                        int line);

/* Every CUDA runtime call goes through ILC_CUDA, every cuBLAS call through ILC_BLAS. */
#define ILC_CUDA(ctx, call)                                                                       \
    do {                                                                                          \
        cudaError_t ilc_e_ = (call);                                                              \
        if (ilc_e_ != cudaSuccess) return ilc_fail_cuda((ctx), #call, ilc_e_, __FILE__, __LINE__); \
    } while (0)
#define ILC_BLAS(ctx, call)                                                                       \
    do {                                                                                          \
        ilc_of(ctx)->counts.launches++;                                                           \
        cublasStatus_t ilc_b_ = (call);                                                           \
        if (ilc_b_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return ilc_fail_blas((ctx), #call, ilc_b_, __FILE__, __LINE__);                       \
    } while (0)
/* After each <<<...>>>: a bad configuration shows up here, a fault at the next sync. */
/* A cuBLAS/cuBLASLt call that only sets up host-side state (descriptors, heuristics): checked
 * like ILC_BLAS, not counted as a launch. */
#define ILC_BLAS_HOST(ctx, call)                                                                  \
    do {                                                                                          \
        cublasStatus_t ilc_b_ = (call);                                                           \
        if (ilc_b_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return ilc_fail_blas((ctx), #call, ilc_b_, __FILE__, __LINE__);                       \
    } while (0)
#define ILC_LAUNCHED(ctx, what)                                                                   \
    do {                                                                                          \
        ilc_of(ctx)->counts.launches++;                                                           \
        cudaError_t ilc_e_ = cudaGetLastError();                                                  \
        if (ilc_e_ != cudaSuccess) return ilc_fail_cuda((ctx), what, ilc_e_, __FILE__, __LINE__); \
    } while (0)

/* ---- geometry ------------------------------------------------------------------------------- */

#define ILC_MAXOPS 3
#define ILC_BLOCK 256

/*
 * An iteration space shared by up to ILC_MAXOPS operands: nd coalesced dims (size-1 dims
 * dropped, dims merged where every operand is contiguous across them), numel elements, and
 * per-operand strides in elements (0 on broadcast dims). Flat index i runs row-major over the
 * original shape, so argmax and bernoulli see the CPU's element order.
 */
struct ilc_geom {
    int nd;
    int64_t numel;
    int64_t shape[IL_MAX_DIMS];
    int64_t st[ILC_MAXOPS][IL_MAX_DIMS];
};

/* Builds g over descriptors ops[0..nops-1], which share ops[0]'s shape. */
void ilc_geom_init(ilc_geom *g, int nops, const il_tdesc *const *ops);

/* Element offsets of flat index i for operands 0..N-1; one div/mod per dim beyond the first. */
template <int N>
__device__ __forceinline__ void ilc_offsets(const ilc_geom &g, int64_t i, int64_t *off) {
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
    for (int d = g.nd - 1; d > 0; d--) {
        int64_t q = i / g.shape[d], r = i - q * g.shape[d];
#pragma unroll
        for (int k = 0; k < N; k++) off[k] += r * g.st[k][d];
        i = q;
    }
#pragma unroll
    for (int k = 0; k < N; k++) off[k] += i * g.st[k][0];
}

/* Grid for a grid-stride loop over n items: enough blocks to fill the GPU, no more. */
static inline unsigned ilc_grid(const ilc_state *s, int64_t n, int block = ILC_BLOCK) {
    int64_t b = (n + block - 1) / block, cap = (int64_t)s->nsm * 16;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

#define ILC_LOOP(i, n)                                                                            \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                     \
         i += (int64_t)blockDim.x * gridDim.x)

/* Non-zero when out and in share memory but not element for element (same base, dtype size
 * and strides): such an op must go through a scratch copy, since GPU threads do not run in the
 * CPU's order. */
int ilc_unsafe_overlap(const il_tdesc *out, const il_tdesc *in);
/* Overlap, contiguity, element counts and op kinds are the core's (il_impl.h): ili_desc_overlap,
 * ili_desc_contiguous, ili_numel, ili_op_kind_of. */

/* ---- memory ---------------------------------------------------------------------------------- */

/* Pooled device memory, counted in the context's statistics. IL_E_NOMEM with a message. */
il_status ilc_alloc(il_ctx *ctx, size_t n, void **out);
void ilc_free(il_ctx *ctx, void *p, size_t n);
/* Grow-only device scratch of at least n bytes in slot; valid until the next call for that slot
 * (stream order makes reuse by later work safe). */
il_status ilc_scratch(il_ctx *ctx, int slot, size_t n, void **out);
/* Copies n bytes device to host and waits (counted as d2h). */
il_status ilc_read(il_ctx *ctx, void *host, const void *dev, size_t n);

/* ---- op families (one .cu each); each returns IL_OK or an error with the message set ------- */

il_status ilc_binary(il_ctx *ctx, const il_opcall *c);     /* elementwise.cu */
il_status ilc_unary(il_ctx *ctx, const il_opcall *c);      /* elementwise.cu */
il_status ilc_reduce(il_ctx *ctx, const il_opcall *c);     /* reduce.cu */
il_status ilc_matmul(il_ctx *ctx, const il_opcall *c);     /* matmul.cu */
il_status ilc_copy(il_ctx *ctx, const il_opcall *c);       /* copy.cu */
il_status ilc_fill(il_ctx *ctx, const il_opcall *c);       /* copy.cu */
il_status ilc_bernoulli(il_ctx *ctx, const il_opcall *c);  /* copy.cu */
il_status ilc_row(il_ctx *ctx, const il_opcall *c);        /* nn.cu */
il_status ilc_loss(il_ctx *ctx, const il_opcall *c);       /* loss.cu */
il_status ilc_optim(il_ctx *ctx, const il_opcall *c);      /* optim.cu */

/* The OPTIM kernels' one argument. guard, when set, points at the step's loss value (f32, or
 * f64 when guard_f64): the kernel leaves everything unchanged when it is not finite. */
struct ilc_optim_args {
    int64_t n;
    void *w;
    const void *g;
    void *s0, *s1;
    double p[8];
    const void *guard;
    int guard_f64;
};
/* The kernel, grid and argument of the OPTIM call c, checked as ilc_optim checks it; graph.cu
 * uses it to update a captured optimizer node before each replay. *func is NULL when there is
 * nothing to update (no parameters). */
il_status ilc_optim_prepare(il_ctx *ctx, const il_opcall *c, ilc_optim_args *a,
                            const void **func, unsigned *grid);
/* Refuses (IL_E_INTERNAL) what cannot be captured, while a capture is under way. */
il_status ilc_no_capture(il_ctx *ctx, const char *what);
/* Strided copy with conversion: the COPY op's body, for other families' scratch round trips. */
il_status ilc_copy_desc(il_ctx *ctx, const il_tdesc *out, const il_tdesc *in);
/* MATMUL epilogues (elementwise.cu): y = act(y + bias) with bias NULL or broadcast to y and
 * act an il_op (UNARY) or < 0 for none; y = G(y, v) for an activation-gradient op G. */
il_status ilc_bias_act(il_ctx *ctx, const il_tdesc *y, const il_tdesc *bias, double act,
                       double p);
il_status ilc_act_grad_inplace(il_ctx *ctx, il_op g, const il_tdesc *y, const il_tdesc *v,
                               double p);

/* MATMUL's fast paths (matmul.cu runs them before its general one). Each sets *done to 1 when
 * it ran the whole call, or to 0, having queued nothing, when the call is not one it takes.
 * - ilc_matmul_small (matmul_small.cu): the whole call, epilogue included, in one kernel for
 *   small 2-D products.
 * - ilc_matmul_lt (matmul_lt.cu): a FORWARD epilogue through a cuBLASLt epilogue.
 * - ilc_grad_colsums (matmul_small.cu): after the product is in out, the GRAD epilogue with
 *   column sums (out2) in one pass over out. */
il_status ilc_matmul_small(il_ctx *ctx, const il_opcall *c, int *done);
il_status ilc_matmul_lt(il_ctx *ctx, const il_opcall *c, int *done);
il_status ilc_grad_colsums(il_ctx *ctx, const il_opcall *c, int *done);
/* One matrix operand as cuBLAS sees it (matmul.cu): column-major storage with leading dimension
 * ld, of the matrix itself (row_major 0) or of its transpose (row_major 1). */
typedef struct ilc_blas_mat {
    const void *p;
    int row_major;
    int64_t ld;
} ilc_blas_mat;
/* The layout of d's last two axes; 0 when cuBLAS cannot read them in place. */
int ilc_blas_layout(const il_tdesc *d, ilc_blas_mat *m);

/* A contiguous descriptor over buffer p with d's shape and the given dtype. */
void ilc_desc_packed(il_tdesc *out, void *p, const il_tdesc *d, il_dtype dt);

/* Float to int64 as the CPU's ili_f2i64: truncation, NaN to 0, saturation. */
__device__ __forceinline__ int64_t ilc_f2i64(double x) {
    if (x != x) return 0;
    if (x >= 9223372036854775808.0) return INT64_MAX;
    if (x < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)x;
}

#endif
