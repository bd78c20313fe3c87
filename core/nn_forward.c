/*
 * nn_forward.c: inference, il_net_forward.
 */
#include "nn_impl.h"

/*
 * Inference on x (see nn.h). Dropout follows the net's mode, as in torch. *y is a new
 * (batch, out) tensor. IL_E_ARG / IL_E_SHAPE / IL_E_DEVICE for bad inputs, IL_E_NOMEM, or a
 * custom layer's status.
 */
il_status il_net_forward(il_net *net, int nin, const il_tensor *const *x, il_tensor **y) {
    if (net == NULL) return IL_E_ARG;
    if (y == NULL) return ili_seterr(net->ctx, IL_E_ARG, "net_forward: y is NULL");
    *y = NULL;
    IL_TRY(ili_net_load_inputs(net, nin, x));
    IL_TRY(ili_net_run_forward(net, net->train, 1));
    ili_node *o = &net->nodes[ili_net_output(net)];
    int64_t shape[2] = {net->batch, o->features};
    il_tensor *r = NULL;
    IL_TRY(ili_tensor_new(net->ctx, 2, shape, net->dtype, net->device, &r));
    ili_mat src, dst = {r, 0, shape[0], shape[1], shape[1], 1};
    ili_node_out(net, o, &src);
    il_status s = ili_net_op(net, IL_OP_COPY, &dst, &src, NULL, 0);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *y = r;
    return IL_OK;
}
