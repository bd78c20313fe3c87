/*
 * ironlearn/schedule.h: learning-rate schedules. Included by ironlearn.h (after nn.h).
 *
 * A schedule maps an optimizer step i (0, 1, 2, ...: il_optim_steps before the update) to a
 * rate. il_schedule_lr is pure: the same step always gives the same rate. The one exception is
 * PLATEAU, whose rate is the current (reduced) rate and changes only through
 * il_schedule_observe; its whole mutable state is an il_schedule_state, so a checkpoint that
 * saves the options it was made with plus that state restores it exactly.
 *
 * Convention: il_schedule_apply(s, opt) sets opt's rate to lr(il_optim_steps(opt)); call it
 * before each il_net_step, so the first update uses lr(0). See docs/schedules.md for every
 * formula.
 */
#ifndef IRONLEARN_SCHEDULE_H
#define IRONLEARN_SCHEDULE_H

#ifndef IRONLEARN_H
#error "include <ironlearn.h>, not <ironlearn/schedule.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct il_schedule il_schedule;

typedef enum il_schedule_kind {
    IL_SCHEDULE_CONSTANT = 0, /* lr */
    IL_SCHEDULE_STEP,         /* lr * gamma^floor(i / every) */
    IL_SCHEDULE_MULTISTEP,    /* lr * gamma^(milestones <= i) */
    IL_SCHEDULE_EXPONENTIAL,  /* lr * gamma^i */
    IL_SCHEDULE_INVERSE_TIME, /* lr / (1 + gamma * i / every) */
    IL_SCHEDULE_POLYNOMIAL,   /* min + (lr - min) * (1 - min(i, steps) / steps)^power */
    IL_SCHEDULE_COSINE,       /* min + (lr - min) * 0.5 * (1 + cos(pi * i / steps)); min after */
    IL_SCHEDULE_SGDR,         /* cosine restarting every period; periods grow by mult */
    IL_SCHEDULE_WARMUP,   /* linear ramp over steps, then another schedule (il_schedule_warmup) */
    IL_SCHEDULE_ONECYCLE, /* torch.optim.lr_scheduler.OneCycleLR (two phases) */
    IL_SCHEDULE_WSD,      /* warmup, stable, decay */
    IL_SCHEDULE_PLATEAU,  /* torch's ReduceLROnPlateau: stateful, see il_schedule_observe */
    IL_SCHEDULE_SEQUENCE, /* one schedule after another (il_schedule_sequence) */
    IL_SCHEDULE_FN,       /* a host callback (il_schedule_fn) */
    IL_SCHEDULE_COUNT
} il_schedule_kind;

typedef enum il_anneal {
    IL_ANNEAL_COS = 0, /* 0.5 * (1 + cos(pi * t)) */
    IL_ANNEAL_LINEAR,  /* 1 - t */
    IL_ANNEAL_SQRT     /* 1 - sqrt(t) (WSD only) */
} il_anneal;

/* Options: fill with il_schedule_opts_init(kind, &o), then set what the kind uses. Fields a
 * kind does not use are ignored. Step counts are optimizer steps. */
typedef struct il_schedule_opts {
    double lr;     /* base (peak) rate, finite and > 0 */
    double min_lr; /* floor, 0 <= min_lr <= lr: POLYNOMIAL, COSINE, SGDR, WSD, PLATEAU (0) */
    int64_t steps; /* >= 1: length (COSINE, POLYNOMIAL, ONECYCLE, WSD total); SGDR first period */
    int64_t every; /* >= 1: STEP period (required), INVERSE_TIME period (1) */
    double gamma;  /* > 0: STEP, MULTISTEP (0.1), EXPONENTIAL, INVERSE_TIME (required) */
    double power;  /* > 0: POLYNOMIAL (1) */
    const int64_t *milestones; /* MULTISTEP: strictly increasing, >= 1; copied */
    int nmilestones;           /* MULTISTEP: >= 1 */
    int64_t mult;              /* >= 1: SGDR period multiplier (1) */
    double pct;       /* ONECYCLE: fraction of steps spent rising, pct * steps > 1, < 1 (0.3) */
    double div;       /* ONECYCLE: initial rate is lr / div, >= 1 (25) */
    double final_div; /* ONECYCLE: final rate is lr / div / final_div, >= 1 (1e4) */
    il_anneal
        anneal;     /* ONECYCLE: COS (default) or LINEAR; WSD decay: LINEAR (default), COS, SQRT */
    int64_t warmup; /* WSD: warmup steps >= 0 (0) */
    int64_t decay;  /* WSD: decay steps >= 1 (0 means max(1, steps / 5)); warmup + decay <= steps */
    int mode_max;   /* PLATEAU: 0 lower is better (min, default), 1 higher is better (max) */
    int threshold_abs; /* PLATEAU: 0 relative threshold (default), 1 absolute */
    double factor;     /* PLATEAU: in (0, 1) (0.1) */
    int64_t patience;  /* PLATEAU: >= 0 (10) */
    double threshold;  /* PLATEAU: >= 0 (1e-4) */
    int64_t cooldown;  /* PLATEAU: >= 0 (0) */
    double eps;        /* PLATEAU: reductions smaller than this are skipped, >= 0 (1e-8) */
} il_schedule_opts;

/* The mutable state of a PLATEAU schedule (all zero for other kinds). */
typedef struct il_schedule_state {
    double lr;             /* current rate */
    double best;           /* best value seen (+inf in min mode, -inf in max mode at first) */
    int64_t bad_epochs;    /* observations since the last improvement */
    int64_t cooldown_left; /* observations left before bad ones count again */
    int64_t observed;      /* observations so far */
} il_schedule_state;

/* A callback schedule: writes the rate for step into *lr, or returns an error status after
 * il_ctx_error. arg is what the caller passed to il_schedule_lr_arg (NULL otherwise). */
typedef il_status (*il_schedule_cb)(void *ud, void *arg, int64_t step, double *lr);

/* Zeroes *o and sets kind's defaults (shown in parentheses above). */
IL_API void il_schedule_opts_init(il_schedule_kind kind, il_schedule_opts *o);
/* "cosine", "inverse_time", ... or "?". */
IL_API const char *il_schedule_kind_name(il_schedule_kind kind);

/* A new schedule of kind (not WARMUP, SEQUENCE or FN, which have their own constructors).
 * IL_E_ARG names the bad option; IL_E_NOMEM. */
IL_API il_status il_schedule_new(il_ctx *ctx, il_schedule_kind kind, const il_schedule_opts *o,
                                 il_schedule **out);
/* Linear warmup over steps >= 1, from start * after(0) (start in [0, 1)) up to after(0); from
 * step `steps` on, after(i - steps). after is borrowed (il_schedule_observe reaches it) and
 * must outlive the result. */
IL_API il_status il_schedule_warmup(il_ctx *ctx, int64_t steps, double start, il_schedule *after,
                                    il_schedule **out);
/* parts[0] until step at[0], parts[1] until at[1], ... parts[n-1] after; part k sees
 * i - at[k-1]. n >= 1; at has n - 1 strictly increasing entries >= 1 (copied). The parts are
 * borrowed and must outlive the result. */
IL_API il_status il_schedule_sequence(il_ctx *ctx, int n, il_schedule *const *parts,
                                      const int64_t *at, il_schedule **out);
/* A schedule computed by cb(ud, arg, step, &lr); name (copied, at most 31 bytes kept; NULL:
 * "fn") names it in errors. A rate that is not finite or is negative is IL_E_NUMERIC. */
IL_API il_status il_schedule_fn(il_ctx *ctx, const char *name, il_schedule_cb cb, void *ud,
                                il_schedule **out);
/* Frees s alone (never its parts). NULL is ignored. */
IL_API void il_schedule_free(il_schedule *s);

IL_API il_schedule_kind il_schedule_kind_of(const il_schedule *s);
/* The options s was made with (milestones point into s). Zeroed for WARMUP/SEQUENCE/FN, except
 * WARMUP's steps and SEQUENCE's nmilestones/milestones (its n - 1 boundaries). */
IL_API void il_schedule_options(const il_schedule *s, il_schedule_opts *out);

/* The rate at step >= 0. IL_E_RANGE for a negative step; IL_E_NUMERIC for a rate that is not
 * finite (an exponential overflowing, a callback's NaN). il_schedule_lr_arg passes arg on to
 * callbacks. */
IL_API il_status il_schedule_lr(const il_schedule *s, int64_t step, double *lr);
IL_API il_status il_schedule_lr_arg(const il_schedule *s, int64_t step, void *arg, double *lr);

/* Sets opt's rate to lr(il_optim_steps(opt)) (written to *lr when not NULL). A rate of 0 is
 * given to the optimizer as the smallest positive double, since optimizers refuse 0. */
IL_API il_status il_schedule_apply(const il_schedule *s, il_optim *opt, void *arg, double *lr);

/* Feeds a watched value (a validation loss, say) to every PLATEAU schedule in s's tree, in the
 * manner of ReduceLROnPlateau.step(value). *reduced (may be NULL) is set when a rate dropped.
 * IL_E_ARG when the tree holds no PLATEAU schedule. */
IL_API il_status il_schedule_observe(il_schedule *s, double value, int *reduced);

/* The mutable state of a PLATEAU schedule (zeros for other kinds), and its restoration, which
 * checks it (IL_E_ARG for other kinds or for an impossible state). */
IL_API void il_schedule_get_state(const il_schedule *s, il_schedule_state *out);
IL_API il_status il_schedule_set_state(il_schedule *s, const il_schedule_state *st);

#ifdef __cplusplus
}
#endif
#endif
