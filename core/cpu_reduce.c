/*
 * cpu_reduce.c: the CPU backend's reductions SUM, MEAN, MAX, MIN, ARGMAX and SUMSQ (sum of
 * squares, for gradient norms), over one axis or over all elements, for f32, f64 and i64 (no
 * MEAN or SUMSQ for i64).
 *
 * Sums (and sums of squares) of floats accumulate in double, in blocks with several
 * accumulators, so f32 results match a float64 reference. MAX/MIN propagate NaN; ARGMAX returns
 * the first maximum, a NaN counting as the maximum (as torch does).
 *
 * An axis reduction takes one of two shapes of loop: when the reduced axis has the smaller
 * stride, each output element reduces one line ("line"); otherwise whole rows of the input are
 * accumulated into a block of outputs ("cols"), so memory is read sequentially either way. The
 * all-elements reduction is split into a fixed number of blocks whose partial results are
 * folded in order, so the result does not depend on the thread count.
 */
#include "il_impl.h"

#include <math.h>
#include <stdint.h>

#include "cpu_iter_impl.h"

#define SUM_BLOCK 4096          /* elements summed before adding into the running total */
#define COLBLK 256              /* outputs accumulated together in the "cols" loops */
#define AXIS_CHUNK 1024         /* kept elements per work item of an axis reduction */
#define ALL_CHUNK (1 << 13)     /* elements per work item of an all-elements reduction */
#define MAX_BLOCKS 256          /* partial results of an all-elements reduction */

/* A partial result: d for float dtypes, i for i64, idx the argmax index (-1: nothing yet). */
typedef struct part {
    double d;
    int64_t i;
    int64_t idx;
} part;

/* Reduces n >= 1 elements at stride s (elements). */
typedef part (*line_fn)(const char *x, int64_t n, int64_t s);
/* Reduces R rows (row stride rs) of ncol columns (column stride xs) into o (stride os). */
typedef void (*cols_fn)(char *o, int64_t os, const char *x, int64_t xs, int64_t ncol,
                        int64_t R, int64_t rs, int mean);

typedef struct red_kern {
    line_fn line;
    cols_fn cols;
} red_kern;

/* "v replaces the running m": NaN wins for max/min; argmax keeps its first NaN. Bitwise | and &
 * rather than || and && leave no branches, so the loops can vectorize. */
#define GT_F(v, m) (((v) > (m)) | ((v) != (v)))
#define LT_F(v, m) (((v) < (m)) | ((v) != (v)))
#define GT_I(v, m) ((v) > (m))
#define LT_I(v, m) ((v) < (m))
#define ARG_F(v, m) (((m) == (m)) & (((v) > (m)) | ((v) != (v))))
#define ARG_I(v, m) ((v) > (m))

/* ---- line kernels ------------------------------------------------------------------------- */

/* What a sum adds per element: the value itself (SUM, MEAN) or its square (SUMSQ). */
#define TERM_ID(v) (v)
#define TERM_SQ(v) ((v) * (v))

/* Sum of F(x) over a block: eight accumulators for speed (and a little accuracy) on unit
 * stride. PRE names the pair of functions (sum, sumsq). */
#define DEF_SUM_BLOCK(PRE, T, F)                                                                  \
    static double PRE##_unit_##T(const T *restrict x, int64_t m) {                                \
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, t = 0;                                          \
        int64_t i = 0;                                                                            \
        for (; i + 8 <= m; i += 8)                                                                \
            for (int k = 0; k < 8; k++) acc[k] += F((double)x[i + k]);                            \
        for (; i < m; i++) t += F((double)x[i]);                                                  \
        return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) \
               + t;                                                                               \
    }                                                                                             \
    static part PRE##_line_##T(const char *xp, int64_t n, int64_t s) {                            \
        const T *x = (const T *)xp;                                                               \
        part p = {0, 0, 0};                                                                       \
        for (int64_t b = 0; b < n; b += SUM_BLOCK) {                                              \
            int64_t m = n - b < SUM_BLOCK ? n - b : SUM_BLOCK;                                    \
            double t = 0;                                                                         \
            if (s == 1) t = PRE##_unit_##T(x + b, m);                                             \
            else                                                                                  \
                for (int64_t i = 0; i < m; i++) t += F((double)x[(b + i) * s]);                   \
            p.d += t;                                                                             \
        }                                                                                         \
        return p;                                                                                 \
    }

DEF_SUM_BLOCK(sum, float, TERM_ID)
DEF_SUM_BLOCK(sum, double, TERM_ID)
DEF_SUM_BLOCK(sumsq, float, TERM_SQ)
DEF_SUM_BLOCK(sumsq, double, TERM_SQ)

/* i64 sums wrap through uint64_t instead of overflowing. */
static part sum_line_int64_t(const char *xp, int64_t n, int64_t s) {
    const int64_t *x = (const int64_t *)xp;
    uint64_t acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (uint64_t)x[i * s];
    part p = {0, (int64_t)acc, 0};
    return p;
}

/* Running max/min: eight lanes on unit stride so the compare-and-select vectorizes (the
 * result does not depend on the order, NaN winning in any lane). */
#define DEF_EXT_LINE(NAME, T, BETTER, FIELD)                                                      \
    static T NAME##_val(const T *x, int64_t n, int64_t s) {                                       \
        T m = x[0];                                                                               \
        int64_t i = 1;                                                                            \
        if (s == 1 && n >= 16) {                                                                  \
            T l[8];                                                                               \
            for (int k = 0; k < 8; k++) l[k] = x[k];                                              \
            for (i = 8; i + 8 <= n; i += 8)                                                       \
                for (int k = 0; k < 8; k++) l[k] = BETTER(x[i + k], l[k]) ? x[i + k] : l[k];      \
            m = l[0];                                                                             \
            for (int k = 1; k < 8; k++) m = BETTER(l[k], m) ? l[k] : m;                           \
        }                                                                                         \
        for (; i < n; i++) {                                                                      \
            T v = x[i * s];                                                                       \
            m = BETTER(v, m) ? v : m;                                                             \
        }                                                                                         \
        return m;                                                                                 \
    }                                                                                             \
    static part NAME(const char *xp, int64_t n, int64_t s) {                                      \
        part p = {0, 0, 0};                                                                       \
        p.FIELD = NAME##_val((const T *)xp, n, s);                                                \
        return p;                                                                                 \
    }

/* Argmax. On unit stride, two fast passes: the maximum, then the first place holding it (or
 * the first NaN, NANQ being the NaN test). Otherwise one pass keeping the first best. */
#define DEF_ARG_LINE(NAME, T, BETTER, FIELD, MAXVAL, NANQ)                                        \
    static part NAME(const char *xp, int64_t n, int64_t s) {                                      \
        const T *x = (const T *)xp;                                                               \
        T m = x[0];                                                                               \
        int64_t best = 0;                                                                         \
        if (s == 1) {                                                                             \
            m = MAXVAL(x, n, 1);                                                                  \
            if (NANQ(m))                                                                          \
                while (!NANQ(x[best])) best++;                                                    \
            else                                                                                  \
                while (x[best] != m) best++;                                                      \
        } else {                                                                                  \
            for (int64_t i = 1; i < n; i++) {                                                     \
                T v = x[i * s];                                                                   \
                if (BETTER(v, m)) m = v, best = i;                                                \
            }                                                                                     \
        }                                                                                         \
        part p = {0, 0, best};                                                                    \
        p.FIELD = m;                                                                              \
        return p;                                                                                 \
    }

#define NANQ_F(x) ((x) != (x))
#define NANQ_I(x) 0

/* ---- cols kernels ------------------------------------------------------------------------- */

/* o[j] = sum over r of F(x[r*rs + j*xs]) (divided by R for a mean), COLBLK outputs at a time. */
#define DEF_SUM_COLS(NAME, T, ACC, WRAP, F)                                                       \
    static void NAME(char *op, int64_t os, const char *xp, int64_t xs, int64_t ncol, int64_t R,   \
                     int64_t rs, int mean) {                                                      \
        const T *x = (const T *)xp;                                                               \
        T *o = (T *)op;                                                                           \
        ACC acc[COLBLK];                                                                          \
        for (int64_t j0 = 0; j0 < ncol; j0 += COLBLK) {                                           \
            int64_t m = ncol - j0 < COLBLK ? ncol - j0 : COLBLK;                                  \
            for (int64_t j = 0; j < m; j++) acc[j] = 0;                                           \
            for (int64_t r = 0; r < R; r++) {                                                     \
                const T *row = x + r * rs + j0 * xs;                                              \
                if (xs == 1)                                                                      \
                    for (int64_t j = 0; j < m; j++) acc[j] += F((ACC)row[j]);                     \
                else                                                                              \
                    for (int64_t j = 0; j < m; j++) acc[j] += F((ACC)row[j * xs]);                \
            }                                                                                     \
            for (int64_t j = 0; j < m; j++) o[(j0 + j) * os] = WRAP(acc[j], mean, R);             \
        }                                                                                         \
    }

#define WRAP_F32(a, mean, R) ((mean) ? (float)((a) / (double)(R)) : (float)(a))
#define WRAP_F64(a, mean, R) ((mean) ? (a) / (double)(R) : (a))
#define WRAP_I64(a, mean, R) ((void)(mean), (int64_t)(a))

/* Running max/min (BETTER) over R rows; with IDX, argmax with the row index as the answer. */
#define DEF_EXT_COLS(NAME, T, BETTER, IDX, TO)                                                    \
    static void NAME(char *op, int64_t os, const char *xp, int64_t xs, int64_t ncol, int64_t R,   \
                     int64_t rs, int mean) {                                                      \
        const T *x = (const T *)xp;                                                               \
        TO *o = (TO *)op;                                                                         \
        T acc[COLBLK];                                                                            \
        int64_t idx[COLBLK];                                                                      \
        (void)mean;                                                                               \
        for (int64_t j0 = 0; j0 < ncol; j0 += COLBLK) {                                           \
            int64_t m = ncol - j0 < COLBLK ? ncol - j0 : COLBLK;                                  \
            for (int64_t j = 0; j < m; j++) acc[j] = x[(j0 + j) * xs], idx[j] = 0;                \
            for (int64_t r = 1; r < R; r++) {                                                     \
                const T *row = x + r * rs + j0 * xs;                                              \
                for (int64_t j = 0; j < m; j++) {                                                 \
                    T v = row[j * xs];                                                            \
                    int better = BETTER(v, acc[j]);                                               \
                    acc[j] = better ? v : acc[j];                                                 \
                    idx[j] = better ? r : idx[j];                                                 \
                }                                                                                 \
            }                                                                                     \
            for (int64_t j = 0; j < m; j++) o[(j0 + j) * os] = IDX ? (TO)idx[j] : (TO)acc[j];     \
        }                                                                                         \
    }

DEF_SUM_COLS(sum_cols_f32, float, double, WRAP_F32, TERM_ID)
DEF_SUM_COLS(sum_cols_f64, double, double, WRAP_F64, TERM_ID)
DEF_SUM_COLS(sum_cols_i64, int64_t, uint64_t, WRAP_I64, TERM_ID)
DEF_SUM_COLS(sumsq_cols_f32, float, double, WRAP_F32, TERM_SQ)
DEF_SUM_COLS(sumsq_cols_f64, double, double, WRAP_F64, TERM_SQ)

#define DEF_EXT_ALL(SUF, T, GT, LT, ARG, FIELD, NANQ)                                             \
    DEF_EXT_LINE(max_line_##SUF, T, GT, FIELD)                                                    \
    DEF_EXT_LINE(min_line_##SUF, T, LT, FIELD)                                                    \
    DEF_ARG_LINE(arg_line_##SUF, T, ARG, FIELD, max_line_##SUF##_val, NANQ)                       \
    DEF_EXT_COLS(max_cols_##SUF, T, GT, 0, T)                                                     \
    DEF_EXT_COLS(min_cols_##SUF, T, LT, 0, T)                                                     \
    DEF_EXT_COLS(arg_cols_##SUF, T, ARG, 1, int64_t)

DEF_EXT_ALL(f32, float, GT_F, LT_F, ARG_F, d, NANQ_F)
DEF_EXT_ALL(f64, double, GT_F, LT_F, ARG_F, d, NANQ_F)
DEF_EXT_ALL(i64, int64_t, GT_I, LT_I, ARG_I, i, NANQ_I)

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Kernels for (op, dt), or NULL when the dtype is not supported. */
static const red_kern *kern_for(il_op op, il_dtype dt) {
    static const red_kern sum[3] = {{sum_line_float, sum_cols_f32},
                                    {sum_line_double, sum_cols_f64},
                                    {sum_line_int64_t, sum_cols_i64}};
    static const red_kern sumsq[2] = {{sumsq_line_float, sumsq_cols_f32},
                                      {sumsq_line_double, sumsq_cols_f64}};
    static const red_kern max[3] = {{max_line_f32, max_cols_f32},
                                    {max_line_f64, max_cols_f64},
                                    {max_line_i64, max_cols_i64}};
    static const red_kern min[3] = {{min_line_f32, min_cols_f32},
                                    {min_line_f64, min_cols_f64},
                                    {min_line_i64, min_cols_i64}};
    static const red_kern arg[3] = {{arg_line_f32, arg_cols_f32},
                                    {arg_line_f64, arg_cols_f64},
                                    {arg_line_i64, arg_cols_i64}};
    int d = dt == IL_DTYPE_F32 ? 0 : dt == IL_DTYPE_F64 ? 1 : dt == IL_DTYPE_I64 ? 2 : -1;
    if (d < 0) return NULL;
    switch (op) {
    case IL_OP_SUM: return &sum[d];
    case IL_OP_MEAN: return d == 2 ? NULL : &sum[d];
    case IL_OP_MAX: return &max[d];
    case IL_OP_MIN: return &min[d];
    case IL_OP_ARGMAX: return &arg[d];
    case IL_OP_SUMSQ: return d == 2 ? NULL : &sumsq[d];
    default: return NULL;
    }
}

/* Folds partial p (whose argmax index is relative to flat) into acc, in element order. */
static void fold(il_op op, il_dtype dt, part *acc, part p, int64_t flat) {
    int isint = dt == IL_DTYPE_I64, take;
    switch (op) {
    case IL_OP_SUM:
    case IL_OP_MEAN:
    case IL_OP_SUMSQ:
        acc->d += p.d;
        acc->i = (int64_t)((uint64_t)acc->i + (uint64_t)p.i);
        return;
    case IL_OP_MAX: take = isint ? GT_I(p.i, acc->i) : GT_F(p.d, acc->d); break;
    case IL_OP_MIN: take = isint ? LT_I(p.i, acc->i) : LT_F(p.d, acc->d); break;
    default: take = isint ? ARG_I(p.i, acc->i) : ARG_F(p.d, acc->d); break;
    }
    if (acc->idx < 0 || take) {
        *acc = p;
        acc->idx = op == IL_OP_ARGMAX ? p.idx + flat : 0;
    }
}

/* Writes a final result: count is the number of reduced elements (for MEAN). */
static void store(il_op op, il_dtype dt, char *o, part p, int64_t count) {
    if (op == IL_OP_ARGMAX) {
        *(int64_t *)o = p.idx;
        return;
    }
    double v = p.d;
    if (op == IL_OP_MEAN) v = count > 0 ? p.d / (double)count : NAN;
    switch (dt) {
    case IL_DTYPE_F32: *(float *)o = (float)v; break;
    case IL_DTYPE_F64: *(double *)o = v; break;
    default: *(int64_t *)o = p.i; break;
    }
}

/* ---- all elements ------------------------------------------------------------------------- */

typedef struct all_arg {
    const ili_iter *it;
    const red_kern *k;
    il_op op;
    il_dtype dt;
    int64_t per_block; /* items per block */
    part *parts;       /* one per block */
} all_arg;

typedef struct row_acc {
    const all_arg *a;
    part *acc;
} row_acc;

static void all_row(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {
    const row_acc *r = arg;
    fold(r->a->op, r->a->dt, r->acc, r->a->k->line(p[0], n, st[0]), flat);
}

static void all_task(void *arg, int64_t begin, int64_t end, int tid) {
    const all_arg *a = arg;
    (void)tid;
    for (int64_t b = begin; b < end; b++) {
        part init = {0, 0, -1};
        row_acc r = {a, &a->parts[b]};
        int64_t lo = b * a->per_block, hi = lo + a->per_block;
        a->parts[b] = init;
        ili_iter_rows(a->it, lo, hi < a->it->nitems ? hi : a->it->nitems, all_row, &r);
    }
}

/* Reduces every element of in[0] into the single element of out. */
static il_status reduce_all(il_ctx *ctx, const il_opcall *c, const red_kern *k) {
    const il_tdesc *ops[1] = {&c->in[0]};
    ili_iter it;
    part parts[MAX_BLOCKS], total = {0, 0, -1};
    IL_TRY(ili_iter_init(ctx, &it, 1, ops, ALL_CHUNK));
    if (it.nitems == 0) { /* empty: only SUM, SUMSQ (0) and MEAN (NaN) get here */
        store(c->op, c->in[0].dtype, (char *)c->out.data, total, 0);
        return IL_OK;
    }
    /* Blocks of at least ILI_PAR_GRAIN elements, at most MAX_BLOCKS of them. */
    int64_t per = (ILI_PAR_GRAIN + it.chunk - 1) / it.chunk;
    if (per * MAX_BLOCKS < it.nitems) per = (it.nitems + MAX_BLOCKS - 1) / MAX_BLOCKS;
    int64_t nblocks = (it.nitems + per - 1) / per;
    all_arg a = {&it, k, c->op, c->in[0].dtype, per, parts};
    if (nblocks > 1 && ctx->nthreads > 1) IL_TRY(ili_parallel_for(ctx, nblocks, 1, all_task, &a));
    else all_task(&a, 0, nblocks, 0);
    /* A block's argmax index is already absolute: fold with flat = 0. */
    for (int64_t b = 0; b < nblocks; b++) fold(c->op, a.dt, &total, parts[b], 0);
    store(c->op, a.dt, (char *)c->out.data, total, it.numel);
    return IL_OK;
}

/* ---- one axis ----------------------------------------------------------------------------- */

typedef struct axis_arg {
    const red_kern *k;
    il_op op;
    il_dtype dt;
    int64_t R, rs; /* length and stride of the reduced axis */
    size_t isize, osize;
} axis_arg;

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

/* n kept elements: p[0]/st[0] the outputs, p[1]/st[1] where their lines start in the input. */
static void axis_row(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {
    const axis_arg *a = arg;
    (void)flat;
    if (n > 1 && iabs64(st[1]) < iabs64(a->rs)) {
        a->k->cols(p[0], st[0], p[1], st[1], n, a->R, a->rs, a->op == IL_OP_MEAN);
        return;
    }
    for (int64_t j = 0; j < n; j++) {
        part q = a->k->line(p[1] + j * st[1] * (int64_t)a->isize, a->R, a->rs);
        store(a->op, a->dt, p[0] + j * st[0] * (int64_t)a->osize, q, a->R);
    }
}

/* Removes axis `ax` from a descriptor. */
static void drop_axis(const il_tdesc *d, int ax, il_tdesc *out) {
    *out = *d;
    for (int i = ax; i + 1 < d->ndim; i++) {
        out->shape[i] = d->shape[i + 1];
        out->stride[i] = d->stride[i + 1];
    }
    out->ndim = d->ndim - 1;
}

/* Writes v (0 for SUM, NaN for MEAN) to every output of a reduction over an empty axis. */
static void fill_empty(const il_opcall *c, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        part p = {0, 0, 0};
        store(c->op, c->out.dtype, (char *)c->out.data + i * (int64_t)il_dtype_size(c->out.dtype),
              p, 0);
    }
}

static il_status reduce_axis(il_ctx *ctx, const il_opcall *c, const red_kern *k, int ax) {
    il_tdesc ko, ki;
    drop_axis(&c->out, ax, &ko);
    drop_axis(&c->in[0], ax, &ki);
    const il_tdesc *ops[2] = {&ko, &ki};
    ili_iter it;
    IL_TRY(ili_iter_init(ctx, &it, 2, ops, AXIS_CHUNK));
    axis_arg a = {k, c->op, c->in[0].dtype, c->in[0].shape[ax], c->in[0].stride[ax],
                  il_dtype_size(c->in[0].dtype), il_dtype_size(c->out.dtype)};
    if (a.R == 0) {
        fill_empty(c, it.numel);
        return IL_OK;
    }
    /* One output: the all-elements path reads the same elements in the same order, threaded. */
    if (it.numel == 1) return reduce_all(ctx, c, k);
    return ili_iter_run(ctx, &it, a.R, axis_row, &a);
}

/* ---- entry point -------------------------------------------------------------------------- */

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
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu reduce: bad %s call (axis %d)",
                          il_op_name(c->op), c->axis);
    return IL_OK;
}

/*
 * Reduces in[0] over c->axis (or every element for IL_AXIS_ALL) into the contiguous out.
 * Statuses: IL_OK; IL_E_DTYPE for MEAN or SUMSQ of i64 or an unknown dtype; IL_E_SHAPE for MAX,
 * MIN or ARGMAX over an empty axis (or of an empty tensor); IL_E_INTERNAL for a malformed call; or
 * the thread pool's IL_E_NOMEM.
 */
il_status ili_cpu_reduce(il_ctx *ctx, const il_opcall *c) {
    if (ili_op_kind_of(c->op) != ILI_KIND_REDUCE)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu reduce: unexpected op %s", il_op_name(c->op));
    const red_kern *k = kern_for(c->op, c->in[0].dtype);
    if (!k)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(c->in[0].dtype));
    IL_TRY(check_call(ctx, c));
    int all = c->axis == IL_AXIS_ALL;
    int64_t n = 1;
    for (int d = 0; d < c->in[0].ndim; d++)
        if (all || d == c->axis) n *= c->in[0].shape[d];
    if (n == 0 && c->op != IL_OP_SUM && c->op != IL_OP_MEAN && c->op != IL_OP_SUMSQ) {
        if (all)
            return ili_seterr(ctx, IL_E_SHAPE, "%s of an empty tensor", il_op_name(c->op));
        return ili_seterr(ctx, IL_E_SHAPE, "%s over an empty axis (axis %d has size 0)",
                          il_op_name(c->op), c->axis);
    }
    if (all) return reduce_all(ctx, c, k);
    return reduce_axis(ctx, c, k, c->axis);
}
