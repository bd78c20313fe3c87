/*
 * cpu_gemm_impl.h: the GEMM micro-kernel interface shared by cpu_matmul.c (the blocked driver)
 * and cpu_gemm_{generic,avx2,avx512}.c (one register-tiled kernel set per instruction set).
 *
 * A micro-kernel computes one MR x NR tile of C:
 *
 *     C[0:m, 0:n] = (accum ? C[0:m, 0:n] : 0) + A[0:m, 0:k] * B[0:k, 0:n]
 *
 * - A element (i, p) is read from one of two layouts, told apart by csa:
 *   - rows (csa == 1): a[i * rsa + p]. Rows >= m are never read (the kernel repeats row
 *     m - 1 instead), so this serves row-major A in place, edge panels included.
 *   - columns (otherwise; rsa == 1): a[i + p * csa] for all MR rows, which must be readable
 *     (values of rows >= m are ignored). This is a packed panel (csa == MR, zero-padded) or a
 *     full panel of column-major A read in place.
 * - B: step p's NR values at b[p * ldb + j], all NR readable (columns >= n ignored): a packed
 *   panel (ldb == NR, 64-byte aligned) or a full panel of row-major B read in place.
 * - C element (i, j) is at c[i * rsc + j * csc]; only the m x n corner is written.
 * - 1 <= m <= MR, 1 <= n <= NR, k >= 1.
 */
#ifndef IL_CPU_GEMM_IMPL_H
#define IL_CPU_GEMM_IMPL_H

#include "il_impl.h"

typedef void (*ili_gemm_f32_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa,
                                const float *b, int64_t ldb, float *c, int64_t rsc, int64_t csc,
                                int m, int n, int accum);
typedef void (*ili_gemm_f64_fn)(int64_t k, const double *a, int64_t rsa, int64_t csa,
                                const double *b, int64_t ldb, double *c, int64_t rsc,
                                int64_t csc, int m, int n, int accum);

/*
 * A GEMM epilogue (the MATMUL op's p[0] = 1 or 2, see ironlearn/backend.h), applied to each tile
 * of C once its last K block is done, while the tile is still in L1:
 * - ILI_EPI_FWD: c = act(c + bias(j)), bias(j) = bias[j * bcs] (no bias when NULL);
 * - ILI_EPI_GRAD: c = c * act'(y(i, j)) with y(i, j) = y[i * rsy + j * csy] the activation's
 *   output, and, when part is non-NULL, the tile's column sums written to
 *   part[blk * ldp + j] (blk: the caller's fixed row block, so that folding the rows of part in
 *   order gives column sums that do not depend on the thread count).
 * Element offsets are in elements of the product's dtype.
 */
enum {
    ILI_EPI_NONE = IL_MATMUL_EPILOGUE_NONE,
    ILI_EPI_FWD = IL_MATMUL_EPILOGUE_FORWARD,
    ILI_EPI_GRAD = IL_MATMUL_EPILOGUE_GRAD
};
enum { ILI_ACT_ID, ILI_ACT_RELU, ILI_ACT_LEAKY, ILI_ACT_TANH, ILI_ACT_SIGMOID };

typedef struct ili_gemm_epi {
    int mode, act;
    double alpha; /* ILI_ACT_LEAKY's slope */
    const void *bias;
    int64_t bcs;
    const void *y;
    int64_t rsy, csy;
    void *part;
    int64_t ldp;
} ili_gemm_epi;

/* Applies e to the m x n tile of C at c (strides rsc, csc) whose first element is C(i0, j0). */
typedef void (*ili_gemm_epi_fn)(const ili_gemm_epi *e, void *c, int64_t rsc, int64_t csc,
                                int64_t i0, int64_t j0, int64_t m, int64_t n, int64_t blk);
/* Rows-dot (N == 1 with contiguous rows of A): c[i * rsc] = sum_p a[i * rsa + p] * b[p]. */
typedef void (*ili_gemm_dot_fn)(int64_t m, int64_t k, const void *a, int64_t rsa, const void *b,
                                void *c, int64_t rsc);
/* Outer-product accumulation: acc[i * n + j] += sum_p u[i * us + p * up] * v[j * vs + p * vp],
 * for i < m, j < n, p < k; fastest with vs == 1 (the inner loop runs along j). */
typedef void (*ili_gemm_ger_fn)(int64_t m, int64_t n, int64_t k, const void *u, int64_t us,
                                int64_t up, const void *v, int64_t vs, int64_t vp, void *acc);

/* A micro-kernel with the epilogue e fused (e's mode not NONE): the tile of C at (i0, j0),
 * row block blk, as the plain kernel followed by the epilogue computes it, bit for bit. */
typedef void (*ili_gemm_f32e_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa,
                                 const float *b, int64_t ldb, float *c, int64_t rsc, int64_t csc,
                                 int m, int n, int accum, const ili_gemm_epi *e, int64_t i0,
                                 int64_t j0, int64_t blk);

/* One instruction set's kernels with their tile shapes and cache blocking, and the vector
 * kernels of the skinny paths (cpu_matmul_skinny.c), compiled for the same instruction set. */
typedef struct ili_gemm_kernel {
    const char *name; /* "generic", "avx2", "avx512" */
    int mr32, nr32;
    ili_gemm_f32_fn f32;
    int mr64, nr64;
    ili_gemm_f64_fn f64;
    ili_gemm_epi_fn epi32, epi64;
    ili_gemm_dot_fn dot32, dot64;
    ili_gemm_ger_fn ger32, ger64;
    ili_gemm_f32e_fn f32e; /* NULL: the driver runs f32, then epi32 on the stored tile */
} ili_gemm_kernel;

#include "cpu_gemm_vec_impl.h"

/* Defined in cpu_gemm_<isa>.c. f32/f64 are NULL when the file was built without its ISA. */
IL_INTERNAL extern const ili_gemm_kernel ili_gemm_generic;
IL_INTERNAL extern const ili_gemm_kernel ili_gemm_avx2;
IL_INTERNAL extern const ili_gemm_kernel ili_gemm_avx512;

/* Largest MR and NR of any kernel (sizes the kernels' stack tiles). */
#define ILI_GEMM_MAX_MR 16
#define ILI_GEMM_MAX_NR 64

/*
 * Writes an MR x NR tile t (row-major, NR per row) into the m x n corner of C at (rsc, csc),
 * adding to C when accum. The kernels' edge and strided-C path.
 */
#define ILI_GEMM_STORE_TILE(T, t, NR_, c, rsc, csc, m, n, accum)                                 \
    do {                                                                                          \
        for (int i_ = 0; i_ < (m); i_++) {                                                        \
            T *ci_ = (c) + i_ * (rsc);                                                            \
            const T *ti_ = (t) + i_ * (NR_);                                                      \
            if (accum)                                                                            \
                for (int j_ = 0; j_ < (n); j_++) ci_[j_ * (csc)] += ti_[j_];                      \
            else                                                                                  \
                for (int j_ = 0; j_ < (n); j_++) ci_[j_ * (csc)] = ti_[j_];                       \
        }                                                                                         \
    } while (0)

/* The kernel set to use: IL_GEMM=generic|avx2|avx512 if set and supported by this CPU, else the
 * best the CPU supports. Computed once; never NULL. */
IL_INTERNAL const ili_gemm_kernel *ili_gemm_auto(void);
/* The named kernel set if it was compiled in and this CPU can run it, else NULL. */
IL_INTERNAL const ili_gemm_kernel *ili_gemm_by_name(const char *name);
/* ---- drivers (cpu_matmul.c, cpu_matmul_skinny.c), called by cpu_matmul_op.c ---------------- */

/* One 2-D product C (m x n) = A (m x k) · B (k x n), strides in elements, k >= 1. */
typedef struct ili_gemm_mat {
    int f64;
    int64_t m, n, k;
    const char *a;
    int64_t rsa, csa;
    const char *b;
    int64_t rsb, csb;
    char *c;
    int64_t rsc, csc;
} ili_gemm_mat;

/* Moves x's a, b and c to the next matrix of a batch; 0 after the last. */
typedef int (*ili_gemm_next_fn)(void *arg, ili_gemm_mat *x);

/*
 * The blocked GEMM over x and, through next (NULL: just x), every further matrix of a batch,
 * with K cut into kchunks chunks computed in parallel (1: not cut; see ili_gemm_kchunks) and
 * the epilogue epi (NULL or ILI_EPI_NONE: none; only with a single matrix). Buffers come from
 * the context's workspaces 0-2. IL_E_NOMEM, or the pool's status.
 */
IL_INTERNAL il_status ili_gemm_blocked(il_ctx *ctx, const ili_gemm_kernel *kern,
                                       ili_gemm_mat *x, int64_t kchunks, const ili_gemm_epi *epi,
                                       ili_gemm_next_fn next, void *arg);
/* How many chunks of K a product is cut into (1: none). A function of the shape alone, so
 * results do not depend on the thread count: long K with a small C (weight gradients). */
IL_INTERNAL int64_t ili_gemm_kchunks(int64_t m, int64_t n, int64_t k, size_t es);
/* C = the sum, in order, of nparts partial products at part (each m x n row-major, or n x m
 * when trans), then the epilogue over all of C as row block 0. */
IL_INTERNAL void ili_gemm_fold(const ili_gemm_kernel *kern, const ili_gemm_mat *x,
                               const char *part, int64_t nparts, int trans,
                               const ili_gemm_epi *epi);
/* The skinny paths (cpu_matmul_skinny.c), for products the MR x NR tile serves badly:
 * ILI_SKINNY_DOT, N == 1 with contiguous rows of A (one dot product per row, ILI_DOT_ROWS rows
 * per work item and column-sum block); ILI_SKINNY_GER, M or N of at most a few with the other
 * operand contiguous along the long side (outer products accumulated over K, cut as
 * ili_gemm_kchunks says); ILI_SKINNY_NONE otherwise. */
enum { ILI_SKINNY_NONE, ILI_SKINNY_DOT, ILI_SKINNY_GER };
#define ILI_DOT_ROWS 512
IL_INTERNAL int ili_gemm_skinny_kind(const ili_gemm_mat *x);
/* Non-zero when path kind (DOT or GER) can compute x. */
IL_INTERNAL int ili_gemm_skinny_ok(const ili_gemm_mat *x, int kind);
/* Runs x through the path ili_gemm_skinny_kind chose (not NONE), with the epilogue epi (NULL:
 * none). Workspaces 0 and 2. IL_E_NOMEM, or the pool's status. */
IL_INTERNAL il_status ili_gemm_skinny(il_ctx *ctx, const ili_gemm_kernel *kern, int kind,
                                      const ili_gemm_mat *x, const ili_gemm_epi *epi);
/* Folds nblk rows of column sums (ldp apart, the epilogue's part) into out2, in order. */
IL_INTERNAL void ili_gemm_colsums(int f64, const void *part, int64_t nblk, int64_t n,
                                  int64_t ldp, const il_tdesc *out2);

/* Which path a product takes: chosen by shape (AUTO), or forced by tests. */
enum { ILI_PATH_AUTO, ILI_PATH_BLOCKED, ILI_PATH_SPLIT, ILI_PATH_DOT, ILI_PATH_GER };
/* ili_cpu_matmul with an explicit kernel set (tests use it to exercise each one); that set
 * is used for every size (no small-product shortcut). kern NULL: exactly ili_cpu_matmul. */
IL_INTERNAL il_status ili_cpu_matmul_with(il_ctx *ctx, const il_opcall *c,
                                          const ili_gemm_kernel *kern);
/* ili_cpu_matmul_with on a forced path: BLOCKED (K never split), SPLIT (K cut into up to 4
 * chunks), DOT or GER (IL_E_INTERNAL where that path does not apply: see ili_gemm_skinny_kind;
 * GER also takes products that prefer DOT when B's rows or A's columns are contiguous). */
IL_INTERNAL il_status ili_cpu_matmul_path(il_ctx *ctx, const il_opcall *c,
                                          const ili_gemm_kernel *kern, int path);

#endif
