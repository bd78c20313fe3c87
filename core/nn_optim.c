/*
 * nn_optim.c: optimizers (SGD, Adam, AdamW, RMSprop) and gradient clipping by global norm.
 *
 * An optimizer is made for one network: its state (momentum buffer, moments, square average)
 * lives in device tensors shaped like the network's one parameter buffer, and one OPTIM op
 * updates the whole buffer per step. Everything an update needs, clipping's scratch included,
 * is allocated by il_optim_new, so ili_optim_apply allocates nothing.
 *
 * Clipping follows torch.nn.utils.clip_grad_norm_ except that the scale is exactly
 * clip_norm / norm (torch adds 1e-6 to the norm), so clipped gradients have norm clip_norm.
 */
#include "nn_impl.h"

#include <math.h>
#include <string.h>

/* Options each kind takes; setting another one is an error that names it. */
enum { U_MOM = 1, U_NEST = 2, U_BETAS = 4, U_EPS = 8, U_ALPHA = 16 };
static const int optim_uses[IL_OPTIM_COUNT] = {U_MOM | U_NEST, U_BETAS | U_EPS, U_BETAS | U_EPS,
                                               U_MOM | U_EPS | U_ALPHA};

static il_status check_unused(il_ctx *ctx, il_optim_kind kind, const il_optim_opts *o) {
    const struct {
        int flag;
        const char *name;
        int set;
    } t[] = {{U_MOM, "momentum", o->momentum != 0}, {U_NEST, "nesterov", o->nesterov != 0},
             {U_BETAS, "beta1", o->beta1 != 0},     {U_BETAS, "beta2", o->beta2 != 0},
             {U_EPS, "eps", o->eps != 0},           {U_ALPHA, "alpha", o->alpha != 0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].set && !(optim_uses[kind] & t[i].flag))
            return ili_seterr(ctx, IL_E_ARG, "%s: option %s does not apply to %s",
                              il_optim_kind_name(kind), t[i].name, il_optim_kind_name(kind));
    return IL_OK;
}

static il_status bad_opt(il_ctx *ctx, il_optim_kind kind, const char *opt, const char *want,
                         double got) {
    return ili_seterr(ctx, IL_E_ARG, "%s: %s must be %s (got %g)", il_optim_kind_name(kind), opt,
                      want, got);
}

static il_status check_lr(il_ctx *ctx, il_optim_kind kind, double lr) {
    if (!(lr > 0 && isfinite(lr))) return bad_opt(ctx, kind, "lr", "finite and > 0", lr);
    return IL_OK;
}

/* Validates *o for kind and fills in the defaults. IL_E_ARG names the offending option. */
static il_status fill_opts(il_ctx *ctx, il_optim_kind kind, il_optim_opts *o) {
    IL_TRY(check_unused(ctx, kind, o));
    IL_TRY(check_lr(ctx, kind, o->lr));
    if (!(o->momentum >= 0 && isfinite(o->momentum)))
        return bad_opt(ctx, kind, "momentum", ">= 0", o->momentum);
    if (o->nesterov && o->momentum == 0)
        return ili_seterr(ctx, IL_E_ARG, "sgd: nesterov needs momentum > 0");
    if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)))
        return bad_opt(ctx, kind, "weight_decay", ">= 0", o->weight_decay);
    if (!(o->beta1 >= 0 && o->beta1 < 1)) return bad_opt(ctx, kind, "beta1", "in [0, 1)", o->beta1);
    if (!(o->beta2 >= 0 && o->beta2 < 1)) return bad_opt(ctx, kind, "beta2", "in [0, 1)", o->beta2);
    if (!(o->eps >= 0 && isfinite(o->eps))) return bad_opt(ctx, kind, "eps", ">= 0", o->eps);
    if (!(o->alpha >= 0 && o->alpha <= 1))
        return bad_opt(ctx, kind, "alpha", "in [0, 1]", o->alpha);
    if (!(o->clip_norm >= 0 && isfinite(o->clip_norm)))
        return bad_opt(ctx, kind, "clip_norm", ">= 0", o->clip_norm);
    /* Zero means the default (torch's). */
    if (o->beta1 == 0) o->beta1 = 0.9;
    if (o->beta2 == 0) o->beta2 = 0.999;
    if (o->eps == 0) o->eps = 1e-8;
    if (o->alpha == 0) o->alpha = 0.99;
    if (kind == IL_OPTIM_ADAMW && o->weight_decay == 0 && !o->set_wd) o->weight_decay = 0.01;
    o->nesterov = o->nesterov != 0;
    return IL_OK;
}

/* State buffers per kind: SGD its momentum buffer (with momentum); Adam m and v; RMSprop the
 * square average and (with momentum) the momentum buffer. */
static int state_count(const il_optim *opt) {
    switch (opt->kind) {
    case IL_OPTIM_SGD: return opt->o.momentum > 0 ? 1 : 0;
    case IL_OPTIM_RMSPROP: return opt->o.momentum > 0 ? 2 : 1;
    default: return 2;
    }
}

static il_status alloc_state(il_optim *opt) {
    il_net *net = opt->net;
    il_dtype dt = ili_net_dtype(net);
    il_device dev = ili_net_device(net);
    int64_t n = il_net_num_params(net), two = 2;
    for (int k = 0; k < state_count(opt); k++)
        IL_TRY(il_tensor_zeros(opt->ctx, 1, &n, dt, dev, &opt->state[k]));
    if (opt->o.clip_norm > 0) IL_TRY(ili_tensor_new(opt->ctx, 1, &two, dt, dev, &opt->scratch));
    return IL_OK;
}

/*
 * A new optimizer for net's parameters (as they are now: adding layers later makes it
 * unusable). Statuses: IL_OK; IL_E_ARG for a NULL argument, an unknown kind or a bad option
 * (the message names it); IL_E_NOMEM.
 */
il_status il_optim_new(il_net *net, il_optim_kind kind, const il_optim_opts *opts,
                       il_optim **out) {
    if (net == NULL) return IL_E_ARG;
    il_ctx *ctx = ili_net_ctx(net);
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "optim: out is NULL");
    *out = NULL;
    if ((unsigned)kind >= IL_OPTIM_COUNT)
        return ili_seterr(ctx, IL_E_ARG, "optim: unknown kind %d", (int)kind);
    if (opts == NULL)
        return ili_seterr(ctx, IL_E_ARG, "%s: options are NULL (lr is required)",
                          il_optim_kind_name(kind));
    il_optim_opts o = *opts;
    IL_TRY(fill_opts(ctx, kind, &o));
    il_optim *opt = ili_malloc(ctx, sizeof *opt);
    if (opt == NULL) return ili_nomem(ctx, sizeof *opt);
    memset(opt, 0, sizeof *opt);
    opt->ctx = ctx;
    opt->net = net;
    opt->kind = kind;
    opt->o = o;
    il_status s = alloc_state(opt);
    if (s != IL_OK) {
        il_optim_free(opt);
        return s;
    }
    *out = opt;
    return IL_OK;
}

void il_optim_free(il_optim *opt) {
    if (opt == NULL) return;
    for (int k = 0; k < 3; k++) il_tensor_free(opt->state[k]);
    il_tensor_free(opt->scratch);
    ili_free(opt->ctx, opt, sizeof *opt);
}

/* Takes effect from the next step. A schedule may decay to exactly 0 (no update), so unlike
 * il_optim_new this takes lr >= 0. IL_E_ARG for a NULL opt or lr negative or not finite. */
il_status il_optim_set_lr(il_optim *opt, double lr) {
    if (opt == NULL) return IL_E_ARG;
    if (!(lr >= 0 && isfinite(lr))) return bad_opt(opt->ctx, opt->kind, "lr", "finite and >= 0", lr);
    opt->o.lr = lr;
    return IL_OK;
}

double il_optim_lr(const il_optim *opt) { return opt ? opt->o.lr : 0.0; }
int64_t il_optim_steps(const il_optim *opt) { return opt ? opt->steps : 0; }

/* ---- one update ---------------------------------------------------------------------------- */

/* IL_E_ARG / IL_E_SHAPE unless params and grads are this optimizer's network's buffers and
 * still match its state. */
static il_status check_buffers(il_optim *opt, const il_tensor *params, const il_tensor *grads) {
    il_ctx *ctx = opt->ctx;
    const char *name = il_optim_kind_name(opt->kind);
    const il_tensor *own = ili_net_params(opt->net);
    if (params == NULL || grads == NULL || own == NULL || params->st != own->st)
        return ili_seterr(ctx, IL_E_ARG, "%s: the optimizer was made for another network", name);
    int64_t n = il_tensor_numel(params);
    for (int k = 0; k < 3; k++)
        if (opt->state[k] && il_tensor_numel(opt->state[k]) != n)
            return ili_seterr(ctx, IL_E_SHAPE,
                              "%s: the optimizer was made for %lld parameters, the network now "
                              "has %lld; make a new optimizer",
                              name, (long long)il_tensor_numel(opt->state[k]), (long long)n);
    int ok = params->ndim == 1 && grads->ndim == 1 && il_tensor_numel(grads) == n
             && grads->dtype == params->dtype && il_tensor_is_contiguous(params)
             && il_tensor_is_contiguous(grads) && grads->st->device == params->st->device
             && (opt->state[0] == NULL || opt->state[0]->dtype == params->dtype);
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "%s: malformed parameter buffers", name);
    return IL_OK;
}

/* Reads (or writes) element k of the scratch tensor as double, through the backend. */
static il_status scratch_io(il_optim *opt, il_device dev, int k, double *v, int write) {
    il_tdesc d;
    ili_tensor_desc(opt->scratch, &d);
    size_t es = il_dtype_size(d.dtype);
    char *at = (char *)d.data + (size_t)k * es;
    float f = (float)*v;
    void *host = d.dtype == IL_DTYPE_F32 ? (void *)&f : (void *)v;
    if (write) return ili_backend_copy_in(opt->ctx, dev, at, host, es);
    IL_TRY(ili_backend_copy_out(opt->ctx, dev, host, at, es));
    if (d.dtype == IL_DTYPE_F32) *v = (double)f;
    return IL_OK;
}

/* Scales grads so that their global L2 norm is at most clip_norm: SUMSQ into scratch[0], read
 * back, then grads *= scale with the scale in scratch[1] broadcast (stride 0). A norm that is
 * not finite is IL_E_NUMERIC (nothing changed). */
static il_status clip(il_optim *opt, il_device dev, il_tensor *grads) {
    il_ctx *ctx = opt->ctx;
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_SUMSQ;
    c.nin = 1;
    c.axis = IL_AXIS_ALL;
    ili_tensor_desc(grads, &c.in[0]);
    ili_tensor_desc(opt->scratch, &c.out);
    c.out.shape[0] = 1;
    IL_TRY(ili_backend_run(ctx, dev, &c));
    double ss = 0;
    IL_TRY(scratch_io(opt, dev, 0, &ss, 0));
    double norm = sqrt(ss), scale;
    if (!isfinite(norm))
        return ili_seterr(ctx, IL_E_NUMERIC,
                          "%s: gradient norm is %g at step %lld; parameters left unchanged",
                          il_optim_kind_name(opt->kind), norm, (long long)opt->steps + 1);
    if (norm <= opt->o.clip_norm) return IL_OK;
    scale = opt->o.clip_norm / norm;
    IL_TRY(scratch_io(opt, dev, 1, &scale, 1));
    c.op = IL_OP_MUL;
    c.nin = 2;
    c.axis = 0;
    ili_tensor_desc(opt->scratch, &c.in[1]);
    c.in[1].data = (char *)c.in[1].data + il_dtype_size(grads->dtype);
    c.in[1].shape[0] = c.in[0].shape[0];
    c.in[1].stride[0] = 0;
    c.out = c.in[0];
    return ili_backend_run(ctx, dev, &c);
}

/* The OPTIM op for the next step (see the p[] layouts in nn_impl.h). */
void ili_optim_update_call(const il_optim *opt, il_tensor *params, il_tensor *grads,
                           il_opcall *c) {
    const il_optim_opts *o = &opt->o;
    memset(c, 0, sizeof *c);
    ili_tensor_desc(params, &c->out);
    ili_tensor_desc(grads, &c->in[0]);
    c->nin = 1 + state_count(opt);
    for (int k = 0; k + 1 < c->nin; k++) ili_tensor_desc(opt->state[k], &c->in[k + 1]);
    double t = (double)(opt->steps + 1);
    switch (opt->kind) {
    case IL_OPTIM_SGD:
        c->op = IL_OP_SGD_UPDATE;
        c->p[0] = o->lr, c->p[1] = o->momentum, c->p[2] = o->weight_decay;
        c->p[3] = o->nesterov, c->p[4] = opt->steps == 0;
        break;
    case IL_OPTIM_RMSPROP:
        c->op = IL_OP_RMSPROP_UPDATE;
        c->p[0] = o->lr, c->p[1] = o->alpha, c->p[2] = o->eps, c->p[3] = o->weight_decay;
        c->p[4] = o->momentum;
        break;
    default:
        c->op = IL_OP_ADAM_UPDATE;
        c->p[0] = o->lr, c->p[1] = o->beta1, c->p[2] = o->beta2, c->p[3] = o->eps;
        c->p[4] = o->weight_decay, c->p[5] = opt->kind == IL_OPTIM_ADAMW;
        c->p[6] = 1 - pow(o->beta1, t), c->p[7] = 1 - pow(o->beta2, t);
        break;
    }
}

/*
 * Clips (when clip_norm > 0) and applies one update to params from grads, the network's own
 * buffers (1-D, contiguous). Increments opt->steps on success. Allocates nothing. Statuses:
 * IL_OK; IL_E_ARG for buffers of another network; IL_E_SHAPE when the network has changed
 * size since the optimizer was made; IL_E_NUMERIC for a gradient norm that is not finite
 * (parameters unchanged); the backend's.
 */
il_status ili_optim_apply(il_optim *opt, il_tensor *params, il_tensor *grads) {
    if (opt == NULL) return IL_E_ARG;
    if (params == NULL && grads == NULL && il_net_num_params(opt->net) == 0) {
        opt->steps++; /* a network without parameters: nothing to update */
        return IL_OK;
    }
    IL_TRY(check_buffers(opt, params, grads));
    il_device dev = params->st->device;
    if (opt->o.clip_norm > 0) IL_TRY(clip(opt, dev, grads));
    il_opcall c;
    ili_optim_update_call(opt, params, grads, &c);
    IL_TRY(ili_backend_run(opt->ctx, dev, &c));
    opt->steps++;
    return IL_OK;
}
