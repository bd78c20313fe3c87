/*
 * nn_gradcheck.c: il_net_gradcheck, a finite-difference check of backward.
 *
 * The check runs on a float64 copy of the network, so an f32 network is checked at f64
 * precision and the caller's network is left untouched (parameters, dropout counter, compiled
 * batch). The loss is L = 0.5 * sum(y * r) for a fixed pseudo-random r (from a local generator,
 * so the context's stream is not consumed), hence dL/dy = 0.5 r. Every parameter and every
 * input element is moved by +-eps and the central difference (L+ - L-) / (2 eps) compared with
 * the analytic gradient from backward.
 *
 * Error measure, per element: |a - n| / max(|a| + |n|, GC_FLOOR). It is a relative error for
 * gradients of normal size, and for gradients near zero (where round-off in L+ - L- dominates
 * the difference) it turns into an absolute error scaled by 1/GC_FLOOR, so tiny gradients that
 * agree to round-off do not count as failures. The largest is reported.
 *
 * Dropout: in eval mode the identity; in train mode one mask is drawn by the first forward
 * and reused by every later one, so the check covers the masked backward.
 */
#include "nn_impl.h"

#include <math.h>
#include <string.h>

#define GC_FLOOR 1e-3
#define GC_SEED 0x5eedc0ffee123ULL

typedef struct gc {
    il_net *g;      /* the f64 copy */
    il_tensor *r;   /* (B, F) direction of the loss */
    il_tensor *rh;  /* 0.5 r: dL/dy */
    il_tensor *prod, *sum;
    double *host;   /* scratch values, nhost */
    int64_t nhost;
    double eps, max_err;
} gc;

/* L = 0.5 * sum(y * r) after a forward with the current (perturbed) values. */
static il_status eval_loss(gc *c, double *L) {
    il_net *g = c->g;
    IL_TRY(ili_net_run_forward(g, g->train, 0));
    ili_mat y, r = {c->r, 0, g->batch, 0, 0, 1}, p = r;
    ili_node_out(g, &g->nodes[ili_net_output(g)], &y);
    r.cols = r.rs = y.cols;
    p.buf = c->prod, p.cols = p.rs = y.cols;
    IL_TRY(ili_net_op(g, IL_OP_MUL, &p, &y, &r, 0));
    il_opcall op;
    memset(&op, 0, sizeof op);
    op.op = IL_OP_SUM;
    op.nin = 1;
    op.axis = IL_AXIS_ALL;
    ili_mat_desc(&p, &op.in[0]);
    ili_tensor_desc(c->sum, &op.out);
    IL_TRY(ili_backend_run(g->ctx, g->device, &op));
    double s;
    IL_TRY(il_tensor_item(g->ctx, c->sum, &s));
    *L = 0.5 * s;
    return IL_OK;
}

/* Checks n elements of buf from offset off (contiguous) against the analytic gradients a[]. */
static il_status check_region(gc *c, il_tensor *buf, int64_t off, const double *v,
                              const double *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        ili_mat e = {buf, off + i, 1, 1, 1, 1};
        double lp, lm;
        IL_TRY(ili_net_op(c->g, IL_OP_FILL, &e, NULL, NULL, v[i] + c->eps));
        IL_TRY(eval_loss(c, &lp));
        IL_TRY(ili_net_op(c->g, IL_OP_FILL, &e, NULL, NULL, v[i] - c->eps));
        IL_TRY(eval_loss(c, &lm));
        IL_TRY(ili_net_op(c->g, IL_OP_FILL, &e, NULL, NULL, v[i]));
        double num = (lp - lm) / (2 * c->eps), den = fabs(a[i]) + fabs(num);
        double err = fabs(a[i] - num) / (den > GC_FLOOR ? den : GC_FLOOR);
        if (!(err <= c->max_err)) c->max_err = err; /* NaN sticks */
    }
    return IL_OK;
}

/* Reads region m (contiguous rows) into c->host[0..n) and c->host[n..2n) from its twin. */
static il_status read_pair(gc *c, const ili_mat *vals, const ili_mat *grads, int64_t n) {
    il_tensor *t = NULL;
    IL_TRY(ili_mat_view(c->g, vals, &t));
    il_status s = il_tensor_read(c->g->ctx, t, c->host, IL_DTYPE_F64, n);
    il_tensor_free(t);
    t = NULL;
    if (s == IL_OK) s = ili_mat_view(c->g, grads, &t);
    if (s == IL_OK) s = il_tensor_read(c->g->ctx, t, c->host + n, IL_DTYPE_F64, n);
    il_tensor_free(t);
    return s;
}

static il_status check_all(gc *c) {
    il_net *g = c->g;
    if (g->nparams > 0) {
        ili_mat pv = {g->params, 0, 1, g->nparams, g->nparams, 1}, pg = pv;
        pg.buf = g->grads;
        IL_TRY(read_pair(c, &pv, &pg, g->nparams));
        IL_TRY(check_region(c, g->params, 0, c->host, c->host + g->nparams, g->nparams));
    }
    for (int i = 0; i < g->nnodes; i++) {
        ili_node *n = &g->nodes[i];
        if (n->kind != IL_LAYER_INPUT) continue;
        ili_mat xv, xg;
        ili_node_out(g, n, &xv);
        ili_node_dout(g, n, &xg);
        int64_t cnt = g->batch * n->features;
        IL_TRY(read_pair(c, &xv, &xg, cnt));
        IL_TRY(check_region(c, g->arena, n->act, c->host, c->host + cnt, cnt));
    }
    return IL_OK;
}

/* Fills r and rh = 0.5 r from a fixed local generator (values in [-1, 1)). */
static il_status make_direction(gc *c, int64_t b, int64_t f) {
    il_net *g = c->g;
    ili_rng rng;
    ili_rng_seed(&rng, GC_SEED);
    int64_t n = b * f, shape[2] = {b, f};
    for (int64_t i = 0; i < n; i++) c->host[i] = 2 * ili_rng_uniform(&rng) - 1;
    for (int64_t i = 0; i < n; i++) c->host[n + i] = 0.5 * c->host[i];
    IL_TRY(il_tensor_from_data(g->ctx, 2, shape, IL_DTYPE_F64, g->device, c->host, IL_DTYPE_F64,
                               &c->r));
    return il_tensor_from_data(g->ctx, 2, shape, IL_DTYPE_F64, g->device, c->host + n,
                               IL_DTYPE_F64, &c->rh);
}

static il_status run_check(gc *c, int nin, const il_tensor *const *x) {
    il_net *g = c->g;
    il_ctx *ctx = g->ctx;
    IL_TRY(ili_net_load_inputs(g, nin, x));
    ili_node *o = &g->nodes[ili_net_output(g)];
    int64_t widest = g->nparams, b = g->batch, shape[2] = {b, o->features};
    for (int i = 0; i < g->nnodes; i++)
        if (b * g->nodes[i].features > widest) widest = b * g->nodes[i].features;
    c->nhost = 2 * widest;
    c->host = ili_malloc(ctx, sizeof(double) * (size_t)c->nhost);
    if (c->host == NULL) return ili_nomem(ctx, sizeof(double) * (size_t)c->nhost);
    IL_TRY(make_direction(c, b, o->features));
    IL_TRY(ili_tensor_new(ctx, 2, shape, IL_DTYPE_F64, g->device, &c->prod));
    IL_TRY(ili_tensor_new(ctx, 0, NULL, IL_DTYPE_F64, g->device, &c->sum));
    /* analytic gradients; this forward draws the dropout masks kept for the whole check */
    IL_TRY(ili_net_run_forward(g, g->train, 1));
    ili_mat dy, rh = {c->rh, 0, b, o->features, o->features, 1};
    ili_node_dout(g, o, &dy);
    IL_TRY(ili_net_op(g, IL_OP_COPY, &dy, &rh, NULL, 0));
    IL_TRY(ili_net_run_backward(g));
    return check_all(c);
}

/*
 * See nn.h. eps 0 means 1e-6. IL_E_ARG for bad arguments, the input errors of il_net_forward,
 * IL_E_NOMEM, or a custom layer's status.
 */
il_status il_net_gradcheck(il_net *net, int nin, const il_tensor *const *x, double eps,
                           double *max_rel_err) {
    if (net == NULL) return IL_E_ARG;
    if (max_rel_err == NULL) return ili_seterr(net->ctx, IL_E_ARG, "gradcheck: out is NULL");
    if (eps == 0) eps = 1e-6;
    if (!(eps > 0) || !isfinite(eps))
        return ili_seterr(net->ctx, IL_E_ARG, "gradcheck: eps must be > 0, not %g", eps);
    gc c;
    memset(&c, 0, sizeof c);
    c.eps = eps;
    IL_TRY(ili_net_clone(net, IL_DTYPE_F64, &c.g));
    c.g->input_grads = 1;
    il_status s = run_check(&c, nin, x);
    if (c.host) ili_free(net->ctx, c.host, sizeof(double) * (size_t)c.nhost);
    il_tensor_free(c.r);
    il_tensor_free(c.rh);
    il_tensor_free(c.prod);
    il_tensor_free(c.sum);
    il_net_free(c.g);
    if (s == IL_OK) *max_rel_err = c.max_err;
    return s;
}
