/*
 * nn_net.c: building networks: nodes (inputs, layers, custom layers), their names, the output
 * node, the mode, and the one parameter buffer (with its gradient twin), which grows as layers
 * with parameters are added because parameters exist (initialised) before any compile.
 */
#include "nn_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------------------------- */

static void str_free(il_ctx *ctx, char *s) {
    if (s) ili_free(ctx, s, strlen(s) + 1);
}

/* Frees what a node owns (not the node itself); releases a custom layer it owns. */
static void node_clear(il_ctx *ctx, ili_node *n) {
    str_free(ctx, n->name);
    str_free(ctx, n->pname[0]);
    str_free(ctx, n->pname[1]);
    if (n->in) ili_free(ctx, n->in, sizeof(int) * (size_t)n->nin);
    il_tensor_free(n->fixed);
    if (n->owns_custom && n->custom.release) n->custom.release(n->custom.ud);
    memset(n, 0, sizeof *n);
}

static il_status check_net(il_net *net) { return net ? IL_OK : IL_E_ARG; }

/* ---- accessors (contract with nn_optim.c) ------------------------------------------------ */

il_ctx *ili_net_ctx(const il_net *net) { return net->ctx; }
il_dtype ili_net_dtype(const il_net *net) { return net->dtype; }
il_device ili_net_device(const il_net *net) { return net->device; }
il_device il_net_device(const il_net *net) { return net->device; }
il_tensor *ili_net_params(il_net *net) { return net->params; }
il_tensor *ili_net_grads(il_net *net) { return net->grads; }
int ili_net_output(const il_net *net) { return net->output >= 0 ? net->output : net->nnodes - 1; }

/* ---- life ---------------------------------------------------------------------------------- */

il_status il_net_new(il_ctx *ctx, il_dtype dt, il_net **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "net_new: out is NULL");
    *out = NULL;
    if (dt != IL_DTYPE_F32 && dt != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "networks are f32 or f64, not %s", il_dtype_name(dt));
    il_net *net = ili_malloc(ctx, sizeof *net);
    if (net == NULL) return ili_nomem(ctx, sizeof *net);
    memset(net, 0, sizeof *net);
    net->ctx = ctx;
    net->dtype = dt;
    net->device = IL_DEVICE_CPU;
    net->output = -1;
    net->train = 1;
    net->graph_mode = IL_GRAPH_AUTO;
    *out = net;
    return IL_OK;
}

void il_net_free(il_net *net) {
    if (net == NULL) return;
    il_ctx *ctx = net->ctx;
    ili_net_graphs_drop(net);
    il_tensor_free(net->loss_buf);
    for (int i = 0; i < net->nnodes; i++) node_clear(ctx, &net->nodes[i]);
    if (net->nodes) ili_free(ctx, net->nodes, sizeof(ili_node) * (size_t)net->cap);
    il_tensor_free(net->params);
    il_tensor_free(net->grads);
    il_tensor_free(net->arena);
    ili_free(ctx, net, sizeof *net);
}

/* One tensor moved to dev, or NULL for NULL. */
static il_status moved(il_net *net, il_tensor *t, il_device dev, il_tensor **out) {
    *out = NULL;
    return t ? il_tensor_to_device(net->ctx, t, dev, out) : IL_OK;
}

il_status il_net_move(il_net *net, il_device dev) {
    if (net == NULL) return IL_E_ARG;
    if (ili_backend_get(net->ctx, dev) == NULL) return IL_E_DEVICE;
    if (dev == net->device) return IL_OK;
    /* Everything is copied first and swapped in only when every copy succeeded. */
    size_t nb = sizeof(il_tensor *) * (size_t)(net->nnodes + 2);
    il_tensor **t = ili_malloc(net->ctx, nb);
    if (t == NULL) return ili_nomem(net->ctx, nb);
    memset(t, 0, nb);
    il_status s = moved(net, net->params, dev, &t[0]);
    if (s == IL_OK) s = moved(net, net->grads, dev, &t[1]);
    for (int i = 0; s == IL_OK && i < net->nnodes; i++)
        s = moved(net, net->nodes[i].fixed, dev, &t[i + 2]);
    if (s == IL_OK) {
        il_tensor *old[2] = {net->params, net->grads};
        net->params = t[0], net->grads = t[1];
        t[0] = old[0], t[1] = old[1];
        for (int i = 0; i < net->nnodes; i++) {
            il_tensor *f = net->nodes[i].fixed;
            net->nodes[i].fixed = t[i + 2];
            t[i + 2] = f;
        }
        il_tensor_free(net->arena);
        net->arena = NULL, net->arena_cap = 0, net->batch = 0;
        ili_net_graphs_drop(net);
        il_tensor_free(net->loss_buf);
        net->loss_buf = NULL, net->loss_step = 0;
        net->device = dev;
    }
    for (int i = 0; i < net->nnodes + 2; i++) il_tensor_free(t[i]); /* the old or the partial */
    ili_free(net->ctx, t, nb);
    return s;
}

/* ---- parameters ---------------------------------------------------------------------------- */

/* Writes n doubles from host memory into buf[off..] as buf's dtype (device-safe copy_in). The
 * doubles are narrowed in place for f32, so v is clobbered. */
il_status ili_net_write_host(il_net *net, il_tensor *buf, int64_t off, double *v, int64_t n) {
    size_t es = il_dtype_size(buf->dtype);
    if (buf->dtype == IL_DTYPE_F32) {
        /* float i lands at bytes [4i, 4i+4), inside doubles already read */
        for (int64_t i = 0; i < n; i++) {
            float f = (float)v[i];
            memcpy((char *)v + (size_t)i * sizeof f, &f, sizeof f);
        }
    }
    char *dst = (char *)buf->st->data + (size_t)(buf->offset + off) * es;
    return ili_backend_copy_in(net->ctx, net->device, dst, v, (size_t)n * es);
}

static il_status buf_new(il_net *net, il_dtype dt, int64_t n, il_tensor **out) {
    return ili_tensor_new(net->ctx, 1, &n, dt, net->device, out);
}

/* Region (1, n) at offset off of a 1-D buffer. */
static void flat_mat(il_tensor *buf, int64_t off, int64_t n, ili_mat *m) {
    ili_mat r = {buf, off, 1, n, n, 1};
    *m = r;
}

/* Grows the parameter and gradient buffers by n's parameters, keeping the old values, and
 * initialises the new ones. Nothing changes in net unless it succeeds. */
static il_status grow_params(il_net *net, ili_node *n) {
    int64_t add = n->pn[0] + n->pn[1], total = net->nparams + add;
    if (add == 0) return IL_OK;
    il_ctx *ctx = net->ctx;
    il_tensor *p = NULL, *g = NULL;
    double *host = ili_malloc(ctx, sizeof(double) * (size_t)add);
    il_status s = host ? IL_OK : ili_nomem(ctx, sizeof(double) * (size_t)add);
    if (s == IL_OK) s = buf_new(net, net->dtype, total, &p);
    if (s == IL_OK) s = buf_new(net, net->dtype, total, &g);
    ili_mat dst, src;
    if (s == IL_OK && net->nparams > 0) {
        flat_mat(p, 0, net->nparams, &dst);
        flat_mat(net->params, 0, net->nparams, &src);
        s = ili_net_op(net, IL_OP_COPY, &dst, &src, NULL, 0);
    }
    if (s == IL_OK) {
        flat_mat(g, 0, total, &dst);
        s = ili_net_op(net, IL_OP_FILL, &dst, NULL, NULL, 0);
    }
    if (s == IL_OK) {
        n->poff[0] = net->nparams;
        n->poff[1] = net->nparams + n->pn[0];
        ili_layer_def_of(n->kind)->init(net, n, host);
        s = ili_net_write_host(net, p, net->nparams, host, add);
    }
    if (host) ili_free(ctx, host, sizeof(double) * (size_t)add);
    if (s != IL_OK) {
        il_tensor_free(p);
        il_tensor_free(g);
        return s;
    }
    il_tensor_free(net->params);
    il_tensor_free(net->grads);
    net->params = p;
    net->grads = g;
    net->nparams = total;
    return IL_OK;
}

/* ---- adding nodes -------------------------------------------------------------------------- */

/* Makes room for at least `want` nodes. */
static il_status reserve_nodes(il_net *net, int want) {
    if (want <= net->cap) return IL_OK;
    int ncap = net->cap ? net->cap * 2 : 8;
    while (ncap < want) ncap *= 2;
    size_t ob = sizeof(ili_node) * (size_t)net->cap, nb = sizeof(ili_node) * (size_t)ncap;
    ili_node *nodes = ili_realloc(net->ctx, net->nodes, ob, nb);
    if (nodes == NULL) return ili_nomem(net->ctx, nb);
    net->nodes = nodes;
    net->cap = ncap;
    return IL_OK;
}

static il_status reserve_node(il_net *net) { return reserve_nodes(net, net->nnodes + 1); }

/* Gives n its name: the user's, or kind + node id. Names are unique within a net. */
static il_status set_name(il_net *net, ili_node *n, const char *uname, int id) {
    il_ctx *ctx = net->ctx;
    char buf[160];
    if (uname == NULL) snprintf(buf, sizeof buf, "%s%d", ili_node_kind_name(n), id);
    const char *name = uname ? uname : buf;
    if (*name == '\0') return ili_seterr(ctx, IL_E_ARG, "layer name is empty");
    for (int i = 0; i < net->nnodes; i++)
        if (strcmp(net->nodes[i].name, name) == 0)
            return ili_seterr(ctx, IL_E_ARG, "layer name '%s' is already used", name);
    if ((n->name = ili_strdup(ctx, name)) == NULL) return ili_nomem(ctx, strlen(name) + 1);
    return IL_OK;
}

/* "<name>.weight" and "<name>.bias" for the parameters n has. */
static il_status set_param_names(il_net *net, ili_node *n) {
    static const char *const suffix[2] = {"weight", "bias"};
    for (int k = 0; k < 2; k++) {
        if (n->pn[k] == 0) continue;
        size_t len = strlen(n->name) + 8;
        if ((n->pname[k] = ili_malloc(net->ctx, len)) == NULL) return ili_nomem(net->ctx, len);
        snprintf(n->pname[k], len, "%s.%s", n->name, suffix[k]);
    }
    return IL_OK;
}

/* Checks the input ids and count of a layer and gathers their widths into *feat (new). */
static il_status gather_inputs(il_net *net, const ili_node *n, int nin, const int *in,
                               int64_t **feat) {
    il_ctx *ctx = net->ctx;
    const ili_layer_def *def = ili_layer_def_of(n->kind);
    const char *kn = ili_node_kind_name(n);
    if (nin < def->min_in || (def->max_in > 0 && nin > def->max_in)) {
        if (def->max_in == def->min_in)
            return ili_seterr(ctx, IL_E_ARG, "%s takes %d input%s, not %d", kn, def->min_in,
                              def->min_in == 1 ? "" : "s", nin);
        return ili_seterr(ctx, IL_E_ARG, "%s takes at least %d inputs, not %d", kn,
                          def->min_in, nin);
    }
    if (in == NULL) return ili_seterr(ctx, IL_E_ARG, "%s: inputs are NULL", kn);
    for (int k = 0; k < nin; k++)
        if (in[k] < 0 || in[k] >= net->nnodes)
            return ili_seterr(ctx, IL_E_RANGE, "%s: input node %d does not exist (%d nodes)",
                              kn, in[k], net->nnodes);
    *feat = ili_malloc(ctx, sizeof(int64_t) * (size_t)nin);
    if (*feat == NULL) return ili_nomem(ctx, sizeof(int64_t) * (size_t)nin);
    for (int k = 0; k < nin; k++) (*feat)[k] = net->nodes[in[k]].features;
    return IL_OK;
}

static il_status copy_ins(il_net *net, ili_node *t, int nin, const int *in) {
    size_t nb = sizeof(int) * (size_t)nin;
    if ((t->in = ili_malloc(net->ctx, nb)) == NULL) return ili_nomem(net->ctx, nb);
    memcpy(t->in, in, nb);
    t->nin = nin;
    return IL_OK;
}

/* Ends adding node t (room reserved, t named): when s, the status of building it, is IL_OK,
 * appends it and its id goes to *node; otherwise frees t's belongings and returns s. */
static il_status append_node(il_net *net, ili_node *t, il_status s, int *node) {
    if (s != IL_OK) {
        node_clear(net->ctx, t);
        return s;
    }
    int id = net->nnodes;
    net->nodes[id] = *t;
    net->nnodes++;
    net->batch = 0; /* the arena needs room for the new node */
    ili_net_graphs_drop(net);
    if (node) *node = id;
    return IL_OK;
}

/* Completes layer t (kind and options set) fed by in[]: names it, infers its width, creates
 * its parameters, and appends it. On failure t's belongings are freed (a custom layer it owns
 * released) and net is unchanged. */
static il_status add_layer(il_net *net, ili_node *t, int nin, const int *in, const char *uname,
                           int *node) {
    il_ctx *ctx = net->ctx;
    int64_t *feat = NULL;
    int id = net->nnodes;
    il_status s = gather_inputs(net, t, nin, in, &feat);
    if (s == IL_OK) s = reserve_node(net);
    if (s == IL_OK) s = copy_ins(net, t, nin, in);
    /* the name comes first: inference errors name the layer */
    if (s == IL_OK) s = set_name(net, t, uname, id);
    if (s == IL_OK) s = ili_layer_def_of(t->kind)->infer(net, t, feat);
    if (s == IL_OK) s = set_param_names(net, t);
    if (s == IL_OK) s = grow_params(net, t);
    if (feat) ili_free(ctx, feat, sizeof(int64_t) * (size_t)nin);
    return append_node(net, t, s, node);
}

il_status il_net_input(il_net *net, int64_t features, int *node) {
    IL_TRY(check_net(net));
    if (features < 1 || features > ILI_MAX_FEATURES)
        return ili_seterr(net->ctx, IL_E_ARG, "input: features must be in [1, 2^40], not %lld",
                          (long long)features);
    ili_node t;
    memset(&t, 0, sizeof t);
    t.kind = IL_LAYER_INPUT;
    t.features = features;
    int id = net->nnodes;
    il_status s = reserve_node(net);
    if (s == IL_OK) s = set_name(net, &t, NULL, id);
    return append_node(net, &t, s, node);
}

/* FOURIER's options: 2^39 frequencies at most, so the output width stays in range. */
static il_status take_fourier(il_ctx *ctx, ili_node *t, const il_layer_opts *o) {
    if (o->out_features < 1 || o->out_features > ILI_MAX_FEATURES / 2)
        return ili_seterr(ctx, IL_E_ARG, "fourier: features must be in [1, 2^39], not %lld",
                          (long long)o->out_features);
    t->sigma = o->sigma != 0 ? o->sigma : 10.0;
    if (!(t->sigma > 0) || !isfinite(t->sigma))
        return ili_seterr(ctx, IL_E_ARG, "fourier: sigma must be finite and > 0, not %g",
                          o->sigma);
    t->features = 2 * o->out_features;
    t->seed = o->seed;
    return IL_OK;
}

/* Copies the options a kind uses into t, with their defaults; IL_E_ARG for bad values. */
static il_status take_opts(il_ctx *ctx, ili_node *t, const il_layer_opts *o) {
    const char *kn = ili_layer_def_of(t->kind)->name;
    t->init = o->init;
    t->in_features = o->in_features;
    t->alpha = o->alpha != 0 ? o->alpha : 0.01;
    t->omega = o->omega != 0 ? o->omega : 30.0;
    t->p = o->p;
    if (t->kind == IL_LAYER_LINEAR) {
        if (o->out_features < 1 || o->out_features > ILI_MAX_FEATURES)
            return ili_seterr(ctx, IL_E_ARG, "%s: out_features must be in [1, 2^40], not %lld",
                              kn, (long long)o->out_features);
        if ((unsigned)o->init >= IL_INIT_COUNT)
            return ili_seterr(ctx, IL_E_ARG, "%s: unknown init %d", kn, (int)o->init);
        if (o->bias != 0 && o->bias != -1)
            return ili_seterr(ctx, IL_E_ARG, "%s: bias is 0 (with) or -1 (without), not %d", kn,
                              o->bias);
        if (o->in_features < 0)
            return ili_seterr(ctx, IL_E_ARG, "%s: in_features must be >= 0", kn);
        t->features = o->out_features;
        t->bias = o->bias == 0;
    }
    if (t->kind == IL_LAYER_FOURIER) IL_TRY(take_fourier(ctx, t, o));
    if (t->kind == IL_LAYER_DROPOUT && !(o->p >= 0 && o->p < 1))
        return ili_seterr(ctx, IL_E_ARG, "%s: p must be in [0, 1), not %g", kn, o->p);
    if (!isfinite(t->alpha) || !isfinite(t->omega))
        return ili_seterr(ctx, IL_E_ARG, "%s: alpha and omega must be finite", kn);
    return IL_OK;
}

il_status il_net_layer(il_net *net, il_layer_kind kind, const il_layer_opts *opts, int nin,
                       const int *in, int *node) {
    IL_TRY(check_net(net));
    il_ctx *ctx = net->ctx;
    if ((unsigned)kind >= IL_LAYER_COUNT || kind == IL_LAYER_INPUT || kind == IL_LAYER_CUSTOM)
        return ili_seterr(ctx, IL_E_ARG, "net_layer: kind %d is not a built-in layer", (int)kind);
    il_layer_opts none;
    memset(&none, 0, sizeof none);
    const il_layer_opts *o = opts ? opts : &none;
    ili_node t;
    memset(&t, 0, sizeof t);
    t.kind = kind;
    IL_TRY(take_opts(ctx, &t, o));
    if (kind == IL_LAYER_DROPOUT && !net->have_seed) {
        /* one seed per net, so masks are reproducible under il_ctx_seed; < 2^53 for p[2] */
        net->drop_seed = ili_rng_next(&ctx->rng) >> 11;
        net->have_seed = 1;
    }
    return add_layer(net, &t, nin, in, o->name, node);
}

il_status il_net_custom(il_net *net, const il_custom_layer *cl, int nin, const int *in,
                        int *node) {
    if (net == NULL) return IL_E_ARG;
    if (cl == NULL) return ili_seterr(net->ctx, IL_E_ARG, "net_custom: layer is NULL");
    ili_node t;
    memset(&t, 0, sizeof t);
    t.kind = IL_LAYER_CUSTOM;
    t.custom = *cl;
    t.owns_custom = 1; /* from here on, every failure path releases ud */
    if (!cl->infer || !cl->forward || !cl->backward) {
        node_clear(net->ctx, &t);
        return ili_seterr(net->ctx, IL_E_ARG, "net_custom: infer, forward and backward are "
                                              "required");
    }
    return add_layer(net, &t, nin, in, NULL, node);
}

il_status il_net_set_output(il_net *net, int node) {
    IL_TRY(check_net(net));
    if (node < 0 || node >= net->nnodes)
        return ili_seterr(net->ctx, IL_E_RANGE, "set_output: node %d does not exist (%d nodes)",
                          node, net->nnodes);
    net->output = node;
    ili_net_graphs_drop(net);
    return IL_OK;
}

/* ---- small queries ------------------------------------------------------------------------- */

int il_net_num_inputs(const il_net *net) {
    int n = 0;
    for (int i = 0; net && i < net->nnodes; i++) n += net->nodes[i].kind == IL_LAYER_INPUT;
    return n;
}

int64_t il_net_num_params(const il_net *net) { return net ? net->nparams : 0; }

void il_net_train(il_net *net, int on) {
    if (net) net->train = on != 0;
}

/* ---- clone --------------------------------------------------------------------------------- */

/* Deep copy of node src into dst (custom layers shared, not owned). */
static il_status node_copy(il_ctx *ctx, ili_node *dst, const ili_node *src) {
    *dst = *src;
    dst->name = dst->pname[0] = dst->pname[1] = NULL;
    dst->in = NULL;
    dst->fixed = NULL;
    dst->nin = 0;
    dst->owns_custom = 0;
    if ((dst->name = ili_strdup(ctx, src->name)) == NULL) return ili_nomem(ctx, strlen(src->name));
    for (int k = 0; k < 2; k++)
        if (src->pname[k] && (dst->pname[k] = ili_strdup(ctx, src->pname[k])) == NULL)
            return ili_nomem(ctx, strlen(src->pname[k]));
    size_t nb = sizeof(int) * (size_t)src->nin;
    if (src->nin > 0 && (dst->in = ili_malloc(ctx, nb)) == NULL) return ili_nomem(ctx, nb);
    if (src->nin > 0) memcpy(dst->in, src->in, nb);
    dst->nin = src->nin;
    return IL_OK;
}

/* A copy of src's fixed tensor (FOURIER) into dst, converted to c's dtype. */
static il_status fixed_copy(il_net *c, ili_node *dst, const ili_node *src) {
    if (src->fixed == NULL) return IL_OK;
    IL_TRY(ili_tensor_new(c->ctx, 2, src->fixed->shape, c->dtype, c->device, &dst->fixed));
    int64_t n = src->fixed->shape[0] * src->fixed->shape[1];
    ili_mat d, s;
    flat_mat(dst->fixed, 0, n, &d);
    flat_mat(src->fixed, 0, n, &s);
    return ili_net_op(c, IL_OP_COPY, &d, &s, NULL, 0);
}

static il_status clone_into(il_net *net, il_net *c) {
    IL_TRY(reserve_nodes(c, net->nnodes)); /* c->nnodes is 0: reserve_node would not grow */
    for (int i = 0; i < net->nnodes; i++) {
        il_status s = node_copy(net->ctx, &c->nodes[i], &net->nodes[i]);
        c->nnodes++; /* counted even when partial, so il_net_free clears it */
        if (s == IL_OK) s = fixed_copy(c, &c->nodes[i], &net->nodes[i]);
        IL_TRY(s);
    }
    c->output = net->output;
    c->train = net->train;
    c->have_seed = net->have_seed;
    c->drop_seed = net->drop_seed;
    c->drop_counter = net->drop_counter;
    if (net->nparams == 0) return IL_OK;
    IL_TRY(buf_new(c, c->dtype, net->nparams, &c->params));
    IL_TRY(buf_new(c, c->dtype, net->nparams, &c->grads));
    c->nparams = net->nparams;
    ili_mat dst, src;
    flat_mat(c->params, 0, c->nparams, &dst);
    flat_mat(net->params, 0, c->nparams, &src);
    IL_TRY(ili_net_op(c, IL_OP_COPY, &dst, &src, NULL, 0));
    flat_mat(c->grads, 0, c->nparams, &dst);
    return ili_net_op(c, IL_OP_FILL, &dst, NULL, NULL, 0);
}

il_status ili_net_clone(il_net *net, il_dtype dt, il_net **out) {
    il_net *c = NULL;
    IL_TRY(il_net_new(net->ctx, dt, &c));
    c->device = net->device;
    il_status s = clone_into(net, c);
    if (s != IL_OK) {
        il_net_free(c);
        return s;
    }
    *out = c;
    return IL_OK;
}
