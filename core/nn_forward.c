/*
 * nn_forward.c: inference, il_net_forward, and its chunking of large batches.
 *
 * A forward compiles an arena for the whole batch (nn_compile.c: an output and a gradient per
 * node, and more), which for a million points through a few wide layers is gigabytes. Rows
 * never interact in any built-in layer (linear, activations, softmax along features, dropout,
 * joins, fourier features), so a large batch runs as chunks of rows, each loaded, run and
 * copied into the full result, with an arena sized for one chunk. Dropout in train mode draws
 * each chunk's mask from the counter the unchunked pass would have used for those rows (the
 * mask is counter-based: element (r, f) of a node's (batch, F) mask draws counter + r F + f),
 * so the result is the same. Custom layers may couple rows: nets with one are never chunked.
 */
#include "nn_impl.h"

#include <string.h>

/* The automatic budget of one chunk's arena. */
#define CHUNK_BUDGET ((double)(256u << 20))
/* Dropout counters stay below 2^53 (nn_layers.c, the BERNOULLI op). */
#define COUNTER_MASK ((UINT64_C(1) << 53) - 1)

il_status il_net_set_forward_chunk(il_net *net, int64_t rows) {
    if (net == NULL) return IL_E_ARG;
    if (rows < 0)
        return ili_seterr(net->ctx, IL_E_ARG, "forward chunk of %lld rows: must be >= 0 (0: "
                                              "automatic)", (long long)rows);
    net->fwd_chunk = rows;
    return IL_OK;
}

/* Arena elements of the layout for b rows, an upper bound of nn_compile.c's layout(): per row
 * the outputs and gradients of every node (a dropout's mask, fourier's arguments and their
 * gradient besides) and the scratch of the widest; fixed, each region's rounding. In double,
 * so that no width overflows. */
static double arena_elems(const il_net *net, double b) {
    double per_row = 0, regions = 1, widest = 1;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        int k = 2 + (n->kind == IL_LAYER_DROPOUT) + 2 * (n->kind == IL_LAYER_FOURIER);
        per_row += k * (double)n->features;
        regions += k;
        if ((double)n->features > widest) widest = (double)n->features;
    }
    return b * (per_row + widest) + regions * (ILI_ARENA_ALIGN - 1);
}

/* The largest row count whose arena fits in `elems` elements (0 when not even one does). */
static int64_t rows_within(const il_net *net, double elems, int64_t batch) {
    double fixed = arena_elems(net, 0), per_row = arena_elems(net, 1) - fixed;
    double r = (elems - fixed) / per_row;
    return r < 1 ? 0 : r >= (double)batch ? batch : (int64_t)r;
}

/*
 * The fewest rows a chunk may have so that its matrix products take the CPU's path for large
 * M, as the whole batch's do: each path sums in its own order, so a row's result depends on it.
 * core/cpu_matmul_op.c and cpu_matmul_skinny.c choose by M: a product of at most 4096
 * multiply-adds runs a plain loop, M <= 4 outer products, and K >= 4096 with K >= 8 max(M, N)
 * cuts K into chunks. A batch below this runs whole.
 */
#define GEMM_SMALL_MACS 4096
#define GEMM_GER_MAX 4
#define GEMM_KSPLIT_MIN 4096
static int64_t min_rows(const il_net *net) {
    int64_t m = GEMM_GER_MAX + 1;
    for (int i = 0; i < net->nnodes; i++) {
        const ili_node *n = &net->nodes[i];
        if (n->kind != IL_LAYER_LINEAR && n->kind != IL_LAYER_FOURIER) continue;
        int64_t k = net->nodes[n->in[0]].features, w = n->features, r = 1;
        if ((double)k * (double)w <= GEMM_SMALL_MACS) r = GEMM_SMALL_MACS / (k * w) + 1;
        if (k >= GEMM_KSPLIT_MIN && k / 8 + 1 > r) r = k / 8 + 1;
        if (r > m) m = r;
    }
    return m;
}

/* Rows per chunk for a forward of batch rows: batch when it is not to be chunked. */
static int64_t chunk_rows(const il_net *net, int64_t batch) {
    for (int i = 0; i < net->nnodes; i++)
        if (net->nodes[i].kind == IL_LAYER_CUSTOM) return batch;
    if (net->fwd_chunk > 0) return net->fwd_chunk < batch ? net->fwd_chunk : batch;
    double budget = CHUNK_BUDGET;
#ifdef IL_HAVE_CUDA
    size_t left = 0;
    if (net->device == IL_DEVICE_CUDA && ili_cuda_limit_left(net->ctx, &left) &&
        (double)left / 2 < budget)
        budget = (double)left / 2;
#endif
    int64_t rows = rows_within(net, budget / (double)il_dtype_size(net->dtype), batch);
    int64_t have = net->arena ? rows_within(net, (double)net->arena_cap, batch) : 0;
    if (have > rows) rows = have; /* the arena is there already: use it whole */
    return rows < 1 ? 1 : rows;
}

/* Non-zero when x holds nin well-formed 2-D inputs with one row count, *batch; anything else
 * goes to the unchunked path, whose checks name the problem. */
static int uniform_inputs(il_net *net, int nin, const il_tensor *const *x, int64_t *batch) {
    if (x == NULL || nin < 1 || nin != il_net_num_inputs(net)) return 0;
    for (int i = 0, k = 0; i < net->nnodes; i++) {
        if (net->nodes[i].kind != IL_LAYER_INPUT) continue;
        const il_tensor *t = x[k++];
        if (t == NULL || t->ctx != net->ctx || t->ndim != 2 || t->shape[0] != x[0]->shape[0] ||
            t->shape[1] != net->nodes[i].features || il_tensor_device(t) != net->device)
            return 0;
    }
    *batch = x[0]->shape[0];
    return 1;
}

static int active_dropout(const il_net *net) {
    for (int i = 0; i <= ili_net_output(net); i++)
        if (net->nodes[i].kind == IL_LAYER_DROPOUT && net->train && net->nodes[i].p > 0) return 1;
    return 0;
}

/*
 * The forward of rows [r0, r0 + net->batch) of a batch-row pass that started with dropout
 * counter c0: each active dropout node draws its mask from the counter the whole pass would
 * have given these rows (the sum of the earlier nodes' whole masks, then r0 rows of its own).
 * Without active dropout it is ili_net_run_forward.
 */
static il_status run_chunk(il_net *net, int64_t r0, int64_t batch, uint64_t c0) {
    if (!active_dropout(net)) return ili_net_run_forward(net, net->train, 1);
    net->run_train = net->train;
    net->new_mask = 1;
    ili_net_plan_fusion(net);
    uint64_t base = c0;
    for (int i = 0; i <= ili_net_output(net); i++) {
        ili_node *n = &net->nodes[i];
        if (n->kind == IL_LAYER_INPUT) continue;
        if (n->kind == IL_LAYER_DROPOUT && n->p > 0) {
            net->drop_counter = (base + (uint64_t)r0 * (uint64_t)n->features) & COUNTER_MASK;
            base = (base + (uint64_t)batch * (uint64_t)n->features) & COUNTER_MASK;
        }
        IL_TRY(ili_layer_def_of(n->kind)->forward(net, n));
    }
    net->drop_counter = base; /* where the whole pass would have left it */
    return IL_OK;
}

/* Rows [r0, r0 + len) of the inputs through the net, into the same rows of y (batch, out). */
static il_status forward_chunk(il_net *net, int nin, const il_tensor *const *x, int64_t r0,
                               int64_t len, int64_t batch, uint64_t c0, il_tensor *y) {
    size_t bytes = sizeof(il_tensor *) * (size_t)nin;
    il_tensor **v = ili_malloc(net->ctx, bytes); /* views of the chunk's rows */
    if (v == NULL) return ili_nomem(net->ctx, bytes);
    memset(v, 0, bytes);
    il_status s = IL_OK;
    for (int k = 0; k < nin && s == IL_OK; k++)
        s = il_tensor_narrow(net->ctx, x[k], 0, r0, len, &v[k]);
    if (s == IL_OK) s = ili_net_load_inputs(net, nin, (const il_tensor *const *)v);
    for (int k = 0; k < nin; k++) il_tensor_free(v[k]);
    ili_free(net->ctx, v, bytes);
    if (s == IL_OK) s = run_chunk(net, r0, batch, c0);
    if (s != IL_OK) return s;
    ili_node *o = &net->nodes[ili_net_output(net)];
    ili_mat src, dst = {y, r0 * o->features, len, o->features, o->features, 1};
    ili_node_out(net, o, &src);
    return ili_net_op(net, IL_OP_COPY, &dst, &src, NULL, 0);
}

/* The number of chunks for batch rows at most `rows` each, fewer when that would make a chunk
 * shorter than min_rows (1: run whole). */
static int64_t count_chunks(const il_net *net, int64_t batch, int64_t rows) {
    int64_t nc = (batch + rows - 1) / rows, least = min_rows(net);
    if (batch / nc < least) nc = batch / least;
    return nc < 1 ? 1 : nc;
}

/* The whole batch in nc (> 1) chunks into a new *y: sizes differ by at most one row, the
 * longer ones first, so the arena is compiled once, for the first. */
static il_status forward_chunked(il_net *net, int nin, const il_tensor *const *x, int64_t batch,
                                 int64_t nc, il_tensor **y) {
    int64_t shape[2] = {batch, net->nodes[ili_net_output(net)].features};
    il_tensor *r = NULL;
    IL_TRY(ili_tensor_new(net->ctx, 2, shape, net->dtype, net->device, &r));
    uint64_t c0 = net->drop_counter;
    il_status s = IL_OK;
    for (int64_t k = 0, r0 = 0; k < nc && s == IL_OK; k++) {
        int64_t len = batch / nc + (k < batch % nc);
        s = forward_chunk(net, nin, x, r0, len, batch, c0, r);
        r0 += len;
    }
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *y = r;
    return IL_OK;
}

/*
 * Inference on x (see nn.h). Dropout follows the net's mode, as in torch. *y is a new
 * (batch, out) tensor. IL_E_ARG / IL_E_SHAPE / IL_E_DEVICE for bad inputs, IL_E_NOMEM, or a
 * custom layer's status.
 */
il_status il_net_forward(il_net *net, int nin, const il_tensor *const *x, il_tensor **y) {
    if (net == NULL) return IL_E_ARG;
    if (y == NULL) return ili_seterr(net->ctx, IL_E_ARG, "net_forward: y is NULL");
    *y = NULL;
    int64_t batch = 0, nc;
    if (uniform_inputs(net, nin, x, &batch) && batch > 1 &&
        (nc = count_chunks(net, batch, chunk_rows(net, batch))) > 1)
        return forward_chunked(net, nin, x, batch, nc, y);
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
