/*
 * cpu_matmul.c: the CPU matmul op, a GotoBLAS/BLIS-style blocked GEMM over arbitrary strides.
 *
 * For each batch, C (M, N) = A (M, K) · B (K, N) is computed block by block:
 *
 *   for jc in N step NC:            B block (KC x NC): packed into NR-wide panels and kept in
 *     for pc in K step KC:          L2 while every row panel of A streams past it
 *       parallel for ir in M step MR:
 *         A micro-panel (MR x KC): read in place or packed (see choose_modes)
 *         for jr in NC step NR: micro-kernel C[ir:, jr:] (+)= A panel · B panel
 *
 * The shapes this is tuned for are tall and skinny (M in the tens of thousands, K and N of a
 * few hundred: a layer applied to a whole data set), where B fits in cache and A is streamed
 * once; packing A would cost a pass over the largest operand, so row-major A is read directly.
 * Their weight gradients (X^T · dY: K long, M and N small) read both operands in place, since
 * each panel is used only a few times, and split row panels by columns to feed every thread.
 * A weight gradient whose K is long and whose C is small (64x40000 · 40000x64) is instead cut
 * into fixed chunks of K, each computed into its own partial C by one thread, and the partials
 * are summed in chunk order (ili_gemm_fold), so the result is the same for any thread count.
 * An epilogue (bias and activation, or an activation gradient; cpu_gemm_impl.h) runs on each
 * tile of C as soon as its last K block is done, while the tile is in L1.
 *
 * The MATMUL op's entry point, batching and the skinny paths live in cpu_matmul_op.c and
 * cpu_matmul_skinny.c.
 */
#include "cpu_gemm_impl.h"

#include <stdatomic.h>
#include <string.h>

/* Products with at most this many multiply-adds skip packing and threads. */
#define SMALL_MACS 4096
/* Cache blocking, in elements: KC x NC of B stays in a 1-2 MiB L2 (512 KiB here). */
#define KC_MAX 256
#define NC_MAX_BYTES (512 * 1024)
/* An operand is read in place rather than packed when a panel of it is used at most this many
 * times (see choose_modes). B's bound is higher: its panels stream from L2 either way, so
 * packing them buys little beyond contiguity. */
#define A_REUSE_IN_PLACE 8
#define B_REUSE_IN_PLACE 32
/* Minimum flops per thread chunk: waking a worker costs microseconds. */
#define MIN_CHUNK_FLOPS (1 << 20)

/* ---- packing ---------------------------------------------------------------------------- */

/* Copies n elements of size es, with n a tile width: a constant-size memcpy is inlined as a few
 * vector moves, where a variable one is a library call costing more than the copy. */
static inline void copy_tile_row(void *dst, const void *src, int n, size_t es) {
    size_t bytes = (size_t)n * es;
    switch (bytes) {
#define CASE(B)                                                                                   \
    case B:                                                                                       \
        memcpy(dst, src, B);                                                                      \
        return;
        CASE(16) CASE(24) CASE(32) CASE(48) CASE(56) CASE(64) CASE(112) CASE(128)
#undef CASE
    default:
        memcpy(dst, src, bytes);
    }
}

/*
 * Packs B (kc x nc at b, strides rsb/csb) into ceil(nc/nr) panels of kc x nr, zero-padded
 * on the right. Rows are copied with memcpy when contiguous (the common case).
 */
#define DEFINE_PACK_B(NAME, T)                                                                    \
    static void NAME(const T *b, int64_t rsb, int64_t csb, int64_t kc, int64_t nc, int nr,        \
                     T *dst) {                                                                    \
        for (int64_t j0 = 0; j0 < nc; j0 += nr) {                                                 \
            int64_t w = nc - j0 < nr ? nc - j0 : nr;                                              \
            for (int64_t p = 0; p < kc; p++, dst += nr) {                                         \
                const T *src = b + p * rsb + j0 * csb;                                            \
                if (csb == 1)                                                                     \
                    copy_tile_row(dst, src, (int)w, sizeof(T));                                   \
                else                                                                              \
                    for (int64_t j = 0; j < w; j++) dst[j] = src[j * csb];                        \
                for (int64_t j = w; j < nr; j++) dst[j] = 0;                                      \
            }                                                                                     \
        }                                                                                         \
    }

/* Packs A (m x kc, strides rsa/csa) into one mr-tall panel: kc steps of mr values. The loop
 * order follows the smaller stride, so a transposed A (a weight gradient's X^T) reads
 * contiguous runs. */
#define DEFINE_PACK_A(NAME, T)                                                                    \
    static void NAME(const T *a, int64_t rsa, int64_t csa, int m, int64_t kc, int mr, T *dst) {   \
        if (m < mr)                                                                               \
            for (int64_t p = 0; p < kc; p++)                                                      \
                for (int i = m; i < mr; i++) dst[p * mr + i] = 0;                                 \
        if (rsa == 1)                                                                             \
            for (int64_t p = 0; p < kc; p++) {                                                    \
                if (p + 8 < kc) __builtin_prefetch(a + (p + 8) * csa);                            \
                copy_tile_row(dst + p * mr, a + p * csa, m, sizeof(T));                           \
            }                                                                                     \
        else if (rsa < csa)                                                                       \
            for (int64_t p = 0; p < kc; p++)                                                      \
                for (int i = 0; i < m; i++) dst[p * mr + i] = a[i * rsa + p * csa];              \
        else                                                                                      \
            for (int i = 0; i < m; i++)                                                           \
                for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = a[i * rsa + p * csa];          \
    }

DEFINE_PACK_B(pack_b32, float)
DEFINE_PACK_B(pack_b64, double)
DEFINE_PACK_A(pack_a32, float)
DEFINE_PACK_A(pack_a64, double)

/* ---- the blocked driver ----------------------------------------------------------------- */

/* How the kernel reads an operand: in place (A by rows or by columns, B by rows) or packed. */
enum { A_ROWS, A_COLS, A_PACK };

/* One (KC x NC) block of the product as the kernels read it: rows of A/C in units of mr.
 * Plain data, so that each chunk of a long-K product can work on its own copy. */
typedef struct blk {
    const ili_gemm_kernel *kern;
    int f64, mr, nr, amode, bdirect;
    size_t es;
    int64_t m, kc, nc, units;
    const char *a; /* A at (0, pc) */
    int64_t rsa, csa;
    char *c; /* C at (0, jc) */
    int64_t rsc, csc;
    const char *b; /* in place: B at (pc, jc), rows rsb apart */
    int64_t rsb, nfull; /* columns [0, nfull) read in place, the rest from bp */
    const char *bp;     /* packed B: all of the block, or only its edge panel when bdirect */
    int accum;
    char *ap; /* per-thread A panels, ap_stride bytes apart */
    size_t ap_stride;
    /* The epilogue, run on each tile when `last` (the block ends K); jc: the block's first
     * column of C. epif NULL: none. */
    const ili_gemm_epi *epi;
    ili_gemm_epi_fn epif;
    int last;
    int64_t jc;
} blk;

/* A block shared by the thread pool. */
typedef struct gemm {
    blk k;
    /* Row panels are handed out dynamically, `step` at a time, so a thread that the OS
     * descheduled (a busy 2-core CI box) does not hold up the others. */
    atomic_int_fast64_t next;
    int64_t step;
    /* Work items are row panels, each split into nsplit ranges of NR panels when there are too
     * few row panels to balance the threads (a weight gradient's M of a few hundred). */
    int64_t nsplit, items;
} gemm;

static void run_kernel(const blk *g, const char *a, int64_t rsa, int64_t csa, const char *b,
                       int64_t ldb, char *c, int m, int n) {
    if (g->f64)
        g->kern->f64(g->kc, (const double *)a, rsa, csa, (const double *)b, ldb, (double *)c,
                     g->rsc, g->csc, m, n, g->accum);
    else
        g->kern->f32(g->kc, (const float *)a, rsa, csa, (const float *)b, ldb, (float *)c,
                     g->rsc, g->csc, m, n, g->accum);
}

/* run_kernel and then the epilogue, fused into the kernel when the kernel set has that. */
static void run_kernel_epi(const blk *g, const char *a, int64_t rsa, int64_t csa, const char *b,
                           int64_t ldb, char *c, int m, int n, int64_t i0, int64_t j0,
                           int64_t u) {
    if (!g->f64 && g->kern->f32e) {
        g->kern->f32e(g->kc, (const float *)a, rsa, csa, (const float *)b, ldb, (float *)c,
                      g->rsc, g->csc, m, n, g->accum, g->epi, i0, j0, u);
        return;
    }
    run_kernel(g, a, rsa, csa, b, ldb, c, m, n);
    g->epif(g->epi, c, g->rsc, g->csc, i0, j0, m, n, u);
}

/* The A panel of rows i0.. as the kernel will read it: in place, or packed into ap. */
static const char *a_panel(const blk *g, int64_t i0, int m, char *ap, int64_t *rsa,
                           int64_t *csa) {
    const char *a = g->a + (size_t)(i0 * g->rsa) * g->es;
    *rsa = g->rsa, *csa = g->csa;
    /* Columns in place need all mr rows present; an edge panel is packed instead. */
    if (g->amode == A_ROWS || (g->amode == A_COLS && m == g->mr)) return a;
    if (g->f64)
        pack_a64((const double *)a, g->rsa, g->csa, m, g->kc, g->mr, (double *)ap);
    else
        pack_a32((const float *)a, g->rsa, g->csa, m, g->kc, g->mr, (float *)ap);
    *rsa = 1, *csa = g->mr;
    return ap;
}

/* Starts fetching what the epilogue of the tile at C(i0, j0) will read (a gradient's
 * activation output, far out of cache), so the misses overlap the kernel's k loop. */
static void prefetch_epi(const blk *g, int64_t i0, int64_t j0, int m, int n) {
    const ili_gemm_epi *e = g->epi;
    if (e->mode != ILI_EPI_GRAD || e->csy != 1) return;
    const char *y = (const char *)e->y + (size_t)(i0 * e->rsy + j0) * g->es;
    for (int i = 0; i < m; i++) {
        __builtin_prefetch(y + (size_t)(i * e->rsy) * g->es);
        __builtin_prefetch(y + (size_t)(i * e->rsy + n - 1) * g->es);
    }
}

/* Runs row panels [u0, u1) against NR panels [q0, q1) of the current block on thread tid. */
static void gemm_panels(const blk *g, int64_t u0, int64_t u1, int64_t q0, int64_t q1, int tid) {
    char *ap = g->ap + (size_t)tid * g->ap_stride;
    for (int64_t u = u0; u < u1; u++) {
        int64_t i0 = u * g->mr, rsa, csa;
        int m = g->m - i0 < g->mr ? (int)(g->m - i0) : g->mr;
        const char *a = a_panel(g, i0, m, ap, &rsa, &csa);
        char *c = g->c + (size_t)(i0 * g->rsc) * g->es;
        for (int64_t j0 = q0 * g->nr; j0 < g->nc && j0 < q1 * g->nr; j0 += g->nr) {
            int n = g->nc - j0 < g->nr ? (int)(g->nc - j0) : g->nr;
            char *cj = c + (size_t)(j0 * g->csc) * g->es;
            const char *b = j0 < g->nfull ? g->b + (size_t)j0 * g->es
                                          : g->bp + (size_t)((j0 - g->nfull) * g->kc) * g->es;
            int64_t ldb = j0 < g->nfull ? g->rsb : g->nr;
            if (g->last && g->epif) {
                /* Row panel u is the column sums' row block, whatever thread runs it. */
                prefetch_epi(g, i0, g->jc + j0, m, n);
                run_kernel_epi(g, a, rsa, csa, b, ldb, cj, m, n, i0, g->jc + j0, u);
            } else {
                run_kernel(g, a, rsa, csa, b, ldb, cj, m, n);
            }
        }
    }
}

/* ili_parallel_for body: one per thread slot, taking panels until none are left. */
static void gemm_task(void *arg, int64_t s0, int64_t s1, int tid) {
    gemm *g = arg;
    (void)s0, (void)s1;
    int64_t npan = (g->k.nc + g->k.nr - 1) / g->k.nr;
    for (;;) {
        int64_t i0 = atomic_fetch_add_explicit(&g->next, g->step, memory_order_relaxed);
        if (i0 >= g->items) return;
        int64_t i1 = i0 + g->step < g->items ? i0 + g->step : g->items;
        if (g->nsplit == 1) {
            gemm_panels(&g->k, i0, i1, 0, npan, tid);
            continue;
        }
        for (int64_t it = i0; it < i1; it++) {
            int64_t u = it / g->nsplit, q = it % g->nsplit;
            gemm_panels(&g->k, u, u + 1, q * npan / g->nsplit, (q + 1) * npan / g->nsplit, tid);
        }
    }
}

/* Splits len into the fewest blocks of at most max, of near-equal size. */
static int64_t block_size(int64_t len, int64_t max) {
    int64_t nb = (len + max - 1) / max;
    return (len + nb - 1) / nb;
}

/* Per-call plan: blocking, workspace and the operands of the current matrix. */
typedef struct plan {
    gemm g;
    int64_t n, k, kcb, ncb, csb;
    char *bp;
    size_t bp_bytes, ap_bytes;
    const void *packed_for; /* B matrix whose single block bp holds, or NULL */
    /* Long K: kchunks chunks of kchunk steps, each into its own partial C (m x n, contiguous)
     * in part, with per-thread B buffers bp_bytes apart. kchunks 1: not split. */
    int64_t kchunks, kchunk;
    char *part;
    const ili_gemm_epi *epi;
} plan;

/* Lines a multiple of 4 KiB apart share cache sets (8 ways in L1, 16 in L2), so an operand
 * read in place with such a stride evicts itself between reuses; packing avoids that. */
static int aliases(int64_t stride, size_t es) {
    return (size_t)stride * es % 4096 == 0;
}

/*
 * Chooses how A and B are read. Packing pays for itself through reuse: an A panel serves every
 * NR panel of the block, a B panel every row panel. Contiguous rows of A are read in place
 * (the tall-skinny forward case: packing would be a second pass over the largest operand);
 * columns of A and rows of B only when reuse is low (X^T · dY of a weight gradient, where
 * packing would be most of the memory traffic); none at a cache-aliasing stride.
 */
static void choose_modes(blk *g, const plan *pl) {
    int64_t a_reuse = (pl->ncb + g->nr - 1) / g->nr;
    if ((g->csa == 1 || pl->k == 1) && g->rsa > 0 && (a_reuse <= 2 || !aliases(g->rsa, g->es)))
        g->amode = A_ROWS, g->csa = 1;
    else if (g->rsa == 1 && g->csa > 0 && a_reuse <= A_REUSE_IN_PLACE && !aliases(g->csa, g->es))
        g->amode = A_COLS;
    else
        g->amode = A_PACK;
    g->bdirect = pl->csb == 1 && g->rsb > 0 && g->units <= B_REUSE_IN_PLACE &&
                 !aliases(g->rsb, g->es);
}

/* Allocates the workspaces from the context (a training step's matmuls reuse them and allocate
 * nothing): B's block (one per thread when K is split), A panels for each thread unless A is
 * read in place, and the partial products of a split K. IL_E_NOMEM. */
static il_status plan_buffers(il_ctx *ctx, plan *pl) {
    blk *g = &pl->g.k;
    size_t nthr = (size_t)ctx->nthreads;
    int64_t ncpad = g->bdirect ? g->nr : (pl->ncb + g->nr - 1) / g->nr * g->nr;
    pl->bp_bytes = ((size_t)(pl->kcb * ncpad) * g->es + IL_ALIGN - 1) / IL_ALIGN * IL_ALIGN;
    g->ap_stride = ((size_t)(pl->kcb * g->mr) * g->es + IL_ALIGN - 1) / IL_ALIGN * IL_ALIGN;
    size_t nap = g->amode == A_ROWS ? 0 : (size_t)g->units < nthr ? (size_t)g->units : nthr;
    if (pl->kchunks > 1 && g->amode != A_ROWS) nap = nthr; /* chunks run whole on each thread */
    pl->ap_bytes = g->ap_stride * nap;
    size_t nbp = pl->kchunks > 1 ? nthr : 1;
    if (!(pl->bp = ili_scratch(ctx, 0, pl->bp_bytes * nbp)))
        return ili_nomem(ctx, pl->bp_bytes * nbp);
    if (nap && !(g->ap = ili_scratch(ctx, 1, pl->ap_bytes))) return ili_nomem(ctx, pl->ap_bytes);
    g->bp = pl->bp;
    if (pl->kchunks == 1) return IL_OK;
    size_t pbytes = (size_t)(pl->kchunks * g->m * pl->n) * g->es;
    if (!(pl->part = ili_scratch(ctx, 2, pbytes))) return ili_nomem(ctx, pbytes);
    return IL_OK;
}

/* Sets up blocking, strides and modes (the same for every batch) and the workspaces.
 * kchunks > 1 splits K (ili_gemm_kchunks). IL_E_NOMEM. */
static il_status plan_init(il_ctx *ctx, plan *pl, const ili_gemm_kernel *kern,
                           const ili_gemm_mat *x, int64_t kchunks, const ili_gemm_epi *epi) {
    blk *g = &pl->g.k;
    memset(pl, 0, sizeof *pl);
    g->kern = kern, g->f64 = x->f64, g->m = x->m, pl->n = x->n, pl->k = x->k;
    g->rsa = x->rsa, g->csa = x->csa;
    g->rsb = x->rsb, pl->csb = x->csb;
    g->rsc = x->rsc, g->csc = x->csc;
    g->es = x->f64 ? sizeof(double) : sizeof(float);
    g->mr = x->f64 ? kern->mr64 : kern->mr32;
    g->nr = x->f64 ? kern->nr64 : kern->nr32;
    g->units = (x->m + g->mr - 1) / g->mr;
    pl->kchunk = (x->k + kchunks - 1) / kchunks;
    pl->kchunks = (x->k + pl->kchunk - 1) / pl->kchunk; /* no empty chunk at the end */
    pl->kcb = block_size(pl->kchunk, KC_MAX);
    int64_t nc_max = (int64_t)(NC_MAX_BYTES / (g->es * (size_t)pl->kcb)) / g->nr * g->nr;
    pl->ncb = block_size(x->n, nc_max < g->nr ? g->nr : nc_max);
    choose_modes(g, pl);
    pl->epi = epi;
    if (epi && epi->mode != ILI_EPI_NONE) {
        g->epi = epi;
        g->epif = x->f64 ? kern->epi64 : kern->epi32;
    }
    return plan_buffers(ctx, pl);
}

/* Runs one (KC x NC) block over all row panels on up to ctx->nthreads threads. */
static il_status run_block(il_ctx *ctx, gemm *gm) {
    blk *g = &gm->k;
    double flops = 2.0 * (double)g->mr * (double)g->kc * (double)g->nc;
    int64_t grain = (int64_t)(MIN_CHUNK_FLOPS / flops) + 1;
    int64_t slots = (g->units + grain - 1) / grain;
    if (slots > ctx->nthreads) slots = ctx->nthreads;
    int64_t npan = (g->nc + g->nr - 1) / g->nr;
    if (slots <= 1) {
        gemm_panels(g, 0, g->units, 0, npan, 0);
        return IL_OK;
    }
    /* Splitting a row panel re-reads its A panel per part, which is free only in place. */
    gm->nsplit = 1;
    if (g->units < 16 * slots && g->amode != A_PACK) {
        gm->nsplit = (16 * slots + g->units - 1) / g->units;
        if (gm->nsplit > npan) gm->nsplit = npan;
    }
    gm->items = g->units * gm->nsplit;
    /* About 16 grabs per thread: fine enough to rebalance, coarse enough to stay sequential. */
    gm->step = gm->items / (slots * 16);
    if (gm->step < 1) gm->step = 1;
    atomic_store_explicit(&gm->next, 0, memory_order_relaxed);
    return ili_parallel_for(ctx, slots, 1, gemm_task, gm);
}

/* Packs the B block at bs (kc x nc) into bp, or only its edge panel when B is read in place. */
static void pack_block(blk *g, int64_t csb, const char *bs, char *bp) {
    g->nfull = g->bdirect ? g->nc / g->nr * g->nr : 0;
    g->bp = bp;
    if (g->nfull == g->nc) return;
    const char *src = bs + (size_t)(g->nfull * csb) * g->es;
    if (g->f64)
        pack_b64((const double *)src, g->rsb, csb, g->kc, g->nc - g->nfull, g->nr, (double *)bp);
    else
        pack_b32((const float *)src, g->rsb, csb, g->kc, g->nc - g->nfull, g->nr, (float *)bp);
}

/* One matrix product through the blocked path. Fails only if the pool cannot start. */
static il_status gemm_whole(il_ctx *ctx, plan *pl, const char *a, const char *b, char *c) {
    blk *g = &pl->g.k;
    size_t es = g->es;
    int single = pl->kcb == pl->k && pl->ncb == pl->n;
    for (int64_t jc = 0; jc < pl->n; jc += pl->ncb) {
        g->nc = pl->n - jc < pl->ncb ? pl->n - jc : pl->ncb;
        g->jc = jc;
        for (int64_t pc = 0; pc < pl->k; pc += pl->kcb) {
            g->kc = pl->k - pc < pl->kcb ? pl->k - pc : pl->kcb;
            g->b = b + (size_t)(pc * g->rsb + jc * pl->csb) * es;
            if (!single || pl->packed_for != b) pack_block(g, pl->csb, g->b, pl->bp);
            pl->packed_for = single ? b : NULL;
            g->a = a + (size_t)(pc * g->csa) * es;
            g->c = c + (size_t)(jc * g->csc) * es;
            g->accum = pc > 0;
            g->last = pc + g->kc == pl->k;
            IL_TRY(run_block(ctx, &pl->g));
        }
    }
    return IL_OK;
}

/* ---- long K -------------------------------------------------------------------------------- */

typedef struct kjob {
    const plan *pl;
    const char *a, *b;
    atomic_int_fast64_t next;
} kjob;

/* Chunk q of K into its partial product, sequentially on thread tid (own B and A buffers). The
 * epilogue waits for the fold. */
static void kchunk_run(const kjob *j, int64_t q, int tid) {
    const plan *pl = j->pl;
    blk g = pl->g.k;
    size_t es = g.es;
    int64_t p0 = q * pl->kchunk, p1 = p0 + pl->kchunk < pl->k ? p0 + pl->kchunk : pl->k;
    char *part = pl->part + (size_t)(q * g.m * pl->n) * es;
    char *bp = pl->bp + (size_t)tid * pl->bp_bytes;
    g.rsc = pl->n, g.csc = 1, g.last = 0;
    for (int64_t jc = 0; jc < pl->n; jc += pl->ncb) {
        g.nc = pl->n - jc < pl->ncb ? pl->n - jc : pl->ncb;
        g.jc = jc;
        int64_t npan = (g.nc + g.nr - 1) / g.nr;
        for (int64_t pc = p0; pc < p1; pc += pl->kcb) {
            g.kc = p1 - pc < pl->kcb ? p1 - pc : pl->kcb;
            g.b = j->b + (size_t)(pc * g.rsb + jc * pl->csb) * es;
            pack_block(&g, pl->csb, g.b, bp);
            g.a = j->a + (size_t)(pc * g.csa) * es;
            g.c = part + (size_t)jc * es;
            g.accum = pc > p0;
            gemm_panels(&g, 0, g.units, 0, npan, tid);
        }
    }
}

/* ili_parallel_for body: takes chunks until none are left. */
static void kchunk_task(void *arg, int64_t s0, int64_t s1, int tid) {
    kjob *j = arg;
    (void)s0, (void)s1;
    for (;;) {
        int64_t q = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (q >= j->pl->kchunks) return;
        kchunk_run(j, q, tid);
    }
}

/* One product with K split: chunks in parallel, then the partials summed in chunk order. */
static il_status gemm_split(il_ctx *ctx, plan *pl, const ili_gemm_mat *x) {
    kjob j = {pl, x->a, x->b, 0};
    atomic_init(&j.next, 0);
    int64_t slots = pl->kchunks < ctx->nthreads ? pl->kchunks : ctx->nthreads;
    if (slots <= 1)
        for (int64_t q = 0; q < pl->kchunks; q++) kchunk_run(&j, q, 0);
    else
        IL_TRY(ili_parallel_for(ctx, slots, 1, kchunk_task, &j));
    ili_gemm_fold(pl->g.k.kern, x, pl->part, pl->kchunks, 0, pl->epi);
    return IL_OK;
}

il_status ili_gemm_blocked(il_ctx *ctx, const ili_gemm_kernel *kern, ili_gemm_mat *x,
                           int64_t kchunks, const ili_gemm_epi *epi, ili_gemm_next_fn next,
                           void *arg) {
    plan pl;
    IL_TRY(plan_init(ctx, &pl, kern, x, kchunks, epi));
    do {
        if (pl.kchunks > 1) IL_TRY(gemm_split(ctx, &pl, x));
        else IL_TRY(gemm_whole(ctx, &pl, x->a, x->b, x->c));
    } while (next && next(arg, x));
    return IL_OK;
}
