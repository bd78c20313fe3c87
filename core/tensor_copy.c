/*
 * tensor_copy.c: operations that move or convert data without arithmetic: reshape (a view when
 * the strides allow, else a copy), contiguous, clone, dtype and device conversion, copy_, fill_,
 * and reads into host memory.
 */
#include "il_impl.h"

#include <string.h>

/* Host descriptor of a contiguous buffer. */
static void host_desc(void *data, il_dtype dt, int ndim, const int64_t *shape, il_tdesc *d) {
    memset(d, 0, sizeof *d);
    d->data = data;
    d->dtype = dt;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    ili_contiguous_strides(ndim, shape, d->stride);
}

static il_status run_copy(il_ctx *ctx, il_device dev, const il_tdesc *src, const il_tdesc *dst) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_COPY;
    c.nin = 1;
    c.in[0] = *src;
    c.out = *dst;
    return ili_backend_run(ctx, dev, &c);
}

il_status il_tensor_copy_(il_ctx *ctx, il_tensor *dst, const il_tensor *src) {
    IL_TRY(ili_check_tensor(ctx, dst, "copy_"));
    IL_TRY(ili_check_tensor(ctx, src, "copy_"));
    if (dst->st->device != src->st->device)
        return ili_seterr(ctx, IL_E_DEVICE, "copy_: source is on %s, destination on %s",
                          il_device_name(src->st->device), il_device_name(dst->st->device));
    int n;
    int64_t shape[IL_MAX_DIMS];
    IL_TRY(ili_broadcast_shape(ctx, "copy_", dst->ndim, dst->shape, src->ndim, src->shape, &n,
                               shape));
    if (n != dst->ndim || memcmp(shape, dst->shape, (size_t)n * sizeof *shape) != 0) {
        char a[160], b[160];
        return ili_seterr(ctx, IL_E_SHAPE, "copy_: source shape %s does not fit destination %s",
                          ili_shape_str(a, sizeof a, src->ndim, src->shape),
                          ili_shape_str(b, sizeof b, dst->ndim, dst->shape));
    }
    il_tdesc s, d;
    ili_tensor_desc_expand(src, dst->ndim, dst->shape, &s);
    ili_tensor_desc(dst, &d);
    return run_copy(ctx, dst->st->device, &s, &d);
}

il_status il_tensor_fill_(il_ctx *ctx, il_tensor *t, double value) {
    IL_TRY(ili_check_tensor(ctx, t, "fill_"));
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_FILL;
    ili_tensor_desc(t, &c.out);
    c.p[0] = value;
    return ili_backend_run(ctx, t->st->device, &c);
}

/* New tensor of dtype dt on t's device with t's values. */
static il_status convert(il_ctx *ctx, const il_tensor *t, il_dtype dt, il_tensor **out) {
    il_tensor *r;
    IL_TRY(ili_tensor_new(ctx, t->ndim, t->shape, dt, t->st->device, &r));
    il_status s = il_tensor_copy_(ctx, r, t);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

il_status il_tensor_clone(il_ctx *ctx, const il_tensor *t, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "clone"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "clone: out is NULL");
    return convert(ctx, t, t->dtype, out);
}

il_status il_tensor_contiguous(il_ctx *ctx, const il_tensor *t, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "contiguous"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "contiguous: out is NULL");
    if (il_tensor_is_contiguous(t)) return il_tensor_ref(ctx, t, out);
    return convert(ctx, t, t->dtype, out);
}

il_status il_tensor_to_dtype(il_ctx *ctx, const il_tensor *t, il_dtype dt, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "to"));
    if ((unsigned)dt >= IL_DTYPE_COUNT)
        return ili_seterr(ctx, IL_E_DTYPE, "to: unknown dtype %d", (int)dt);
    return convert(ctx, t, dt, out);
}

/* Moves a contiguous tensor's bytes between host and device. */
static il_status transfer(il_ctx *ctx, const il_tensor *c, il_device dev, il_tensor **out) {
    il_tensor *r;
    IL_TRY(ili_tensor_new(ctx, c->ndim, c->shape, c->dtype, dev, &r));
    size_t n = (size_t)il_tensor_numel(c) * il_dtype_size(c->dtype);
    il_tdesc sd;
    ili_tensor_desc(c, &sd);
    il_status s = IL_OK;
    if (n > 0) {
        s = dev == IL_DEVICE_CPU
                ? ili_backend_copy_out(ctx, c->st->device, r->st->data, sd.data, n)
                : ili_backend_copy_in(ctx, dev, r->st->data, sd.data, n);
    }
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

il_status il_tensor_to_device(il_ctx *ctx, const il_tensor *t, il_device dev, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "to"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "to: out is NULL");
    if (ili_backend_get(ctx, dev) == NULL) return IL_E_DEVICE; /* message set by the lookup */
    if (dev == t->st->device) return il_tensor_clone(ctx, t, out);
    if (t->st->device != IL_DEVICE_CPU && dev != IL_DEVICE_CPU)
        return ili_seterr(ctx, IL_E_DEVICE, "to: direct %s to %s copies are not supported",
                          il_device_name(t->st->device), il_device_name(dev));
    il_tensor *c;
    IL_TRY(il_tensor_contiguous(ctx, t, &c));
    il_status s = transfer(ctx, c, dev, out);
    il_tensor_free(c);
    return s;
}

il_status il_tensor_read(il_ctx *ctx, const il_tensor *t, void *dst, il_dtype dst_dt,
                         int64_t capacity) {
    IL_TRY(ili_check_tensor(ctx, t, "read"));
    if ((unsigned)dst_dt >= IL_DTYPE_COUNT)
        return ili_seterr(ctx, IL_E_DTYPE, "read: unknown dtype %d", (int)dst_dt);
    int64_t n = il_tensor_numel(t);
    if (n > capacity)
        return ili_seterr(ctx, IL_E_RANGE, "read: %lld elements do not fit a buffer of %lld",
                          (long long)n, (long long)capacity);
    if (n == 0) return IL_OK;
    if (dst == NULL) return ili_seterr(ctx, IL_E_ARG, "read: destination is NULL");
    const il_tensor *host = t;
    il_tensor *moved = NULL;
    if (t->st->device != IL_DEVICE_CPU) {
        IL_TRY(il_tensor_to_device(ctx, t, IL_DEVICE_CPU, &moved));
        host = moved;
    }
    il_tdesc s, d;
    ili_tensor_desc(host, &s);
    host_desc(dst, dst_dt, host->ndim, host->shape, &d);
    il_status st = run_copy(ctx, IL_DEVICE_CPU, &s, &d);
    il_tensor_free(moved);
    return st;
}

il_status il_tensor_item(il_ctx *ctx, const il_tensor *t, double *out) {
    IL_TRY(ili_check_tensor(ctx, t, "item"));
    if (il_tensor_numel(t) != 1) {
        char b[160];
        return ili_seterr(ctx, IL_E_SHAPE, "item: tensor of shape %s has %lld elements, not 1",
                          ili_shape_str(b, sizeof b, t->ndim, t->shape),
                          (long long)il_tensor_numel(t));
    }
    return il_tensor_read(ctx, t, out, IL_DTYPE_F64, 1);
}

il_status il_tensor_from_data(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                              il_device dev, const void *src, il_dtype src_dt, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if ((unsigned)src_dt >= IL_DTYPE_COUNT)
        return ili_seterr(ctx, IL_E_DTYPE, "from_data: unknown source dtype %d", (int)src_dt);
    il_tensor *t;
    IL_TRY(ili_tensor_new(ctx, ndim, shape, dt, IL_DEVICE_CPU, &t));
    il_status s = IL_OK;
    if (il_tensor_numel(t) > 0) {
        if (src == NULL) s = ili_seterr(ctx, IL_E_ARG, "from_data: source is NULL");
        il_tdesc sd, dd;
        host_desc((void *)src, src_dt, ndim, shape, &sd);
        ili_tensor_desc(t, &dd);
        if (s == IL_OK) s = run_copy(ctx, IL_DEVICE_CPU, &sd, &dd);
    }
    if (s == IL_OK && dev != IL_DEVICE_CPU) {
        il_tensor *moved;
        s = il_tensor_to_device(ctx, t, dev, &moved);
        il_tensor_free(t);
        t = s == IL_OK ? moved : NULL;
    }
    if (s != IL_OK) {
        il_tensor_free(t);
        return s;
    }
    *out = t;
    return IL_OK;
}

/* Resolves one -1 in shape against numel into rshape. */
static il_status infer_shape(il_ctx *ctx, const il_tensor *t, int ndim, const int64_t *shape,
                             int64_t *rshape) {
    int infer = -1;
    int64_t known = 1, numel = il_tensor_numel(t);
    for (int i = 0; i < ndim; i++) {
        rshape[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0) {
            char b[160];
            return ili_seterr(ctx, IL_E_SHAPE, "reshape: invalid size %lld in shape %s (only one "
                              "size may be -1)", (long long)shape[i],
                              ili_shape_str(b, sizeof b, ndim, shape));
        }
        known *= shape[i];
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) goto mismatch;
        rshape[infer] = numel / known;
    }
    if (ili_numel(ndim, rshape) == numel) return IL_OK;
mismatch:;
    char a[160], b[160];
    return ili_seterr(ctx, IL_E_SHAPE, "reshape: cannot reshape %s (%lld elements) to %s",
                      ili_shape_str(a, sizeof a, t->ndim, t->shape), (long long)numel,
                      ili_shape_str(b, sizeof b, ndim, shape));
}

il_status il_tensor_reshape(il_ctx *ctx, const il_tensor *t, int ndim, const int64_t *shape,
                            il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "reshape"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "reshape: out is NULL");
    if (ndim < 0 || ndim > IL_MAX_DIMS || (ndim > 0 && shape == NULL))
        return ili_check_shape(ctx, ndim, shape);
    int64_t rshape[IL_MAX_DIMS], stride[IL_MAX_DIMS];
    IL_TRY(infer_shape(ctx, t, ndim, shape, rshape));
    if (ili_view_strides(t->ndim, t->shape, t->stride, ndim, rshape, stride))
        return ili_tensor_view(ctx, t, ndim, rshape, stride, t->offset, out);
    /* The strides cannot express the new shape: copy, as torch.reshape does. */
    il_tensor *c;
    IL_TRY(convert(ctx, t, t->dtype, &c));
    ili_contiguous_strides(ndim, rshape, stride);
    il_status s = ili_tensor_view(ctx, c, ndim, rshape, stride, 0, out);
    il_tensor_free(c);
    return s;
}
