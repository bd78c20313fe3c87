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
 * Tiny products (a 2-4-1 XOR net) take a plain loop that allocates nothing.
 */
#include "cpu_gemm_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
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

/* ---- kernel selection ------------------------------------------------------------------- */

static int cpu_can_run(const ili_gemm_kernel *k) {
    if (!k->f32 || !k->f64) return 0;
    if (k == &ili_gemm_generic) return 1;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (k == &ili_gemm_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &ili_gemm_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
#endif
    return 0;
}

const ili_gemm_kernel *ili_gemm_by_name(const char *name) {
    const ili_gemm_kernel *all[] = {&ili_gemm_avx512, &ili_gemm_avx2, &ili_gemm_generic};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return cpu_can_run(all[i]) ? all[i] : NULL;
    return NULL;
}

/* Written once under pthread_once and read-only afterwards. */
static const ili_gemm_kernel *auto_kernel;
static pthread_once_t auto_once = PTHREAD_ONCE_INIT;

static void pick_auto(void) {
    const ili_gemm_kernel *k = ili_gemm_by_name(getenv("IL_GEMM"));
    if (!k) k = ili_gemm_by_name("avx512");
    if (!k) k = ili_gemm_by_name("avx2");
    auto_kernel = k ? k : &ili_gemm_generic;
}

const ili_gemm_kernel *ili_gemm_auto(void) {
    pthread_once(&auto_once, pick_auto);
    return auto_kernel;
}

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

/* One GEMM block for the thread pool: rows of A/C in units of mr. */
typedef struct gemm {
    const ili_gemm_kernel *kern;
    int f64, mr, nr, amode, bdirect;
    size_t es;
    int64_t m, kc, nc;
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
    /* Row panels are handed out dynamically, `step` at a time, so a thread that the OS
     * descheduled (a busy 2-core CI box) does not hold up the others. */
    atomic_int_fast64_t next;
    int64_t units, step;
    /* Work items are row panels, each split into nsplit ranges of NR panels when there are too
     * few row panels to balance the threads (a weight gradient's M of a few hundred). */
    int64_t nsplit, items;
} gemm;

static void run_kernel(const gemm *g, const char *a, int64_t rsa, int64_t csa, const char *b,
                       int64_t ldb, char *c, int m, int n) {
    if (g->f64)
        g->kern->f64(g->kc, (const double *)a, rsa, csa, (const double *)b, ldb, (double *)c,
                     g->rsc, g->csc, m, n, g->accum);
    else
        g->kern->f32(g->kc, (const float *)a, rsa, csa, (const float *)b, ldb, (float *)c,
                     g->rsc, g->csc, m, n, g->accum);
}

/* The A panel of rows i0.. as the kernel will read it: in place, or packed into ap. */
static const char *a_panel(const gemm *g, int64_t i0, int m, char *ap, int64_t *rsa,
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

/* Runs row panels [u0, u1) against NR panels [q0, q1) of the current block on thread tid. */
static void gemm_panels(gemm *g, int64_t u0, int64_t u1, int64_t q0, int64_t q1, int tid) {
    char *ap = g->ap + (size_t)tid * g->ap_stride;
    for (int64_t u = u0; u < u1; u++) {
        int64_t i0 = u * g->mr, rsa, csa;
        int m = g->m - i0 < g->mr ? (int)(g->m - i0) : g->mr;
        const char *a = a_panel(g, i0, m, ap, &rsa, &csa);
        char *c = g->c + (size_t)(i0 * g->rsc) * g->es;
        for (int64_t j0 = q0 * g->nr; j0 < g->nc && j0 < q1 * g->nr; j0 += g->nr) {
            int n = g->nc - j0 < g->nr ? (int)(g->nc - j0) : g->nr;
            char *cj = c + (size_t)(j0 * g->csc) * g->es;
            if (j0 < g->nfull)
                run_kernel(g, a, rsa, csa, g->b + (size_t)j0 * g->es, g->rsb, cj, m, n);
            else
                run_kernel(g, a, rsa, csa, g->bp + (size_t)((j0 - g->nfull) * g->kc) * g->es,
                           g->nr, cj, m, n);
        }
    }
}

/* ili_parallel_for body: one per thread slot, taking panels until none are left. */
static void gemm_task(void *arg, int64_t s0, int64_t s1, int tid) {
    gemm *g = arg;
    (void)s0, (void)s1;
    int64_t npan = (g->nc + g->nr - 1) / g->nr;
    for (;;) {
        int64_t i0 = atomic_fetch_add_explicit(&g->next, g->step, memory_order_relaxed);
        if (i0 >= g->items) return;
        int64_t i1 = i0 + g->step < g->items ? i0 + g->step : g->items;
        if (g->nsplit == 1) {
            gemm_panels(g, i0, i1, 0, npan, tid);
            continue;
        }
        for (int64_t it = i0; it < i1; it++) {
            int64_t u = it / g->nsplit, q = it % g->nsplit;
            gemm_panels(g, u, u + 1, q * npan / g->nsplit, (q + 1) * npan / g->nsplit, tid);
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
static void choose_modes(gemm *g, const plan *pl) {
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

/* Sets up blocking, strides and modes (the same for every batch) and allocates the packing
 * buffers: B's block, and A panels for each thread unless A is read in place. IL_E_NOMEM. */
static il_status plan_init(il_ctx *ctx, plan *pl, const ili_gemm_kernel *kern, int f64,
                           int64_t m, int64_t n, int64_t k, const int64_t st[3][2]) {
    gemm *g = &pl->g;
    memset(pl, 0, sizeof *pl);
    g->kern = kern, g->f64 = f64, g->m = m, pl->n = n, pl->k = k;
    g->rsa = st[0][0], g->csa = st[0][1];
    g->rsb = st[1][0], pl->csb = st[1][1];
    g->rsc = st[2][0], g->csc = st[2][1];
    g->es = f64 ? sizeof(double) : sizeof(float);
    g->mr = f64 ? kern->mr64 : kern->mr32;
    g->nr = f64 ? kern->nr64 : kern->nr32;
    g->units = (m + g->mr - 1) / g->mr;
    pl->kcb = block_size(k, KC_MAX);
    int64_t nc_max = (int64_t)(NC_MAX_BYTES / (g->es * (size_t)pl->kcb)) / g->nr * g->nr;
    pl->ncb = block_size(n, nc_max < g->nr ? g->nr : nc_max);
    choose_modes(g, pl);
    int64_t ncpad = g->bdirect ? g->nr : (pl->ncb + g->nr - 1) / g->nr * g->nr;
    pl->bp_bytes = (size_t)(pl->kcb * ncpad) * g->es;
    g->ap_stride = ((size_t)(pl->kcb * g->mr) * g->es + IL_ALIGN - 1) / IL_ALIGN * IL_ALIGN;
    size_t nap = g->amode == A_ROWS ? 0 : (size_t)(g->units < ctx->nthreads ? g->units
                                                                            : ctx->nthreads);
    pl->ap_bytes = g->ap_stride * nap;
    /* The context's workspaces: a training step's matmuls reuse them and allocate nothing. */
    pl->bp = ili_scratch(ctx, 0, pl->bp_bytes);
    if (!pl->bp) return ili_nomem(ctx, pl->bp_bytes);
    if (nap && !(g->ap = ili_scratch(ctx, 1, pl->ap_bytes))) return ili_nomem(ctx, pl->ap_bytes);
    g->bp = pl->bp;
    return IL_OK;
}

/* Runs one (KC x NC) block over all row panels on up to ctx->nthreads threads. */
static il_status run_block(il_ctx *ctx, gemm *g) {
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
    g->nsplit = 1;
    if (g->units < 16 * slots && g->amode != A_PACK) {
        g->nsplit = (16 * slots + g->units - 1) / g->units;
        if (g->nsplit > npan) g->nsplit = npan;
    }
    g->items = g->units * g->nsplit;
    /* About 16 grabs per thread: fine enough to rebalance, coarse enough to stay sequential. */
    g->step = g->items / (slots * 16);
    if (g->step < 1) g->step = 1;
    atomic_store_explicit(&g->next, 0, memory_order_relaxed);
    return ili_parallel_for(ctx, slots, 1, gemm_task, g);
}

/* Packs the B block at bs (kc x nc), or only its edge panel when B is read in place. */
static void pack_block(plan *pl, const char *bs) {
    gemm *g = &pl->g;
    g->nfull = g->bdirect ? g->nc / g->nr * g->nr : 0;
    if (g->nfull == g->nc) return;
    const char *src = bs + (size_t)(g->nfull * pl->csb) * g->es;
    if (g->f64)
        pack_b64((const double *)src, g->rsb, pl->csb, g->kc, g->nc - g->nfull, g->nr,
                 (double *)pl->bp);
    else
        pack_b32((const float *)src, g->rsb, pl->csb, g->kc, g->nc - g->nfull, g->nr,
                 (float *)pl->bp);
}

/* One matrix product through the blocked path. Fails only if the pool cannot start. */
static il_status gemm_blocked(il_ctx *ctx, plan *pl, const char *a, const char *b, char *c) {
    gemm *g = &pl->g;
    size_t es = g->es;
    int single = pl->kcb == pl->k && pl->ncb == pl->n;
    for (int64_t jc = 0; jc < pl->n; jc += pl->ncb) {
        g->nc = pl->n - jc < pl->ncb ? pl->n - jc : pl->ncb;
        for (int64_t pc = 0; pc < pl->k; pc += pl->kcb) {
            g->kc = pl->k - pc < pl->kcb ? pl->k - pc : pl->kcb;
            g->b = b + (size_t)(pc * g->rsb + jc * pl->csb) * es;
            if (!single || pl->packed_for != b) pack_block(pl, g->b);
            pl->packed_for = single ? b : NULL;
            g->a = a + (size_t)(pc * g->csa) * es;
            g->c = c + (size_t)(jc * g->csc) * es;
            g->accum = pc > 0;
            IL_TRY(run_block(ctx, g));
        }
    }
    return IL_OK;
}

/* ---- small products, zero fill, batching ------------------------------------------------ */

/* Plain strided triple loop for products too small to repay packing (allocates nothing). */
#define DEFINE_SMALL(NAME, T)                                                                     \
    static void NAME(const T *a, int64_t rsa, int64_t csa, const T *b, int64_t rsb, int64_t csb,  \
                     T *c, int64_t rsc, int64_t csc, int64_t m, int64_t n, int64_t k) {           \
        for (int64_t i = 0; i < m; i++)                                                           \
            for (int64_t j = 0; j < n; j++) {                                                     \
                T s = 0;                                                                          \
                for (int64_t p = 0; p < k; p++) s += a[i * rsa + p * csa] * b[p * rsb + j * csb]; \
                c[i * rsc + j * csc] = s;                                                         \
            }                                                                                     \
    }
DEFINE_SMALL(small32, float)
DEFINE_SMALL(small64, double)

/* The operands of one call, with the batch axes walked by an odometer. */
typedef struct mm {
    int nb; /* batch axes */
    int64_t m, n, k;
    int64_t idx[IL_MAX_DIMS];
    const il_tdesc *A, *B, *C;
} mm;

/* Byte offset of the current batch index in d. */
static size_t batch_offset(const mm *x, const il_tdesc *d) {
    int64_t off = 0;
    for (int i = 0; i < x->nb; i++) off += x->idx[i] * d->stride[i];
    return (size_t)off * il_dtype_size(d->dtype);
}

/* Advances the batch odometer; 0 after the last batch. */
static int batch_next(mm *x) {
    for (int i = x->nb - 1; i >= 0; i--) {
        if (++x->idx[i] < x->C->shape[i]) return 1;
        x->idx[i] = 0;
    }
    return 0;
}

static void small_one(const mm *x, const char *a, const char *b, char *c) {
    const il_tdesc *A = x->A, *B = x->B, *C = x->C;
    int r = x->nb, s = x->nb + 1;
    if (C->dtype == IL_DTYPE_F64)
        small64((const double *)a, A->stride[r], A->stride[s], (const double *)b, B->stride[r],
                B->stride[s], (double *)c, C->stride[r], C->stride[s], x->m, x->n, x->k);
    else
        small32((const float *)a, A->stride[r], A->stride[s], (const float *)b, B->stride[r],
                B->stride[s], (float *)c, C->stride[r], C->stride[s], x->m, x->n, x->k);
}

/* C = 0 for K == 0, through its strides. */
static void zero_one(const mm *x, char *c) {
    const il_tdesc *C = x->C;
    size_t es = il_dtype_size(C->dtype);
    for (int64_t i = 0; i < x->m; i++)
        for (int64_t j = 0; j < x->n; j++)
            memset(c + (size_t)(i * C->stride[x->nb] + j * C->stride[x->nb + 1]) * es, 0, es);
}

/* Runs every batch through the blocked driver. */
static il_status blocked_all(il_ctx *ctx, mm *x, const ili_gemm_kernel *kern) {
    const il_tdesc *A = x->A, *B = x->B, *C = x->C;
    int r = x->nb, s = x->nb + 1;
    const int64_t st2[3][2] = {{A->stride[r], A->stride[s]},
                               {B->stride[r], B->stride[s]},
                               {C->stride[r], C->stride[s]}};
    plan pl;
    IL_TRY(plan_init(ctx, &pl, kern, C->dtype == IL_DTYPE_F64, x->m, x->n, x->k, st2));
    il_status st = IL_OK;
    do {
        st = gemm_blocked(ctx, &pl, (const char *)A->data + batch_offset(x, A),
                          (const char *)B->data + batch_offset(x, B),
                          (char *)C->data + batch_offset(x, C));
    } while (st == IL_OK && batch_next(x));
    return st;
}

il_status ili_cpu_matmul_with(il_ctx *ctx, const il_opcall *c, const ili_gemm_kernel *kern) {
    const il_tdesc *C = &c->out;
    if (C->dtype != IL_DTYPE_F32 && C->dtype != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "matmul does not support dtype %s",
                          il_dtype_name(C->dtype));
    /* An explicit kernel set always takes the blocked path, so tests reach its edge tiles. */
    int allow_small = kern == NULL;
    if (!kern) kern = ili_gemm_auto();
    if (!kern->f32 || !kern->f64 || C->ndim < 2)
        return ili_seterr(ctx, IL_E_INTERNAL, "matmul: bad kernel set or operand rank");
    mm x = {.nb = C->ndim - 2, .A = &c->in[0], .B = &c->in[1], .C = C};
    x.m = C->shape[C->ndim - 2];
    x.n = C->shape[C->ndim - 1];
    x.k = x.A->shape[x.A->ndim - 1];
    for (int i = 0; i < x.nb; i++)
        if (C->shape[i] == 0) return IL_OK;
    if (x.m == 0 || x.n == 0) return IL_OK;
    if (x.k == 0 || (allow_small && (double)x.m * (double)x.n * (double)x.k <= SMALL_MACS)) {
        do {
            char *cp = (char *)C->data + batch_offset(&x, C);
            if (x.k == 0)
                zero_one(&x, cp);
            else
                small_one(&x, (const char *)x.A->data + batch_offset(&x, x.A),
                          (const char *)x.B->data + batch_offset(&x, x.B), cp);
        } while (batch_next(&x));
        return IL_OK;
    }
    return blocked_all(ctx, &x, kern);
}

/*
 * The MATMUL op (see il_opcall in ironlearn/backend.h): out = in[0] · in[1] over the batch
 * axes, any strides, f32 or f64. IL_E_DTYPE for other dtypes; IL_E_NOMEM if the packing
 * buffers cannot be allocated; IL_E_INTERNAL if worker threads cannot start.
 */
il_status ili_cpu_matmul(il_ctx *ctx, const il_opcall *c) {
    return ili_cpu_matmul_with(ctx, c, NULL);
}
