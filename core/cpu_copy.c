/*
 * cpu_copy.c: the CPU backend's COPY (strided copy with dtype conversion between f32, f64 and
 * i64, the source possibly broadcast), FILL (set every element of a strided view) and
 * TAKE_ROWS (a row gather by an i64 index vector; the CPU dispatch reaches it through COPY's
 * entry point, as MISC ops other than FILL and BERNOULLI land there).
 *
 * Float to i64 conversion truncates toward zero, maps NaN to 0 and saturates out-of-range
 * values (ili_f2i64), so no input can trigger undefined behaviour.
 */
#include "il_impl.h"

#include <stdint.h>
#include <string.h>

#include "cpu_iter_impl.h"

#define COPY_CHUNK ((int64_t)1 << 14)

typedef struct copy_arg {
    int alias; /* out overlaps in: loops without restrict, memmove */
} copy_arg;

#define CVT_PLAIN(x) (x)
#define CVT_F2I(x) ili_f2i64((double)(x))

#define CVT_LOOPS(TO, CVT)                                                                         \
    if (os == 1 && xs == 1) {                                                                      \
        for (int64_t i = 0; i < n; i++) o[i] = CVT(x[i]);                                          \
    } else if (os == 1 && xs == 0) {                                                               \
        const TO v = CVT(x[0]);                                                                    \
        for (int64_t i = 0; i < n; i++) o[i] = v;                                                  \
    } else {                                                                                       \
        for (int64_t i = 0; i < n; i++) o[i * os] = CVT(x[i * xs]);                                \
    }

/* Row kernel NAME converting TI to TO with CVT; restrict unless out overlaps the input. */
#define DEF_CVT(NAME, TO, TI, CVT)                                                                 \
    static void NAME##_r(int64_t n, TO *restrict o, int64_t os, const TI *restrict x,              \
                         int64_t xs) {                                                             \
        CVT_LOOPS(TO, CVT)                                                                         \
    }                                                                                              \
    static void NAME##_a(int64_t n, TO *o, int64_t os, const TI *x, int64_t xs) {                  \
        CVT_LOOPS(TO, CVT)                                                                         \
    }                                                                                              \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {      \
        (void)flat;                                                                                \
        if (((const copy_arg *)arg)->alias)                                                        \
            NAME##_a(n, (TO *)p[0], st[0], (const TI *)p[1], st[1]);                               \
        else                                                                                       \
            NAME##_r(n, (TO *)p[0], st[0], (const TI *)p[1], st[1]);                               \
    }

DEF_CVT(cvt_f32_f32, float, float, CVT_PLAIN)
DEF_CVT(cvt_f32_f64, float, double, (float)CVT_PLAIN)
DEF_CVT(cvt_f32_i64, float, int64_t, (float)CVT_PLAIN)
DEF_CVT(cvt_f64_f32, double, float, (double)CVT_PLAIN)
DEF_CVT(cvt_f64_f64, double, double, CVT_PLAIN)
DEF_CVT(cvt_f64_i64, double, int64_t, (double)CVT_PLAIN)
DEF_CVT(cvt_i64_f32, int64_t, float, CVT_F2I)
DEF_CVT(cvt_i64_f64, int64_t, double, CVT_F2I)
DEF_CVT(cvt_i64_i64, int64_t, int64_t, CVT_PLAIN)

/* Converter from src to dst dtype, or NULL for an unknown dtype. */
static ili_row_fn converter(il_dtype dst, il_dtype src) {
    static const ili_row_fn table[3][3] = {
        {cvt_f32_f32, cvt_f32_f64, cvt_f32_i64},
        {cvt_f64_f32, cvt_f64_f64, cvt_f64_i64},
        {cvt_i64_f32, cvt_i64_f64, cvt_i64_i64},
    };
    int d = dst == IL_DTYPE_F32 ? 0 : dst == IL_DTYPE_F64 ? 1 : dst == IL_DTYPE_I64 ? 2 : -1;
    int s = src == IL_DTYPE_F32 ? 0 : src == IL_DTYPE_F64 ? 1 : src == IL_DTYPE_I64 ? 2 : -1;
    return d < 0 || s < 0 ? NULL : table[d][s];
}

/*
 * COPY (TAKE_ROWS goes on to take_rows below):
 * out[...] = in[0][...] converted to out's dtype. in[0] has out's shape (stride 0 allowed);
 * any strides. Both contiguous with one dtype is a single memcpy (memmove if they overlap).
 * Statuses: IL_OK, IL_E_INTERNAL (wrong op or shapes), IL_E_DTYPE, or the thread pool's.
 */
static il_status take_rows(il_ctx *ctx, const il_opcall *c);

il_status ili_cpu_copy(il_ctx *ctx, const il_opcall *c) {
    if (c->op == IL_OP_TAKE_ROWS) return take_rows(ctx, c);
    if (c->op != IL_OP_COPY || c->nin < 1)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu copy: unexpected op %s", il_op_name(c->op));
    const il_tdesc *out = &c->out, *in = &c->in[0];
    ili_row_fn fn = converter(out->dtype, in->dtype);
    if (!fn)
        return ili_seterr(ctx, IL_E_DTYPE, "copy does not support dtype %s to %s",
                          il_dtype_name(in->dtype), il_dtype_name(out->dtype));
    const il_tdesc *ops[2] = {out, in};
    ili_iter it;
    IL_TRY(ili_iter_init(ctx, &it, 2, ops, COPY_CHUNK));
    copy_arg a = {ili_desc_overlap(out, in)};
    size_t stride_bytes = sizeof(int64_t) * (size_t)out->ndim;
    int onto_itself = out->data == in->data && out->dtype == in->dtype &&
                      memcmp(out->stride, in->stride, stride_bytes) == 0;
    if (it.numel == 0 || onto_itself) return IL_OK;
    if (out->dtype == in->dtype && ili_desc_contiguous(out) && ili_desc_contiguous(in)) {
        size_t nbytes = (size_t)it.numel * il_dtype_size(out->dtype);
        if (a.alias) memmove(out->data, in->data, nbytes);
        else memcpy(out->data, in->data, nbytes);
        return IL_OK;
    }
    return ili_iter_run(ctx, &it, 1, fn, &a);
}

/* ---- fill ---------------------------------------------------------------------------------- */

typedef struct fill_arg {
    float f32;
    double f64;
    int64_t i64;
} fill_arg;

#define DEF_FILL(NAME, T, FIELD)                                                                   \
    static void NAME(void *arg, int64_t n, char *const *p, const int64_t *st, int64_t flat) {      \
        T *restrict o = (T *)p[0];                                                                 \
        const T v = ((const fill_arg *)arg)->FIELD;                                                \
        const int64_t os = st[0];                                                                  \
        (void)flat;                                                                                \
        if (os == 1) {                                                                             \
            for (int64_t i = 0; i < n; i++) o[i] = v;                                              \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) o[i * os] = v;                                         \
        }                                                                                          \
    }

DEF_FILL(fill_f32, float, f32)
DEF_FILL(fill_f64, double, f64)
DEF_FILL(fill_i64, int64_t, i64)

/*
 * out[...] = p[0], converted to out's dtype (i64 by ili_f2i64). Any strides.
 * Statuses: IL_OK, IL_E_INTERNAL (wrong op), IL_E_DTYPE, or the thread pool's.
 */
il_status ili_cpu_fill(il_ctx *ctx, const il_opcall *c) {
    if (c->op != IL_OP_FILL)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu fill: unexpected op %s", il_op_name(c->op));
    double v = c->p[0];
    fill_arg a = {(float)v, v, ili_f2i64(v)};
    ili_row_fn fn;
    switch (c->out.dtype) {
    case IL_DTYPE_F32: fn = fill_f32; break;
    case IL_DTYPE_F64: fn = fill_f64; break;
    case IL_DTYPE_I64: fn = fill_i64; break;
    default:
        return ili_seterr(ctx, IL_E_DTYPE, "fill does not support dtype %s",
                          il_dtype_name(c->out.dtype));
    }
    const il_tdesc *ops[1] = {&c->out};
    ili_iter it;
    IL_TRY(ili_iter_init(ctx, &it, 1, ops, COPY_CHUNK));
    return ili_iter_run(ctx, &it, 1, fn, &a);
}

/* ---- take_rows ----------------------------------------------------------------------------- */

/* Non-zero when axes 1.. of d are row-major contiguous (a row is one block of memory): axis 0
 * made size 1 is one ili_desc_contiguous skips. */
static int rows_packed(const il_tdesc *d) {
    il_tdesc r = *d;
    r.shape[0] = 1;
    return ili_desc_contiguous(&r);
}

/* Copies one row (axes 1.. of od/xd, rest elements of es bytes) from x to o, any strides: an
 * odometer over the row's index. */
static void copy_row(char *o, const char *x, const il_tdesc *od, const il_tdesc *xd, size_t es,
                     int64_t rest) {
    int64_t pos[IL_MAX_DIMS] = {0}, oo = 0, xo = 0;
    for (int64_t k = 0; k < rest; k++) {
        if (es == 8) memcpy(o + oo * 8, x + xo * 8, 8);
        else memcpy(o + oo * (int64_t)es, x + xo * (int64_t)es, es);
        for (int d = od->ndim - 1; d >= 1; d--) {
            oo += od->stride[d], xo += xd->stride[d];
            if (++pos[d] < od->shape[d]) break;
            oo -= od->stride[d] * od->shape[d], xo -= xd->stride[d] * xd->shape[d];
            pos[d] = 0;
        }
    }
}

/*
 * TAKE_ROWS: out row i = in[0] row in[1][i], any dtype (bytes are copied), any strides. The
 * wrapper (backend.c) checked the shapes; indices are clamped to [0, R) so that a bad one
 * cannot read outside in[0] (callers check them first). Statuses: IL_OK, IL_E_INTERNAL.
 */
static il_status take_rows(il_ctx *ctx, const il_opcall *c) {
    const il_tdesc *o = &c->out, *x = &c->in[0], *ix = &c->in[1];
    if (c->nin != 2) return ili_seterr(ctx, IL_E_INTERNAL, "cpu take_rows: bad operands");
    size_t es = il_dtype_size(o->dtype);
    int64_t n = o->shape[0], nrows = x->shape[0], rest = 1;
    for (int d = 1; d < o->ndim; d++) rest *= o->shape[d];
    if (n == 0 || rest == 0) return IL_OK;
    const int64_t *idx = (const int64_t *)ix->data;
    int packed = rows_packed(o) && rows_packed(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx[i * ix->stride[0]];
        r = r < 0 ? 0 : r >= nrows ? nrows - 1 : r;
        char *dst = (char *)o->data + i * o->stride[0] * (int64_t)es;
        const char *src = (const char *)x->data + r * x->stride[0] * (int64_t)es;
        if (packed) memcpy(dst, src, (size_t)rest * es);
        else copy_row(dst, src, o, x, es, rest);
    }
    return IL_OK;
}
