/*
 * tensor.c: tensor handles, refcounted storage and views (reshape, transpose, narrow, expand).
 * A handle owns one reference to its storage; views are new handles on the same storage.
 */
#include "il_impl.h"

#include <string.h>

static il_status storage_new(il_ctx *ctx, size_t nbytes, il_device dev, ili_storage **out) {
    ili_storage *st = ili_malloc(ctx, sizeof *st);
    if (st == NULL) return ili_nomem(ctx, sizeof *st);
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->nbytes = nbytes;
    st->refcount = 1;
    st->device = dev;
    if (nbytes > 0) {
        il_status s = ili_backend_alloc(ctx, dev, nbytes, &st->data);
        if (s != IL_OK) {
            ili_free(ctx, st, sizeof *st);
            return s;
        }
    }
    *out = st;
    return IL_OK;
}

static void storage_release(ili_storage *st) {
    if (--st->refcount > 0) return;
    if (st->ext) {
        if (st->ext_release) st->ext_release(st->ext_ud);
    } else if (st->data) ili_backend_free(st->ctx, st->device, st->data, st->nbytes);
    ili_free(st->ctx, st, sizeof *st);
}

static il_status handle_new(il_ctx *ctx, ili_storage *st, il_dtype dt, il_tensor **out) {
    il_tensor *t = ili_malloc(ctx, sizeof *t);
    if (t == NULL) return ili_nomem(ctx, sizeof *t);
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->st = st;
    t->dtype = dt;
    ctx->live_tensors++;
    *out = t;
    return IL_OK;
}

il_status ili_tensor_new(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                         il_device dev, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if ((unsigned)dt >= IL_DTYPE_COUNT)
        return ili_seterr(ctx, IL_E_DTYPE, "unknown dtype %d", (int)dt);
    if ((unsigned)dev >= IL_DEVICE_COUNT)
        return ili_seterr(ctx, IL_E_DEVICE, "unknown device %d", (int)dev);
    IL_TRY(ili_check_shape(ctx, ndim, shape));
    size_t nbytes = (size_t)ili_numel(ndim, shape) * il_dtype_size(dt);
    ili_storage *st = NULL;
    IL_TRY(storage_new(ctx, nbytes, dev, &st));
    il_tensor *t = NULL;
    il_status s = handle_new(ctx, st, dt, &t);
    if (s != IL_OK) {
        storage_release(st);
        return s;
    }
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    ili_contiguous_strides(ndim, t->shape, t->stride);
    *out = t;
    return IL_OK;
}

il_status ili_tensor_view(il_ctx *ctx, const il_tensor *t, int ndim, const int64_t *shape,
                          const int64_t *stride, int64_t offset, il_tensor **out) {
    il_tensor *v = NULL;
    IL_TRY(handle_new(ctx, t->st, t->dtype, &v));
    t->st->refcount++;
    v->ndim = ndim;
    if (ndim > 0) {
        memcpy(v->shape, shape, (size_t)ndim * sizeof *shape);
        memcpy(v->stride, stride, (size_t)ndim * sizeof *stride);
    }
    v->offset = offset;
    *out = v;
    return IL_OK;
}

void il_tensor_free(il_tensor *t) {
    if (t == NULL) return;
    il_ctx *ctx = t->ctx;
    storage_release(t->st);
    ctx->live_tensors--;
    ili_free(ctx, t, sizeof *t);
}

il_status ili_check_tensor(il_ctx *ctx, const il_tensor *t, const char *what) {
    if (ctx == NULL) return IL_E_ARG;
    if (t == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: tensor is NULL", what);
    if (t->ctx != ctx)
        return ili_seterr(ctx, IL_E_ARG, "%s: tensor belongs to another context", what);
    return IL_OK;
}

void ili_tensor_desc(const il_tensor *t, il_tdesc *d) {
    memset(d, 0, sizeof *d);
    d->data = t->st->data ? (char *)t->st->data + t->offset * (int64_t)il_dtype_size(t->dtype)
                          : NULL;
    d->dtype = t->dtype;
    d->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        d->shape[i] = t->shape[i];
        d->stride[i] = t->stride[i];
    }
}

void ili_tensor_desc_expand(const il_tensor *t, int ndim, const int64_t *shape, il_tdesc *d) {
    il_tdesc src;
    ili_tensor_desc(t, &src);
    *d = src;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        int j = t->ndim - ndim + i;
        d->shape[i] = shape[i];
        /* A size-1 (or missing) axis repeats: stride 0, nothing is copied. */
        d->stride[i] = (j >= 0 && src.shape[j] == shape[i] && shape[i] != 1) ? src.stride[j] : 0;
    }
}

/* ---- properties ------------------------------------------------------------------------ */

int il_tensor_ndim(const il_tensor *t) { return t->ndim; }
const int64_t *il_tensor_shape(const il_tensor *t) { return t->shape; }
const int64_t *il_tensor_strides(const il_tensor *t) { return t->stride; }
int64_t il_tensor_numel(const il_tensor *t) { return ili_numel(t->ndim, t->shape); }
il_dtype il_tensor_dtype(const il_tensor *t) { return t->dtype; }
il_device il_tensor_device(const il_tensor *t) { return t->st->device; }
il_ctx *il_tensor_ctx(const il_tensor *t) { return t->ctx; }
size_t il_tensor_storage_bytes(const il_tensor *t) { return t->st->nbytes; }
int il_tensor_shares_storage(const il_tensor *a, const il_tensor *b) { return a->st == b->st; }

void *il_tensor_data(const il_tensor *t) {
    if (t->st->device != IL_DEVICE_CPU || t->st->data == NULL) return NULL;
    return (char *)t->st->data + t->offset * (int64_t)il_dtype_size(t->dtype);
}

int il_tensor_is_contiguous(const il_tensor *t) {
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue; /* any stride is fine on a size-1 axis */
        if (t->shape[i] == 0) return 1;
        if (t->stride[i] != expect) return 0;
        expect *= t->shape[i];
    }
    return 1;
}

/* ---- views ----------------------------------------------------------------------------- */

il_status il_tensor_ref(il_ctx *ctx, const il_tensor *t, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "ref"));
    return ili_tensor_view(ctx, t, t->ndim, t->shape, t->stride, t->offset, out);
}

il_status il_tensor_transpose(il_ctx *ctx, const il_tensor *t, int a, int b, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "transpose"));
    int ia, ib;
    IL_TRY(ili_axis(ctx, a, t->ndim, &ia));
    IL_TRY(ili_axis(ctx, b, t->ndim, &ib));
    int64_t shape[IL_MAX_DIMS], stride[IL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    memcpy(stride, t->stride, sizeof stride);
    shape[ia] = t->shape[ib];
    shape[ib] = t->shape[ia];
    stride[ia] = t->stride[ib];
    stride[ib] = t->stride[ia];
    return ili_tensor_view(ctx, t, t->ndim, shape, stride, t->offset, out);
}

il_status il_tensor_narrow(il_ctx *ctx, const il_tensor *t, int axis, int64_t start,
                           int64_t len, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "narrow"));
    int ax;
    IL_TRY(ili_axis(ctx, axis, t->ndim, &ax));
    if (start < 0 || len < 0 || start > t->shape[ax] || len > t->shape[ax] - start)
        return ili_seterr(ctx, IL_E_RANGE,
                          "narrow: elements %lld..%lld out of range for axis %d of size %lld",
                          (long long)start, (long long)(start + len - 1), ax,
                          (long long)t->shape[ax]);
    int64_t shape[IL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[ax] = len;
    return ili_tensor_view(ctx, t, t->ndim, shape, t->stride, t->offset + start * t->stride[ax],
                           out);
}

il_status il_tensor_expand(il_ctx *ctx, const il_tensor *t, int ndim, const int64_t *shape,
                           il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "expand"));
    IL_TRY(ili_check_shape(ctx, ndim, shape));
    int n;
    int64_t bshape[IL_MAX_DIMS];
    IL_TRY(ili_broadcast_shape(ctx, "expand", t->ndim, t->shape, ndim, shape, &n, bshape));
    if (n != ndim || memcmp(bshape, shape, (size_t)ndim * sizeof *shape) != 0) {
        char a[160], b[160];
        return ili_seterr(ctx, IL_E_SHAPE, "expand: cannot expand shape %s to %s",
                          ili_shape_str(a, sizeof a, t->ndim, t->shape),
                          ili_shape_str(b, sizeof b, ndim, shape));
    }
    il_tdesc d;
    ili_tensor_desc_expand(t, ndim, shape, &d);
    return ili_tensor_view(ctx, t, ndim, shape, d.stride, t->offset, out);
}
