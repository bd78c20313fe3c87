/*
 * cpu_elementwise.c: the CPU backend's elementwise kernels, binary (ADD ... MINIMUM) and
 * unary (NEG ... CLAMP), for f32, f64 and (some ops) i64.
 *
 * Operands arrive already broadcast (stride 0 on expanded axes) and of one dtype. The strided
 * walk lives in cpu_iter.c; here each op/dtype pair is one row kernel whose unit-stride and
 * broadcast-scalar cases are plain loops over restrict pointers, so the compiler vectorizes
 * them. A broadcast operand is never materialised.
 */
#include "il_impl.h"

#include <math.h>
#include <stdint.h>

#include "cpu_iter_impl.h"

/* Elements per work item: long enough to amortise the per-row call, short enough to split. */
#define EW_CHUNK ((int64_t)1 << 13)

typedef struct ew_arg {
    int alias;     /* out overlaps an input: use the loops without restrict */
    double lo, hi; /* CLAMP bounds */
} ew_arg;

/* ---- scalar functions ---------------------------------------------------------------------- */

/* i64 arithmetic goes through uint64_t so overflow wraps instead of being undefined. */
static inline int64_t add_i64(int64_t x, int64_t y) { return (int64_t)((uint64_t)x + (uint64_t)y); }
static inline int64_t sub_i64(int64_t x, int64_t y) { return (int64_t)((uint64_t)x - (uint64_t)y); }
static inline int64_t mul_i64(int64_t x, int64_t y) { return (int64_t)((uint64_t)x * (uint64_t)y); }
static inline int64_t max_i64(int64_t x, int64_t y) { return x > y ? x : y; }
static inline int64_t min_i64(int64_t x, int64_t y) { return x < y ? x : y; }
static inline int64_t neg_i64(int64_t x) { return (int64_t)(0u - (uint64_t)x); }
static inline int64_t abs_i64(int64_t x) { return x < 0 ? neg_i64(x) : x; }

/* Float ops per type T with math suffix S (f for float, empty for double). maximum/minimum
 * propagate NaN (as torch does); relu keeps NaN; sigmoid never overflows. */
#define FLOAT_FNS(T, S)                                                                           \
    static inline T add_##T(T x, T y) { return x + y; }                                           \
    static inline T sub_##T(T x, T y) { return x - y; }                                           \
    static inline T mul_##T(T x, T y) { return x * y; }                                           \
    static inline T div_##T(T x, T y) { return x / y; }                                           \
    static inline T pow_##T(T x, T y) { return pow##S(x, y); }                                    \
    static inline T max_##T(T x, T y) { return (x != x || x > y) ? x : y; }                       \
    static inline T min_##T(T x, T y) { return (x != x || x < y) ? x : y; }                       \
    static inline T neg_##T(T x) { return -x; }                                                   \
    static inline T exp_##T(T x) { return exp##S(x); }                                            \
    static inline T log_##T(T x) { return log##S(x); }                                            \
    static inline T tanh_##T(T x) { return tanh##S(x); }                                          \
    static inline T relu_##T(T x) { return x < 0 ? (T)0 : x; }                                   \
    static inline T sin_##T(T x) { return sin##S(x); }                                            \
    static inline T cos_##T(T x) { return cos##S(x); }                                            \
    static inline T abs_##T(T x) { return fabs##S(x); }                                           \
    static inline T sqrt_##T(T x) { return sqrt##S(x); }                                          \
    static inline T sigmoid_##T(T x) {                                                            \
        if (x >= 0) return (T)1 / ((T)1 + exp##S(-x));                                            \
        T e = exp##S(x);                                                                          \
        return e / ((T)1 + e);                                                                    \
    }
FLOAT_FNS(float, f)
FLOAT_FNS(double, )

/* ---- row kernels --------------------------------------------------------------------------- */

/* One row of o[i] = F(a[i], b[i]); the common stride patterns get their own loops. */
#define BIN_LOOPS(T, F)                                                                           \
    if (os == 1 && as == 1 && bs == 1) {                                                          \
        for (int64_t i = 0; i < n; i++) o[i] = F(a[i], b[i]);                                     \
    } else if (os == 1 && as == 1 && bs == 0) {                                                   \
        const T y = b[0];                                                                         \
        for (int64_t i = 0; i < n; i++) o[i] = F(a[i], y);                                        \
    } else if (os == 1 && as == 0 && bs == 1) {                                                   \
        const T x = a[0];                                                                         \
        for (int64_t i = 0; i < n; i++) o[i] = F(x, b[i]);                                        \
    } else {                                                                                      \
        for (int64_t i = 0; i < n; i++) o[i * os] = F(a[i * as], b[i * bs]);                      \
    }

/* Defines row kernel NAME: a restrict version for the usual case and a plain one for an output
 * that is also an input (in-place ops), where restrict would be a lie. */
#define DEF_BIN(NAME, T, F)                                                                       \
    static void NAME##_r(int64_t n, T *restrict o, int64_t os, const T *restrict a, int64_t as,   \
                         const T *restrict b, int64_t bs) {                                       \
        BIN_LOOPS(T, F)                                                                           \
    }                                                                                             \
    static void NAME##_a(int64_t n, T *o, int64_t os, const T *a, int64_t as, const T *b,         \
                         int64_t bs) {                                                            \
        BIN_LOOPS(T, F)                                                                           \
    }                                                                                             \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {     \
        (void)flat;                                                                               \
        if (((const ew_arg *)arg)->alias)                                                         \
            NAME##_a(n, (T *)p[0], st[0], (const T *)p[1], st[1], (const T *)p[2], st[2]);        \
        else                                                                                      \
            NAME##_r(n, (T *)p[0], st[0], (const T *)p[1], st[1], (const T *)p[2], st[2]);        \
    }

#define UN_LOOPS(F)                                                                               \
    if (os == 1 && as == 1) {                                                                     \
        for (int64_t i = 0; i < n; i++) o[i] = F(a[i]);                                           \
    } else {                                                                                      \
        for (int64_t i = 0; i < n; i++) o[i * os] = F(a[i * as]);                                 \
    }

#define DEF_UN(NAME, T, F)                                                                        \
    static void NAME##_r(int64_t n, T *restrict o, int64_t os, const T *restrict a, int64_t as) { \
        UN_LOOPS(F)                                                                               \
    }                                                                                             \
    static void NAME##_a(int64_t n, T *o, int64_t os, const T *a, int64_t as) { UN_LOOPS(F) }     \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {     \
        (void)flat;                                                                               \
        if (((const ew_arg *)arg)->alias)                                                         \
            NAME##_a(n, (T *)p[0], st[0], (const T *)p[1], st[1]);                                \
        else                                                                                      \
            NAME##_r(n, (T *)p[0], st[0], (const T *)p[1], st[1]);                                \
    }

/* Clamp reads its bounds from the argument, so it has its own kernel. NaN stays NaN. */
#define DEF_CLAMP(NAME, T)                                                                        \
    static void NAME##_k(int64_t n, T *o, int64_t os, const T *a, int64_t as, T lo, T hi) {      \
        for (int64_t i = 0; i < n; i++) {                                                         \
            T x = a[i * as];                                                                      \
            o[i * os] = x < lo ? lo : (x > hi ? hi : x);                                          \
        }                                                                                         \
    }                                                                                             \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {     \
        const ew_arg *e = arg;                                                                    \
        (void)flat;                                                                               \
        NAME##_k(n, (T *)p[0], st[0], (const T *)p[1], st[1], (T)e->lo, (T)e->hi);                \
    }

#define DEF_BIN_FLOAT(T)                                                                          \
    DEF_BIN(add_row_##T, T, add_##T)                                                              \
    DEF_BIN(sub_row_##T, T, sub_##T)                                                              \
    DEF_BIN(mul_row_##T, T, mul_##T)                                                              \
    DEF_BIN(div_row_##T, T, div_##T)                                                              \
    DEF_BIN(pow_row_##T, T, pow_##T)                                                              \
    DEF_BIN(max_row_##T, T, max_##T)                                                              \
    DEF_BIN(min_row_##T, T, min_##T)

#define DEF_UN_FLOAT(T)                                                                           \
    DEF_UN(neg_row_##T, T, neg_##T)                                                               \
    DEF_UN(exp_row_##T, T, exp_##T)                                                               \
    DEF_UN(log_row_##T, T, log_##T)                                                               \
    DEF_UN(tanh_row_##T, T, tanh_##T)                                                             \
    DEF_UN(sigmoid_row_##T, T, sigmoid_##T)                                                       \
    DEF_UN(relu_row_##T, T, relu_##T)                                                             \
    DEF_UN(sin_row_##T, T, sin_##T)                                                               \
    DEF_UN(cos_row_##T, T, cos_##T)                                                               \
    DEF_UN(abs_row_##T, T, abs_##T)                                                               \
    DEF_UN(sqrt_row_##T, T, sqrt_##T)                                                             \
    DEF_CLAMP(clamp_row_##T, T)

DEF_BIN_FLOAT(float)
DEF_BIN_FLOAT(double)
DEF_UN_FLOAT(float)
DEF_UN_FLOAT(double)
DEF_BIN(add_row_i64, int64_t, add_i64)
DEF_BIN(sub_row_i64, int64_t, sub_i64)
DEF_BIN(mul_row_i64, int64_t, mul_i64)
DEF_BIN(max_row_i64, int64_t, max_i64)
DEF_BIN(min_row_i64, int64_t, min_i64)
DEF_UN(neg_row_i64, int64_t, neg_i64)
DEF_UN(abs_row_i64, int64_t, abs_i64)

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Picks the kernel for a dtype from the f32, f64 and i64 candidates (NULL: unsupported). */
static ili_row_fn pick(il_dtype dt, ili_row_fn f32, ili_row_fn f64, ili_row_fn i64) {
    switch (dt) {
    case IL_DTYPE_F32: return f32;
    case IL_DTYPE_F64: return f64;
    case IL_DTYPE_I64: return i64;
    default: return NULL;
    }
}

#define FLOATS(name) name##_float, name##_double

/* Row kernel for (op, dt), or NULL when op is not elementwise or dt is not supported. */
static ili_row_fn kernel_for(il_op op, il_dtype dt) {
    switch (op) {
    case IL_OP_ADD: return pick(dt, FLOATS(add_row), add_row_i64);
    case IL_OP_SUB: return pick(dt, FLOATS(sub_row), sub_row_i64);
    case IL_OP_MUL: return pick(dt, FLOATS(mul_row), mul_row_i64);
    case IL_OP_DIV: return pick(dt, FLOATS(div_row), NULL);
    case IL_OP_POW: return pick(dt, FLOATS(pow_row), NULL);
    case IL_OP_MAXIMUM: return pick(dt, FLOATS(max_row), max_row_i64);
    case IL_OP_MINIMUM: return pick(dt, FLOATS(min_row), min_row_i64);
    case IL_OP_NEG: return pick(dt, FLOATS(neg_row), neg_row_i64);
    case IL_OP_EXP: return pick(dt, FLOATS(exp_row), NULL);
    case IL_OP_LOG: return pick(dt, FLOATS(log_row), NULL);
    case IL_OP_TANH: return pick(dt, FLOATS(tanh_row), NULL);
    case IL_OP_SIGMOID: return pick(dt, FLOATS(sigmoid_row), NULL);
    case IL_OP_RELU: return pick(dt, FLOATS(relu_row), NULL);
    case IL_OP_SIN: return pick(dt, FLOATS(sin_row), NULL);
    case IL_OP_COS: return pick(dt, FLOATS(cos_row), NULL);
    case IL_OP_ABS: return pick(dt, FLOATS(abs_row), abs_row_i64);
    case IL_OP_SQRT: return pick(dt, FLOATS(sqrt_row), NULL);
    case IL_OP_CLAMP: return pick(dt, FLOATS(clamp_row), NULL);
    default: return NULL;
    }
}

/*
 * Shared body of ili_cpu_binary and ili_cpu_unary: checks the op's kind and the dtypes, then
 * runs the row kernel over out and the nin inputs. Returns IL_E_INTERNAL for an op of another
 * kind or mismatched dtypes, IL_E_DTYPE for an unsupported dtype, or ili_parallel_for's status.
 */
static il_status run_elementwise(il_ctx *ctx, const il_opcall *c, ili_op_kind kind, int nin,
                                 const char *who) {
    if (ili_op_kind_of(c->op) != kind || c->nin < nin)
        return ili_seterr(ctx, IL_E_INTERNAL, "%s: unexpected op %s with %d inputs", who,
                          il_op_name(c->op), c->nin);
    il_dtype dt = c->out.dtype;
    for (int k = 0; k < nin; k++) {
        if (c->in[k].dtype != dt)
            return ili_seterr(ctx, IL_E_INTERNAL, "%s: %s input %d is %s, output is %s", who,
                              il_op_name(c->op), k, il_dtype_name(c->in[k].dtype),
                              il_dtype_name(dt));
    }
    ili_row_fn fn = kernel_for(c->op, dt);
    if (!fn)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(dt));
    const il_tdesc *ops[ILI_ITER_MAXOPS] = {&c->out, &c->in[0], &c->in[1]};
    ili_iter it;
    IL_TRY(ili_iter_init(ctx, &it, nin + 1, ops, EW_CHUNK));
    ew_arg e = {0, c->p[0], c->p[1]};
    for (int k = 0; k < nin; k++) e.alias |= ili_desc_overlap(&c->out, &c->in[k]);
    return ili_iter_run(ctx, &it, 1, fn, &e);
}

/*
 * out = in[0] op in[1] for ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM. in[0], in[1] and out
 * share shape and dtype (inputs pre-broadcast with stride 0). f32/f64 for all; i64 for ADD,
 * SUB, MUL, MAXIMUM, MINIMUM (wrapping). Statuses: IL_OK, IL_E_DTYPE, IL_E_INTERNAL, or the
 * thread pool's IL_E_NOMEM.
 */
il_status ili_cpu_binary(il_ctx *ctx, const il_opcall *c) {
    /* Layer ops (activation gradients) live in cpu_activation.c. */
    if (kernel_for(c->op, IL_DTYPE_F64) == NULL) return ili_cpu_activation(ctx, c);
    return run_elementwise(ctx, c, ILI_KIND_BINARY, 2, "cpu binary");
}

/*
 * out = op(in[0]) for NEG, EXP, LOG, TANH, SIGMOID, RELU, SIN, COS, ABS, SQRT and CLAMP
 * (p[0] = lo, p[1] = hi). f32/f64 for all; i64 for NEG and ABS. Statuses as ili_cpu_binary.
 */
il_status ili_cpu_unary(il_ctx *ctx, const il_opcall *c) {
    /* Layer activations (LEAKY_RELU ... SINE) live in cpu_activation.c. */
    if (kernel_for(c->op, IL_DTYPE_F64) == NULL) return ili_cpu_activation(ctx, c);
    return run_elementwise(ctx, c, ILI_KIND_UNARY, 1, "cpu unary");
}
