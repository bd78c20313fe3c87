/*
 * cpu_loss.c: the CPU backend's loss kernels (the LOSS ops of il_ops.def): mse, bce,
 * bce_logits, cross_entropy (class indices or probabilities), l1 and huber, each with mean
 * reduction, writing the loss value and, when asked, d loss / d predictions.
 *
 * Predictions (B, F) and the gradient are f32 or f64 with any strides. Targets are read through
 * their own descriptor, of any dtype and strides, converted to double element by element: a
 * target the user built as i64, or as a column view of a larger table, costs no copy. A target
 * of shape (B) stands for (B, 1). Arithmetic is in double and the value is accumulated in
 * double, so f32 results match a float64 reference.
 *
 * Rows are cut into a fixed number of blocks whose partial sums are folded in order, so the
 * value does not depend on the thread count.
 */
#include "il_impl.h"

#include <math.h>
#include <stdint.h>

#include "cpu_iter_impl.h"

#define LOSS_BLOCK ((int64_t)1 << 13) /* elements per block (at least one row) */
#define MAX_BLOCKS 256                 /* partial sums of one call */

/* A strided 2-D view read or written as double: element (i, j) at base + i*s0 + j*s1. */
typedef struct mat {
    char *base;
    il_dtype dt;
    int64_t s0, s1; /* bytes */
} mat;

typedef struct loss_arg {
    int64_t B, F;
    mat x, y, g;  /* predictions, targets, gradient (g.base NULL: no gradient) */
    double scale; /* 1/N (elementwise) or 1/B (cross-entropy) */
    double delta; /* HUBER */
    double eps;   /* BCE clamp */
    int64_t rows; /* rows per block */
    double *part; /* one partial sum per block */
    int64_t *bad; /* CE_INDEX: first row per block whose index is invalid (-1: none) */
} loss_arg;

static inline double ld(const mat *m, int64_t i, int64_t j) {
    const char *p = m->base + i * m->s0 + j * m->s1;
    switch (m->dt) {
    case IL_DTYPE_F32: return (double)*(const float *)p;
    case IL_DTYPE_F64: return *(const double *)p;
    default: return (double)*(const int64_t *)p;
    }
}

static inline void st(const mat *m, int64_t i, int64_t j, double v) {
    char *p = m->base + i * m->s0 + j * m->s1;
    if (m->dt == IL_DTYPE_F32) *(float *)p = (float)v;
    else *(double *)p = v;
}

/* ---- elementwise losses: term(x, y) -> loss, *g = d loss / dx (before the 1/N) ------------ */

static inline double t_mse(const loss_arg *a, double x, double y, double *g) {
    double d = x - y;
    (void)a;
    *g = 2 * d;
    return d * d;
}

/* sign(d), 0 at 0 (the subgradient torch uses); NaN stays NaN. */
static inline double t_l1(const loss_arg *a, double x, double y, double *g) {
    double d = x - y;
    (void)a;
    *g = d > 0 ? 1.0 : d < 0 ? -1.0 : d;
    return fabs(d);
}

/* torch.nn.HuberLoss: quadratic inside |d| <= delta, linear outside; the two agree (value and
 * slope) at |d| == delta. */
static inline double t_huber(const loss_arg *a, double x, double y, double *g) {
    double d = x - y, ad = fabs(d), k = a->delta;
    if (ad <= k) {
        *g = d;
        return 0.5 * d * d;
    }
    *g = d > 0 ? k : -k;
    return k * (ad - 0.5 * k);
}

/* Probabilities are clamped to [eps, 1 - eps] so neither log nor the gradient sees 0. The
 * gradient is the formula at the clamped p, so a saturated prediction is still pushed back
 * (torch instead divides by max(p (1 - p), 1e-12)). */
static inline double t_bce(const loss_arg *a, double x, double y, double *g) {
    double p = x < a->eps ? a->eps : x > 1 - a->eps ? 1 - a->eps : x;
    *g = (p - y) / (p * (1 - p));
    return -(y * log(p) + (1 - y) * log1p(-p));
}

/* max(x, 0) - x y + log(1 + exp(-|x|)): exp never overflows. */
static inline double t_bce_logits(const loss_arg *a, double x, double y, double *g) {
    double e = exp(-fabs(x));
    double sig = x >= 0 ? 1 / (1 + e) : e / (1 + e);
    (void)a;
    *g = sig - y;
    return (x > 0 ? x : 0) - x * y + log1p(e);
}

/* Sum of the loss over rows [r0, r1), writing scaled gradients when asked. */
#define DEF_EW(NAME, TERM)                                                                        \
    static double NAME(const loss_arg *a, int64_t r0, int64_t r1, int64_t *bad) {                \
        double sum = 0, g;                                                                        \
        (void)bad;                                                                                \
        for (int64_t i = r0; i < r1; i++)                                                         \
            for (int64_t j = 0; j < a->F; j++) {                                                  \
                sum += TERM(a, ld(&a->x, i, j), ld(&a->y, i, j), &g);                             \
                if (a->g.base) st(&a->g, i, j, g * a->scale);                                     \
            }                                                                                     \
        return sum;                                                                               \
    }

DEF_EW(rows_mse, t_mse)
DEF_EW(rows_l1, t_l1)
DEF_EW(rows_huber, t_huber)
DEF_EW(rows_bce, t_bce)
DEF_EW(rows_bce_logits, t_bce_logits)

/* ---- cross-entropy over logits (B, C) ---------------------------------------------------- */

/* log(sum_j exp(x_ij)) by subtracting the row maximum, so logits far apart never overflow. */
static double row_lse(const loss_arg *a, int64_t i) {
    double m = ld(&a->x, i, 0), s = 0;
    for (int64_t j = 1; j < a->F; j++) {
        double v = ld(&a->x, i, j);
        m = (v > m || v != v) ? v : m;
    }
    for (int64_t j = 0; j < a->F; j++) s += exp(ld(&a->x, i, j) - m);
    return m + log(s);
}

/* Row i's class index in 0..C-1, or -1 when the target is not one (out of range, fractional,
 * NaN). The target is (B) or (B, 1): column 0. */
static int64_t row_class(const loss_arg *a, int64_t i) {
    if (a->y.dt == IL_DTYPE_I64) {
        int64_t k = *(const int64_t *)(a->y.base + i * a->y.s0);
        return k >= 0 && k < a->F ? k : -1;
    }
    double v = ld(&a->y, i, 0);
    if (!(v >= 0 && v < (double)a->F) || v != floor(v)) return -1;
    return (int64_t)v;
}

/* Loss of rows [r0, r1) for class-index targets; *bad gets the first invalid row (or -1). */
static double rows_ce_index(const loss_arg *a, int64_t r0, int64_t r1, int64_t *bad) {
    double sum = 0;
    for (int64_t i = r0; i < r1; i++) {
        int64_t k = row_class(a, i);
        if (k < 0) {
            *bad = i;
            return 0;
        }
        double lse = row_lse(a, i);
        sum += lse - ld(&a->x, i, k);
        if (!a->g.base) continue;
        /* d/dx_ij = softmax_ij - [j == k], over B */
        for (int64_t j = 0; j < a->F; j++)
            st(&a->g, i, j, (exp(ld(&a->x, i, j) - lse) - (j == k)) * a->scale);
    }
    return sum;
}

/* Probability targets: loss_i = sum_j y_ij (lse_i - x_ij); d/dx_ij = softmax_ij sum(y_i) - y_ij
 * (torch's formula, which does not assume the targets sum to 1). */
static double rows_ce_probs(const loss_arg *a, int64_t r0, int64_t r1, int64_t *bad) {
    double sum = 0;
    (void)bad;
    for (int64_t i = r0; i < r1; i++) {
        double lse = row_lse(a, i), ysum = 0;
        for (int64_t j = 0; j < a->F; j++) {
            double y = ld(&a->y, i, j);
            ysum += y;
            if (y != 0) sum += y * (lse - ld(&a->x, i, j)); /* 0 * -inf stays out */
        }
        if (!a->g.base) continue;
        for (int64_t j = 0; j < a->F; j++)
            st(&a->g, i, j, (exp(ld(&a->x, i, j) - lse) * ysum - ld(&a->y, i, j)) * a->scale);
    }
    return sum;
}

/* ---- blocks and dispatch ----------------------------------------------------------------- */

typedef double (*rows_fn)(const loss_arg *a, int64_t r0, int64_t r1, int64_t *bad);

typedef struct task_arg {
    const loss_arg *a;
    rows_fn fn;
} task_arg;

static void block_task(void *arg, int64_t begin, int64_t end, int tid) {
    const task_arg *t = arg;
    const loss_arg *a = t->a;
    (void)tid;
    for (int64_t b = begin; b < end; b++) {
        int64_t r0 = b * a->rows, r1 = r0 + a->rows < a->B ? r0 + a->rows : a->B;
        a->bad[b] = -1;
        a->part[b] = t->fn(a, r0, r1, &a->bad[b]);
    }
}

static rows_fn rows_for(il_op op) {
    switch (op) {
    case IL_OP_LOSS_MSE: return rows_mse;
    case IL_OP_LOSS_BCE: return rows_bce;
    case IL_OP_LOSS_BCE_LOGITS: return rows_bce_logits;
    case IL_OP_LOSS_CE_INDEX: return rows_ce_index;
    case IL_OP_LOSS_CE_PROBS: return rows_ce_probs;
    case IL_OP_LOSS_L1: return rows_l1;
    case IL_OP_LOSS_HUBER: return rows_huber;
    default: return NULL;
    }
}

static void mat_of(const il_tdesc *d, mat *m) {
    size_t es = il_dtype_size(d->dtype);
    m->base = (char *)d->data;
    m->dt = d->dtype;
    m->s0 = d->ndim > 0 ? d->stride[0] * (int64_t)es : 0;
    m->s1 = d->ndim > 1 ? d->stride[1] * (int64_t)es : 0; /* (B) reads as (B, 1) */
}

/* IL_E_INTERNAL unless the call is well formed (ili_loss_check has vetted user input). */
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
        ok = g->dtype == x->dtype && g->ndim == 2 && g->shape[0] == x->shape[0]
             && g->shape[1] == x->shape[1];
    if (ok && ce_index) ok = x->shape[1] > 0;
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "cpu loss: bad %s call", il_op_name(c->op));
    return IL_OK;
}

/* Block size in rows: LOSS_BLOCK elements (at least one row), at most MAX_BLOCKS blocks. */
static int64_t block_rows(int64_t B, int64_t F) {
    int64_t rows = F > 0 && F < LOSS_BLOCK ? LOSS_BLOCK / F : 1;
    if (rows * MAX_BLOCKS < B) rows = (B + MAX_BLOCKS - 1) / MAX_BLOCKS;
    return rows;
}

static il_status range_error(il_ctx *ctx, const loss_arg *a, int64_t i) {
    if (a->y.dt == IL_DTYPE_I64)
        return ili_seterr(ctx, IL_E_RANGE,
                          "cross_entropy: target %lld in row %lld is not a class index in "
                          "0..%lld",
                          (long long)*(const int64_t *)(a->y.base + i * a->y.s0), (long long)i,
                          (long long)(a->F - 1));
    return ili_seterr(ctx, IL_E_RANGE,
                      "cross_entropy: target %g in row %lld is not a class index in 0..%lld",
                      ld(&a->y, i, 0), (long long)i, (long long)(a->F - 1));
}

static void store_value(const il_tdesc *v, double x) {
    if (v->dtype == IL_DTYPE_F32) *(float *)v->data = (float)x;
    else *(double *)v->data = x;
}

/*
 * Runs a LOSS op: in[0] predictions (B, F), in[1] targets, out2 the 0-d value, out the gradient
 * (skipped when out.data is NULL), p[0] the Huber delta. Statuses: IL_OK; IL_E_RANGE for a
 * class index outside 0..F-1 (naming row and value); IL_E_INTERNAL for a malformed call; the
 * thread pool's IL_E_NOMEM.
 */
il_status ili_cpu_loss(il_ctx *ctx, const il_opcall *c) {
    rows_fn fn = rows_for(c->op);
    if (fn == NULL)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu loss: unexpected op %s", il_op_name(c->op));
    IL_TRY(check_call(ctx, c));
    double part[MAX_BLOCKS];
    int64_t bad[MAX_BLOCKS];
    loss_arg a = {.B = c->in[0].shape[0], .F = c->in[0].shape[1],
                  .delta = c->p[0], .part = part, .bad = bad};
    mat_of(&c->in[0], &a.x);
    mat_of(&c->in[1], &a.y);
    mat_of(&c->out, &a.g);
    int ce = c->op == IL_OP_LOSS_CE_INDEX || c->op == IL_OP_LOSS_CE_PROBS;
    double n = ce ? (double)a.B : (double)a.B * (double)a.F;
    a.scale = 1.0 / n;
    a.eps = c->in[0].dtype == IL_DTYPE_F32 ? 1e-7 : 1e-12;
    a.rows = block_rows(a.B, a.F);
    int64_t nblocks = (a.B + a.rows - 1) / a.rows;
    task_arg t = {&a, fn};
    if (nblocks > 1 && ctx->nthreads > 1 && a.B * a.F * 8 >= ILI_PAR_MIN)
        IL_TRY(ili_parallel_for(ctx, nblocks, 1, block_task, &t));
    else
        block_task(&t, 0, nblocks, 0);
    double sum = 0;
    for (int64_t b = 0; b < nblocks; b++) {
        if (bad[b] >= 0) return range_error(ctx, &a, bad[b]);
        sum += part[b];
    }
    store_value(&c->out2, sum / n); /* an empty batch gives NaN, as torch's mean does */
    return IL_OK;
}
