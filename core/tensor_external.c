/*
 * tensor_external.c: tensors over memory the host owns (il_tensor_from_host). The storage is
 * marked external, so storage_release (tensor.c) calls the host's release hook instead of
 * freeing the data: a host hands a script or a network its own buffer without a copy.
 */
#include "il_impl.h"

#include <string.h>

il_status il_tensor_from_host(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                              void *data, void (*release)(void *ud), void *ud,
                              il_tensor **out) {
    il_status s = IL_OK;
    if (ctx == NULL || out == NULL) {
        s = IL_E_ARG;
        goto fail;
    }
    *out = NULL;
    if ((unsigned)dt >= IL_DTYPE_COUNT) {
        s = ili_seterr(ctx, IL_E_DTYPE, "il_tensor_from_host: unknown dtype %d", (int)dt);
        goto fail;
    }
    if ((s = ili_check_shape(ctx, ndim, shape)) != IL_OK) goto fail;
    size_t esize = il_dtype_size(dt), nbytes = (size_t)ili_numel(ndim, shape) * esize;
    if (data == NULL && nbytes > 0) {
        s = ili_seterr(ctx, IL_E_ARG, "il_tensor_from_host: data is NULL");
        goto fail;
    }
    /* Kernels load whole elements; a misaligned pointer would be undefined behaviour there. */
    if ((uintptr_t)data % esize != 0) {
        s = ili_seterr(ctx, IL_E_ARG, "il_tensor_from_host: data is not aligned to %zu bytes",
                       esize);
        goto fail;
    }
    ili_storage *st = ili_malloc(ctx, sizeof *st);
    il_tensor *t = st != NULL ? ili_malloc(ctx, sizeof *t) : NULL;
    if (t == NULL) {
        if (st != NULL) ili_free(ctx, st, sizeof *st);
        s = ili_nomem(ctx, sizeof *st + sizeof *t);
        goto fail;
    }
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->data = data;
    st->nbytes = nbytes;
    st->refcount = 1;
    st->device = IL_DEVICE_CPU;
    st->ext = 1;
    st->ext_release = release;
    st->ext_ud = ud;
    /* As tensor.c's handle_new: one handle owning the storage's one reference. */
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->st = st;
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    ili_contiguous_strides(ndim, t->shape, t->stride);
    ctx->live_tensors++;
    *out = t;
    return IL_OK;
fail:
    /* The caller handed over the release duty with the call: honour it on failure too. */
    if (release != NULL) release(ud);
    return s;
}
