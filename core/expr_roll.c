/*
 * expr_roll.c: the seed's dice game (il_expr_roll) and labelled points around a curve
 * (il_expr_sample).
 *
 * The bowl holds 15 chits: the numbers 1..10 and + - * / ^. Draws take chits without
 * replacement and refill the bowl when it is empty. Assembly, in draw order: a number k is the
 * term x^k, joined to the expression so far by the last operator drawn since the previous
 * number (+ when none); after ^, the number k raises the expression so far to the power k.
 * Operators drawn before the first number are unused; no number at all gives x. So the seed's
 * draw 2 + 3 + 4 + 6 / 5 is ((x^2 + x^3 + x^4 + x^6)/x^5), its a(x).
 */
#include "expr_impl.h"

#include <math.h>
#include <string.h>

#define ROLL_MAX_DRAWS 1000

/* x^k as a new subtree; -1 on failure. */
static int32_t xpow(il_expr *e, int k) {
    int32_t x = ili_expr_add(e, EX_X, 0, -1, -1, 0);
    int32_t n = x < 0 ? -1 : ili_expr_add(e, EX_NUM, 0, -1, -1, (double)k);
    return n < 0 ? -1 : ili_expr_add(e, EX_POW, 0, x, n, 0);
}

/* Joins chit k (a number) to the expression cur with operator op (0: none pending). */
static int32_t join(il_expr *e, int32_t cur, int op, int k) {
    if (cur < 0) return xpow(e, k);
    if (op == '^') {
        int32_t n = ili_expr_add(e, EX_NUM, 0, -1, -1, (double)k);
        return n < 0 ? -1 : ili_expr_add(e, EX_POW, 0, cur, n, 0);
    }
    int kind = op == '-' ? EX_SUB : op == '*' ? EX_MUL : op == '/' ? EX_DIV : EX_ADD;
    int32_t t = xpow(e, k);
    return t < 0 ? -1 : ili_expr_add(e, kind, 0, cur, t, 0);
}

/* Draws the chits in order into chits[0..draws-1]. */
static void draw(ili_rng *r, int draws, int *chits) {
    static const int full[IL_EXPR_BOWL] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, '+', '-', '*', '/', '^'};
    int bowl[IL_EXPR_BOWL], left = 0;
    for (int i = 0; i < draws; i++) {
        if (left == 0) {
            memcpy(bowl, full, sizeof bowl);
            left = IL_EXPR_BOWL;
        }
        int j = (int)ili_rng_below(r, (uint64_t)left);
        chits[i] = bowl[j];
        bowl[j] = bowl[--left];
    }
}

il_status il_expr_roll(il_ctx *ctx, int draws, const uint64_t *seed, il_expr **out, int *chits) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL || chits == NULL) return ili_seterr(ctx, IL_E_ARG, "expr_roll: NULL argument");
    *out = NULL;
    if (draws < 1 || draws > ROLL_MAX_DRAWS)
        return ili_seterr(ctx, IL_E_RANGE, "expr_roll: draws must be in 1..%d, got %d",
                          ROLL_MAX_DRAWS, draws);
    ili_rng local, *r = ili_pick_rng(ctx, seed, &local);
    draw(r, draws, chits);
    il_expr *e;
    IL_TRY(ili_expr_new(ctx, &e));
    int32_t cur = -1;
    int op = 0, failed = 0;
    for (int i = 0; i < draws && !failed; i++) {
        if (chits[i] > 10) {
            op = chits[i];
            continue;
        }
        cur = join(e, cur, op, chits[i]);
        failed = cur < 0;
        op = 0;
    }
    if (!failed && cur < 0) failed = (cur = ili_expr_add(e, EX_X, 0, -1, -1, 0)) < 0;
    if (failed) {
        il_expr_free(e);
        return IL_E_NOMEM; /* 1000 draws stay well inside the depth limit */
    }
    e->root = cur;
    *out = e;
    return IL_OK;
}

/* ---- sampling ---------------------------------------------------------------------------- */

/* Draws budget: per point, plus a constant so tiny requests still get a fair chance. */
#define SAMPLE_DRAWS_PER_POINT 1000
#define SAMPLE_DRAWS_EXTRA 10000

typedef struct sampler {
    il_ctx *ctx;
    const il_expr *e;
    il_sample_opts o;
    ili_rng *r;
    int64_t draws, undefined, budget;
} sampler;

/* The y range when none is given: f's finite values on 257 points of the x range, 0 included,
 * widened by a tenth on each side. */
static il_status yrange(sampler *s) {
    double lo = 0, hi = 0;
    int any = 0;
    for (int i = 0; i <= 256; i++) {
        double fx = il_expr_eval(s->e, s->o.xlo + (s->o.xhi - s->o.xlo) * i / 256.0);
        if (!isfinite(fx)) continue;
        any = 1;
        lo = fx < lo ? fx : lo;
        hi = fx > hi ? fx : hi;
    }
    if (!any)
        return ili_seterr(s->ctx, IL_E_NUMERIC,
                          "sample: f is undefined (NaN or infinite) "
                          "everywhere on x in [%g, %g]",
                          s->o.xlo, s->o.xhi);
    double pad = hi > lo ? (hi - lo) / 10 : 1;
    s->o.ylo = lo - pad;
    s->o.yhi = hi + pad;
    return IL_OK;
}

static il_status label(sampler *s, double x, double y, double fx, int *lab) {
    switch (s->o.rule) {
    case IL_SAMPLE_ABOVE: *lab = y > fx; return IL_OK;
    case IL_SAMPLE_BELOW: *lab = y < fx; return IL_OK;
    case IL_SAMPLE_BETWEEN:
        *lab = fx >= 0 ? (y >= 0 && y <= fx) : (y <= 0 && y >= fx);
        return IL_OK;
    default: {
        *lab = 0;
        IL_TRY(s->o.fn(s->o.ud, x, y, fx, lab));
        *lab = *lab != 0;
        return IL_OK;
    }
    }
}

static il_status giveup(sampler *s, int64_t need[2], int64_t have[2]) {
    for (int l = 0; l < 2; l++)
        if (s->o.balance && have[l] < need[l] && s->undefined < s->draws / 2)
            return ili_seterr(s->ctx, IL_E_NUMERIC,
                              "sample: gave up after %lld draws: found "
                              "%lld of %lld points labelled %d; widen the y range or drop balance",
                              (long long)s->draws, (long long)have[l], (long long)need[l], l);
    return ili_seterr(s->ctx, IL_E_NUMERIC,
                      "sample: gave up after %lld draws: f is undefined "
                      "(NaN or infinite) at %lld of them on x in [%g, %g]",
                      (long long)s->draws, (long long)s->undefined, s->o.xlo, s->o.xhi);
}

/* Fills cnt points (pts: cnt x 2, labs: cnt) of one set. */
static il_status fill(sampler *s, int64_t cnt, double *pts, double *labs) {
    int64_t need[2] = {cnt - cnt / 2, cnt / 2}, have[2] = {0, 0}, got = 0;
    while (got < cnt) {
        if (s->draws >= s->budget) return giveup(s, need, have);
        s->draws++;
        double x = s->o.xlo + (s->o.xhi - s->o.xlo) * ili_rng_uniform(s->r);
        double fx = il_expr_eval(s->e, x);
        if (!isfinite(fx)) {
            s->undefined++;
            continue;
        }
        double y = s->o.ylo + (s->o.yhi - s->o.ylo) * ili_rng_uniform(s->r);
        int lab;
        IL_TRY(label(s, x, y, fx, &lab));
        if (s->o.balance && have[lab] >= need[lab]) continue;
        have[lab]++;
        pts[2 * got] = x;
        pts[2 * got + 1] = y;
        labs[got++] = lab;
    }
    return IL_OK;
}

static il_status checkopts(il_ctx *ctx, const il_expr *e, const il_sample_opts *o,
                           il_dataset *out) {
    if (e == NULL || o == NULL || out == NULL || e->root < 0)
        return ili_seterr(ctx, IL_E_ARG, "sample: NULL argument");
    if (o->n < 0 || o->test < 0 || o->n > ((int64_t)1 << 30) || o->test > ((int64_t)1 << 30))
        return ili_seterr(ctx, IL_E_ARG, "sample: point counts must be in 0..2^30");
    if (!(o->xlo <= o->xhi) || (o->has_y && !(o->ylo < o->yhi)) || !isfinite(o->xhi - o->xlo))
        return ili_seterr(ctx, IL_E_ARG, "sample: ranges need lo < hi");
    if (o->rule < IL_SAMPLE_BETWEEN || o->rule > IL_SAMPLE_CUSTOM ||
        (o->rule == IL_SAMPLE_CUSTOM && o->fn == NULL))
        return ili_seterr(ctx, IL_E_ARG,
                          "sample: unknown rule, or a custom rule without a function");
    if (il_dtype_size(o->dtype) == 0) return ili_seterr(ctx, IL_E_DTYPE, "sample: unknown dtype");
    return IL_OK;
}

/* Makes out's tensors from the staged points. */
static il_status maketensors(sampler *s, const double *pts, const double *labs, il_dataset *out) {
    int64_t n = s->o.n, t = s->o.test, xs[2] = {n, 2}, ys[2] = {n, 1}, xts[2] = {t, 2},
            yts[2] = {t, 1};
    il_dtype dt = s->o.dtype;
    IL_TRY(il_tensor_from_data(s->ctx, 2, xs, dt, IL_DEVICE_CPU, pts, IL_DTYPE_F64, &out->x));
    IL_TRY(il_tensor_from_data(s->ctx, 2, ys, dt, IL_DEVICE_CPU, labs, IL_DTYPE_F64, &out->y));
    IL_TRY(il_tensor_from_data(s->ctx, 2, xts, dt, IL_DEVICE_CPU, pts + 2 * n, IL_DTYPE_F64,
                               &out->x_test));
    return il_tensor_from_data(s->ctx, 2, yts, dt, IL_DEVICE_CPU, labs + n, IL_DTYPE_F64,
                               &out->y_test);
}

il_status il_expr_sample(il_ctx *ctx, const il_expr *e, const il_sample_opts *opts,
                         il_dataset *out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out) memset(out, 0, sizeof *out);
    IL_TRY(checkopts(ctx, e, opts, out));
    ili_rng local;
    sampler s = {ctx, e, *opts, NULL, 0, 0, 0};
    s.r = ili_pick_rng(ctx, opts->seed, &local);
    if (s.o.xlo == s.o.xhi) {
        s.o.xlo = -10;
        s.o.xhi = 10;
    }
    if (!s.o.has_y) IL_TRY(yrange(&s));
    int64_t total = s.o.n + s.o.test;
    s.budget = SAMPLE_DRAWS_PER_POINT * total + SAMPLE_DRAWS_EXTRA;
    size_t bytes = (size_t)(total > 0 ? total : 1) * 3 * sizeof(double);
    double *buf = ili_malloc(ctx, bytes);
    if (buf == NULL) return ili_nomem(ctx, bytes);
    double *pts = buf, *labs = buf + 2 * total;
    il_status st = fill(&s, s.o.n, pts, labs);
    if (st == IL_OK) st = fill(&s, s.o.test, pts + 2 * s.o.n, labs + s.o.n);
    if (st == IL_OK) st = maketensors(&s, pts, labs, out);
    ili_free(ctx, buf, bytes);
    if (st != IL_OK) il_dataset_free(out);
    return st;
}
