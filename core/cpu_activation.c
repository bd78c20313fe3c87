/*
 * cpu_activation.c: the CPU kernels of the layer activations that are not plain tensor maps:
 * LEAKY_RELU, GELU, SOFTPLUS and SINE (UNARY, parameter in p[0]) and the activation gradients
 * TANH_GRAD ... SINE_GRAD (BINARY: out = dy * f'(in[1])), for f32 and f64.
 *
 * cpu_elementwise.c hands every elementwise op it does not know to ili_cpu_activation, so the
 * dispatch table stays one switch per kind. The strided walk is cpu_iter.c's; each row kernel
 * is a plain loop that is safe when out aliases an input (dx written over dy).
 */
#include "il_impl.h"

#include <math.h>
#include <stdint.h>

#include "cpu_iter_impl.h"

#define ACT_CHUNK ((int64_t)1 << 13)
/* Rough per-element cost against an add, so that small tensors stay on one thread. */
#define ACT_COST 8

typedef struct act_arg {
    double p; /* p[0]: leaky slope or sine frequency */
} act_arg;

/* Scalar functions per type T with math suffix S. k = sqrt(2/pi) for GELU's tanh form. */
#define ACT_FNS(T, S)                                                                             \
    static inline T sigm_##T(T x) {                                                               \
        if (x >= 0) return (T)1 / ((T)1 + exp##S(-x));                                            \
        T e = exp##S(x);                                                                          \
        return e / ((T)1 + e);                                                                    \
    }                                                                                             \
    static inline T leaky_##T(T x, T a) { return x > 0 ? x : a * x; }                             \
    static inline T gelu_##T(T x, T a) {                                                          \
        (void)a;                                                                                  \
        const T k = (T)0.7978845608028654, c = (T)0.044715;                                       \
        return (T)0.5 * x * ((T)1 + tanh##S(k * (x + c * x * x * x)));                            \
    }                                                                                             \
    /* max(x, 0) + log1p(exp(-|x|)): no overflow for large x, no cancellation for small. */     \
    static inline T softplus_##T(T x, T a) {                                                      \
        (void)a;                                                                                  \
        return (x > 0 ? x : (T)0) + log1p##S(exp##S(-fabs##S(x)));                                \
    }                                                                                             \
    static inline T sine_##T(T x, T w) { return sin##S(w * x); }                                 \
    static inline T tanh_g_##T(T dy, T y, T a) { (void)a; return dy * ((T)1 - y * y); }         \
    static inline T sigm_g_##T(T dy, T y, T a) { (void)a; return dy * y * ((T)1 - y); }         \
    static inline T relu_g_##T(T dy, T x, T a) { (void)a; return x > 0 ? dy : (T)0; }           \
    static inline T leaky_g_##T(T dy, T x, T a) { return x > 0 ? dy : a * dy; }                  \
    static inline T softplus_g_##T(T dy, T x, T a) { (void)a; return dy * sigm_##T(x); }        \
    static inline T sine_g_##T(T dy, T x, T w) { return dy * w * cos##S(w * x); }                \
    /* d/dx 0.5 x (1 + tanh u), u = k (x + c x^3) */                                              \
    static inline T gelu_g_##T(T dy, T x, T a) {                                                  \
        (void)a;                                                                                  \
        const T k = (T)0.7978845608028654, c = (T)0.044715;                                       \
        T t = tanh##S(k * (x + c * x * x * x));                                                   \
        T du = k * ((T)1 + (T)3 * c * x * x);                                                     \
        return dy * ((T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * du);                     \
    }
ACT_FNS(float, f)
ACT_FNS(double, )

/* Row kernels: o[i] = F(a[i], p) and o[i] = G(dy[i], v[i], p). */
#define DEF_UN(NAME, T, F)                                                                        \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {     \
        T *o = (T *)p[0];                                                                         \
        const T *a = (const T *)p[1];                                                             \
        const T w = (T)((const act_arg *)arg)->p;                                                 \
        (void)flat;                                                                               \
        for (int64_t i = 0; i < n; i++) o[i * st[0]] = F(a[i * st[1]], w);                        \
    }
#define DEF_BIN(NAME, T, G)                                                                       \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {     \
        T *o = (T *)p[0];                                                                         \
        const T *dy = (const T *)p[1], *v = (const T *)p[2];                                      \
        const T w = (T)((const act_arg *)arg)->p;                                                 \
        (void)flat;                                                                               \
        for (int64_t i = 0; i < n; i++) o[i * st[0]] = G(dy[i * st[1]], v[i * st[2]], w);         \
    }
#define DEF_ALL(T)                                                                                \
    DEF_UN(leaky_row_##T, T, leaky_##T)                                                           \
    DEF_UN(gelu_row_##T, T, gelu_##T)                                                             \
    DEF_UN(softplus_row_##T, T, softplus_##T)                                                     \
    DEF_UN(sine_row_##T, T, sine_##T)                                                             \
    DEF_BIN(tanh_g_row_##T, T, tanh_g_##T)                                                        \
    DEF_BIN(sigm_g_row_##T, T, sigm_g_##T)                                                        \
    DEF_BIN(relu_g_row_##T, T, relu_g_##T)                                                        \
    DEF_BIN(leaky_g_row_##T, T, leaky_g_##T)                                                      \
    DEF_BIN(gelu_g_row_##T, T, gelu_g_##T)                                                        \
    DEF_BIN(softplus_g_row_##T, T, softplus_g_##T)                                                \
    DEF_BIN(sine_g_row_##T, T, sine_g_##T)
DEF_ALL(float)
DEF_ALL(double)

#define PICK(name) (dt == IL_DTYPE_F32 ? name##_float : dt == IL_DTYPE_F64 ? name##_double : NULL)

/* Row kernel for (op, dt); NULL when op is not an activation op or dt is not f32/f64. */
static ili_row_fn kernel_for(il_op op, il_dtype dt) {
    switch (op) {
    case IL_OP_LEAKY_RELU: return PICK(leaky_row);
    case IL_OP_GELU: return PICK(gelu_row);
    case IL_OP_SOFTPLUS: return PICK(softplus_row);
    case IL_OP_SINE: return PICK(sine_row);
    case IL_OP_TANH_GRAD: return PICK(tanh_g_row);
    case IL_OP_SIGMOID_GRAD: return PICK(sigm_g_row);
    case IL_OP_RELU_GRAD: return PICK(relu_g_row);
    case IL_OP_LEAKY_RELU_GRAD: return PICK(leaky_g_row);
    case IL_OP_GELU_GRAD: return PICK(gelu_g_row);
    case IL_OP_SOFTPLUS_GRAD: return PICK(softplus_g_row);
    case IL_OP_SINE_GRAD: return PICK(sine_g_row);
    default: return NULL;
    }
}

/*
 * Runs an activation op: UNARY ones read in[0], BINARY ones in[0] = dy and in[1]; all operands
 * share out's shape and dtype, and out may alias an input. Returns IL_E_INTERNAL for an op this
 * file does not know or mismatched dtypes, IL_E_DTYPE for i64, or the thread pool's status.
 */
il_status ili_cpu_activation(il_ctx *ctx, const il_opcall *c) {
    ili_op_kind kind = ili_op_kind_of(c->op);
    int nin = kind == ILI_KIND_BINARY ? 2 : 1;
    if ((kind != ILI_KIND_BINARY && kind != ILI_KIND_UNARY) || c->nin < nin ||
        kernel_for(c->op, IL_DTYPE_F64) == NULL)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu elementwise: no kernel for %s",
                          il_op_name(c->op));
    il_dtype dt = c->out.dtype;
    for (int k = 0; k < nin; k++) {
        if (c->in[k].dtype != dt)
            return ili_seterr(ctx, IL_E_INTERNAL, "%s: input %d is %s, output is %s",
                              il_op_name(c->op), k, il_dtype_name(c->in[k].dtype),
                              il_dtype_name(dt));
    }
    ili_row_fn fn = kernel_for(c->op, dt);
    if (fn == NULL)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(dt));
    const il_tdesc *ops[ILI_ITER_MAXOPS] = {&c->out, &c->in[0], &c->in[1]};
    ili_iter it;
    IL_TRY(ili_iter_init(ctx, &it, nin + 1, ops, ACT_CHUNK));
    act_arg a = {c->p[0]};
    return ili_iter_run(ctx, &it, ACT_COST, fn, &a);
}
