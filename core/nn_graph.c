/*
 * nn_graph.c: training steps as CUDA graph replays (see il_graph_mode in nn.h).
 *
 * A graph bakes in every address and kernel parameter of the step it recorded, so a replay is
 * only right for a step with the same tensors, loss, optimizer and compiled network: that is
 * the key. A net keeps a few keys (ILI_GRAPHS, least recently used goes), so a fixed set of
 * batch tensors replays too. The first step with a key runs eagerly (it also grows whatever
 * scratch the step needs, since nothing may be allocated while recording); the second one is
 * captured and replayed; later ones replay. Only the optimizer's scalars
 * change between replays: graph.cu rewrites its node from this step's OPTIM call.
 *
 * A key whose capture failed (an op needed the host: see graph.cu) is remembered as refused
 * and runs eagerly from then on.
 */
#include "nn_impl.h"

#include <string.h>

#define ILI_GRAPHS 8
#define ILI_GRAPH_MAXIN 4

typedef struct graph_key {
    int nin;
    il_tdesc x[ILI_GRAPH_MAXIN];
    il_tdesc target;
    il_loss_kind loss_kind;
    double loss_delta;
    const il_optim *opt;
    il_optim_kind opt_kind;
    const void *opt_state[3];
    const void *arena, *params, *grads, *loss_buf;
    int64_t batch;
    uint64_t gen;
    int train;
} graph_key;

typedef struct graph_entry {
    graph_key key;
    int used;    /* the entry holds a key */
    int refused; /* its capture failed: run eagerly */
    uint64_t stamp; /* last use, for eviction */
#ifdef IL_HAVE_CUDA
    ili_cuda_graph *g;
#endif
} graph_entry;

struct ili_net_graphs {
    graph_entry e[ILI_GRAPHS]; /* an entry without a graph: a key seen once (ran eagerly) */
    uint64_t clock;
};

il_status il_net_set_graph(il_net *net, il_graph_mode mode) {
    if (net == NULL) return IL_E_ARG;
    if (mode != IL_GRAPH_OFF && mode != IL_GRAPH_AUTO)
        return ili_seterr(net->ctx, IL_E_ARG, "set_graph: mode must be IL_GRAPH_OFF or "
                                              "IL_GRAPH_AUTO, not %d", (int)mode);
    net->graph_mode = mode;
    if (mode == IL_GRAPH_OFF) ili_net_graphs_drop(net);
    return IL_OK;
}

int il_net_last_step_graph(const il_net *net) { return net ? net->last_graph : 0; }

static void entry_clear(il_net *net, graph_entry *e) {
#ifdef IL_HAVE_CUDA
    ili_cuda_graph_free(net->ctx, e->g);
#else
    (void)net;
#endif
    memset(e, 0, sizeof *e);
}

void ili_net_graphs_drop(il_net *net) {
    net->gen++;
    if (net->graphs == NULL) return;
    for (int i = 0; i < ILI_GRAPHS; i++) entry_clear(net, &net->graphs->e[i]);
    ili_free(net->ctx, net->graphs, sizeof *net->graphs);
    net->graphs = NULL;
}

#ifndef IL_HAVE_CUDA

il_status ili_net_graph_step(il_net *net, int nin, const il_tensor *const *x,
                             const il_tensor *target, const il_loss *loss, il_optim *opt,
                             double *loss_value, int *done) {
    (void)nin, (void)x, (void)target, (void)loss, (void)opt, (void)loss_value;
    net->last_graph = 0;
    *done = 0; /* no CUDA, no graphs: every step is eager */
    return IL_OK;
}

#else

/* Steps that need the host in their middle, or whose recording could not be replayed as is. */
static int eligible(const il_net *net, int nin, const il_tensor *target, const il_loss *loss,
                    const il_optim *opt) {
    if (net->graph_mode != IL_GRAPH_AUTO || net->device != IL_DEVICE_CUDA) return 0;
    if (nin > ILI_GRAPH_MAXIN || opt->o.clip_norm > 0 || net->input_grads) return 0;
    int64_t features = net->nodes[ili_net_output(net)].features;
    /* cross-entropy with class indices checks their range on the host */
    if (loss->kind == IL_LOSS_CROSS_ENTROPY &&
        !(target->ndim == 2 && target->shape[1] == features && features > 1))
        return 0;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        if (n->kind == IL_LAYER_CUSTOM) return 0; /* host callbacks */
        if (n->kind == IL_LAYER_DROPOUT && net->train && n->p > 0) return 0; /* new masks */
    }
    return 1;
}

static const void *data_of(const il_tensor *t) { return t ? t->st->data : NULL; }

static void make_key(const il_net *net, int nin, const il_tensor *const *x,
                     const il_tensor *target, const il_loss *loss, const il_optim *opt,
                     graph_key *k) {
    memset(k, 0, sizeof *k); /* padding too: keys compare with memcmp */
    k->nin = nin;
    for (int i = 0; i < nin; i++) ili_tensor_desc(x[i], &k->x[i]);
    ili_tensor_desc(target, &k->target);
    k->loss_kind = loss->kind;
    k->loss_delta = loss->delta;
    k->opt = opt;
    k->opt_kind = opt->kind;
    for (int i = 0; i < 3; i++) k->opt_state[i] = data_of(opt->state[i]);
    k->arena = data_of(net->arena);
    k->params = data_of(net->params);
    k->grads = data_of(net->grads);
    k->loss_buf = data_of(net->loss_buf);
    k->batch = net->batch;
    k->gen = net->gen;
    k->train = net->train;
}

static graph_entry *find(struct ili_net_graphs *gs, const graph_key *k) {
    for (int i = 0; i < ILI_GRAPHS; i++)
        if (gs->e[i].used && memcmp(&gs->e[i].key, k, sizeof *k) == 0) return &gs->e[i];
    return NULL;
}

/* A free entry, or the least recently used one, emptied. */
static graph_entry *victim(il_net *net) {
    struct ili_net_graphs *gs = net->graphs;
    graph_entry *v = &gs->e[0];
    for (int i = 0; i < ILI_GRAPHS; i++) {
        if (!gs->e[i].used) {
            v = &gs->e[i];
            break;
        }
        if (gs->e[i].stamp < v->stamp) v = &gs->e[i];
    }
    entry_clear(net, v);
    return v;
}

/* Records the step into *g. On failure nothing ran and nothing changed: the optimizer's step
 * count is restored (the recorded update counted one). */
static il_status capture(il_net *net, int nin, const il_tensor *const *x, const il_tensor *target,
                         const il_loss *loss, il_optim *opt, ili_cuda_graph **g) {
    *g = NULL;
    IL_TRY(ili_cuda_capture_begin(net->ctx, net->loss_buf->st->data, net->dtype));
    int64_t steps = opt->steps;
    il_status s = ili_net_step_ops(net, nin, x, target, loss, opt, NULL);
    opt->steps = steps;
    il_status e = ili_cuda_capture_end(net->ctx, s == IL_OK, g);
    return s != IL_OK ? s : e;
}

static il_status replay(il_net *net, graph_entry *e, il_optim *opt, double *loss_value) {
    il_opcall c;
    if (net->params) ili_optim_update_call(opt, net->params, net->grads, &c);
    IL_TRY(ili_cuda_graph_launch(net->ctx, e->g, net->params ? &c : NULL));
    opt->steps++;
    net->loss_step = opt->steps;
    e->stamp = ++net->graphs->clock;
    if (loss_value == NULL) return IL_OK;
    return ili_net_read_loss(net, opt->steps, 1, loss_value);
}

il_status ili_net_graph_step(il_net *net, int nin, const il_tensor *const *x,
                             const il_tensor *target, const il_loss *loss, il_optim *opt,
                             double *loss_value, int *done) {
    *done = 0;
    net->last_graph = 0;
    if (!eligible(net, nin, target, loss, opt)) return IL_OK;
    if (net->graphs == NULL) {
        net->graphs = ili_malloc(net->ctx, sizeof *net->graphs);
        if (net->graphs == NULL) return ili_nomem(net->ctx, sizeof *net->graphs);
        memset(net->graphs, 0, sizeof *net->graphs);
    }
    struct ili_net_graphs *gs = net->graphs;
    graph_key k;
    make_key(net, nin, x, target, loss, opt, &k);
    graph_entry *e = find(gs, &k);
    if (e && e->g && !ili_cuda_graph_valid(net->ctx, e->g)) {
        entry_clear(net, e); /* its scratch or TF32 setting is gone: start over */
        e = NULL;
    }
    if (e == NULL) { /* first sight: eager, which also grows any scratch the step needs */
        e = victim(net);
        e->key = k;
        e->used = 1;
        e->stamp = ++gs->clock;
        return IL_OK;
    }
    if (e->refused) return IL_OK;
    int fresh = 0;
    if (e->g == NULL) {
        if (capture(net, nin, x, target, loss, opt, &e->g) != IL_OK || e->g == NULL) {
            e->refused = 1; /* the eager run reports any real error */
            return IL_OK;
        }
        fresh = 1;
    }
    IL_TRY(replay(net, e, opt, loss_value));
    net->last_graph = fresh ? 1 : 2;
    *done = 1;
    return IL_OK;
}

#endif
