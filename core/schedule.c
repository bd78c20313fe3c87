/*
 * schedule.c: learning-rate schedules (ironlearn/schedule.h).
 *
 * A schedule is one allocation: the node, then its copied milestones (MULTISTEP) or boundaries
 * (SEQUENCE), then its part pointers (WARMUP, SEQUENCE). Parts are borrowed, so freeing a node
 * never touches another and a binding can share parts between schedules.
 *
 * Rates are closed forms of the step (never accumulated products), so lr(i) is the same number
 * however it is reached: what an exact resume from a checkpoint needs. Only PLATEAU carries
 * state, all of it in an il_schedule_state.
 */
#include "il_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define NAME_MAX_ 32

struct il_schedule {
    il_ctx *ctx;
    il_schedule_kind kind;
    il_schedule_opts o;  /* o.milestones points at ms */
    int64_t *ms;         /* MULTISTEP milestones, SEQUENCE boundaries (o.nmilestones) */
    il_schedule **parts; /* WARMUP: 1, SEQUENCE: nparts */
    int nparts;
    il_schedule_cb cb; /* FN */
    void *ud;
    char name[NAME_MAX_]; /* FN: for messages */
    il_schedule_state st; /* PLATEAU */
};

static const char *const kind_names[IL_SCHEDULE_COUNT] = {
    "constant", "step",   "multistep", "exponential", "inverse_time", "polynomial", "cosine",
    "sgdr",     "warmup", "onecycle",  "wsd",         "plateau",      "sequence",   "fn"};

const char *il_schedule_kind_name(il_schedule_kind kind) {
    return (unsigned)kind < IL_SCHEDULE_COUNT ? kind_names[kind] : "?";
}

void il_schedule_opts_init(il_schedule_kind kind, il_schedule_opts *o) {
    memset(o, 0, sizeof *o);
    o->every = kind == IL_SCHEDULE_INVERSE_TIME ? 1 : 0;
    o->gamma = kind == IL_SCHEDULE_STEP || kind == IL_SCHEDULE_MULTISTEP ? 0.1 : 0;
    o->power = 1;
    o->mult = 1;
    o->pct = 0.3;
    o->div = 25;
    o->final_div = 1e4;
    o->anneal = kind == IL_SCHEDULE_WSD ? IL_ANNEAL_LINEAR : IL_ANNEAL_COS;
    o->factor = 0.1;
    o->patience = 10;
    o->threshold = 1e-4;
    o->eps = 1e-8;
}

/* ---- construction ------------------------------------------------------------------------- */

/* A zeroed node with room for nms int64 entries and nparts part pointers. */
static il_status newnode(il_ctx *ctx, il_schedule_kind kind, int nms, int nparts,
                         il_schedule **out) {
    size_t size = sizeof(il_schedule) + (size_t)nms * sizeof(int64_t) +
                  (size_t)nparts * sizeof(il_schedule *);
    il_schedule *s = (il_schedule *)ili_malloc(ctx, size);
    if (s == NULL) return ili_nomem(ctx, size);
    memset(s, 0, size);
    s->ctx = ctx;
    s->kind = kind;
    /* The arrays follow the node; int64 first keeps both aligned. */
    s->ms = (int64_t *)(void *)(s + 1);
    s->parts = (il_schedule **)(void *)(s->ms + nms);
    s->o.nmilestones = nms;
    s->o.milestones = s->ms;
    s->nparts = nparts;
    *out = s;
    return IL_OK;
}

static il_status bad(il_ctx *ctx, il_schedule_kind k, const char *opt, const char *want,
                     double got) {
    return ili_seterr(ctx, IL_E_ARG, "schedule %s: option '%s' must be %s (got %g)", kind_names[k],
                      opt, want, got);
}

static il_status check_count(il_ctx *ctx, il_schedule_kind k, const char *opt, int64_t v,
                             int64_t least) {
    if (v >= least) return IL_OK;
    return bad(ctx, k, opt, least == 0 ? "an integer >= 0" : "an integer >= 1", (double)v);
}

/* lr, and min_lr for the kinds that have a floor. */
static il_status check_rates(il_ctx *ctx, il_schedule_kind k, const il_schedule_opts *o) {
    if (!(o->lr > 0 && isfinite(o->lr))) return bad(ctx, k, "lr", "a finite number > 0", o->lr);
    if (!(o->min_lr >= 0 && isfinite(o->min_lr)))
        return bad(ctx, k, "min_lr", "a finite number >= 0", o->min_lr);
    if (o->min_lr > o->lr)
        return ili_seterr(ctx, IL_E_ARG, "schedule %s: min_lr (%g) is above lr (%g)", kind_names[k],
                          o->min_lr, o->lr);
    return IL_OK;
}

static il_status check_multistep(il_ctx *ctx, const il_schedule_opts *o) {
    const il_schedule_kind k = IL_SCHEDULE_MULTISTEP;
    if (o->nmilestones < 1 || o->milestones == NULL)
        return ili_seterr(ctx, IL_E_ARG, "schedule multistep: option 'milestones' is required");
    for (int i = 0; i < o->nmilestones; i++) {
        IL_TRY(check_count(ctx, k, "milestones", o->milestones[i], 1));
        if (i > 0 && o->milestones[i] <= o->milestones[i - 1])
            return ili_seterr(ctx, IL_E_ARG,
                              "schedule multistep: milestones must be strictly increasing");
    }
    return IL_OK;
}

static il_status check_onecycle(il_ctx *ctx, const il_schedule_opts *o) {
    const il_schedule_kind k = IL_SCHEDULE_ONECYCLE;
    /* Both phases need a positive length: torch's 0/0 otherwise. */
    if (!(o->pct > 0 && o->pct < 1 && o->pct * (double)o->steps > 1))
        return bad(ctx, k, "pct", "in (0, 1) with pct * steps > 1", o->pct);
    if (!(o->div >= 1 && isfinite(o->div))) return bad(ctx, k, "div", "a number >= 1", o->div);
    if (!(o->final_div >= 1 && isfinite(o->final_div)))
        return bad(ctx, k, "final_div", "a number >= 1", o->final_div);
    if (o->anneal != IL_ANNEAL_COS && o->anneal != IL_ANNEAL_LINEAR)
        return bad(ctx, k, "anneal", "cos or linear", (double)o->anneal);
    return IL_OK;
}

static il_status check_wsd(il_ctx *ctx, il_schedule_opts *o) {
    const il_schedule_kind k = IL_SCHEDULE_WSD;
    if (o->decay == 0) o->decay = o->steps / 5 > 1 ? o->steps / 5 : 1;
    IL_TRY(check_count(ctx, k, "warmup", o->warmup, 0));
    IL_TRY(check_count(ctx, k, "decay", o->decay, 1));
    if (o->warmup > o->steps - o->decay)
        return ili_seterr(ctx, IL_E_ARG,
                          "schedule wsd: warmup (%lld) + decay (%lld) exceed steps (%lld)",
                          (long long)o->warmup, (long long)o->decay, (long long)o->steps);
    if ((unsigned)o->anneal > IL_ANNEAL_SQRT)
        return bad(ctx, k, "shape", "linear, cos or sqrt", (double)o->anneal);
    return IL_OK;
}

static il_status check_plateau(il_ctx *ctx, const il_schedule_opts *o) {
    const il_schedule_kind k = IL_SCHEDULE_PLATEAU;
    if (!(o->factor > 0 && o->factor < 1)) return bad(ctx, k, "factor", "in (0, 1)", o->factor);
    IL_TRY(check_count(ctx, k, "patience", o->patience, 0));
    IL_TRY(check_count(ctx, k, "cooldown", o->cooldown, 0));
    if (!(o->threshold >= 0 && isfinite(o->threshold)))
        return bad(ctx, k, "threshold", "a finite number >= 0", o->threshold);
    if (!(o->eps >= 0 && isfinite(o->eps))) return bad(ctx, k, "eps", "a number >= 0", o->eps);
    return IL_OK;
}

/* Validates the options of kind (filling WSD's default decay). */
static il_status check_opts(il_ctx *ctx, il_schedule_kind k, il_schedule_opts *o) {
    IL_TRY(check_rates(ctx, k, o));
    switch (k) {
    case IL_SCHEDULE_STEP:
    case IL_SCHEDULE_INVERSE_TIME: IL_TRY(check_count(ctx, k, "every", o->every, 1)); break;
    case IL_SCHEDULE_POLYNOMIAL:
        if (!(o->power > 0 && isfinite(o->power)))
            return bad(ctx, k, "power", "a finite number > 0", o->power);
        /* fall through */
    case IL_SCHEDULE_COSINE:
    case IL_SCHEDULE_SGDR:
    case IL_SCHEDULE_ONECYCLE:
    case IL_SCHEDULE_WSD: IL_TRY(check_count(ctx, k, "steps", o->steps, 1)); break;
    default: break;
    }
    if (k == IL_SCHEDULE_STEP || k == IL_SCHEDULE_MULTISTEP || k == IL_SCHEDULE_EXPONENTIAL ||
        k == IL_SCHEDULE_INVERSE_TIME) {
        if (!(o->gamma > 0 && isfinite(o->gamma)))
            return bad(ctx, k, "gamma", "a finite number > 0", o->gamma);
    }
    if (k == IL_SCHEDULE_SGDR) IL_TRY(check_count(ctx, k, "mult", o->mult, 1));
    if (k == IL_SCHEDULE_MULTISTEP) return check_multistep(ctx, o);
    if (k == IL_SCHEDULE_ONECYCLE) return check_onecycle(ctx, o);
    if (k == IL_SCHEDULE_WSD) return check_wsd(ctx, o);
    if (k == IL_SCHEDULE_PLATEAU) return check_plateau(ctx, o);
    return IL_OK;
}

il_status il_schedule_new(il_ctx *ctx, il_schedule_kind kind, const il_schedule_opts *o,
                          il_schedule **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if (o == NULL || (unsigned)kind >= IL_SCHEDULE_COUNT || kind == IL_SCHEDULE_WARMUP ||
        kind == IL_SCHEDULE_SEQUENCE || kind == IL_SCHEDULE_FN)
        return ili_seterr(ctx, IL_E_ARG, "il_schedule_new: bad kind or options");
    il_schedule_opts v = *o;
    IL_TRY(check_opts(ctx, kind, &v));
    int nms = kind == IL_SCHEDULE_MULTISTEP ? v.nmilestones : 0;
    il_schedule *s = NULL;
    IL_TRY(newnode(ctx, kind, nms, 0, &s));
    if (nms > 0) memcpy(s->ms, v.milestones, (size_t)nms * sizeof(int64_t));
    v.milestones = s->ms;
    v.nmilestones = nms;
    s->o = v;
    if (kind == IL_SCHEDULE_PLATEAU) {
        s->st.lr = v.lr;
        s->st.best = v.mode_max ? -INFINITY : INFINITY;
    }
    *out = s;
    return IL_OK;
}

il_status il_schedule_warmup(il_ctx *ctx, int64_t steps, double start, il_schedule *after,
                             il_schedule **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if (after == NULL)
        return ili_seterr(ctx, IL_E_ARG, "schedule warmup: option 'after' is required");
    IL_TRY(check_count(ctx, IL_SCHEDULE_WARMUP, "steps", steps, 1));
    if (!(start >= 0 && start < 1))
        return bad(ctx, IL_SCHEDULE_WARMUP, "start", "in [0, 1)", start);
    il_schedule *s = NULL;
    IL_TRY(newnode(ctx, IL_SCHEDULE_WARMUP, 0, 1, &s));
    s->o.steps = steps;
    s->o.pct = start; /* the start factor; il_schedule_options reports it as pct */
    s->parts[0] = after;
    *out = s;
    return IL_OK;
}

il_status il_schedule_sequence(il_ctx *ctx, int n, il_schedule *const *parts, const int64_t *at,
                               il_schedule **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if (n < 1 || parts == NULL || (n > 1 && at == NULL))
        return ili_seterr(ctx, IL_E_ARG, "schedule sequence: needs at least one schedule");
    for (int i = 0; i < n; i++) {
        if (parts[i] == NULL)
            return ili_seterr(ctx, IL_E_ARG, "schedule sequence: schedule %d is missing", i + 1);
        if (i == 0) continue;
        IL_TRY(check_count(ctx, IL_SCHEDULE_SEQUENCE, "at", at[i - 1], 1));
        if (i > 1 && at[i - 1] <= at[i - 2])
            return ili_seterr(ctx, IL_E_ARG, "schedule sequence: 'at' must be strictly increasing");
    }
    il_schedule *s = NULL;
    IL_TRY(newnode(ctx, IL_SCHEDULE_SEQUENCE, n - 1, n, &s));
    if (n > 1) memcpy(s->ms, at, (size_t)(n - 1) * sizeof(int64_t));
    memcpy(s->parts, parts, (size_t)n * sizeof(il_schedule *));
    *out = s;
    return IL_OK;
}

il_status il_schedule_fn(il_ctx *ctx, const char *name, il_schedule_cb cb, void *ud,
                         il_schedule **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if (cb == NULL) return ili_seterr(ctx, IL_E_ARG, "schedule fn: the callback is NULL");
    il_schedule *s = NULL;
    IL_TRY(newnode(ctx, IL_SCHEDULE_FN, 0, 0, &s));
    s->cb = cb;
    s->ud = ud;
    strncpy(s->name, name != NULL ? name : "fn", NAME_MAX_ - 1);
    *out = s;
    return IL_OK;
}

void il_schedule_free(il_schedule *s) {
    if (s == NULL) return;
    size_t size = sizeof(il_schedule) + (size_t)s->o.nmilestones * sizeof(int64_t) +
                  (size_t)s->nparts * sizeof(il_schedule *);
    ili_free(s->ctx, s, size);
}

il_schedule_kind il_schedule_kind_of(const il_schedule *s) {
    return s->kind;
}

void il_schedule_options(const il_schedule *s, il_schedule_opts *out) {
    *out = s->o;
}

/* ---- rates -------------------------------------------------------------------------------- */

/* Anneal factor from 1 (t = 0) down to 0 (t = 1). */
static double anneal(il_anneal a, double t) {
    if (a == IL_ANNEAL_LINEAR) return 1 - t;
    if (a == IL_ANNEAL_SQRT) return 1 - sqrt(t);
    return 0.5 * (1 + cos(M_PI * t));
}

/* The seed's formula, written exactly as given (pi * i / steps, left to right). */
static double cosine(double base, double min, int64_t i, int64_t steps) {
    if (i >= steps) return min;
    return min + (base - min) * 0.5 * (1 + cos(M_PI * (double)i / (double)steps));
}

/* Cosine within the period holding i: periods of steps, steps * mult, steps * mult^2, ... */
static double sgdr(const il_schedule_opts *o, int64_t i) {
    int64_t start = 0, period = o->steps;
    if (o->mult == 1) {
        start = i - i % period;
    } else {
        while (i - start >= period) {
            start += period;
            /* Past INT64_MAX / mult the period holds every later step anyway. */
            if (period > INT64_MAX / o->mult) break;
            period *= o->mult;
        }
    }
    return cosine(o->lr, o->min_lr, i - start, period);
}

/* torch's OneCycleLR (two phases): up from lr/div over pct * steps - 1 steps, then down to
 * lr/div/final_div at steps - 1; the final rate after. */
static double onecycle(const il_schedule_opts *o, int64_t i) {
    double init = o->lr / o->div, fin = init / o->final_div;
    double e1 = o->pct * (double)o->steps - 1, e2 = (double)o->steps - 1, x = (double)i;
    if (x >= e2) return fin;
    if (x <= e1) return o->lr + (init - o->lr) * anneal(o->anneal, x / e1);
    return fin + (o->lr - fin) * anneal(o->anneal, (x - e1) / (e2 - e1));
}

static double wsd(const il_schedule_opts *o, int64_t i) {
    int64_t stable_end = o->steps - o->decay;
    if (i < o->warmup) return o->lr * (double)i / (double)o->warmup;
    if (i < stable_end) return o->lr;
    if (i >= o->steps) return o->min_lr;
    double t = (double)(i - stable_end) / (double)o->decay;
    return o->min_lr + (o->lr - o->min_lr) * anneal(o->anneal, t);
}

static double closed_form(const il_schedule *s, int64_t i) {
    const il_schedule_opts *o = &s->o;
    int n = 0;
    switch (s->kind) {
    case IL_SCHEDULE_STEP: return o->lr * pow(o->gamma, (double)(i / o->every));
    case IL_SCHEDULE_MULTISTEP:
        while (n < o->nmilestones && o->milestones[n] <= i)
            n++;
        return o->lr * pow(o->gamma, (double)n);
    case IL_SCHEDULE_EXPONENTIAL: return o->lr * pow(o->gamma, (double)i);
    case IL_SCHEDULE_INVERSE_TIME: return o->lr / (1 + o->gamma * (double)i / (double)o->every);
    case IL_SCHEDULE_POLYNOMIAL: {
        double t = (double)(i < o->steps ? i : o->steps) / (double)o->steps;
        return o->min_lr + (o->lr - o->min_lr) * pow(1 - t, o->power);
    }
    case IL_SCHEDULE_COSINE: return cosine(o->lr, o->min_lr, i, o->steps);
    case IL_SCHEDULE_SGDR: return sgdr(o, i);
    case IL_SCHEDULE_ONECYCLE: return onecycle(o, i);
    case IL_SCHEDULE_WSD: return wsd(o, i);
    case IL_SCHEDULE_PLATEAU: return s->st.lr;
    default: return o->lr; /* CONSTANT */
    }
}

static il_status eval(const il_schedule *s, int64_t i, void *arg, double *lr);

static il_status eval_composite(const il_schedule *s, int64_t i, void *arg, double *lr) {
    if (s->kind == IL_SCHEDULE_WARMUP) {
        if (i >= s->o.steps) return eval(s->parts[0], i - s->o.steps, arg, lr);
        double base = 0, start = s->o.pct;
        IL_TRY(eval(s->parts[0], 0, arg, &base));
        *lr = base * (start + (1 - start) * (double)i / (double)s->o.steps);
        return IL_OK;
    }
    int k = 0; /* SEQUENCE: the part whose range holds i */
    while (k < s->nparts - 1 && i >= s->ms[k])
        k++;
    return eval(s->parts[k], k == 0 ? i : i - s->ms[k - 1], arg, lr);
}

/* The rate of s at step i, checked finite and >= 0 where it is made. */
static il_status eval(const il_schedule *s, int64_t i, void *arg, double *lr) {
    const char *name = kind_names[s->kind];
    double v = 0;
    if (s->kind == IL_SCHEDULE_WARMUP || s->kind == IL_SCHEDULE_SEQUENCE)
        return eval_composite(s, i, arg, lr);
    if (s->kind == IL_SCHEDULE_FN) {
        IL_TRY(s->cb(s->ud, arg, i, &v));
        name = s->name;
    } else {
        v = closed_form(s, i);
    }
    if (!(isfinite(v) && v >= 0)) {
        char b[32];
        snprintf(b, sizeof b, "%g", v);
        return ili_seterr(s->ctx, IL_E_NUMERIC,
                          "schedule %s: rate %s at step %lld (a finite number >= 0 is required)",
                          name, isnan(v) ? "NaN" : b, (long long)i);
    }
    *lr = v;
    return IL_OK;
}

il_status il_schedule_lr_arg(const il_schedule *s, int64_t step, void *arg, double *lr) {
    if (s == NULL || lr == NULL) return IL_E_ARG;
    if (step < 0)
        return ili_seterr(s->ctx, IL_E_RANGE, "schedule %s: step %lld is negative",
                          kind_names[s->kind], (long long)step);
    return eval(s, step, arg, lr);
}

il_status il_schedule_lr(const il_schedule *s, int64_t step, double *lr) {
    return il_schedule_lr_arg(s, step, NULL, lr);
}

il_status il_schedule_apply(const il_schedule *s, il_optim *opt, void *arg, double *lr) {
    double v = 0;
    if (s == NULL || opt == NULL) return IL_E_ARG;
    IL_TRY(il_schedule_lr_arg(s, il_optim_steps(opt), arg, &v));
    IL_TRY(il_optim_set_lr(opt, v));
    if (lr != NULL) *lr = v;
    return IL_OK;
}

/* ---- plateau ------------------------------------------------------------------------------ */

static int better(const il_schedule_opts *o, double v, double best) {
    if (o->mode_max)
        return o->threshold_abs ? v > best + o->threshold : v > best * (1 + o->threshold);
    return o->threshold_abs ? v < best - o->threshold : v < best * (1 - o->threshold);
}

/* ReduceLROnPlateau.step(value), step for step (NaN is never better, so it counts as bad). */
static int plateau_observe(il_schedule *s, double v) {
    il_schedule_state *st = &s->st;
    const il_schedule_opts *o = &s->o;
    int reduced = 0;
    st->observed++;
    if (better(o, v, st->best)) {
        st->best = v;
        st->bad_epochs = 0;
    } else {
        st->bad_epochs++;
    }
    if (st->cooldown_left > 0) {
        st->cooldown_left--;
        st->bad_epochs = 0;
    }
    if (st->bad_epochs > o->patience) {
        double lr = fmax(st->lr * o->factor, o->min_lr);
        if (st->lr - lr > o->eps) {
            st->lr = lr;
            reduced = 1;
        }
        st->cooldown_left = o->cooldown;
        st->bad_epochs = 0;
    }
    return reduced;
}

/* Observes v on every PLATEAU in the tree; *found counts them. */
static int observe_tree(il_schedule *s, double v, int *found) {
    int reduced = 0;
    if (s->kind == IL_SCHEDULE_PLATEAU) {
        (*found)++;
        return plateau_observe(s, v);
    }
    for (int k = 0; k < s->nparts; k++)
        reduced |= observe_tree(s->parts[k], v, found);
    return reduced;
}

il_status il_schedule_observe(il_schedule *s, double value, int *reduced) {
    int found = 0;
    if (s == NULL) return IL_E_ARG;
    int r = observe_tree(s, value, &found);
    if (found == 0)
        return ili_seterr(s->ctx, IL_E_ARG,
                          "schedule %s: observe needs a plateau schedule (none in this one)",
                          kind_names[s->kind]);
    if (reduced != NULL) *reduced = r;
    return IL_OK;
}

void il_schedule_get_state(const il_schedule *s, il_schedule_state *out) {
    *out = s->st;
}

il_status il_schedule_set_state(il_schedule *s, const il_schedule_state *st) {
    if (s == NULL || st == NULL) return IL_E_ARG;
    if (s->kind != IL_SCHEDULE_PLATEAU)
        return ili_seterr(s->ctx, IL_E_ARG, "schedule %s: has no state to set",
                          kind_names[s->kind]);
    if (!(st->lr >= s->o.min_lr && st->lr <= s->o.lr) || isnan(st->best) || st->bad_epochs < 0 ||
        st->cooldown_left < 0 || st->cooldown_left > s->o.cooldown || st->observed < 0)
        return ili_seterr(s->ctx, IL_E_ARG, "schedule plateau: impossible state (lr %g)", st->lr);
    s->st = *st;
    return IL_OK;
}
