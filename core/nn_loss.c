/*
 * nn_loss.c: losses. Checks that targets fit a loss (with messages naming the loss and both
 * shapes), turns an il_loss into a LOSS op for the backend, and offers il_loss_eval.
 *
 * Targets go to the kernel through their own descriptor, whatever their dtype and strides: the
 * kernel converts element by element, so il_net_step never copies or allocates for a target.
 */
#include "nn_impl.h"

#include <math.h>
#include <string.h>

static const char *const loss_names[IL_LOSS_COUNT] = {"mse", "bce", "bce_logits",
                                                      "cross_entropy", "l1", "huber"};

/* IL_E_ARG unless loss names a known kind with sensible parameters. */
static il_status check_kind(il_ctx *ctx, const il_loss *loss) {
    if (loss == NULL) return ili_seterr(ctx, IL_E_ARG, "loss: NULL");
    if ((unsigned)loss->kind >= IL_LOSS_COUNT)
        return ili_seterr(ctx, IL_E_ARG, "loss: unknown kind %d", (int)loss->kind);
    if (loss->kind == IL_LOSS_HUBER && !(loss->delta >= 0 && isfinite(loss->delta)))
        return ili_seterr(ctx, IL_E_ARG, "huber: delta must be finite and > 0 (got %g)",
                          loss->delta);
    return IL_OK;
}

/* Cross-entropy targets: (B) or (B, 1) class indices, or (B, C) probabilities. */
static int ce_target_ok(const int64_t *ps, const il_tensor *t) {
    if (t->ndim == 1) return t->shape[0] == ps[0];
    return t->ndim == 2 && t->shape[0] == ps[0] && (t->shape[1] == 1 || t->shape[1] == ps[1]);
}

/* Other losses: pred's shape, or (B) when there is one feature. */
static int ew_target_ok(const int64_t *ps, const il_tensor *t) {
    if (t->ndim == 1) return t->shape[0] == ps[0] && ps[1] == 1;
    return t->ndim == 2 && t->shape[0] == ps[0] && t->shape[1] == ps[1];
}

/* The message for a target that does not fit, listing the shapes that would. */
static il_status shape_error(il_ctx *ctx, il_loss_kind kind, const int64_t *ps,
                             const il_tensor *t) {
    char ts[96], pr[64];
    ili_shape_str(ts, sizeof ts, t->ndim, t->shape);
    ili_shape_str(pr, sizeof pr, 2, ps);
    long long b = (long long)ps[0], f = (long long)ps[1];
    if (kind == IL_LOSS_CROSS_ENTROPY)
        return ili_seterr(ctx, IL_E_SHAPE,
                          "cross_entropy: target shape %s does not match logits %s; expected "
                          "class indices (%lld) or (%lld, 1), or probabilities (%lld, %lld)",
                          ts, pr, b, b, b, f);
    if (f == 1)
        return ili_seterr(ctx, IL_E_SHAPE,
                          "%s: target shape %s does not match predictions %s; expected %s or "
                          "(%lld)",
                          loss_names[kind], ts, pr, pr, b);
    return ili_seterr(ctx, IL_E_SHAPE,
                      "%s: target shape %s does not match predictions %s; expected %s",
                      loss_names[kind], ts, pr, pr);
}

/*
 * Checks loss and target against predictions of shape pshape (pndim must be 2). Statuses:
 * IL_OK; IL_E_ARG for a NULL or unknown loss, a bad Huber delta, a NULL target; IL_E_SHAPE
 * for predictions that are not (batch, features) or a target that does not fit.
 */
il_status ili_loss_check(il_ctx *ctx, const il_loss *loss, int pndim, const int64_t *pshape,
                         const il_tensor *target) {
    IL_TRY(check_kind(ctx, loss));
    const char *name = loss_names[loss->kind];
    if (pndim != 2) {
        char ps[128];
        ili_shape_str(ps, sizeof ps, pndim, pshape);
        return ili_seterr(ctx, IL_E_SHAPE, "%s: predictions must be 2-D (batch, features), got %s",
                          name, ps);
    }
    if (target == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: target is NULL", name);
    IL_TRY(ili_check_tensor(ctx, target, name));
    int ok = loss->kind == IL_LOSS_CROSS_ENTROPY ? ce_target_ok(pshape, target)
                                                 : ew_target_ok(pshape, target);
    if (!ok) return shape_error(ctx, loss->kind, pshape, target);
    if (loss->kind == IL_LOSS_CROSS_ENTROPY && pshape[1] == 0) {
        char ps[64];
        ili_shape_str(ps, sizeof ps, 2, pshape);
        return ili_seterr(ctx, IL_E_SHAPE, "cross_entropy: logits %s have no classes", ps);
    }
    return IL_OK;
}

static il_op loss_op(const il_loss *loss, const il_tensor *target, const int64_t *pshape) {
    switch (loss->kind) {
    case IL_LOSS_MSE: return IL_OP_LOSS_MSE;
    case IL_LOSS_BCE: return IL_OP_LOSS_BCE;
    case IL_LOSS_BCE_LOGITS: return IL_OP_LOSS_BCE_LOGITS;
    case IL_LOSS_L1: return IL_OP_LOSS_L1;
    case IL_LOSS_HUBER: return IL_OP_LOSS_HUBER;
    default: break;
    }
    /* (B, C) with C > 1 holds probabilities; (B) and (B, 1) hold indices. */
    int probs = target->ndim == 2 && target->shape[1] == pshape[1] && pshape[1] != 1;
    return probs ? IL_OP_LOSS_CE_PROBS : IL_OP_LOSS_CE_INDEX;
}

/*
 * Runs the loss op on dev: value (0-d, pred's dtype) always, grad unless grad->data is NULL.
 * pred and target were checked by ili_loss_check; the target must live on dev (IL_E_DEVICE
 * otherwise). Allocates nothing. Other statuses: the backend's (IL_E_RANGE for a class index
 * out of range).
 */
il_status ili_loss_run(il_ctx *ctx, il_device dev, const il_loss *loss, const il_tdesc *pred,
                       const il_tensor *target, const il_tdesc *grad, const il_tdesc *value) {
    if (target->st->device != dev)
        return ili_seterr(ctx, IL_E_DEVICE, "%s: target is on %s, predictions on %s",
                          loss_names[loss->kind], il_device_name(target->st->device),
                          il_device_name(dev));
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = loss_op(loss, target, pred->shape);
    c.nin = 2;
    c.in[0] = *pred;
    ili_tensor_desc(target, &c.in[1]);
    if (grad != NULL) c.out = *grad;
    if (c.out.data == NULL) { /* no gradient: still a well-formed descriptor for the checks */
        c.out.dtype = pred->dtype;
        c.out.ndim = 0;
    }
    c.out2 = *value;
    c.p[0] = loss->delta > 0 ? loss->delta : 1.0;
    return ili_backend_run(ctx, dev, &c);
}

/* IL_E_SHAPE / IL_E_DTYPE / IL_E_DEVICE unless grad is shaped, typed and placed like pred. */
static il_status check_grad(il_ctx *ctx, const il_tensor *pred, const il_tensor *grad) {
    IL_TRY(ili_check_tensor(ctx, grad, "loss gradient"));
    int same = grad->ndim == pred->ndim;
    for (int i = 0; same && i < pred->ndim; i++) same = grad->shape[i] == pred->shape[i];
    if (!same) {
        char gs[128], ps[128];
        ili_shape_str(gs, sizeof gs, grad->ndim, grad->shape);
        ili_shape_str(ps, sizeof ps, pred->ndim, pred->shape);
        return ili_seterr(ctx, IL_E_SHAPE, "loss gradient: shape %s does not match predictions %s",
                          gs, ps);
    }
    if (grad->dtype != pred->dtype)
        return ili_seterr(ctx, IL_E_DTYPE, "loss gradient: dtype %s differs from predictions' %s",
                          il_dtype_name(grad->dtype), il_dtype_name(pred->dtype));
    if (grad->st->device != pred->st->device)
        return ili_seterr(ctx, IL_E_DEVICE, "loss gradient: not on the predictions' device");
    return IL_OK;
}

/*
 * Public: the loss of pred against target into *value and, when grad is not NULL, d loss/d pred
 * into grad. Statuses: IL_OK; IL_E_ARG for NULL arguments or a bad loss; IL_E_DTYPE for
 * predictions that are not f32/f64; IL_E_SHAPE for shapes that do not fit; IL_E_RANGE for class
 * indices out of range; IL_E_NOMEM for the temporary value.
 */
il_status il_loss_eval(il_ctx *ctx, const il_loss *loss, const il_tensor *pred,
                       const il_tensor *target, double *value, il_tensor *grad) {
    if (ctx == NULL) return IL_E_ARG;
    IL_TRY(ili_check_tensor(ctx, pred, "loss predictions"));
    if (value == NULL) return ili_seterr(ctx, IL_E_ARG, "loss: value is NULL");
    if (pred->dtype != IL_DTYPE_F32 && pred->dtype != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "loss: predictions must be f32 or f64, not %s",
                          il_dtype_name(pred->dtype));
    IL_TRY(ili_loss_check(ctx, loss, pred->ndim, pred->shape, target));
    if (grad != NULL) IL_TRY(check_grad(ctx, pred, grad));
    il_device dev = pred->st->device;
    il_tensor *v = NULL;
    IL_TRY(ili_tensor_new(ctx, 0, NULL, pred->dtype, dev, &v));
    il_tdesc pd, gd, vd;
    ili_tensor_desc(pred, &pd);
    ili_tensor_desc(v, &vd);
    memset(&gd, 0, sizeof gd);
    if (grad != NULL) ili_tensor_desc(grad, &gd);
    il_status s = ili_loss_run(ctx, dev, loss, &pd, target, &gd, &vd);
    if (s == IL_OK) s = il_tensor_item(ctx, v, value);
    il_tensor_free(v);
    return s;
}
