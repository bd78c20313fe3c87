/*
 * nn_layers.c: the built-in layer kinds, each with its shape inference, initialisation,
 * forward and backward together (as kann does), and the table that names them. Custom layers
 * (host callbacks) live in nn_custom.c.
 *
 * Layers compute only through backend ops on arena regions (ili_net_op), and write input
 * gradients through ili_grad_begin/ili_grad_end, which sum contributions from several
 * consumers. Activations are matrices (batch, features).
 */
#include "nn_impl.h"

#include <math.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- shared pieces ------------------------------------------------------------------------- */

static il_status width_error(il_net *net, const ili_node *n, int64_t want, int64_t got) {
    return ili_seterr(net->ctx, IL_E_SHAPE, "%s: expected input of %lld features, got %lld",
                      n->name, (long long)want, (long long)got);
}

/* Output as wide as the one input (activations, softmax, dropout). */
static il_status infer_same(il_net *net, ili_node *n, const int64_t *in) {
    (void)net;
    n->features = in[0];
    return IL_OK;
}

static void init_none(il_net *net, const ili_node *n, double *w) {
    (void)net, (void)n, (void)w;
}

/* dx = dy for each input (add, and dropout in eval mode), or the matching column slice of dy
 * (concat: col advances by each input's width). */
static il_status pass_grad(il_net *net, ili_node *n, int slice) {
    ili_mat dy, dx;
    ili_node_dout(net, n, &dy);
    int64_t col = 0;
    for (int k = 0; k < n->nin; k++) {
        int id = n->in[k];
        int64_t w = net->nodes[id].features;
        ili_mat src = dy;
        if (slice) src.off += col, src.cols = w;
        col += w;
        if (!ili_grad_begin(net, id, &dx)) continue;
        IL_TRY(ili_net_op(net, IL_OP_COPY, &dx, &src, NULL, 0));
        IL_TRY(ili_grad_end(net, id));
    }
    return IL_OK;
}

/* ---- elementwise activations: y = f(x), dx = dy * f'(x or y) ------------------------------- */

typedef struct act_info {
    il_layer_kind kind;
    il_op fwd, grad;
    int grad_uses_y; /* the derivative is cheapest from the output (tanh, sigmoid) */
} act_info;

static const act_info acts[] = {
    {IL_LAYER_TANH, IL_OP_TANH, IL_OP_TANH_GRAD, 1},
    {IL_LAYER_SIGMOID, IL_OP_SIGMOID, IL_OP_SIGMOID_GRAD, 1},
    {IL_LAYER_RELU, IL_OP_RELU, IL_OP_RELU_GRAD, 0},
    {IL_LAYER_LEAKY_RELU, IL_OP_LEAKY_RELU, IL_OP_LEAKY_RELU_GRAD, 0},
    {IL_LAYER_GELU, IL_OP_GELU, IL_OP_GELU_GRAD, 0},
    {IL_LAYER_SOFTPLUS, IL_OP_SOFTPLUS, IL_OP_SOFTPLUS_GRAD, 0},
    {IL_LAYER_SINE, IL_OP_SINE, IL_OP_SINE_GRAD, 0},
};

static const act_info *act_of(il_layer_kind k) {
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].kind == k) return &acts[i];
    return &acts[0];
}

/* p[0] of the ops: the leaky slope or the sine frequency. */
static double act_param(const ili_node *n) {
    return n->kind == IL_LAYER_LEAKY_RELU ? n->alpha : n->kind == IL_LAYER_SINE ? n->omega : 0;
}

/* ---- linear: y = x W + b, W (in, out), b (1, out) ------------------------------------------ */

static il_status linear_infer(il_net *net, ili_node *n, const int64_t *in) {
    if (n->in_features > 0 && n->in_features != in[0])
        return width_error(net, n, n->in_features, in[0]);
    if (in[0] > ((int64_t)1 << 56) / n->features)
        return ili_seterr(net->ctx, IL_E_SHAPE, "%s: %lld x %lld weights are too many", n->name,
                          (long long)in[0], (long long)n->features);
    n->in_features = in[0];
    n->pn[0] = in[0] * n->features;
    n->pn[1] = n->bias ? n->features : 0;
    return IL_OK;
}

/* Weights row-major (in, out) from the context's generator, then biases. */
static void linear_init(il_net *net, const ili_node *n, double *w) {
    ili_rng *r = &net->ctx->rng;
    double fi = (double)n->in_features, fo = (double)n->features, a = 0, sd = 0;
    switch (n->init) {
    case IL_INIT_XAVIER_UNIFORM: a = sqrt(6.0 / (fi + fo)); break;
    case IL_INIT_XAVIER_NORMAL: sd = sqrt(2.0 / (fi + fo)); break;
    case IL_INIT_HE_UNIFORM: a = sqrt(6.0 / fi); break;
    case IL_INIT_HE_NORMAL: sd = sqrt(2.0 / fi); break;
    case IL_INIT_NORMAL: sd = 1.0; break;
    case IL_INIT_UNIFORM: a = 1.0 / sqrt(fi); break;
    case IL_INIT_SIREN_FIRST: a = 1.0 / fi; break;
    case IL_INIT_SIREN: a = sqrt(6.0 / fi) / n->omega; break;
    default: break; /* ZEROS */
    }
    for (int64_t i = 0; i < n->pn[0]; i++)
        w[i] = a > 0 ? (2 * ili_rng_uniform(r) - 1) * a : sd > 0 ? sd * ili_rng_normal(r) : 0;
    /* biases start at zero, except PyTorch's nn.Linear scheme, which SIREN's reference code
     * (a torch nn.Linear with only the weights re-drawn) also keeps */
    int uni = n->init == IL_INIT_UNIFORM || n->init == IL_INIT_SIREN_FIRST ||
              n->init == IL_INIT_SIREN;
    for (int64_t i = 0; i < n->pn[1]; i++)
        w[n->pn[0] + i] = uni ? (2 * ili_rng_uniform(r) - 1) / sqrt(fi) : 0;
}

/* y = x W + b through the product's epilogue, which also applies the activation after the
 * layer when the two run fused (the output is then the activation's; see
 * ili_net_plan_fusion). */
static il_status linear_forward(il_net *net, ili_node *n) {
    ili_mat x, y, w, b;
    int act = -1;
    double p = 0;
    ili_node_in(net, n, 0, &x);
    ili_node_param(net, n, 0, 0, &w);
    if (n->fwd_act >= 0) {
        const ili_node *a = &net->nodes[n->fwd_act];
        ili_node_out(net, a, &y);
        act = (int)act_of(a->kind)->fwd, p = act_param(a);
    } else {
        ili_node_out(net, n, &y);
    }
    if (n->pn[1] == 0 && act < 0) return ili_net_op(net, IL_OP_MATMUL, &y, &x, &w, 0);
    if (n->pn[1] > 0) ili_node_param(net, n, 1, 0, &b);
    return ili_net_matmul(net, &y, &x, &w, IL_MATMUL_EPILOGUE_FORWARD, act, p,
                          n->pn[1] > 0 ? &b : NULL, NULL);
}

/* The gradient of the linear l before activation a (a fused with l, its one consumer being
 * the linear whose dy and W^T are given): dz = a'(y) * (dy W^T) in one product, whose column
 * sums are l's bias gradient. Activation a's own backward then has nothing left to do. */
static il_status backward_through_act(il_net *net, ili_node *a, const ili_mat *dy,
                                      const ili_mat *wt) {
    ili_node *l = &net->nodes[a->fwd_by];
    ili_mat dz, y, db;
    if (!ili_grad_begin(net, a->fwd_by, &dz)) return IL_OK;
    ili_node_out(net, a, &y);
    if (l->pn[1] > 0) ili_node_param(net, l, 1, 1, &db);
    IL_TRY(ili_net_matmul(net, &dz, dy, wt, IL_MATMUL_EPILOGUE_GRAD, (int)act_of(a->kind)->grad,
                          act_param(a), &y, l->pn[1] > 0 ? &db : NULL));
    a->grad_written = 1;
    return ili_grad_end(net, a->fwd_by);
}

static il_status linear_backward(il_net *net, ili_node *n) {
    ili_mat x, dy, w, dw, db, dx;
    ili_node *in = &net->nodes[n->in[0]];
    ili_node_in(net, n, 0, &x);
    ili_node_dout(net, n, &dy);
    ili_node_param(net, n, 0, 1, &dw);
    ili_mat_t(&x);
    IL_TRY(ili_net_op(net, IL_OP_MATMUL, &dw, &x, &dy, 0)); /* dW (in, out) = x^T dy */
    /* db (1, out) = column sums of dy, unless the next linear's product made them */
    if (n->pn[1] > 0 && (n->fwd_act < 0 || net->nodes[n->fwd_act].bwd_by < 0)) {
        ili_node_param(net, n, 1, 1, &db);
        IL_TRY(ili_net_sum_rows(net, &db, &dy));
    }
    ili_node_param(net, n, 0, 0, &w);
    ili_mat_t(&w);
    if (in->bwd_by == (int)(n - net->nodes)) return backward_through_act(net, in, &dy, &w);
    if (!ili_grad_begin(net, n->in[0], &dx)) return IL_OK;
    IL_TRY(ili_net_op(net, IL_OP_MATMUL, &dx, &dy, &w, 0)); /* dx (B, in) = dy W^T */
    return ili_grad_end(net, n->in[0]);
}

/* ---- activation layers ----------------------------------------------------------------- */

/* Nothing to do when the linear before ran this activation in its epilogue. */
static il_status act_forward(il_net *net, ili_node *n) {
    ili_mat x, y;
    if (n->fwd_by >= 0) return IL_OK;
    ili_node_in(net, n, 0, &x);
    ili_node_out(net, n, &y);
    return ili_net_op(net, act_of(n->kind)->fwd, &y, &x, NULL, act_param(n));
}

/* dx = dy * f'(x or y); fused with the linear before, only y exists (fusion picks activations
 * whose derivative y gives exactly). Nothing to do when the linear after did it. */
static il_status act_backward(il_net *net, ili_node *n) {
    const act_info *a = act_of(n->kind);
    ili_mat v, dy, dx;
    if (n->bwd_by >= 0) return IL_OK;
    if (!ili_grad_begin(net, n->in[0], &dx)) return IL_OK;
    if (a->grad_uses_y || n->fwd_by >= 0) ili_node_out(net, n, &v);
    else ili_node_in(net, n, 0, &v);
    ili_node_dout(net, n, &dy);
    IL_TRY(ili_net_op(net, a->grad, &dx, &dy, &v, act_param(n)));
    return ili_grad_end(net, n->in[0]);
}

/* ---- softmax along features ---------------------------------------------------------------- */

static il_status softmax_forward(il_net *net, ili_node *n) {
    ili_mat x, y;
    ili_node_in(net, n, 0, &x);
    ili_node_out(net, n, &y);
    return ili_net_op(net, IL_OP_SOFTMAX, &y, &x, NULL, 0);
}

static il_status softmax_backward(il_net *net, ili_node *n) {
    ili_mat y, dy, dx;
    if (!ili_grad_begin(net, n->in[0], &dx)) return IL_OK;
    ili_node_out(net, n, &y);
    ili_node_dout(net, n, &dy);
    IL_TRY(ili_net_op(net, IL_OP_SOFTMAX_GRAD, &dx, &dy, &y, 0));
    return ili_grad_end(net, n->in[0]);
}

/* ---- dropout: y = x * mask in train mode, mask = keep ? 1 / (1 - p) : 0 --------------------- */

static int dropout_active(const il_net *net, const ili_node *n) {
    return net->run_train && n->p > 0;
}

/* Draws a new mask from (net seed, counter) and advances the counter past it. */
static il_status draw_mask(il_net *net, const ili_node *n, const ili_mat *m) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_BERNOULLI;
    ili_mat_desc(m, &c.out);
    c.p[0] = 1 - n->p;
    c.p[1] = 1 / (1 - n->p);
    c.p[2] = (double)net->drop_seed;
    c.p[3] = (double)net->drop_counter;
    IL_TRY(ili_backend_run(net->ctx, net->device, &c));
    /* stays below 2^53, as the op requires */
    net->drop_counter = (net->drop_counter + (uint64_t)(m->rows * m->cols)) & ((1ULL << 53) - 1);
    return IL_OK;
}

static il_status dropout_forward(il_net *net, ili_node *n) {
    ili_mat x, y, m;
    ili_node_in(net, n, 0, &x);
    ili_node_out(net, n, &y);
    if (!dropout_active(net, n)) return ili_net_op(net, IL_OP_COPY, &y, &x, NULL, 0);
    ili_arena_mat(net, n->aux, n->features, &m);
    if (net->new_mask) IL_TRY(draw_mask(net, n, &m));
    return ili_net_op(net, IL_OP_MUL, &y, &x, &m, 0);
}

static il_status dropout_backward(il_net *net, ili_node *n) {
    if (!dropout_active(net, n)) return pass_grad(net, n, 0);
    ili_mat dy, dx, m;
    if (!ili_grad_begin(net, n->in[0], &dx)) return IL_OK;
    ili_node_dout(net, n, &dy);
    ili_arena_mat(net, n->aux, n->features, &m);
    IL_TRY(ili_net_op(net, IL_OP_MUL, &dx, &dy, &m, 0));
    return ili_grad_end(net, n->in[0]);
}

/* ---- joins --------------------------------------------------------------------------------- */

static il_status add_infer(il_net *net, ili_node *n, const int64_t *in) {
    for (int k = 1; k < n->nin; k++)
        if (in[k] != in[0]) return width_error(net, n, in[0], in[k]);
    n->features = in[0];
    return IL_OK;
}

static il_status add_forward(il_net *net, ili_node *n) {
    ili_mat y, a, b;
    ili_node_out(net, n, &y);
    ili_node_in(net, n, 0, &a);
    for (int k = 1; k < n->nin; k++) {
        ili_node_in(net, n, k, &b);
        IL_TRY(ili_net_op(net, IL_OP_ADD, &y, k == 1 ? &a : &y, &b, 0));
    }
    return IL_OK;
}

static il_status add_backward(il_net *net, ili_node *n) { return pass_grad(net, n, 0); }

static il_status concat_infer(il_net *net, ili_node *n, const int64_t *in) {
    n->features = 0;
    for (int k = 0; k < n->nin; k++) n->features += in[k];
    if (n->features > ILI_MAX_FEATURES)
        return ili_seterr(net->ctx, IL_E_SHAPE, "%s: output of %lld features is too wide",
                          n->name, (long long)n->features);
    return IL_OK;
}

static il_status concat_forward(il_net *net, ili_node *n) {
    ili_mat y, x;
    ili_node_out(net, n, &y);
    int64_t col = 0;
    for (int k = 0; k < n->nin; k++) {
        ili_node_in(net, n, k, &x);
        ili_mat part = y;
        part.off += col, part.cols = x.cols;
        col += x.cols;
        IL_TRY(ili_net_op(net, IL_OP_COPY, &part, &x, NULL, 0));
    }
    return IL_OK;
}

static il_status concat_backward(il_net *net, ili_node *n) { return pass_grad(net, n, 1); }

/* ---- fourier features: y = [sin(2 pi x B), cos(2 pi x B)], B (in, F) fixed ---------------- */

/* As cos t = sin(t + pi/2), the arguments u = x [B, B] + [0, 1/4] (batch, 2F) make the whole
 * output one product with a bias then one SINE op (omega 2 pi), and the input gradient one
 * SINE_GRAD and one product: dx = du [B, B]^T sums the two halves' contributions.
 * n->fixed (in + 1, 2F) holds [B, B] over the row [0, 1/4]. B proper is the left half (what
 * il_net_buffers shows and a checkpoint restores); forward copies it to the right half first,
 * so a B written from outside takes effect (in * F elements: nothing next to the product).
 * The aux region holds u then du, each (batch, 2F) contiguous: a step allocates nothing. */

/* which 0: [B, B] (in, 2F); 1: the bias row (1, 2F); 2, 3: B's left and right copies. */
static void fourier_fixed(const ili_node *n, int which, ili_mat *m) {
    int64_t w = n->features, in = n->in_features;
    ili_mat r = {n->fixed, which == 1 ? in * w : which == 3 ? w / 2 : 0, which == 1 ? 1 : in,
                 which >= 2 ? w / 2 : w, w, 1};
    *m = r;
}

/* k 0: the arguments u, 1: their gradient du; each (batch, 2F). */
static void fourier_aux(il_net *net, const ili_node *n, int k, ili_mat *m) {
    ili_arena_mat(net, n->aux + k * net->batch * n->features, n->features, m);
}

/* Draws B ~ N(0, sigma^2) from the layer's seed or the context's generator into n->fixed. */
static il_status fourier_infer(il_net *net, ili_node *n, const int64_t *in) {
    int64_t w = n->features, f = w / 2, shape[2] = {in[0] + 1, w};
    if (in[0] > ((int64_t)1 << 56) / w)
        return ili_seterr(net->ctx, IL_E_SHAPE, "%s: %lld x %lld frequencies are too many",
                          n->name, (long long)in[0], (long long)f);
    n->in_features = in[0];
    size_t nb = sizeof(double) * (size_t)(shape[0] * w);
    double *h = ili_malloc(net->ctx, nb);
    if (h == NULL) return ili_nomem(net->ctx, nb);
    ili_rng local, *r = &net->ctx->rng;
    if (n->seed != 0) ili_rng_seed(&local, n->seed), r = &local;
    for (int64_t i = 0; i < in[0] * f; i++)
        h[i / f * w + i % f] = h[i / f * w + f + i % f] = n->sigma * ili_rng_normal(r);
    for (int64_t j = 0; j < w; j++) h[in[0] * w + j] = j < f ? 0 : 0.25;
    il_status s = ili_tensor_new(net->ctx, 2, shape, net->dtype, net->device, &n->fixed);
    if (s == IL_OK) s = ili_net_write_host(net, n->fixed, 0, h, shape[0] * w);
    ili_free(net->ctx, h, nb);
    if (s != IL_OK) return s;
    size_t len = strlen(n->name) + 3;
    if ((n->pname[0] = ili_malloc(net->ctx, len)) == NULL) return ili_nomem(net->ctx, len);
    memcpy(n->pname[0], n->name, len - 3);
    memcpy(n->pname[0] + len - 3, ".B", 3);
    return IL_OK;
}

static il_status fourier_forward(il_net *net, ili_node *n) {
    ili_mat x, b, c, left, right, u, y;
    fourier_fixed(n, 2, &left);
    fourier_fixed(n, 3, &right);
    IL_TRY(ili_net_op(net, IL_OP_COPY, &right, &left, NULL, 0));
    ili_node_in(net, n, 0, &x);
    fourier_fixed(n, 0, &b);
    fourier_fixed(n, 1, &c);
    fourier_aux(net, n, 0, &u);
    IL_TRY(ili_net_matmul(net, &u, &x, &b, IL_MATMUL_EPILOGUE_FORWARD, -1, 0, &c, NULL));
    ili_node_out(net, n, &y);
    return ili_net_op(net, IL_OP_SINE, &y, &u, NULL, 2 * M_PI);
}

/* du = dy * 2 pi cos(2 pi u); dx (batch, in) = du [B, B]^T. */
static il_status fourier_backward(il_net *net, ili_node *n) {
    ili_mat u, dy, du, b, dx;
    if (!ili_grad_begin(net, n->in[0], &dx)) return IL_OK;
    fourier_aux(net, n, 0, &u);
    fourier_aux(net, n, 1, &du);
    ili_node_dout(net, n, &dy);
    IL_TRY(ili_net_op(net, IL_OP_SINE_GRAD, &du, &dy, &u, 2 * M_PI));
    fourier_fixed(n, 0, &b);
    ili_mat_t(&b);
    IL_TRY(ili_net_op(net, IL_OP_MATMUL, &dx, &du, &b, 0));
    return ili_grad_end(net, n->in[0]);
}

/* ---- the table ----------------------------------------------------------------------------- */

#define ACT(name) {name, 1, 1, infer_same, init_none, act_forward, act_backward}

static const ili_layer_def defs[IL_LAYER_COUNT] = {
    [IL_LAYER_INPUT] = {"input", 0, 0, infer_same, init_none, NULL, NULL},
    [IL_LAYER_LINEAR] = {"linear", 1, 1, linear_infer, linear_init, linear_forward,
                         linear_backward},
    [IL_LAYER_TANH] = ACT("tanh"),
    [IL_LAYER_SIGMOID] = ACT("sigmoid"),
    [IL_LAYER_RELU] = ACT("relu"),
    [IL_LAYER_LEAKY_RELU] = ACT("leaky_relu"),
    [IL_LAYER_GELU] = ACT("gelu"),
    [IL_LAYER_SOFTPLUS] = ACT("softplus"),
    [IL_LAYER_SINE] = ACT("sine"),
    [IL_LAYER_SOFTMAX] = {"softmax", 1, 1, infer_same, init_none, softmax_forward,
                          softmax_backward},
    [IL_LAYER_DROPOUT] = {"dropout", 1, 1, infer_same, init_none, dropout_forward,
                          dropout_backward},
    [IL_LAYER_ADD] = {"add", 2, 0, add_infer, init_none, add_forward, add_backward},
    [IL_LAYER_CONCAT] = {"concat", 2, 0, concat_infer, init_none, concat_forward,
                         concat_backward},
    [IL_LAYER_CUSTOM] = {"custom", 1, 0, ili_custom_infer, init_none, ili_custom_forward,
                         ili_custom_backward},
    [IL_LAYER_FOURIER] = {"fourier", 1, 1, fourier_infer, init_none, fourier_forward,
                          fourier_backward},
};

const ili_layer_def *ili_layer_def_of(il_layer_kind kind) {
    return (unsigned)kind < IL_LAYER_COUNT ? &defs[kind] : &defs[IL_LAYER_INPUT];
}

const char *ili_node_kind_name(const ili_node *n) {
    if (n->kind == IL_LAYER_CUSTOM && n->custom.kind_name && *n->custom.kind_name)
        return n->custom.kind_name;
    return ili_layer_def_of(n->kind)->name;
}
