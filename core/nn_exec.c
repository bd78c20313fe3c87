/*
 * nn_exec.c: running a compiled network: inputs into the arena, forward in node order,
 * backward in reverse order with gradients summed over consumers, and the public il_net_step
 * (il_net_forward is in nn_forward.c).
 *
 * Every computation is a backend op on descriptors into the arena and the parameter/gradient
 * buffers, so another backend runs the same graph; a steady-state step (same batch size, no
 * custom layers) allocates nothing.
 */
#include "nn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- ops on regions ------------------------------------------------------------------------ */

il_status ili_net_op(il_net *net, il_op op, const ili_mat *out, const ili_mat *a,
                     const ili_mat *b, double p0) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = op;
    if (a) ili_mat_desc(a, &c.in[c.nin++]);
    if (b) ili_mat_desc(b, &c.in[c.nin++]);
    ili_mat_desc(out, &c.out);
    c.p[0] = p0;
    return ili_backend_run(net->ctx, net->device, &c);
}

il_status ili_net_sum_rows(il_net *net, const ili_mat *out, const ili_mat *a) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_SUM;
    c.nin = 1;
    c.axis = 0;
    ili_mat_desc(a, &c.in[0]);
    ili_mat_desc(out, &c.out);
    return ili_backend_run(net->ctx, net->device, &c);
}

/* The separate ops a fused matmul stands for, for a backend without the fused form. */
static il_status matmul_unfused(il_net *net, const ili_mat *out, const ili_mat *a,
                                const ili_mat *b, int mode, int act, double p, const ili_mat *c,
                                const ili_mat *out2) {
    IL_TRY(ili_net_op(net, IL_OP_MATMUL, out, a, b, 0));
    if (mode == IL_MATMUL_EPILOGUE_FORWARD) {
        if (c) IL_TRY(ili_net_op(net, IL_OP_ADD, out, out, c, 0));
        return act < 0 ? IL_OK : ili_net_op(net, (il_op)act, out, out, NULL, p);
    }
    IL_TRY(ili_net_op(net, (il_op)act, out, out, c, p));
    return out2 ? ili_net_sum_rows(net, out2, out) : IL_OK;
}

il_status ili_net_matmul(il_net *net, const ili_mat *out, const ili_mat *a, const ili_mat *b,
                         int mode, int act, double p, const ili_mat *c, const ili_mat *out2) {
    il_opcall k;
    memset(&k, 0, sizeof k);
    k.op = IL_OP_MATMUL;
    k.nin = 2;
    ili_mat_desc(a, &k.in[0]);
    ili_mat_desc(b, &k.in[1]);
    ili_mat_desc(out, &k.out);
    ili_mat bc;
    if (c) {
        bc = *c;
        if (mode == IL_MATMUL_EPILOGUE_FORWARD) bc.rows = out->rows, bc.rs = 0; /* broadcast */
        ili_mat_desc(&bc, &k.in[k.nin++]);
    }
    if (out2) ili_mat_desc(out2, &k.out2);
    k.p[0] = mode, k.p[1] = act, k.p[2] = p;
    const struct il_backend_ops *be = ili_backend_get(net->ctx, net->device);
    if (be && be->supports && !be->supports(net->ctx, &k))
        return matmul_unfused(net, out, a, b, mode, act, p, c ? &bc : NULL, out2);
    return ili_backend_run(net->ctx, net->device, &k);
}

/* ---- gradient accumulation ----------------------------------------------------------------- */

/* The first contribution to a node's gradient overwrites it; later ones go to the scratch
 * region and are added in, so a node feeding several layers gets the sum. */
int ili_grad_begin(il_net *net, int id, ili_mat *m) {
    ili_node *n = &net->nodes[id];
    if (n->kind == IL_LAYER_INPUT && !net->input_grads) return 0;
    if (n->grad_written) ili_arena_mat(net, net->scratch, n->features, m);
    else ili_node_dout(net, n, m);
    return 1;
}

il_status ili_grad_end(il_net *net, int id) {
    ili_node *n = &net->nodes[id];
    if (!n->grad_written) {
        n->grad_written = 1;
        return IL_OK;
    }
    ili_mat g, s;
    ili_node_dout(net, n, &g);
    ili_arena_mat(net, net->scratch, n->features, &s);
    return ili_net_op(net, IL_OP_ADD, &g, &g, &s, 0);
}

/* ---- inputs -------------------------------------------------------------------------------- */

/* IL_E_SHAPE "input 1: expected (batch, 2), got (4, 3)"; batch fixed by the first input. */
static il_status check_input(il_net *net, int k, const ili_node *n, const il_tensor *x,
                             int64_t batch) {
    il_ctx *ctx = net->ctx;
    char want[64], got[160];
    IL_TRY(ili_check_tensor(ctx, x, "net input"));
    if (il_tensor_device(x) != net->device)
        return ili_seterr(ctx, IL_E_DEVICE, "input %d: tensor is on %s, network on %s", k + 1,
                          il_device_name(il_tensor_device(x)), il_device_name(net->device));
    int ok = x->ndim == 2 && x->shape[1] == n->features && x->shape[0] >= 1 &&
             (batch == 0 || x->shape[0] == batch);
    if (ok) return IL_OK;
    if (batch == 0) snprintf(want, sizeof want, "(batch, %lld)", (long long)n->features);
    else snprintf(want, sizeof want, "(%lld, %lld)", (long long)batch, (long long)n->features);
    ili_shape_str(got, sizeof got, x->ndim, x->shape);
    return ili_seterr(ctx, IL_E_SHAPE, "input %d: expected %s, got %s", k + 1, want, got);
}

il_status ili_net_prepare_inputs(il_net *net, int nin, const il_tensor *const *x) {
    il_ctx *ctx = net->ctx;
    int want = il_net_num_inputs(net);
    if (want == 0 || net->nnodes == want)
        return ili_seterr(ctx, IL_E_ARG, "network has no %s", want ? "layers" : "inputs");
    if (nin != want || x == NULL)
        return ili_seterr(ctx, IL_E_ARG, "network takes %d input%s, got %d", want,
                          want == 1 ? "" : "s", x ? nin : 0);
    int64_t batch = 0;
    for (int i = 0, k = 0; i < net->nnodes; i++) {
        if (net->nodes[i].kind != IL_LAYER_INPUT) continue;
        IL_TRY(check_input(net, k, &net->nodes[i], x[k], batch));
        batch = x[k++]->shape[0];
    }
    return ili_net_compile(net, batch);
}

il_status ili_net_copy_inputs(il_net *net, int nin, const il_tensor *const *x) {
    (void)nin; /* checked by ili_net_prepare_inputs */
    for (int i = 0, k = 0; i < net->nnodes; i++) {
        if (net->nodes[i].kind != IL_LAYER_INPUT) continue;
        il_opcall c;
        memset(&c, 0, sizeof c);
        c.op = IL_OP_COPY; /* converts dtype and gathers any strides */
        c.nin = 1;
        ili_tensor_desc(x[k++], &c.in[0]);
        ili_mat m;
        ili_node_out(net, &net->nodes[i], &m);
        ili_mat_desc(&m, &c.out);
        IL_TRY(ili_backend_run(net->ctx, net->device, &c));
    }
    return IL_OK;
}

il_status ili_net_load_inputs(il_net *net, int nin, const il_tensor *const *x) {
    IL_TRY(ili_net_prepare_inputs(net, nin, x));
    return ili_net_copy_inputs(net, nin, x);
}

/* ---- passes -------------------------------------------------------------------------------- */

il_status ili_net_run_forward(il_net *net, int train, int new_mask) {
    net->run_train = train;
    net->new_mask = new_mask;
    ili_net_plan_fusion(net);
    int out = ili_net_output(net);
    for (int i = 0; i <= out; i++) {
        ili_node *n = &net->nodes[i];
        if (n->kind != IL_LAYER_INPUT) IL_TRY(ili_layer_def_of(n->kind)->forward(net, n));
    }
    return IL_OK;
}

/* Zeroes the parameter gradients of a layer the loss does not reach, so the optimizer does not
 * apply stale ones. */
static il_status zero_param_grads(il_net *net, const ili_node *n) {
    for (int k = 0; k < 2; k++) {
        if (n->pn[k] == 0) continue;
        ili_mat g;
        ili_node_param(net, n, k, 1, &g);
        IL_TRY(ili_net_op(net, IL_OP_FILL, &g, NULL, NULL, 0));
    }
    return IL_OK;
}

il_status ili_net_run_backward(il_net *net) {
    int out = ili_net_output(net);
    for (int i = 0; i < net->nnodes; i++) net->nodes[i].grad_written = 0;
    net->nodes[out].grad_written = 1; /* the caller wrote d loss / d output */
    for (int i = out; i >= 0; i--) {
        ili_node *n = &net->nodes[i];
        if (n->kind == IL_LAYER_INPUT) continue;
        if (!n->grad_written) IL_TRY(zero_param_grads(net, n));
        else IL_TRY(ili_layer_def_of(n->kind)->backward(net, n));
    }
    /* inputs nothing reached still get a defined gradient */
    for (int i = 0; net->input_grads && i < net->nnodes; i++) {
        ili_node *n = &net->nodes[i];
        if (n->kind != IL_LAYER_INPUT || n->grad_written) continue;
        ili_mat g;
        ili_node_dout(net, n, &g);
        IL_TRY(ili_net_op(net, IL_OP_FILL, &g, NULL, NULL, 0));
    }
    return IL_OK;
}

/* ---- public entry points ------------------------------------------------------------------- */

il_status ili_net_read_loss(il_net *net, int64_t step, int skipped, double *value) {
    union {
        float f;
        double d;
    } v;
    IL_TRY(ili_backend_copy_out(net->ctx, net->device, &v, net->loss_buf->st->data,
                                il_dtype_size(net->dtype)));
    *value = net->dtype == IL_DTYPE_F32 ? (double)v.f : v.d;
    if (isfinite(*value)) return IL_OK;
    return ili_seterr(net->ctx, IL_E_NUMERIC, "loss is %s at step %lld%s",
                      isnan(*value) ? "nan" : "inf", (long long)step,
                      skipped ? "; its update was skipped, the parameters are unchanged" : "");
}

static il_status check_step_args(il_net *net, const il_tensor *target, const il_loss *loss,
                                 il_optim *opt) {
    il_ctx *ctx = net->ctx;
    if (loss == NULL) return ili_seterr(ctx, IL_E_ARG, "net_step: loss is NULL");
    if (opt == NULL) return ili_seterr(ctx, IL_E_ARG, "net_step: optimizer is NULL");
    if (opt->net != net)
        return ili_seterr(ctx, IL_E_ARG, "optimizer was built for another network");
    return ili_check_tensor(ctx, target, "net_step target");
}

il_status ili_net_step_ops(il_net *net, int nin, const il_tensor *const *x,
                           const il_tensor *target, const il_loss *loss, il_optim *opt,
                           double *checked) {
    IL_TRY(ili_net_copy_inputs(net, nin, x));
    IL_TRY(ili_net_run_forward(net, net->train, 1));
    ili_node *o = &net->nodes[ili_net_output(net)];
    ili_mat pred, grad;
    ili_node_out(net, o, &pred);
    ili_node_dout(net, o, &grad);
    il_tdesc dp, dg, dv;
    ili_mat_desc(&pred, &dp);
    ili_mat_desc(&grad, &dg);
    ili_tensor_desc(net->loss_buf, &dv);
    dv.ndim = 0;
    IL_TRY(ili_loss_run(net->ctx, net->device, loss, &dp, target, &dg, &dv));
    if (checked) IL_TRY(ili_net_read_loss(net, opt->steps + 1, 0, checked));
    IL_TRY(ili_net_run_backward(net));
    return ili_optim_apply(opt, net->params, net->grads);
}

/*
 * One training step (see nn.h): inputs, forward in train mode, loss and its gradient, a check
 * that the loss is finite (before anything is updated), backward, and the optimizer update.
 * On CUDA the step may instead replay a captured graph (nn_graph.c).
 */
il_status il_net_step(il_net *net, int nin, const il_tensor *const *x, const il_tensor *target,
                      const il_loss *loss, il_optim *opt, double *loss_value) {
    if (net == NULL) return IL_E_ARG;
    IL_TRY(check_step_args(net, target, loss, opt));
    IL_TRY(ili_net_prepare_inputs(net, nin, x));
    ili_node *o = &net->nodes[ili_net_output(net)];
    int64_t pshape[2] = {net->batch, o->features};
    IL_TRY(ili_loss_check(net->ctx, loss, 2, pshape, target));
    if (net->loss_buf == NULL) {
        int64_t one = 1;
        IL_TRY(ili_tensor_new(net->ctx, 1, &one, net->dtype, net->device, &net->loss_buf));
    }
    int done = 0;
    IL_TRY(ili_net_graph_step(net, nin, x, target, loss, opt, loss_value, &done));
    if (done) return IL_OK;
    double value;
    net->loss_step = opt->steps + 1;
    IL_TRY(ili_net_step_ops(net, nin, x, target, loss, opt, &value));
    if (loss_value) *loss_value = value;
    return IL_OK;
}

/* The last step's loss, read now (see nn.h). */
il_status il_net_last_loss(il_net *net, double *value) {
    if (net == NULL) return IL_E_ARG;
    if (value == NULL) return ili_seterr(net->ctx, IL_E_ARG, "last_loss: value is NULL");
    if (net->loss_buf == NULL || net->loss_step == 0)
        return ili_seterr(net->ctx, IL_E_ARG, "last_loss: the network has not taken a step");
    return ili_net_read_loss(net, net->loss_step, net->last_graph != 0, value);
}
