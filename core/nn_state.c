/*
 * nn_state.c: what a checkpoint captures beyond the parameters (issue 7): the optimizer's kind,
 * options, step count and state buffers (as per-parameter views, so a file names them
 * optim.<param>.<slot>), the context's generator, a network's dropout generator, and the graph
 * as JSON. The file format itself is safetensors.c's; this file knows the internals.
 */
#include "nn_impl.h"

#include <stdio.h>
#include <string.h>

/* ---- generators ---------------------------------------------------------------------------- */

void il_ctx_rng_get(const il_ctx *ctx, uint64_t s[4]) {
    for (int i = 0; i < 4; i++)
        s[i] = ctx ? ctx->rng.s[i] : 0;
}

il_status il_ctx_rng_set(il_ctx *ctx, const uint64_t s[4]) {
    if (ctx == NULL || s == NULL) return IL_E_ARG;
    if ((s[0] | s[1] | s[2] | s[3]) == 0)
        return ili_seterr(ctx, IL_E_ARG, "rng state: all zero (xoshiro256** needs a bit set)");
    for (int i = 0; i < 4; i++)
        ctx->rng.s[i] = s[i];
    return IL_OK;
}

void il_net_dropout_get(const il_net *net, int *have_seed, uint64_t *seed, uint64_t *counter) {
    *have_seed = net->have_seed;
    *seed = net->drop_seed;
    *counter = net->drop_counter;
}

void il_net_dropout_set(il_net *net, int have_seed, uint64_t seed, uint64_t counter) {
    net->have_seed = have_seed != 0;
    net->drop_seed = seed;
    net->drop_counter = counter;
}

/* ---- optimizers ---------------------------------------------------------------------------- */

static const char *const kind_names[IL_OPTIM_COUNT] = {"sgd", "adam", "adamw", "rmsprop"};

const char *il_optim_kind_name(il_optim_kind kind) {
    return (unsigned)kind < IL_OPTIM_COUNT ? kind_names[kind] : "?";
}

il_optim_kind il_optim_kind_of(const il_optim *opt) {
    return opt->kind;
}

void il_optim_options(const il_optim *opt, il_optim_opts *out) {
    *out = opt->o;
}

il_status il_optim_set_steps(il_optim *opt, int64_t steps) {
    if (opt == NULL) return IL_E_ARG;
    if (steps < 0) return ili_seterr(opt->ctx, IL_E_ARG, "optim: steps must be >= 0");
    opt->steps = steps;
    return IL_OK;
}

int il_optim_num_state(const il_optim *opt) {
    int n = 0;
    while (n < 3 && opt->state[n] != NULL)
        n++;
    return n;
}

/* Slot names follow torch.optim's state keys, so a file reads the same to a torch user. */
const char *il_optim_state_name(const il_optim *opt, int k) {
    if (opt == NULL || k < 0 || k >= il_optim_num_state(opt)) return NULL;
    switch (opt->kind) {
    case IL_OPTIM_SGD: return "momentum";
    case IL_OPTIM_RMSPROP: return k == 0 ? "square_avg" : "momentum";
    default: return k == 0 ? "exp_avg" : "exp_avg_sq";
    }
}

/* The state buffers are shaped like the parameter buffer, so the parameter views' geometry
 * (il_net_parameters) applied to a state buffer gives that parameter's state. */
il_status il_optim_state_views(il_optim *opt, int k, il_tensor **out, int cap, int *count) {
    if (opt == NULL) return IL_E_ARG;
    if (k < 0 || k >= il_optim_num_state(opt) || count == NULL || cap < 0)
        return ili_seterr(opt->ctx, IL_E_ARG, "optim_state_views: bad slot %d or arrays", k);
    il_net *net = opt->net;
    if (il_tensor_numel(opt->state[k]) != net->nparams)
        return ili_seterr(opt->ctx, IL_E_SHAPE, "optim_state_views: the network changed");
    return ili_net_param_views(net, opt->state[k], out, NULL, cap, count);
}

/* ---- the graph as JSON ------------------------------------------------------------------- */

/* One node's object: kind, name, inputs, width, and the options of its kind. */
static void put_node(ili_sbuf *b, const il_net *net, int id) {
    const ili_node *n = &net->nodes[id];
    ili_sbuf_printf(b, "%s{\"kind\":\"%s\",\"name\":", id ? "," : "",
                    ili_layer_def_of(n->kind)->name);
    ili_sbuf_json_string(b, n->name);
    ili_sbuf_printf(b, ",\"features\":%lld,\"in\":[", (long long)n->features);
    for (int i = 0; i < n->nin; i++)
        ili_sbuf_printf(b, "%s%d", i ? "," : "", n->in[i]);
    ili_sbuf_printf(b, "]");
    if (n->kind == IL_LAYER_LINEAR)
        ili_sbuf_printf(b, ",\"in_features\":%lld,\"bias\":%s,\"init\":%d",
                        (long long)n->in_features, n->bias ? "true" : "false", (int)n->init);
    else if (n->kind == IL_LAYER_LEAKY_RELU)
        ili_sbuf_printf(b, ",\"alpha\":%.17g", n->alpha);
    else if (n->kind == IL_LAYER_SINE)
        ili_sbuf_printf(b, ",\"omega\":%.17g", n->omega);
    else if (n->kind == IL_LAYER_DROPOUT)
        ili_sbuf_printf(b, ",\"p\":%.17g", n->p);
    else if (n->kind == IL_LAYER_FOURIER) /* B itself is saved as the tensor "<name>.B" */
        ili_sbuf_printf(b, ",\"in_features\":%lld,\"sigma\":%.17g",
                        (long long)net->nodes[n->in[0]].features, n->sigma);
    ili_sbuf_printf(b, "}");
}

il_status il_net_spec_json(il_net *net, char **out) {
    if (net == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(net->ctx, IL_E_ARG, "net_spec_json: out is NULL");
    *out = NULL;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        if (n->kind == IL_LAYER_CUSTOM)
            return ili_seterr(net->ctx, IL_E_UNSUPPORTED,
                              "cannot save layer '%s': a custom (Lua) layer has no saved form",
                              n->name);
        /* A kind added after this file was written may hold state put_node does not know
         * (options, fixed tensors): refuse it rather than write a file that resumes wrongly. */
        if (n->kind > IL_LAYER_CONCAT && n->kind != IL_LAYER_FOURIER)
            return ili_seterr(net->ctx, IL_E_UNSUPPORTED,
                              "cannot save layer '%s': checkpoints do not support %s layers yet",
                              n->name, ili_node_kind_name(n));
    }
    ili_sbuf b = {net->ctx, NULL, 0, 0, 0};
    ili_sbuf_printf(&b, "{\"dtype\":\"%s\",\"output\":%d,\"nodes\":[", il_dtype_name(net->dtype),
                    ili_net_output(net));
    for (int i = 0; i < net->nnodes; i++)
        put_node(&b, net, i);
    ili_sbuf_printf(&b, "]}");
    return ili_sbuf_finish(&b, out);
}
