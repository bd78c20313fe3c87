/*
 * nn_compile.c: compiling a network for a batch size, and the matrix regions layers work on.
 *
 * The nodes are already in topological order (each layer is added after its inputs), and
 * every width is known when a node is added, so compiling only lays out one arena: for each
 * node its output (batch, width) and that output's gradient, a keep-mask for dropout, one
 * scratch region for summing gradients of nodes with several consumers. (The loss lives in
 * net->loss_buf, not here.) The arena is kept when the batch shrinks, so alternating batch
 * sizes stop allocating once the largest has been seen.
 */
#include "nn_impl.h"

#include <string.h>

static int64_t round_up(int64_t n) {
    return (n + ILI_ARENA_ALIGN - 1) / ILI_ARENA_ALIGN * ILI_ARENA_ALIGN;
}

/* Assigns arena offsets for batch rows and returns the elements needed. */
static int64_t layout(il_net *net, int64_t batch) {
    int64_t off = 0, widest = 1;
    for (int i = 0; i < net->nnodes; i++) {
        ili_node *n = &net->nodes[i];
        int64_t sz = round_up(batch * n->features);
        n->act = off;
        n->grad = off + sz;
        off += 2 * sz;
        n->aux = -1;
        if (n->kind == IL_LAYER_DROPOUT) {
            n->aux = off;
            off += sz;
        }
        if (n->kind == IL_LAYER_FOURIER) { /* sine arguments and their gradient */
            n->aux = off;
            off += 2 * sz;
        }
        if (n->features > widest) widest = n->features;
    }
    net->scratch = off;
    return off + round_up(batch * widest);
}

/*
 * Makes the arena fit `batch` rows (batch >= 1). Allocates only when the arena must grow; on
 * failure the net stays compiled for its previous batch (or not at all). IL_E_SHAPE when the
 * sizes overflow, IL_E_NOMEM.
 */
il_status ili_net_compile(il_net *net, int64_t batch) {
    if (batch == net->batch && net->arena != NULL) return IL_OK;
    int64_t widest = 1, sum = 0;
    for (int i = 0; i < net->nnodes; i++) {
        if (net->nodes[i].features > widest) widest = net->nodes[i].features;
        sum += 4 * net->nodes[i].features + 2 * ILI_ARENA_ALIGN;
    }
    int64_t rough[2] = {batch, sum + widest + 2 * ILI_ARENA_ALIGN};
    IL_TRY(ili_check_shape(net->ctx, 2, rough)); /* keeps layout()'s arithmetic in range */
    int64_t old_batch = net->batch;
    net->batch = 0;
    int64_t need = layout(net, batch);
    if (need > net->arena_cap) {
        il_tensor *a = NULL;
        il_status s = ili_tensor_new(net->ctx, 1, &need, net->dtype, net->device, &a);
        if (s != IL_OK) {
            if (old_batch > 0 && net->arena) layout(net, old_batch), net->batch = old_batch;
            return s;
        }
        il_tensor_free(net->arena);
        net->arena = a;
        net->arena_cap = need;
    }
    net->batch = batch;
    return IL_OK;
}

/* ---- fusion ------------------------------------------------------------------------------- */

/* Activations whose gradient can be computed from their output alone, so that the linear
 * before them need not keep its own output (leaky_relu only with a slope >= 0, where
 * y > 0 exactly when x > 0). */
static int fusable_act(const ili_node *n) {
    switch (n->kind) {
    case IL_LAYER_RELU:
    case IL_LAYER_TANH:
    case IL_LAYER_SIGMOID: return 1;
    case IL_LAYER_LEAKY_RELU: return n->alpha >= 0;
    default: return 0;
    }
}

/*
 * A linear whose one consumer is such an activation computes the activation in its product's
 * epilogue (the pair's output is the activation's); if that activation in turn feeds exactly
 * one linear, the latter's input-gradient product also applies the activation's derivative
 * and sums the first linear's bias gradient. Nodes past the output never run, and the
 * output's own value must exist, so neither takes part.
 */
void ili_net_plan_fusion(il_net *net) {
    int out = ili_net_output(net);
    for (int i = 0; i < net->nnodes; i++) {
        ili_node *n = &net->nodes[i];
        n->fwd_act = n->fwd_by = n->bwd_by = -1;
        n->nuse = 0;
    }
    for (int i = 0; i < net->nnodes; i++)
        for (int k = 0; k < net->nodes[i].nin; k++) net->nodes[net->nodes[i].in[k]].nuse++;
    for (int i = 0; i <= out; i++) {
        ili_node *a = &net->nodes[i], *l = a->nin == 1 ? &net->nodes[a->in[0]] : NULL;
        if (!l || !fusable_act(a) || l->kind != IL_LAYER_LINEAR || l->nuse != 1 ||
            a->in[0] == out)
            continue;
        l->fwd_act = i;
        a->fwd_by = a->in[0];
    }
    for (int i = 0; i <= out; i++) {
        ili_node *l2 = &net->nodes[i];
        if (l2->kind != IL_LAYER_LINEAR) continue;
        ili_node *a = &net->nodes[l2->in[0]];
        if (a->fwd_by >= 0 && a->nuse == 1 && l2->in[0] != out) a->bwd_by = i;
    }
}

/* ---- regions ------------------------------------------------------------------------------- */

void ili_arena_mat(il_net *net, int64_t off, int64_t width, ili_mat *m) {
    ili_mat r = {net->arena, off, net->batch, width, width, 1};
    *m = r;
}

void ili_node_out(il_net *net, const ili_node *n, ili_mat *m) {
    ili_arena_mat(net, n->act, n->features, m);
}

void ili_node_dout(il_net *net, const ili_node *n, ili_mat *m) {
    ili_arena_mat(net, n->grad, n->features, m);
}

void ili_node_in(il_net *net, const ili_node *n, int k, ili_mat *m) {
    ili_node_out(net, &net->nodes[n->in[k]], m);
}

void ili_node_param(il_net *net, const ili_node *n, int which, int grad, ili_mat *m) {
    il_tensor *buf = grad ? net->grads : net->params;
    int64_t rows = which == 0 ? n->in_features : 1;
    ili_mat r = {buf, n->poff[which], rows, n->features, n->features, 1};
    *m = r;
}

void ili_mat_t(ili_mat *m) {
    int64_t t = m->rows;
    m->rows = m->cols;
    m->cols = t;
    t = m->rs;
    m->rs = m->cs;
    m->cs = t;
}

void ili_mat_desc(const ili_mat *m, il_tdesc *d) {
    const il_tensor *b = m->buf;
    memset(d, 0, sizeof *d);
    d->data = (char *)b->st->data + (b->offset + m->off) * (int64_t)il_dtype_size(b->dtype);
    d->dtype = b->dtype;
    d->ndim = 2;
    d->shape[0] = m->rows;
    d->shape[1] = m->cols;
    d->stride[0] = m->rs;
    d->stride[1] = m->cs;
}

il_status ili_mat_view(il_net *net, const ili_mat *m, il_tensor **out) {
    int64_t shape[2] = {m->rows, m->cols}, stride[2] = {m->rs, m->cs};
    return ili_tensor_view(net->ctx, m->buf, 2, shape, stride, m->buf->offset + m->off, out);
}
