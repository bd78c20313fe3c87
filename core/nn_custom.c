/*
 * nn_custom.c: layers written by the host (the Lua binding's custom layers, or C callbacks).
 *
 * The callbacks see tensors, so each call wraps arena regions in view handles (freed after the
 * call). That allocates a few small handles per step, the one exception to an allocation-free
 * step, accepted because a host layer allocates anyway. backward writes every dx at once, so
 * its outputs go to temporary tensors and are then summed into the inputs' gradients, which
 * stays correct when one node feeds several inputs of the layer.
 */
#include "nn_impl.h"

#include <string.h>

il_status ili_custom_infer(il_net *net, ili_node *n, const int64_t *in) {
    int64_t w = 0;
    IL_TRY(n->custom.infer(n->custom.ud, net->ctx, n->nin, in, &w));
    if (w < 1 || w > ILI_MAX_FEATURES)
        return ili_seterr(net->ctx, IL_E_SHAPE, "%s: output width must be in [1, 2^40], not %lld",
                          n->name, (long long)w);
    n->features = w;
    return IL_OK;
}

/* A zeroed array of n tensor handles. */
static il_tensor **handles_new(il_net *net, int n) {
    il_tensor **t = ili_malloc(net->ctx, sizeof *t * (size_t)n);
    if (t) memset(t, 0, sizeof *t * (size_t)n);
    return t;
}

static void handles_free(il_net *net, il_tensor **t, int n) {
    if (t == NULL) return;
    for (int i = 0; i < n; i++) il_tensor_free(t[i]);
    ili_free(net->ctx, t, sizeof *t * (size_t)n);
}

/* Views of n's inputs into t[0..nin-1]. */
static il_status view_inputs(il_net *net, const ili_node *n, il_tensor **t) {
    for (int k = 0; k < n->nin; k++) {
        ili_mat m;
        ili_node_in(net, n, k, &m);
        IL_TRY(ili_mat_view(net, &m, &t[k]));
    }
    return IL_OK;
}

/* Calls forward(x..., y) on views: t = [x_0 .. x_{nin-1}, y]. */
il_status ili_custom_forward(il_net *net, ili_node *n) {
    int nt = n->nin + 1;
    il_tensor **t = handles_new(net, nt);
    if (t == NULL) return ili_nomem(net->ctx, sizeof *t * (size_t)nt);
    ili_mat y;
    ili_node_out(net, n, &y);
    il_status s = view_inputs(net, n, t);
    if (s == IL_OK) s = ili_mat_view(net, &y, &t[n->nin]);
    if (s == IL_OK)
        s = n->custom.forward(n->custom.ud, net->ctx, n->nin, (const il_tensor *const *)t,
                              t[n->nin]);
    handles_free(net, t, nt);
    return s;
}

/* Sums the temporary dx[k] into the gradients of n's inputs. */
static il_status commit_dx(il_net *net, const ili_node *n, il_tensor *const *dx) {
    for (int k = 0; k < n->nin; k++) {
        ili_mat dst, src = {dx[k], 0, net->batch, 0, 0, 1};
        src.cols = src.rs = dx[k]->shape[1];
        if (!ili_grad_begin(net, n->in[k], &dst)) continue;
        IL_TRY(ili_net_op(net, IL_OP_COPY, &dst, &src, NULL, 0));
        IL_TRY(ili_grad_end(net, n->in[k]));
    }
    return IL_OK;
}

/* Calls backward(x..., y, dy, dx...) on views and temporaries:
 * t = [x_0 .. x_{nin-1}, y, dy, dx_0 .. dx_{nin-1}]. */
il_status ili_custom_backward(il_net *net, ili_node *n) {
    int nin = n->nin, nt = 2 * nin + 2;
    il_tensor **t = handles_new(net, nt);
    if (t == NULL) return ili_nomem(net->ctx, sizeof *t * (size_t)nt);
    ili_mat y, dy;
    ili_node_out(net, n, &y);
    ili_node_dout(net, n, &dy);
    il_status s = view_inputs(net, n, t);
    if (s == IL_OK) s = ili_mat_view(net, &y, &t[nin]);
    if (s == IL_OK) s = ili_mat_view(net, &dy, &t[nin + 1]);
    for (int k = 0; k < nin && s == IL_OK; k++) {
        int64_t shape[2] = {net->batch, net->nodes[n->in[k]].features};
        s = il_tensor_zeros(net->ctx, 2, shape, net->dtype, net->device, &t[nin + 2 + k]);
    }
    if (s == IL_OK)
        s = n->custom.backward(n->custom.ud, net->ctx, nin, (const il_tensor *const *)t, t[nin],
                               t[nin + 1], &t[nin + 2]);
    if (s == IL_OK) s = commit_dx(net, n, &t[nin + 2]);
    handles_free(net, t, nt);
    return s;
}
