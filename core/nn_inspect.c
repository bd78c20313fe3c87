/*
 * nn_inspect.c: looking into a network: its named parameters (views of the one parameter
 * buffer) and a text summary of its nodes.
 */
#include "nn_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The parameter views' geometry applied to buf, which is shaped like the parameter buffer:
 * il_net_parameters gives the parameters and il_optim_state_views an optimizer's state. */
il_status ili_net_param_views(il_net *net, il_tensor *buf, il_tensor **out, const char **names,
                              int cap, int *count) {
    int c = 0;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        for (int k = 0; k < 2; k++) {
            if (n->pn[k] == 0) continue;
            if (c < cap) {
                int64_t shape[2] = {n->in_features, n->features}, st[2] = {n->features, 1};
                int nd = k == 0 ? 2 : 1;
                il_status s = ili_tensor_view(net->ctx, buf, nd, k == 0 ? shape : &shape[1],
                                              k == 0 ? st : &st[1], n->poff[k], &out[c]);
                if (s != IL_OK) {
                    for (int j = 0; j < c; j++) il_tensor_free(out[j]), out[j] = NULL;
                    return s;
                }
                if (names) names[c] = n->pname[k];
            }
            c++;
        }
    }
    *count = c;
    return IL_OK;
}

/*
 * Writes up to cap parameter views (weights (in, out), biases (out)) into out[] with their
 * names (borrowed, valid while the net lives and unchanged) into names[] (may be NULL), and
 * the total count into *count. Views write through to the network. IL_E_ARG, IL_E_NOMEM (then
 * no view is left behind).
 */
il_status il_net_parameters(il_net *net, il_tensor **out, const char **names, int cap,
                            int *count) {
    if (net == NULL) return IL_E_ARG;
    if (count == NULL || cap < 0 || (cap > 0 && out == NULL))
        return ili_seterr(net->ctx, IL_E_ARG, "net_parameters: bad output arrays");
    return ili_net_param_views(net, net->params, out, names, cap, count);
}

il_status il_net_buffers(il_net *net, il_tensor **out, const char **names, int cap,
                         int *count) {
    if (net == NULL) return IL_E_ARG;
    if (count == NULL || cap < 0 || (cap > 0 && out == NULL))
        return ili_seterr(net->ctx, IL_E_ARG, "net_buffers: bad output arrays");
    int c = 0;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        if (n->fixed == NULL) continue;
        if (c < cap) {
            /* B: the left half of the first in rows of the (in + 1, 2F) buffer (nn_layers.c);
             * the right half and the last row are derived */
            int64_t f = n->features / 2, shape[2] = {n->in_features, f}, st[2] = {2 * f, 1};
            il_status s = ili_tensor_view(net->ctx, n->fixed, 2, shape, st, 0, &out[c]);
            if (s != IL_OK) {
                for (int j = 0; j < c; j++) il_tensor_free(out[j]), out[j] = NULL;
                return s;
            }
            if (names) names[c] = n->pname[0];
        }
        c++;
    }
    *count = c;
    return IL_OK;
}

/* "(-1, F)" before the first compile, else "(B, F)". */
static const char *shape_text(const il_net *net, const ili_node *n, char *buf, size_t sz) {
    snprintf(buf, sz, "(%lld, %lld)", net->batch > 0 ? (long long)net->batch : -1LL,
             (long long)n->features);
    return buf;
}

/*
 * One line per node (name, kind, output shape, parameter count), the output node marked, then
 * the total, in a new string (free with il_ctx_free_string). IL_E_ARG, IL_E_NOMEM.
 */
il_status il_net_summary(il_net *net, char **out) {
    if (net == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(net->ctx, IL_E_ARG, "net_summary: out is NULL");
    *out = NULL;
    int wname = 4, wkind = 4;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        int a = (int)strlen(n->name), k = (int)strlen(ili_node_kind_name(n));
        wname = a > wname ? a : wname;
        wkind = k > wkind ? k : wkind;
    }
    ili_sbuf b = {net->ctx, NULL, 0, 0, 0};
    ili_sbuf_printf(&b, "%-*s  %-*s  %-16s %10s\n", wname, "name", wkind, "kind", "output",
                    "params");
    int o = ili_net_output(net);
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        char sh[64];
        ili_sbuf_printf(&b, "%-*s  %-*s  %-16s %10lld%s\n", wname, n->name, wkind,
                        ili_node_kind_name(n), shape_text(net, n, sh, sizeof sh),
                        (long long)(n->pn[0] + n->pn[1]),
                        i == o && net->nnodes > 1 ? "  (output)" : "");
    }
    ili_sbuf_printf(&b, "total params: %lld\n", (long long)net->nparams);
    return ili_sbuf_finish(&b, out);
}
