/*
 * test_schedule.c: learning-rate schedules (ironlearn/schedule.h). Every kind's rates against
 * formulas written here from their definitions (torch.optim.lr_scheduler's for SGDR, OneCycle
 * and ReduceLROnPlateau), at step 0, the last step, past the end and at restarts; composition
 * (warmup, sequence); the plateau's patience, cooldown, floor and state; callbacks; every
 * option error; il_schedule_apply on a real optimizer; an allocation-failure sweep.
 */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

static double rate(const il_schedule *s, int64_t step) {
    double lr = -1;
    il_status st = il_schedule_lr(s, step, &lr);
    if (st != IL_OK) fail_msg("step %lld: %s", (long long)step, il_status_str(st));
    return lr;
}

static il_schedule *make(il_ctx *ctx, il_schedule_kind k, const il_schedule_opts *o) {
    il_schedule *s = NULL;
    if (il_schedule_new(ctx, k, o, &s) != IL_OK) fail_msg("%s", il_errmsg(ctx));
    return s;
}

static void close_to(double got, double want) {
    if (!(fabs(got - want) <= 1e-15 + 1e-12 * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_simple_kinds(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_STEP, &o);
    assert_true(o.gamma == 0.1);
    o.lr = 0.5, o.every = 3;
    il_schedule *s = make(ctx, IL_SCHEDULE_STEP, &o);
    close_to(rate(s, 0), 0.5), close_to(rate(s, 2), 0.5), close_to(rate(s, 3), 0.05);
    close_to(rate(s, 8), 0.5 * 0.01), close_to(rate(s, 9), 0.5 * 0.001);
    il_schedule_free(s);

    int64_t ms[] = {2, 5};
    il_schedule_opts_init(IL_SCHEDULE_MULTISTEP, &o);
    o.lr = 1, o.milestones = ms, o.nmilestones = 2, o.gamma = 0.5;
    s = make(ctx, IL_SCHEDULE_MULTISTEP, &o);
    ms[0] = 100; /* copied: the caller's array may change */
    close_to(rate(s, 1), 1), close_to(rate(s, 2), 0.5), close_to(rate(s, 4), 0.5);
    close_to(rate(s, 5), 0.25), close_to(rate(s, 1000), 0.25);
    il_schedule_options(s, &o);
    assert_int_equal(o.nmilestones, 2);
    assert_int_equal(o.milestones[0], 2);
    il_schedule_free(s);

    il_schedule_opts_init(IL_SCHEDULE_EXPONENTIAL, &o);
    o.lr = 0.2, o.gamma = 0.9;
    s = make(ctx, IL_SCHEDULE_EXPONENTIAL, &o);
    close_to(rate(s, 0), 0.2), close_to(rate(s, 7), 0.2 * pow(0.9, 7));
    il_schedule_free(s);

    il_schedule_opts_init(IL_SCHEDULE_INVERSE_TIME, &o);
    o.lr = 0.3, o.gamma = 0.5, o.every = 4;
    s = make(ctx, IL_SCHEDULE_INVERSE_TIME, &o);
    close_to(rate(s, 0), 0.3), close_to(rate(s, 6), 0.3 / (1 + 0.5 * 6 / 4.0));
    il_schedule_free(s);

    il_schedule_opts_init(IL_SCHEDULE_CONSTANT, &o);
    o.lr = 0.7;
    s = make(ctx, IL_SCHEDULE_CONSTANT, &o);
    close_to(rate(s, 0), 0.7), close_to(rate(s, 1 << 30), 0.7);
    assert_int_equal(il_schedule_kind_of(s), IL_SCHEDULE_CONSTANT);
    il_schedule_free(s);
    il_schedule_free(NULL);
    tu_ctx_done(ctx);
}

static void test_decays(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_COSINE, &o);
    o.lr = 0.1, o.min_lr = 0.001, o.steps = 100;
    il_schedule *s = make(ctx, IL_SCHEDULE_COSINE, &o);
    for (int i = 0; i <= 100; i += 7) /* the seed's formula */
        close_to(rate(s, i), 0.001 + (0.1 - 0.001) * 0.5 * (1 + cos(PI * i / 100)));
    close_to(rate(s, 0), 0.1), close_to(rate(s, 50), 0.0505), close_to(rate(s, 100), 0.001);
    close_to(rate(s, 101), 0.001), close_to(rate(s, 100000), 0.001);
    il_schedule_free(s);

    il_schedule_opts_init(IL_SCHEDULE_POLYNOMIAL, &o);
    o.lr = 1, o.min_lr = 0.1, o.steps = 10, o.power = 2;
    s = make(ctx, IL_SCHEDULE_POLYNOMIAL, &o);
    close_to(rate(s, 0), 1), close_to(rate(s, 4), 0.1 + 0.9 * 0.36);
    close_to(rate(s, 10), 0.1), close_to(rate(s, 11), 0.1);
    il_schedule_free(s);

    il_schedule_opts_init(IL_SCHEDULE_SGDR, &o); /* periods 4, 8, 16 */
    o.lr = 1, o.min_lr = 0, o.steps = 4, o.mult = 2;
    s = make(ctx, IL_SCHEDULE_SGDR, &o);
    close_to(rate(s, 0), 1), close_to(rate(s, 3), 0.5 * (1 + cos(PI * 3 / 4)));
    close_to(rate(s, 4), 1), close_to(rate(s, 8), 0.5 * (1 + cos(PI * 4 / 8)));
    close_to(rate(s, 11), 0.5 * (1 + cos(PI * 7 / 8))), close_to(rate(s, 12), 1);
    close_to(rate(s, 27), 0.5 * (1 + cos(PI * 15 / 16))), close_to(rate(s, 28), 1);
    il_schedule_free(s);
    o.mult = 1;
    s = make(ctx, IL_SCHEDULE_SGDR, &o);
    close_to(rate(s, 401), 0.5 * (1 + cos(PI / 4))), close_to(rate(s, 400), 1);
    il_schedule_free(s);
    tu_ctx_done(ctx);
}

/* torch's OneCycleLR with anneal cos, two phases. */
static double onecycle_ref(double max, int total, double pct, double div, double fdiv, int i) {
    double init = max / div, fin = init / fdiv, e1 = pct * total - 1, e2 = total - 1.0;
    if (i <= e1) return max + (init - max) / 2.0 * (cos(PI * i / e1) + 1);
    return fin + (max - fin) / 2.0 * (cos(PI * (i - e1) / (e2 - e1)) + 1);
}

static void test_onecycle_wsd(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_ONECYCLE, &o);
    o.lr = 0.5, o.steps = 50;
    il_schedule *s = make(ctx, IL_SCHEDULE_ONECYCLE, &o);
    for (int i = 0; i < 50; i++)
        close_to(rate(s, i), onecycle_ref(0.5, 50, 0.3, 25, 1e4, i));
    close_to(rate(s, 0), 0.02), close_to(rate(s, 14), 0.5), close_to(rate(s, 49), 0.02 / 1e4);
    close_to(rate(s, 50), 0.02 / 1e4), close_to(rate(s, 999), 0.02 / 1e4);
    il_schedule_free(s);
    o.anneal = IL_ANNEAL_LINEAR;
    s = make(ctx, IL_SCHEDULE_ONECYCLE, &o);
    close_to(rate(s, 7), 0.02 + (0.5 - 0.02) * 7 / 14.0);
    il_schedule_free(s);

    il_schedule_opts_init(IL_SCHEDULE_WSD, &o);
    o.lr = 1, o.min_lr = 0.1, o.steps = 20, o.warmup = 4, o.decay = 5;
    s = make(ctx, IL_SCHEDULE_WSD, &o);
    close_to(rate(s, 0), 0), close_to(rate(s, 2), 0.5), close_to(rate(s, 4), 1);
    close_to(rate(s, 14), 1), close_to(rate(s, 15), 1), close_to(rate(s, 17), 0.1 + 0.9 * 0.6);
    close_to(rate(s, 19), 0.1 + 0.9 * 0.2), close_to(rate(s, 20), 0.1);
    il_schedule_free(s);
    o.decay = 0, o.anneal = IL_ANNEAL_SQRT; /* decay defaults to steps / 5 = 4 */
    s = make(ctx, IL_SCHEDULE_WSD, &o);
    il_schedule_options(s, &o);
    assert_int_equal(o.decay, 4);
    close_to(rate(s, 17), 0.1 + 0.9 * (1 - sqrt(0.25)));
    il_schedule_free(s);
    tu_ctx_done(ctx);
}

static void test_composites(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_COSINE, &o);
    o.lr = 0.1, o.steps = 10;
    il_schedule *cos_ = make(ctx, IL_SCHEDULE_COSINE, &o), *w = NULL, *seq = NULL;
    assert_int_equal(il_schedule_warmup(ctx, 4, 0.2, cos_, &w), IL_OK);
    close_to(rate(w, 0), 0.02), close_to(rate(w, 2), 0.1 * (0.2 + 0.8 * 0.5));
    close_to(rate(w, 4), 0.1), close_to(rate(w, 9), rate(cos_, 5)), close_to(rate(w, 14), 0);
    il_schedule_opts_init(IL_SCHEDULE_CONSTANT, &o);
    o.lr = 3;
    il_schedule *c = make(ctx, IL_SCHEDULE_CONSTANT, &o);
    il_schedule *parts[3] = {c, w, c};
    int64_t at[2] = {3, 10};
    assert_int_equal(il_schedule_sequence(ctx, 3, parts, at, &seq), IL_OK);
    close_to(rate(seq, 2), 3), close_to(rate(seq, 3), 0.02), close_to(rate(seq, 9), rate(w, 6));
    close_to(rate(seq, 10), 3), close_to(rate(seq, 99), 3);
    il_schedule_options(seq, &o);
    assert_int_equal(o.nmilestones, 2);
    il_schedule_free(seq);
    assert_int_equal(il_schedule_sequence(ctx, 1, parts, NULL, &seq), IL_OK);
    close_to(rate(seq, 5), 3);
    il_schedule_free(seq);
    il_schedule_free(w);
    il_schedule_free(cos_);
    il_schedule_free(c);
    tu_ctx_done(ctx);
}

static il_schedule *plateau(il_ctx *ctx, int64_t patience, int64_t cooldown, double min_lr) {
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_PLATEAU, &o);
    o.lr = 1, o.patience = patience, o.cooldown = cooldown, o.min_lr = min_lr, o.factor = 0.5;
    return make(ctx, IL_SCHEDULE_PLATEAU, &o);
}

static int observe(il_schedule *s, double v) {
    int r = -1;
    assert_int_equal(il_schedule_observe(s, v, &r), IL_OK);
    return r;
}

static void test_plateau(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule *s = plateau(ctx, 3, 0, 0.2);
    assert_false(observe(s, 10)); /* best 10 */
    for (int i = 0; i < 3; i++)
        assert_false(observe(s, 10)); /* 3 bad: patience not yet out */
    close_to(rate(s, 0), 1);
    assert_true(observe(s, 10)); /* the 4th bad one */
    close_to(rate(s, 0), 0.5), close_to(rate(s, 12345), 0.5);
    assert_false(observe(s, 9.9995)); /* within the relative threshold: still bad */
    assert_false(observe(s, 5));      /* better: counting starts again */
    for (int i = 0; i < 3; i++)
        assert_false(observe(s, 6));
    assert_true(observe(s, 6));
    close_to(rate(s, 0), 0.25);
    for (int i = 0; i < 3; i++)
        assert_false(observe(s, 6));
    assert_true(observe(s, 6)); /* 0.125 is below min_lr: 0.2 */
    close_to(rate(s, 0), 0.2);
    for (int i = 0; i < 8; i++)
        assert_false(observe(s, 6)); /* at the floor: no reduction */
    il_schedule_state st;
    il_schedule_get_state(s, &st);
    close_to(st.lr, 0.2), close_to(st.best, 5);
    assert_int_equal(st.observed, 23);
    il_schedule_free(s);

    s = plateau(ctx, 0, 2, 0); /* patience 0, cooldown 2 */
    assert_false(observe(s, 1));
    assert_true(observe(s, 1));
    assert_false(observe(s, 1)); /* cooling down */
    assert_false(observe(s, 1));
    assert_true(observe(s, 1));
    close_to(rate(s, 0), 0.25);
    il_schedule_get_state(s, &st);
    assert_int_equal(st.cooldown_left, 2);
    il_schedule *t = plateau(ctx, 0, 2, 0);
    assert_int_equal(il_schedule_set_state(t, &st), IL_OK);
    assert_false(observe(t, 1)), assert_false(observe(s, 1));
    close_to(rate(t, 0), rate(s, 0));
    st.cooldown_left = 3;
    assert_int_equal(il_schedule_set_state(t, &st), IL_E_ARG);
    st.cooldown_left = 0, st.lr = 2;
    assert_int_equal(il_schedule_set_state(t, &st), IL_E_ARG);
    il_schedule_free(t);
    il_schedule_free(s);
    tu_ctx_done(ctx);
}

static void test_plateau_modes(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_PLATEAU, &o);
    o.lr = 1, o.patience = 0, o.mode_max = 1, o.threshold_abs = 1, o.threshold = 0.5;
    il_schedule *s = make(ctx, IL_SCHEDULE_PLATEAU, &o), *w = NULL;
    assert_false(observe(s, 1));
    assert_false(observe(s, 1.6)); /* better by more than 0.5 */
    assert_true(observe(s, 2.0));  /* by less */
    close_to(rate(s, 0), 0.1);
    assert_int_equal(il_schedule_warmup(ctx, 2, 0, s, &w), IL_OK);
    assert_true(observe(w, 0)); /* observe reaches the plateau inside the warmup */
    close_to(rate(w, 1), 0.005);
    il_schedule_free(w);
    il_schedule_free(s);
    tu_ctx_done(ctx);
}

typedef struct cbdata {
    double value;
    int calls;
} cbdata;

static il_status cb(void *ud, void *arg, int64_t step, double *lr) {
    cbdata *d = ud;
    d->calls++;
    if (arg != NULL)
        return il_ctx_error((il_ctx *)arg, IL_E_IO, "callback failed at %lld", (long long)step);
    *lr = d->value / (double)(step + 1);
    return IL_OK;
}

static void test_fn(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    cbdata d = {1, 0};
    il_schedule *s = NULL;
    double lr = 0;
    assert_int_equal(il_schedule_fn(ctx, "mine", cb, &d, &s), IL_OK);
    close_to(rate(s, 3), 0.25);
    assert_int_equal(il_schedule_lr_arg(s, 2, ctx, &lr), IL_E_IO);
    tu_assert_errmsg(ctx, "callback failed at 2");
    d.value = NAN;
    assert_int_equal(il_schedule_lr(s, 5, &lr), IL_E_NUMERIC);
    tu_assert_errmsg(ctx, "schedule mine: rate NaN at step 5");
    d.value = -1;
    assert_int_equal(il_schedule_lr(s, 0, &lr), IL_E_NUMERIC);
    assert_int_equal(il_schedule_lr(s, -1, &lr), IL_E_RANGE);
    tu_assert_errmsg(ctx, "step -1 is negative");
    assert_int_equal(il_schedule_observe(s, 1, NULL), IL_E_ARG);
    tu_assert_errmsg(ctx, "observe needs a plateau");
    assert_int_equal(il_schedule_set_state(s, &(il_schedule_state){0}), IL_E_ARG);
    il_schedule_free(s);
    assert_int_equal(il_schedule_fn(ctx, NULL, NULL, NULL, &s), IL_E_ARG);
    assert_null(s);

    il_schedule_opts o; /* exponential growth overflowing */
    il_schedule_opts_init(IL_SCHEDULE_EXPONENTIAL, &o);
    o.lr = 1, o.gamma = 10;
    s = make(ctx, IL_SCHEDULE_EXPONENTIAL, &o);
    assert_int_equal(il_schedule_lr(s, 400, &lr), IL_E_NUMERIC);
    tu_assert_errmsg(ctx, "schedule exponential: rate inf at step 400");
    il_schedule_free(s);
    tu_ctx_done(ctx);
}

/* Expects il_schedule_new(kind, o) to fail with IL_E_ARG and a message holding needle. */
static void bad(il_ctx *ctx, il_schedule_kind k, const il_schedule_opts *o, const char *needle) {
    il_schedule *s = (il_schedule *)1;
    assert_int_equal(il_schedule_new(ctx, k, o, &s), IL_E_ARG);
    assert_null(s);
    tu_assert_errmsg(ctx, needle);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_schedule_opts o;
    il_schedule *s = NULL, *c = NULL;
    il_schedule_opts_init(IL_SCHEDULE_COSINE, &o);
    o.lr = 0.1;
    bad(ctx, IL_SCHEDULE_COSINE, &o, "schedule cosine: option 'steps' must be an integer >= 1");
    o.steps = -5;
    bad(ctx, IL_SCHEDULE_COSINE, &o, "(got -5)");
    o.steps = 10, o.min_lr = 0.2;
    bad(ctx, IL_SCHEDULE_COSINE, &o, "schedule cosine: min_lr (0.2) is above lr (0.1)");
    o.min_lr = 0, o.lr = 0;
    bad(ctx, IL_SCHEDULE_COSINE, &o, "option 'lr' must be a finite number > 0");
    il_schedule_opts_init(IL_SCHEDULE_STEP, &o);
    o.lr = 1;
    bad(ctx, IL_SCHEDULE_STEP, &o, "schedule step: option 'every'");
    il_schedule_opts_init(IL_SCHEDULE_EXPONENTIAL, &o);
    o.lr = 1;
    bad(ctx, IL_SCHEDULE_EXPONENTIAL, &o, "option 'gamma' must be a finite number > 0");
    il_schedule_opts_init(IL_SCHEDULE_MULTISTEP, &o);
    o.lr = 1;
    bad(ctx, IL_SCHEDULE_MULTISTEP, &o, "option 'milestones' is required");
    int64_t ms[] = {3, 3};
    o.milestones = ms, o.nmilestones = 2;
    bad(ctx, IL_SCHEDULE_MULTISTEP, &o, "strictly increasing");
    il_schedule_opts_init(IL_SCHEDULE_SGDR, &o);
    o.lr = 1, o.steps = 5, o.mult = 0;
    bad(ctx, IL_SCHEDULE_SGDR, &o, "option 'mult'");
    il_schedule_opts_init(IL_SCHEDULE_ONECYCLE, &o);
    o.lr = 1, o.steps = 3;
    bad(ctx, IL_SCHEDULE_ONECYCLE, &o, "option 'pct'");
    il_schedule_opts_init(IL_SCHEDULE_WSD, &o);
    o.lr = 1, o.steps = 10, o.warmup = 8, o.decay = 3;
    bad(ctx, IL_SCHEDULE_WSD, &o, "warmup (8) + decay (3) exceed steps (10)");
    il_schedule_opts_init(IL_SCHEDULE_PLATEAU, &o);
    o.lr = 1, o.factor = 1;
    bad(ctx, IL_SCHEDULE_PLATEAU, &o, "option 'factor' must be in (0, 1)");
    o.factor = 0.5, o.patience = -1;
    bad(ctx, IL_SCHEDULE_PLATEAU, &o, "option 'patience'");
    il_schedule_opts_init(IL_SCHEDULE_POLYNOMIAL, &o);
    o.lr = 1, o.steps = 4, o.power = 0;
    bad(ctx, IL_SCHEDULE_POLYNOMIAL, &o, "option 'power'");
    bad(ctx, IL_SCHEDULE_WARMUP, &o, "il_schedule_new: bad kind");
    il_schedule_opts_init(IL_SCHEDULE_CONSTANT, &o);
    o.lr = 1;
    c = make(ctx, IL_SCHEDULE_CONSTANT, &o);
    assert_int_equal(il_schedule_warmup(ctx, 0, 0, c, &s), IL_E_ARG);
    tu_assert_errmsg(ctx, "schedule warmup: option 'steps' must be an integer >= 1");
    assert_int_equal(il_schedule_warmup(ctx, 3, 1, c, &s), IL_E_ARG);
    assert_int_equal(il_schedule_warmup(ctx, 3, 0, NULL, &s), IL_E_ARG);
    il_schedule *parts[2] = {c, c};
    int64_t at[1] = {0};
    assert_int_equal(il_schedule_sequence(ctx, 2, parts, at, &s), IL_E_ARG);
    tu_assert_errmsg(ctx, "schedule sequence: option 'at'");
    assert_int_equal(il_schedule_sequence(ctx, 0, parts, at, &s), IL_E_ARG);
    assert_null(s);
    il_schedule_free(c);
    assert_string_equal(il_schedule_kind_name(IL_SCHEDULE_INVERSE_TIME), "inverse_time");
    assert_string_equal(il_schedule_kind_name(IL_SCHEDULE_COUNT), "?");
    tu_ctx_done(ctx);
}

/* il_schedule_apply sets the optimizer's rate before each step; a zero rate is DBL_MIN. */
static void test_apply(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_net *net = NULL;
    il_optim *opt = NULL;
    int in = 0, node = 0;
    il_layer_opts lo = {.out_features = 1};
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 2, &in), IL_OK);
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &lo, 1, &in, &node), IL_OK);
    assert_int_equal(il_optim_new(net, IL_OPTIM_SGD, &(il_optim_opts){.lr = 1}, &opt), IL_OK);
    il_schedule_opts o;
    il_schedule_opts_init(IL_SCHEDULE_COSINE, &o);
    o.lr = 0.4, o.steps = 2;
    il_schedule *s = make(ctx, IL_SCHEDULE_COSINE, &o);
    double x[4] = {1, 2, 3, 4}, y[2] = {1, 0}, lr = -1, loss = 0;
    il_tensor *tx = tu_tensor(ctx, IL_DTYPE_F64, x, 2, 2, 2);
    il_tensor *ty = tu_tensor(ctx, IL_DTYPE_F64, y, 2, 2, 1);
    il_loss mse = {IL_LOSS_MSE, 0};
    double want[3] = {0.4, 0.2, 0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(il_schedule_apply(s, opt, NULL, &lr), IL_OK);
        close_to(lr, want[i]);
        close_to(il_optim_lr(opt), i < 2 ? want[i] : DBL_MIN);
        assert_int_equal(il_net_step(net, 1, (const il_tensor *const *)&tx, ty, &mse, opt, &loss),
                         IL_OK);
    }
    assert_int_equal(il_optim_steps(opt), 3);
    il_tensor_free(tx);
    il_tensor_free(ty);
    il_schedule_free(s);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* Every constructor under a failing allocator: IL_E_NOMEM, nothing leaked. */
static void test_alloc_fail(void **state) {
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        for (int64_t n = 1; n < 8; n++) {
            tu_alloc a = {0, 0, 0};
            il_ctx *ctx = NULL;
            assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a), IL_OK);
            il_schedule_opts o;
            il_schedule_opts_init(IL_SCHEDULE_MULTISTEP, &o);
            int64_t ms[] = {1, 2};
            o.lr = 1, o.milestones = ms, o.nmilestones = 2;
            il_schedule *base = NULL, *s = NULL;
            cbdata d = {1, 0};
            assert_int_equal(il_schedule_new(ctx, IL_SCHEDULE_MULTISTEP, &o, &base), IL_OK);
            a.fail_at = a.count + n;
            il_status st = kind == 0   ? il_schedule_new(ctx, IL_SCHEDULE_MULTISTEP, &o, &s)
                           : kind == 1 ? il_schedule_warmup(ctx, 2, 0, base, &s)
                           : kind == 2 ? il_schedule_sequence(ctx, 1, &base, NULL, &s)
                                       : il_schedule_fn(ctx, "f", cb, &d, &s);
            if (n == 1) {
                assert_int_equal(st, IL_E_NOMEM);
                assert_null(s);
            }
            il_schedule_free(s);
            il_schedule_free(base);
            a.fail_at = 0;
            il_ctx_free(ctx);
            assert_int_equal(a.live_blocks, 0);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_kinds), cmocka_unit_test(test_decays),
        cmocka_unit_test(test_onecycle_wsd), cmocka_unit_test(test_composites),
        cmocka_unit_test(test_plateau),      cmocka_unit_test(test_plateau_modes),
        cmocka_unit_test(test_fn),           cmocka_unit_test(test_errors),
        cmocka_unit_test(test_apply),        cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
