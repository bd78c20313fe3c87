/*
 * tensor_matmul.c: il_tensor_matmul with numpy.matmul's rules. 1-D operands are promoted to
 * matrices (a row for the left, a column for the right) and the added axis is dropped from the
 * result; leading batch axes broadcast (stride 0, never copied).
 */
#include "il_impl.h"

#include <string.h>

/* Geometry of one operand as a matrix stack: rows/cols axes last. */
typedef struct mat_view {
    int ndim;
    int64_t shape[IL_MAX_DIMS];
    int64_t stride[IL_MAX_DIMS];
} mat_view;

static void as_matrix(const il_tensor *t, int left, mat_view *m) {
    if (t->ndim == 1) {
        m->ndim = 2;
        /* left: (1, K); right: (K, 1). The dummy axis gets stride 0. */
        m->shape[0] = left ? 1 : t->shape[0];
        m->shape[1] = left ? t->shape[0] : 1;
        m->stride[0] = left ? 0 : t->stride[0];
        m->stride[1] = left ? t->stride[0] : 0;
        return;
    }
    m->ndim = t->ndim;
    memcpy(m->shape, t->shape, sizeof m->shape);
    memcpy(m->stride, t->stride, sizeof m->stride);
}

/* Descriptor of m broadcast over the batch shape (nb axes) of the result. */
static void batch_desc(const il_tensor *t, const mat_view *m, int nb, const int64_t *bshape,
                       il_tdesc *d) {
    ili_tensor_desc(t, d);
    d->ndim = nb + 2;
    int mb = m->ndim - 2;
    for (int i = 0; i < nb; i++) {
        int j = mb - nb + i;
        d->shape[i] = bshape[i];
        d->stride[i] = (j >= 0 && m->shape[j] == bshape[i] && bshape[i] != 1) ? m->stride[j] : 0;
    }
    for (int i = 0; i < 2; i++) {
        d->shape[nb + i] = m->shape[mb + i];
        d->stride[nb + i] = m->stride[mb + i];
    }
}

static il_status shape_error(il_ctx *ctx, const il_tensor *a, const il_tensor *b,
                             const char *why) {
    char sa[160], sb[160];
    return ili_seterr(ctx, IL_E_SHAPE, "matmul: %s: %s @ %s", why,
                      ili_shape_str(sa, sizeof sa, a->ndim, a->shape),
                      ili_shape_str(sb, sizeof sb, b->ndim, b->shape));
}

static il_status run_matmul(il_ctx *ctx, const il_tensor *a, const il_tensor *b,
                            il_tensor **out) {
    mat_view ma, mb;
    as_matrix(a, 1, &ma);
    as_matrix(b, 0, &mb);
    if (ma.shape[ma.ndim - 1] != mb.shape[mb.ndim - 2]) return shape_error(ctx, a, b, "inner sizes differ");
    int nb;
    int64_t bshape[IL_MAX_DIMS];
    if (ili_broadcast_shape(ctx, "matmul", ma.ndim - 2, ma.shape, mb.ndim - 2, mb.shape, &nb,
                            bshape) != IL_OK)
        return shape_error(ctx, a, b, "batch shapes do not broadcast");
    int64_t m = ma.shape[ma.ndim - 2], n = mb.shape[mb.ndim - 1];
    /* The result drops the axes that 1-D operands gained. */
    int64_t rshape[IL_MAX_DIMS];
    int rn = nb;
    memcpy(rshape, bshape, (size_t)nb * sizeof *bshape);
    if (a->ndim > 1) rshape[rn++] = m;
    if (b->ndim > 1) rshape[rn++] = n;
    il_tensor *r;
    IL_TRY(ili_tensor_new(ctx, rn, rshape, a->dtype, a->st->device, &r));
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_MATMUL;
    c.nin = 2;
    batch_desc(a, &ma, nb, bshape, &c.in[0]);
    batch_desc(b, &mb, nb, bshape, &c.in[1]);
    ili_tensor_desc(r, &c.out);
    c.out.ndim = nb + 2;
    memcpy(c.out.shape, bshape, (size_t)nb * sizeof *bshape);
    c.out.shape[nb] = m;
    c.out.shape[nb + 1] = n;
    ili_contiguous_strides(nb + 2, c.out.shape, c.out.stride);
    il_status s = ili_backend_run(ctx, r->st->device, &c);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

il_status il_tensor_matmul(il_ctx *ctx, const il_tensor *a, const il_tensor *b,
                           il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, a, "matmul"));
    IL_TRY(ili_check_tensor(ctx, b, "matmul"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "matmul: out is NULL");
    *out = NULL;
    if (a->ndim == 0 || b->ndim == 0) return shape_error(ctx, a, b, "operands must have at least 1 dimension");
    if (a->st->device != b->st->device)
        return ili_seterr(ctx, IL_E_DEVICE, "matmul: operands on different devices (%s and %s)",
                          il_device_name(a->st->device), il_device_name(b->st->device));
    il_dtype dt = ili_dtype_promote(a->dtype, b->dtype);
    il_tensor *ca = NULL, *cb = NULL;
    il_status s = IL_OK;
    if (a->dtype != dt) s = il_tensor_to_dtype(ctx, a, dt, &ca);
    if (s == IL_OK && b->dtype != dt) s = il_tensor_to_dtype(ctx, b, dt, &cb);
    if (s == IL_OK) s = run_matmul(ctx, ca ? ca : a, cb ? cb : b, out);
    il_tensor_free(ca);
    il_tensor_free(cb);
    return s;
}
