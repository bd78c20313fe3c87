/*
 * cpu_matmul_skinny.c: the matmul paths for products that the blocked driver's MR x NR tile
 * serves badly, and the pieces shared by products whose K is cut into chunks.
 *
 * - Rows-dot: N == 1 with contiguous rows of A (a layer with one output, B x 64 · 64 x 1): one
 *   dot product per row, blocks of rows split across threads. The tile would compute 32
 *   columns to keep one.
 * - Outer-product accumulation: M or N of at most GER_MAX (the weight gradients of a one-output
 *   or two-input layer, 64 x B · B x 1 and 2 x B · B x 64): C += A(:, p) B(p, :) for each p,
 *   along whichever operand is contiguous, with K cut into chunks that each accumulate their
 *   own partial C.
 *
 * Every cut depends on the shape alone and partials are summed in chunk order, so results are
 * the same for any thread count. Workspaces come from the context, so nothing is allocated once
 * they have grown.
 */
#include "cpu_gemm_impl.h"

#include <string.h>

#define GER_MAX 4                    /* M or N at most this: outer products beat the tile */
#define KCHUNK_MIN 2048              /* steps of K per chunk, at least */
#define KCHUNKS_MAX 64               /* chunks per product, at most */
#define PART_MAX_BYTES (1 << 20)     /* all partial products of one call, at most */
#define MIN_TASK_MACS ((int64_t)1 << 15) /* multiply-adds per thread chunk, at least */

/* ---- shared by split-K products ------------------------------------------------------------ */

int64_t ili_gemm_kchunks(int64_t m, int64_t n, int64_t k, size_t es) {
    /* Only when C is small next to the operands streaming past it: then the partials stay in
     * cache and each chunk is a long, independent run. */
    if (k < 2 * KCHUNK_MIN || k < 8 * (m > n ? m : n)) return 1;
    double cbytes = (double)m * (double)n * (double)es;
    int64_t q = k / KCHUNK_MIN, qmax = (int64_t)(PART_MAX_BYTES / cbytes);
    if (q > KCHUNKS_MAX) q = KCHUNKS_MAX;
    if (q > qmax) q = qmax;
    return q < 2 ? 1 : q;
}

#define DEF_FOLD(NAME, T)                                                                         \
    static void NAME(const ili_gemm_mat *x, const T *part, int64_t np, int trans) {               \
        int64_t sz = x->m * x->n;                                                                 \
        T *c = (T *)x->c;                                                                         \
        for (int64_t i = 0; i < x->m; i++)                                                        \
            for (int64_t j = 0; j < x->n; j++) {                                                  \
                int64_t o = trans ? j * x->m + i : i * x->n + j;                                  \
                T s = part[o];                                                                    \
                for (int64_t q = 1; q < np; q++) s += part[q * sz + o];                           \
                c[i * x->rsc + j * x->csc] = s;                                                   \
            }                                                                                     \
    }
DEF_FOLD(fold32, float)
DEF_FOLD(fold64, double)

void ili_gemm_fold(const ili_gemm_kernel *kern, const ili_gemm_mat *x, const char *part,
                   int64_t nparts, int trans, const ili_gemm_epi *epi) {
    if (x->f64) fold64(x, (const double *)part, nparts, trans);
    else fold32(x, (const float *)part, nparts, trans);
    if (epi && epi->mode != ILI_EPI_NONE)
        (x->f64 ? kern->epi64 : kern->epi32)(epi, x->c, x->rsc, x->csc, 0, 0, x->m, x->n, 0);
}

/* Column sums in double, 256 columns at a time so that the blocks are read row by row. */
#define DEF_COLSUMS(NAME, T)                                                                      \
    static void NAME(const T *part, int64_t nblk, int64_t n, int64_t ldp, char *o, int64_t os) {  \
        double acc[256];                                                                          \
        for (int64_t j0 = 0; j0 < n; j0 += 256) {                                                 \
            int64_t w = n - j0 < 256 ? n - j0 : 256;                                              \
            for (int64_t j = 0; j < w; j++) acc[j] = 0;                                           \
            for (int64_t b = 0; b < nblk; b++)                                                    \
                for (int64_t j = 0; j < w; j++) acc[j] += (double)part[b * ldp + j0 + j];         \
            for (int64_t j = 0; j < w; j++) ((T *)o)[(j0 + j) * os] = (T)acc[j];                  \
        }                                                                                         \
    }
DEF_COLSUMS(colsums32, float)
DEF_COLSUMS(colsums64, double)

void ili_gemm_colsums(int f64, const void *part, int64_t nblk, int64_t n, int64_t ldp,
                      const il_tdesc *out2) {
    int64_t os = out2->ndim > 0 ? out2->stride[out2->ndim - 1] : 1;
    if (f64) colsums64((const double *)part, nblk, n, ldp, (char *)out2->data, os);
    else colsums32((const float *)part, nblk, n, ldp, (char *)out2->data, os);
}

/* ---- path choice ----------------------------------------------------------------------------- */

int ili_gemm_skinny_ok(const ili_gemm_mat *x, int kind) {
    if (kind == ILI_SKINNY_DOT) return x->n == 1 && x->csa == 1;
    if (kind == ILI_SKINNY_GER)
        return (x->m <= GER_MAX && x->csb == 1) || (x->n <= GER_MAX && x->rsa == 1);
    return 0;
}

int ili_gemm_skinny_kind(const ili_gemm_mat *x) {
    if (x->m > 1 && ili_gemm_skinny_ok(x, ILI_SKINNY_DOT)) return ILI_SKINNY_DOT;
    if (ili_gemm_skinny_ok(x, ILI_SKINNY_GER)) return ILI_SKINNY_GER;
    return ILI_SKINNY_NONE;
}

/* ---- rows-dot ------------------------------------------------------------------------------ */

typedef struct dot_job {
    const ili_gemm_kernel *kern;
    const ili_gemm_mat *x;
    const char *b; /* contiguous */
    const ili_gemm_epi *epi;
} dot_job;

/* Row blocks [b0, b1): each one's dot products, then its epilogue (block index = column-sum
 * row). */
static void dot_task(void *arg, int64_t b0, int64_t b1, int tid) {
    const dot_job *d = arg;
    const ili_gemm_mat *x = d->x;
    size_t es = x->f64 ? sizeof(double) : sizeof(float);
    ili_gemm_dot_fn dot = x->f64 ? d->kern->dot64 : d->kern->dot32;
    ili_gemm_epi_fn epi = x->f64 ? d->kern->epi64 : d->kern->epi32;
    (void)tid;
    for (int64_t blk = b0; blk < b1; blk++) {
        int64_t r0 = blk * ILI_DOT_ROWS;
        int64_t m = x->m - r0 < ILI_DOT_ROWS ? x->m - r0 : ILI_DOT_ROWS;
        char *c = x->c + (size_t)(r0 * x->rsc) * es;
        dot(m, x->k, x->a + (size_t)(r0 * x->rsa) * es, x->rsa, d->b, c, x->rsc);
        if (d->epi && d->epi->mode != ILI_EPI_NONE)
            epi(d->epi, c, x->rsc, x->csc, r0, 0, m, 1, blk);
    }
}

static il_status run_dot(il_ctx *ctx, const ili_gemm_kernel *kern, const ili_gemm_mat *x,
                         const ili_gemm_epi *epi) {
    size_t es = x->f64 ? sizeof(double) : sizeof(float);
    dot_job d = {kern, x, x->b, epi};
    if (x->rsb != 1) { /* the kernel reads b contiguous: gather it (K values) */
        char *bc = ili_scratch(ctx, 0, (size_t)x->k * es);
        if (!bc) return ili_nomem(ctx, (size_t)x->k * es);
        for (int64_t p = 0; p < x->k; p++)
            memcpy(bc + (size_t)p * es, x->b + (size_t)(p * x->rsb) * es, es);
        d.b = bc;
    }
    int64_t nblk = (x->m + ILI_DOT_ROWS - 1) / ILI_DOT_ROWS;
    int64_t grain = MIN_TASK_MACS / (ILI_DOT_ROWS * x->k) + 1;
    if (ctx->nthreads == 1 || nblk < 2 * grain) {
        dot_task(&d, 0, nblk, 0);
        return IL_OK;
    }
    return ili_parallel_for(ctx, nblk, grain, dot_task, &d);
}

/* ---- outer-product accumulation ------------------------------------------------------------ */

typedef struct ger_job {
    ili_gemm_ger_fn ger;
    int64_t m, n, k, chunk; /* as the kernel sees them (transposed when C is built n x m) */
    const char *u, *v;
    int64_t us, up, vs, vp;
    char *part;
    size_t es;
} ger_job;

/* Chunks [q0, q1) of K, each into its own zeroed partial. */
static void ger_task(void *arg, int64_t q0, int64_t q1, int tid) {
    const ger_job *g = arg;
    (void)tid;
    for (int64_t q = q0; q < q1; q++) {
        int64_t p0 = q * g->chunk, p1 = p0 + g->chunk < g->k ? p0 + g->chunk : g->k;
        char *acc = g->part + (size_t)(q * g->m * g->n) * g->es;
        memset(acc, 0, (size_t)(g->m * g->n) * g->es);
        g->ger(g->m, g->n, p1 - p0, g->u + (size_t)(p0 * g->up) * g->es, g->us, g->up,
               g->v + (size_t)(p0 * g->vp) * g->es, g->vs, g->vp, acc);
    }
}

static il_status run_ger(il_ctx *ctx, const ili_gemm_kernel *kern, const ili_gemm_mat *x,
                         const ili_gemm_epi *epi) {
    size_t es = x->f64 ? sizeof(double) : sizeof(float);
    /* Run the kernel's inner loop along the contiguous operand: B's rows (C built m x n), or
     * A's columns (C built transposed, n x m). */
    int trans = !(x->csb == 1 && (x->n >= x->m || x->rsa != 1)) && x->rsa == 1;
    ger_job g = {x->f64 ? kern->ger64 : kern->ger32, x->m, x->n, x->k, 0,
                 x->a, x->b, x->rsa, x->csa, x->csb, x->rsb, NULL, es};
    if (trans) {
        g.m = x->n, g.n = x->m, g.u = x->b, g.v = x->a;
        g.us = x->csb, g.up = x->rsb, g.vs = x->rsa, g.vp = x->csa;
    }
    int64_t nq = ili_gemm_kchunks(x->m, x->n, x->k, es);
    g.chunk = (x->k + nq - 1) / nq;
    nq = (x->k + g.chunk - 1) / g.chunk;
    size_t bytes = (size_t)(nq * x->m * x->n) * es;
    if (!(g.part = ili_scratch(ctx, 2, bytes))) return ili_nomem(ctx, bytes);
    int64_t grain = MIN_TASK_MACS / (g.chunk * x->m * x->n) + 1;
    if (ctx->nthreads == 1 || nq < 2 * grain) ger_task(&g, 0, nq, 0);
    else IL_TRY(ili_parallel_for(ctx, nq, grain, ger_task, &g));
    ili_gemm_fold(kern, x, g.part, nq, trans, epi);
    return IL_OK;
}

il_status ili_gemm_skinny(il_ctx *ctx, const ili_gemm_kernel *kern, int kind,
                          const ili_gemm_mat *x, const ili_gemm_epi *epi) {
    return kind == ILI_SKINNY_DOT ? run_dot(ctx, kern, x, epi) : run_ger(ctx, kern, x, epi);
}
