/*
 * cpu_nn.c: CPU kernels of the layer ops that are neither elementwise maps nor reductions:
 * BERNOULLI (the dropout keep-mask) and the ROW ops SOFTMAX and SOFTMAX_GRAD.
 *
 * BERNOULLI is counter-based: element i (row-major) draws hash(seed, counter + i), so the mask
 * depends on nothing but (seed, counter, shape) and a CUDA kernel can draw the very same one.
 */
#include "il_impl.h"

#include <math.h>
#include <stdint.h>

#include "cpu_iter_impl.h"

/* Rows per work item of a ROW op before splitting across threads pays off. */
#define ROW_GRAIN_ELEMS ((int64_t)1 << 14)

/* ---- BERNOULLI ----------------------------------------------------------------------------- */

/* splitmix64's finaliser: a bijective 64-bit mix, cheap on any device. */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) from (seed, index): two rounds so nearby seeds give unrelated streams. */
static inline double hash_uniform(uint64_t seed, uint64_t index) {
    uint64_t h = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ (index * 0x9e3779b97f4a7c15ULL));
    return (double)(h >> 11) * 0x1.0p-53;
}

typedef struct bern_arg {
    uint64_t seed, counter;
    double keep, scale;
} bern_arg;

#define DEF_BERN(NAME, T)                                                                         \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {     \
        const bern_arg *b = arg;                                                                  \
        T *o = (T *)p[0];                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
            double u = hash_uniform(b->seed, b->counter + (uint64_t)(flat + i));                  \
            o[i * st[0]] = u < b->keep ? (T)b->scale : (T)0;                                      \
        }                                                                                         \
    }
DEF_BERN(bern_float, float)
DEF_BERN(bern_double, double)

/*
 * out[i] = hash(p[2], p[3] + i) < p[0] ? p[1] : 0, i the row-major index within out (any
 * strides). f32/f64. IL_E_DTYPE for i64, IL_E_ARG for a seed or counter that is not a
 * non-negative integer below 2^53.
 */
il_status ili_cpu_bernoulli(il_ctx *ctx, const il_opcall *c) {
    il_dtype dt = c->out.dtype;
    if (dt != IL_DTYPE_F32 && dt != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "bernoulli does not support dtype %s",
                          il_dtype_name(dt));
    const double lim = 9007199254740992.0; /* 2^53: exact in a double */
    if (!(c->p[2] >= 0 && c->p[2] < lim && c->p[3] >= 0 && c->p[3] < lim) ||
        c->p[2] != floor(c->p[2]) || c->p[3] != floor(c->p[3]))
        return ili_seterr(ctx, IL_E_ARG, "bernoulli: seed and counter must be integers in "
                                         "[0, 2^53)");
    const il_tdesc *ops[1] = {&c->out};
    ili_iter it;
    IL_TRY(ili_iter_init(ctx, &it, 1, ops, 1 << 13));
    bern_arg a = {(uint64_t)c->p[2], (uint64_t)c->p[3], c->p[0], c->p[1]};
    return ili_iter_run(ctx, &it, 4, dt == IL_DTYPE_F32 ? bern_float : bern_double, &a);
}

/* ---- ROW ops ------------------------------------------------------------------------------- */

/* A matrix seen as rows: element (r, j) of operand k at base[k] + r * rs[k] + j * cs[k]. */
typedef struct row_arg {
    il_op op;
    int64_t ncol;
    char *base[3];
    int64_t rs[3], cs[3];
} row_arg;

/* Softmax of one row, stable: exp(x - max) so nothing overflows; sums in double. */
#define DEF_SOFTMAX(NAME, T, S)                                                                   \
    static void NAME(T *o, int64_t os, const T *x, int64_t xs, int64_t n) {                       \
        T m = x[0];                                                                               \
        for (int64_t j = 1; j < n; j++)                                                           \
            if (x[j * xs] > m || x[j * xs] != x[j * xs]) m = x[j * xs];                           \
        double sum = 0;                                                                           \
        for (int64_t j = 0; j < n; j++) {                                                         \
            T e = exp##S(x[j * xs] - m);                                                          \
            o[j * os] = e;                                                                        \
            sum += (double)e;                                                                     \
        }                                                                                         \
        T inv = (T)(1.0 / sum);                                                                   \
        for (int64_t j = 0; j < n; j++) o[j * os] *= inv;                                         \
    }
/* out = y * (dy - sum(dy * y)) on one row; the dot product is taken before out is written,
 * so out may alias dy. */
#define DEF_SOFTMAX_GRAD(NAME, T)                                                                 \
    static void NAME(T *o, int64_t os, const T *dy, int64_t ds, const T *y, int64_t ys,          \
                     int64_t n) {                                                                 \
        double dot = 0;                                                                           \
        for (int64_t j = 0; j < n; j++) dot += (double)dy[j * ds] * (double)y[j * ys];            \
        for (int64_t j = 0; j < n; j++) o[j * os] = y[j * ys] * (dy[j * ds] - (T)dot);            \
    }
DEF_SOFTMAX(softmax_float, float, f)
DEF_SOFTMAX(softmax_double, double, )
DEF_SOFTMAX_GRAD(softmax_grad_float, float)
DEF_SOFTMAX_GRAD(softmax_grad_double, double)

#define ROWP(T, k, r) ((T *)(a->base[k] + (r) * a->rs[k] * (int64_t)sizeof(T)))

#define DEF_ROW_TASK(NAME, T)                                                                     \
    static void NAME(void *arg, int64_t begin, int64_t end, int tid) {                            \
        const row_arg *a = arg;                                                                   \
        (void)tid;                                                                                \
        for (int64_t r = begin; r < end; r++) {                                                   \
            if (a->op == IL_OP_SOFTMAX)                                                           \
                softmax_##T(ROWP(T, 0, r), a->cs[0], ROWP(T, 1, r), a->cs[1], a->ncol);           \
            else                                                                                  \
                softmax_grad_##T(ROWP(T, 0, r), a->cs[0], ROWP(T, 1, r), a->cs[1],                \
                                 ROWP(T, 2, r), a->cs[2], a->ncol);                               \
        }                                                                                         \
    }
DEF_ROW_TASK(row_task_float, float)
DEF_ROW_TASK(row_task_double, double)

/* Reads operand d (1-D: one row; 2-D: rows x cols) into a's slot k; 0 if its shape differs. */
static int take_rows(row_arg *a, int k, const il_tdesc *d, const il_tdesc *out) {
    if (d->ndim != out->ndim || d->dtype != out->dtype) return 0;
    for (int i = 0; i < d->ndim; i++)
        if (d->shape[i] != out->shape[i]) return 0;
    a->base[k] = (char *)d->data;
    a->rs[k] = d->ndim == 2 ? d->stride[0] : 0;
    a->cs[k] = d->stride[d->ndim - 1];
    return 1;
}

/*
 * SOFTMAX (out = softmax(in[0]) along the last axis) and SOFTMAX_GRAD (out = y * (dy -
 * sum(dy * y)), in[0] = dy, in[1] = y) on matrices (R, C) or one row (C), any strides.
 * f32/f64. IL_E_INTERNAL for other ops or mismatched operands, IL_E_DTYPE for i64.
 */
il_status ili_cpu_row(il_ctx *ctx, const il_opcall *c) {
    int nin = c->op == IL_OP_SOFTMAX_GRAD ? 2 : 1;
    if ((c->op != IL_OP_SOFTMAX && c->op != IL_OP_SOFTMAX_GRAD) || c->nin < nin)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu row: unexpected op %s", il_op_name(c->op));
    const il_tdesc *o = &c->out;
    if (o->dtype != IL_DTYPE_F32 && o->dtype != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(o->dtype));
    row_arg a = {c->op, 0, {0}, {0}, {0}};
    if (o->ndim < 1 || o->ndim > 2 || !take_rows(&a, 0, o, o))
        return ili_seterr(ctx, IL_E_INTERNAL, "%s: expected a matrix", il_op_name(c->op));
    for (int k = 0; k < nin; k++)
        if (!take_rows(&a, k + 1, &c->in[k], o))
            return ili_seterr(ctx, IL_E_INTERNAL, "%s: operand %d does not match the output",
                              il_op_name(c->op), k);
    a.ncol = o->shape[o->ndim - 1];
    int64_t nrow = o->ndim == 2 ? o->shape[0] : 1;
    if (a.ncol == 0 || nrow == 0) return IL_OK;
    int64_t grain = ROW_GRAIN_ELEMS / a.ncol + 1;
    return ili_parallel_for(ctx, nrow, grain,
                            o->dtype == IL_DTYPE_F32 ? row_task_float : row_task_double, &a);
}
