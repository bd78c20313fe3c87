/*
 * backend.c: the only way the core reaches a backend. The wrappers check what the slots may
 * take for granted (valid dtypes and ranks, a backend that exists) and turn a missing device
 * into a clear IL_E_DEVICE.
 */
#include "il_impl.h"

#include <string.h>

#ifndef IL_HAVE_CUDA
/* What every CUDA request says in a build without the backend. */
#define NO_CUDA "cuda device not available: this build of iron-learn has no CUDA backend " \
                "(built without CUDA)"
#endif

const struct il_backend_ops *ili_backend_get(il_ctx *ctx, il_device dev) {
    switch (dev) {
    case IL_DEVICE_CPU: return &ili_cpu_backend;
    case IL_DEVICE_CUDA:
#ifdef IL_HAVE_CUDA
        /* The first call on a context probes the device; later ones find ctx->cuda set. */
        if (ctx->cuda != NULL || ili_cuda_ready(ctx) == IL_OK) return &ili_cuda_backend;
#else
        ili_seterr(ctx, IL_E_DEVICE, "%s", NO_CUDA);
#endif
        return NULL;
    default: break;
    }
    ili_seterr(ctx, IL_E_DEVICE, "unknown device %d", (int)dev);
    return NULL;
}

il_status ili_backend_alloc(il_ctx *ctx, il_device dev, size_t n, void **out) {
    const struct il_backend_ops *b = ili_backend_get(ctx, dev);
    if (b == NULL) return IL_E_DEVICE;
    if (n == 0) return ili_seterr(ctx, IL_E_INTERNAL, "backend alloc of 0 bytes");
    return b->alloc(ctx, n, out);
}

void ili_backend_free(il_ctx *ctx, il_device dev, void *p, size_t n) {
    const struct il_backend_ops *b = ili_backend_get(ctx, dev);
    if (b != NULL && p != NULL) b->free(ctx, p, n);
}

static il_status copy_slot(il_ctx *ctx, il_device dev, int in, void *dst, const void *src,
                           size_t n) {
    const struct il_backend_ops *b = ili_backend_get(ctx, dev);
    if (b == NULL) return IL_E_DEVICE;
    il_status (*slot)(il_ctx *, void *, const void *, size_t) = in ? b->copy_in : b->copy_out;
    if (slot == NULL) {
        memcpy(dst, src, n); /* the device shares host memory */
        return IL_OK;
    }
    return slot(ctx, dst, src, n);
}

il_status ili_backend_copy_in(il_ctx *ctx, il_device dev, void *dst, const void *src, size_t n) {
    return copy_slot(ctx, dev, 1, dst, src, n);
}

il_status ili_backend_copy_out(il_ctx *ctx, il_device dev, void *dst, const void *src,
                               size_t n) {
    return copy_slot(ctx, dev, 0, dst, src, n);
}

static il_status check_desc(il_ctx *ctx, const il_opcall *c, const il_tdesc *d) {
    if ((unsigned)d->dtype >= IL_DTYPE_COUNT || d->ndim < 0 || d->ndim > IL_MAX_DIMS)
        return ili_seterr(ctx, IL_E_INTERNAL, "%s: malformed tensor descriptor",
                          il_op_name(c->op));
    return IL_OK;
}

/* TAKE_ROWS's shape rules (il_ops.def): in[0] (R, rest...), in[1] an i64 vector (n), out
 * (n, rest...) of in[0]'s dtype. The kernels index by these shapes, so a mismatch here would
 * read or write outside the operands. */
static il_status check_take_rows(il_ctx *ctx, const il_opcall *c) {
    const il_tdesc *x = &c->in[0], *idx = &c->in[1], *o = &c->out;
    int ok = c->nin == 2 && x->ndim >= 1 && o->ndim == x->ndim && o->dtype == x->dtype &&
             idx->ndim == 1 && idx->dtype == IL_DTYPE_I64 && idx->shape[0] == o->shape[0] &&
             (x->shape[0] >= 1 || o->shape[0] == 0);
    for (int d = 1; ok && d < x->ndim; d++) ok = o->shape[d] == x->shape[d];
    if (ok) return IL_OK;
    return ili_seterr(ctx, IL_E_INTERNAL, "take_rows: malformed operands");
}

il_status ili_backend_run(il_ctx *ctx, il_device dev, const il_opcall *c) {
    const struct il_backend_ops *b = ili_backend_get(ctx, dev);
    if (b == NULL) return IL_E_DEVICE;
    if ((unsigned)c->op >= IL_OP_COUNT || c->nin < 0 || c->nin > IL_MAX_OP_INPUTS)
        return ili_seterr(ctx, IL_E_INTERNAL, "malformed op call");
    for (int i = 0; i < c->nin; i++) IL_TRY(check_desc(ctx, c, &c->in[i]));
    IL_TRY(check_desc(ctx, c, &c->out));
    if (c->op == IL_OP_TAKE_ROWS) IL_TRY(check_take_rows(ctx, c));
    if (b->supports != NULL && !b->supports(ctx, c))
        return ili_seterr(ctx, IL_E_UNSUPPORTED, "%s is not supported by the %s backend",
                          il_op_name(c->op), b->name);
    return b->run(ctx, c);
}

/* ---- device API (ironlearn.h) -------------------------------------------------------------- */

il_status il_device_memory(il_ctx *ctx, il_device dev, il_device_mem_stats *out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "device_memory: out is NULL");
    if (dev == IL_DEVICE_CPU) {
        out->allocated = out->reserved = ctx->mem.bytes_in_use;
        out->peak = ctx->mem.bytes_peak;
        return IL_OK;
    }
    if (ili_backend_get(ctx, dev) == NULL) return IL_E_DEVICE;
#ifdef IL_HAVE_CUDA
    return ili_cuda_memory(ctx, out);
#else
    return IL_E_DEVICE; /* unreachable: ili_backend_get refused the device */
#endif
}

#ifndef IL_HAVE_CUDA
/* Built without the CUDA backend: every CUDA entry point says so. */
static il_status no_cuda(il_ctx *ctx) {
    if (ctx == NULL) return IL_E_ARG;
    return ili_seterr(ctx, IL_E_DEVICE, "%s", NO_CUDA);
}

il_status il_cuda_available(il_ctx *ctx) { return no_cuda(ctx); }
il_status il_cuda_trim(il_ctx *ctx) { return no_cuda(ctx); }
il_status il_cuda_set_tf32(il_ctx *ctx, int on) { (void)on; return no_cuda(ctx); }
il_status il_cuda_set_memory_limit(il_ctx *ctx, size_t bytes) {
    (void)bytes;
    return no_cuda(ctx);
}
#endif
