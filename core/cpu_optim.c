/*
 * cpu_optim.c: the CPU backend's optimizer updates (the OPTIM ops of il_ops.def): SGD (with
 * momentum, nesterov, weight decay), Adam/AdamW and RMSprop, following torch.optim's formulas
 * with their defaults (dampening 0, no amsgrad, RMSprop not centered).
 *
 * Every buffer is a contiguous 1-D (nparams) array of one dtype; the parameters (out) and the
 * state (in[1..]) are updated in place, the gradients (in[0]) only read. The p[] layouts are
 * documented in core/nn_impl.h. Each element is independent, so the work is split across
 * threads by ranges and the result never depends on the thread count. Arithmetic is in double.
 */
#include "il_impl.h"

#include <math.h>
#include <stdint.h>

#include "cpu_iter_impl.h"

typedef struct optim_arg {
    il_dtype dt;
    char *w;        /* parameters */
    const char *g;  /* gradients */
    char *s[3];     /* state buffers (in[1..]) */
    const double *p;
} optim_arg;

/* ---- SGD ---------------------------------------------------------------------------------- */

/* g += wd w; buf = first ? g : mu buf + g; step = nesterov ? g + mu buf : buf; w -= lr step.
 * Without momentum, w -= lr g. */
#define DEF_SGD(T)                                                                                \
    static void sgd_##T(const optim_arg *a, int64_t lo, int64_t hi) {                             \
        T *restrict w = (T *)a->w, *restrict buf = (T *)a->s[0];                                  \
        const T *restrict g = (const T *)a->g;                                                    \
        double lr = a->p[0], mu = a->p[1], wd = a->p[2];                                          \
        int nesterov = a->p[3] != 0, first = a->p[4] != 0;                                        \
        for (int64_t i = lo; i < hi; i++) {                                                       \
            double d = (double)g[i] + wd * (double)w[i];                                          \
            if (mu != 0) {                                                                        \
                double b = first ? d : mu * (double)buf[i] + d;                                   \
                buf[i] = (T)b;                                                                    \
                d = nesterov ? d + mu * b : b;                                                    \
            }                                                                                     \
            w[i] = (T)((double)w[i] - lr * d);                                                    \
        }                                                                                         \
    }

/* ---- Adam / AdamW ------------------------------------------------------------------------- */

/* AdamW first shrinks w by (1 - lr wd); Adam adds wd w to the gradient instead. Then
 * m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2 and
 * w -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), bc = 1 - beta^t (torch's arrangement). */
#define DEF_ADAM(T)                                                                               \
    static void adam_##T(const optim_arg *a, int64_t lo, int64_t hi) {                            \
        T *restrict w = (T *)a->w, *restrict m = (T *)a->s[0], *restrict v = (T *)a->s[1];        \
        const T *restrict g = (const T *)a->g;                                                    \
        double lr = a->p[0], b1 = a->p[1], b2 = a->p[2], eps = a->p[3], wd = a->p[4];             \
        int decoupled = a->p[5] != 0;                                                             \
        double step = lr / a->p[6], rbc2 = 1.0 / sqrt(a->p[7]);                                   \
        double shrink = decoupled ? 1 - lr * wd : 1, l2 = decoupled ? 0 : wd;                     \
        for (int64_t i = lo; i < hi; i++) {                                                       \
            double wi = (double)w[i] * shrink, d = (double)g[i] + l2 * (double)w[i];              \
            double mi = b1 * (double)m[i] + (1 - b1) * d;                                         \
            double vi = b2 * (double)v[i] + (1 - b2) * d * d;                                     \
            m[i] = (T)mi;                                                                         \
            v[i] = (T)vi;                                                                         \
            w[i] = (T)(wi - step * mi / (sqrt(vi) * rbc2 + eps));                                 \
        }                                                                                         \
    }

/* ---- RMSprop ------------------------------------------------------------------------------ */

/* g += wd w; sq = alpha sq + (1 - alpha) g^2; r = g / (sqrt(sq) + eps);
 * with momentum buf = mu buf + r, w -= lr buf; otherwise w -= lr r. */
#define DEF_RMSPROP(T)                                                                            \
    static void rmsprop_##T(const optim_arg *a, int64_t lo, int64_t hi) {                         \
        T *restrict w = (T *)a->w, *restrict sq = (T *)a->s[0], *restrict buf = (T *)a->s[1];     \
        const T *restrict g = (const T *)a->g;                                                    \
        double lr = a->p[0], alpha = a->p[1], eps = a->p[2], wd = a->p[3], mu = a->p[4];          \
        for (int64_t i = lo; i < hi; i++) {                                                       \
            double d = (double)g[i] + wd * (double)w[i];                                          \
            double s = alpha * (double)sq[i] + (1 - alpha) * d * d;                               \
            double r = d / (sqrt(s) + eps);                                                       \
            sq[i] = (T)s;                                                                         \
            if (mu > 0) {                                                                         \
                r = mu * (double)buf[i] + r;                                                      \
                buf[i] = (T)r;                                                                    \
            }                                                                                     \
            w[i] = (T)((double)w[i] - lr * r);                                                    \
        }                                                                                         \
    }

DEF_SGD(float)
DEF_SGD(double)
DEF_ADAM(float)
DEF_ADAM(double)
DEF_RMSPROP(float)
DEF_RMSPROP(double)

/* ---- dispatch ----------------------------------------------------------------------------- */

typedef void (*range_fn)(const optim_arg *a, int64_t lo, int64_t hi);

typedef struct task_arg {
    const optim_arg *a;
    range_fn fn;
} task_arg;

static void range_task(void *arg, int64_t begin, int64_t end, int tid) {
    const task_arg *t = arg;
    (void)tid;
    t->fn(t->a, begin, end);
}

/* Inputs each op reads (gradients plus state); RMSprop's momentum buffer only when used. */
static int inputs_needed(const il_opcall *c) {
    switch (c->op) {
    case IL_OP_SGD_UPDATE: return c->p[1] != 0 ? 2 : 1;
    case IL_OP_ADAM_UPDATE: return 3;
    case IL_OP_RMSPROP_UPDATE: return c->p[4] > 0 ? 3 : 2;
    default: return -1;
    }
}

/* IL_E_INTERNAL unless every buffer is contiguous 1-D of out's length and dtype. */
static il_status check_call(il_ctx *ctx, const il_opcall *c, int need) {
    const il_tdesc *o = &c->out;
    int ok = need >= 0 && c->nin >= need && o->ndim == 1
             && (o->dtype == IL_DTYPE_F32 || o->dtype == IL_DTYPE_F64)
             && (o->stride[0] == 1 || o->shape[0] <= 1);
    for (int k = 0; ok && k < need; k++) {
        const il_tdesc *d = &c->in[k];
        ok = d->ndim == 1 && d->dtype == o->dtype && d->shape[0] == o->shape[0]
             && (d->stride[0] == 1 || d->shape[0] <= 1);
    }
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "cpu optim: bad %s call", il_op_name(c->op));
    return IL_OK;
}

static range_fn fn_for(il_op op, il_dtype dt) {
    int f32 = dt == IL_DTYPE_F32;
    switch (op) {
    case IL_OP_SGD_UPDATE: return f32 ? sgd_float : sgd_double;
    case IL_OP_ADAM_UPDATE: return f32 ? adam_float : adam_double;
    default: return f32 ? rmsprop_float : rmsprop_double;
    }
}

/*
 * Runs one OPTIM op over contiguous 1-D buffers (see il_ops.def and nn_impl.h). Statuses:
 * IL_OK; IL_E_INTERNAL for a malformed call; the thread pool's IL_E_NOMEM.
 */
il_status ili_cpu_optim(il_ctx *ctx, const il_opcall *c) {
    int need = inputs_needed(c);
    if (need < 0)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu optim: unexpected op %s", il_op_name(c->op));
    IL_TRY(check_call(ctx, c, need));
    int64_t n = c->out.shape[0];
    if (n == 0) return IL_OK;
    optim_arg a = {c->out.dtype, (char *)c->out.data, (const char *)c->in[0].data,
                   {NULL, NULL, NULL}, c->p};
    for (int k = 1; k < need; k++) a.s[k - 1] = (char *)c->in[k].data;
    task_arg t = {&a, fn_for(c->op, a.dt)};
    /* A few flops and three to five streams per element: split only large buffers. */
    if (ctx->nthreads > 1 && n * 4 >= ILI_PAR_MIN)
        return ili_parallel_for(ctx, n, ILI_PAR_GRAIN, range_task, &t);
    t.fn(&a, 0, n);
    return IL_OK;
}
