/*
 * tensor_ops.c: the public arithmetic entry points. Each checks its operands, works out the
 * result's dtype and shape (NumPy promotion and broadcasting), allocates the result and hands
 * one il_opcall to the operands' backend. Broadcast operands reach the kernels as stride-0
 * descriptors: nothing is expanded in memory.
 */
#include "il_impl.h"

#include <math.h>
#include <string.h>

static il_status same_device(il_ctx *ctx, const char *what, const il_tensor *a,
                             const il_tensor *b) {
    if (a->st->device == b->st->device) return IL_OK;
    return ili_seterr(ctx, IL_E_DEVICE, "%s: operands on different devices (%s and %s)", what,
                      il_device_name(a->st->device), il_device_name(b->st->device));
}

/* *out is t itself (borrowed, *owned NULL) when it already has dtype dt, else a converted copy
 * that the caller frees through *owned. */
static il_status as_dtype(il_ctx *ctx, const il_tensor *t, il_dtype dt, const il_tensor **out,
                          il_tensor **owned) {
    *owned = NULL;
    *out = t;
    if (t->dtype == dt) return IL_OK;
    IL_TRY(il_tensor_to_dtype(ctx, t, dt, owned));
    *out = *owned;
    return IL_OK;
}

static il_status run_binary(il_ctx *ctx, il_op op, const il_tensor *a, const il_tensor *b,
                            il_tensor **out) {
    int n;
    int64_t shape[IL_MAX_DIMS];
    IL_TRY(ili_broadcast_shape(ctx, il_op_name(op), a->ndim, a->shape, b->ndim, b->shape, &n,
                               shape));
    il_tensor *r;
    IL_TRY(ili_tensor_new(ctx, n, shape, a->dtype, a->st->device, &r));
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.nin = 2;
    ili_tensor_desc_expand(a, n, shape, &c.in[0]);
    ili_tensor_desc_expand(b, n, shape, &c.in[1]);
    ili_tensor_desc(r, &c.out);
    il_status s = ili_backend_run(ctx, r->st->device, &c);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

static il_status check_kind(il_ctx *ctx, il_op op, il_op first, il_op last, const char *kind) {
    if (op >= first && op <= last) return IL_OK;
    return ili_seterr(ctx, IL_E_ARG, "%s is not a%s op", il_op_name(op), kind);
}

il_status il_tensor_binary(il_ctx *ctx, il_op op, const il_tensor *a, const il_tensor *b,
                           il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, a, il_op_name(op)));
    IL_TRY(ili_check_tensor(ctx, b, il_op_name(op)));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: out is NULL", il_op_name(op));
    *out = NULL;
    IL_TRY(check_kind(ctx, op, IL_OP_ADD, IL_OP_MINIMUM, " binary"));
    IL_TRY(same_device(ctx, il_op_name(op), a, b));
    il_dtype dt = ili_dtype_promote(a->dtype, b->dtype);
    const il_tensor *ca, *cb;
    il_tensor *oa, *ob = NULL;
    IL_TRY(as_dtype(ctx, a, dt, &ca, &oa));
    il_status s = as_dtype(ctx, b, dt, &cb, &ob);
    if (s == IL_OK) s = run_binary(ctx, op, ca, cb, out);
    il_tensor_free(oa);
    il_tensor_free(ob);
    return s;
}

il_status il_tensor_binary_scalar(il_ctx *ctx, il_op op, const il_tensor *a, double s,
                                  int reverse, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, a, il_op_name(op)));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: out is NULL", il_op_name(op));
    *out = NULL;
    /* An integer tensor meets a fractional number as f32, as in PyTorch. */
    il_dtype dt = a->dtype;
    if (dt == IL_DTYPE_I64 && (s != floor(s) || !isfinite(s))) dt = IL_DTYPE_F32;
    il_tensor *k;
    IL_TRY(il_tensor_full(ctx, 0, NULL, s, dt, a->st->device, &k));
    il_status st = reverse ? il_tensor_binary(ctx, op, k, a, out)
                           : il_tensor_binary(ctx, op, a, k, out);
    il_tensor_free(k);
    return st;
}

static il_status run_unary(il_ctx *ctx, il_op op, const il_tensor *a, double lo, double hi,
                           il_tensor **out) {
    il_tensor *r;
    IL_TRY(ili_tensor_new(ctx, a->ndim, a->shape, a->dtype, a->st->device, &r));
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.nin = 1;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(r, &c.out);
    c.p[0] = lo;
    c.p[1] = hi;
    il_status s = ili_backend_run(ctx, r->st->device, &c);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

il_status il_tensor_unary(il_ctx *ctx, il_op op, const il_tensor *a, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, a, il_op_name(op)));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: out is NULL", il_op_name(op));
    *out = NULL;
    IL_TRY(check_kind(ctx, op, IL_OP_NEG, IL_OP_SQRT, " unary"));
    return run_unary(ctx, op, a, 0, 0, out);
}

il_status il_tensor_clamp(il_ctx *ctx, const il_tensor *a, double lo, double hi,
                          il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, a, "clamp"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "clamp: out is NULL");
    *out = NULL;
    if (isnan(lo) || isnan(hi)) return ili_seterr(ctx, IL_E_NUMERIC, "clamp: bound is NaN");
    if (lo > hi) return ili_seterr(ctx, IL_E_ARG, "clamp: lower bound %g > upper bound %g", lo, hi);
    return run_unary(ctx, IL_OP_CLAMP, a, lo, hi, out);
}

il_status il_tensor_reduce(il_ctx *ctx, il_op op, const il_tensor *a, int axis, int keepdim,
                           il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, a, il_op_name(op)));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: out is NULL", il_op_name(op));
    *out = NULL;
    IL_TRY(check_kind(ctx, op, IL_OP_SUM, IL_OP_SUMSQ, " reduction"));
    int ax = IL_AXIS_ALL;
    if (axis != IL_AXIS_ALL) IL_TRY(ili_axis(ctx, axis, a->ndim, &ax));
    /* kshape: the kernel's keepdim shape; rshape: the result's (same memory layout). */
    int64_t kshape[IL_MAX_DIMS], rshape[IL_MAX_DIMS];
    int rn = 0;
    for (int i = 0; i < a->ndim; i++) {
        int reduced = ax == IL_AXIS_ALL || i == ax;
        kshape[i] = reduced ? 1 : a->shape[i];
        if (keepdim || !reduced) rshape[rn++] = kshape[i];
    }
    il_dtype dt = op == IL_OP_ARGMAX ? IL_DTYPE_I64 : a->dtype;
    il_tensor *r;
    IL_TRY(ili_tensor_new(ctx, rn, rshape, dt, a->st->device, &r));
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.nin = 1;
    c.axis = ax;
    ili_tensor_desc(a, &c.in[0]);
    ili_tensor_desc(r, &c.out);
    c.out.ndim = a->ndim;
    memcpy(c.out.shape, kshape, sizeof kshape);
    ili_contiguous_strides(a->ndim, kshape, c.out.stride);
    il_status s = ili_backend_run(ctx, r->st->device, &c);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}
