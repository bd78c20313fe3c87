/*
 * nn_impl.h: internals of networks, losses and optimizers shared across core/nn_*.c. Not
 * installed. The part marked "contract" is the interface between the graph (nn_net.c,
 * nn_compile.c, nn_exec.c, nn_layers.c) and the losses/optimizers (nn_loss.c, nn_optim.c).
 */
#ifndef IL_NN_IMPL_H
#define IL_NN_IMPL_H

#include "il_impl.h"

/* ---- contract: optimizer state -------------------------------------------------------- */

struct il_optim {
    il_ctx *ctx;
    il_net *net;           /* borrowed: the network this optimizer was made for */
    il_optim_kind kind;
    il_optim_opts o;       /* defaults filled in */
    int64_t steps;         /* updates applied so far */
    il_tensor *state[3];   /* (nparams) each, like the parameter buffer; NULL when unused */
    il_tensor *scratch;    /* (2) on the device: clipping's sum of squares and scale; NULL
                              without clipping (nn_optim.c) */
};

/*
 * Optimizer update p[] layouts (the OPTIM ops of il_ops.def):
 *   SGD_UPDATE:     out = params, in[0] = grads, in[1] = momentum buffer;
 *                   p[0] lr, p[1] momentum, p[2] weight_decay, p[3] nesterov (0/1),
 *                   p[4] 1 on the first step (the buffer starts as the gradient, as in PyTorch)
 *   ADAM_UPDATE:    out = params, in[0] = grads, in[1] = m, in[2] = v;
 *                   p[0] lr, p[1] beta1, p[2] beta2, p[3] eps, p[4] weight_decay,
 *                   p[5] decoupled (1 = AdamW), p[6] 1 - beta1^t, p[7] 1 - beta2^t
 *   RMSPROP_UPDATE: out = params, in[0] = grads, in[1] = square average, in[2] = momentum
 *                   buffer (used when p[4] > 0); p[0] lr, p[1] alpha, p[2] eps,
 *                   p[3] weight_decay, p[4] momentum
 * Semantics follow torch.optim (SGD, Adam, AdamW, RMSprop) with their defaults.
 */

/* Clips (if asked) and applies one update to params from grads: both 1-D (nparams),
 * contiguous, on the network's device. Increments opt->steps. nn_optim.c. */
IL_INTERNAL il_status ili_optim_apply(il_optim *opt, il_tensor *params, il_tensor *grads);

/* Checks that target fits the loss for predictions of shape pshape (2-D: batch, features):
 * IL_E_SHAPE / IL_E_DTYPE with a message naming the loss, both shapes and what was expected.
 * nn_loss.c. */
IL_INTERNAL il_status ili_loss_check(il_ctx *ctx, const il_loss *loss, int pndim,
                                     const int64_t *pshape, const il_tensor *target);
/* Runs the loss op: value (0-d descriptor, device memory) always; grad unless grad->data is
 * NULL. pred and target already checked. nn_loss.c. */
IL_INTERNAL il_status ili_loss_run(il_ctx *ctx, il_device dev, const il_loss *loss,
                                   const il_tdesc *pred, const il_tensor *target,
                                   const il_tdesc *grad, const il_tdesc *value);

/* ---- contract: what the graph offers the optimizers ----------------------------------- */

IL_INTERNAL il_ctx *ili_net_ctx(const il_net *net);
IL_INTERNAL il_dtype ili_net_dtype(const il_net *net);
IL_INTERNAL il_device ili_net_device(const il_net *net);
/* The one parameter buffer and the one gradient buffer, 1-D (nparams); borrowed. */
IL_INTERNAL il_tensor *ili_net_params(il_net *net);
IL_INTERNAL il_tensor *ili_net_grads(il_net *net);

/* ---- graph internals (nn_net.c and friends) ------------------------------------------- */
/* The graph's own structures are declared below this line by the files that own them. */

/* Widest layer allowed: keeps batch * width and in * out far from int64 overflow. */
#define ILI_MAX_FEATURES (INT64_C(1) << 40)
/* Arena regions start on 16-element boundaries (64 bytes in f32), for vector loads; nn_compile.c
 * lays them out and nn_forward.c's chunk budget allows for the rounding. */
#define ILI_ARENA_ALIGN 16

/* A matrix region of a buffer tensor (arena, parameters or gradients): element (r, c) lives at
 * element off + r * rs + c * cs of buf. A stride of 0 repeats (a broadcast bias). Transposing
 * swaps rows/cols and rs/cs. buf is borrowed and only valid until the graph changes. */
typedef struct ili_mat {
    il_tensor *buf;
    int64_t off;
    int64_t rows, cols;
    int64_t rs, cs;
} ili_mat;

/* One node of the graph. Widths are known when it is added; arena offsets when compiled. */
typedef struct ili_node {
    il_layer_kind kind;
    char *name;           /* owned: "linear1" or the user's */
    char *pname[2];       /* owned: "<name>.weight", "<name>.bias"; NULL when absent */
    int nin;
    int *in;              /* owned: nin earlier node ids */
    int64_t features;     /* output width */
    int64_t in_features;  /* LINEAR: the input width (as given; 0: taken from the input) */
    int bias;             /* LINEAR: has a bias */
    int64_t poff[2];      /* weight, bias: offsets into the parameter buffer */
    int64_t pn[2];        /* and their element counts (0: absent) */
    il_init init;
    double alpha, omega, p;
    double sigma;           /* FOURIER: B's standard deviation */
    uint64_t seed;          /* FOURIER: B's seed (0: the context's generator) */
    /* FOURIER: owned, (in + 1, 2F) in the net's dtype and device: [B, B] over [0, 1/4] (see
     * nn_layers.c). pname[0] then names B ("<name>.B"): the layer has no parameters. */
    il_tensor *fixed;
    il_custom_layer custom; /* CUSTOM */
    int owns_custom;        /* custom.release is called when the net is freed */
    int64_t act, grad, aux; /* arena offsets of output, its gradient, dropout mask */
    int grad_written;       /* during backward: its gradient holds a first contribution */
    /* Fusion (ili_net_plan_fusion): fwd_act, on a linear, is the activation node its product's
     * epilogue also computes (the linear's own output is then never written); fwd_by, on that
     * activation, is the linear; bwd_by, on it, is the one linear consuming it, whose input
     * gradient product also applies the activation's gradient and sums the bias gradient of
     * fwd_by. -1: none. nuse counts the node's consumers. */
    int fwd_act, fwd_by, bwd_by, nuse;
} ili_node;

struct il_net {
    il_ctx *ctx;
    il_dtype dtype;
    il_device device;
    ili_node *nodes; /* owned, nnodes used of cap */
    int nnodes, cap;
    int output;      /* node id; -1: the last node */
    int train;
    int64_t nparams;
    il_tensor *params, *grads; /* owned, (nparams) each; NULL while nparams == 0 */
    /* compiled state (nn_compile.c) */
    int64_t batch;   /* compiled batch size; 0: not compiled */
    il_tensor *arena;
    int64_t arena_cap; /* elements */
    int64_t scratch; /* arena offset */
    /* dropout: one seed per net, a counter advanced by every mask drawn */
    int have_seed;
    uint64_t drop_seed, drop_counter;
    /* CUDA graphs of training steps (nn_graph.c) */
    il_graph_mode graph_mode;       /* IL_GRAPH_AUTO unless set */
    struct ili_net_graphs *graphs;  /* owned; NULL until a step looks for one */
    uint64_t gen;                   /* bumped when structure, output or device change */
    int last_graph;                 /* il_net_last_step_graph */
    il_tensor *loss_buf;            /* owned: (1) in dtype on the device, the last step's loss */
    int64_t loss_step;              /* the optimizer step that loss belongs to; 0: none yet */
    /* execution flags (nn_exec.c) */
    int input_grads; /* backward also fills the gradients of input nodes (gradcheck) */
    int run_train;   /* this forward runs in train mode */
    int new_mask;    /* this forward draws new dropout masks (else reuses the last ones) */
    /* il_net_set_forward_chunk (nn_forward.c): rows per chunk of il_net_forward; 0: automatic */
    int64_t fwd_chunk;
};

/* A layer kind: shape inference, initialisation, forward and backward (nn_layers.c). */
typedef struct ili_layer_def {
    const char *name; /* kind name, also the default layer name's stem */
    int min_in, max_in; /* input count; max_in 0: unbounded */
    /* Sets n->features and n->pn[] from the input widths; IL_E_SHAPE names the layer. */
    il_status (*infer)(il_net *net, ili_node *n, const int64_t *in_features);
    /* Writes the initial weights (pn[0]) then biases (pn[1]) as doubles into w. */
    void (*init)(il_net *net, const ili_node *n, double *w);
    il_status (*forward)(il_net *net, ili_node *n);
    il_status (*backward)(il_net *net, ili_node *n);
} ili_layer_def;

IL_INTERNAL const ili_layer_def *ili_layer_def_of(il_layer_kind kind);
/* Name of a node's kind ("linear", or the custom layer's kind_name). */
IL_INTERNAL const char *ili_node_kind_name(const ili_node *n);

/* nn_custom.c: the CUSTOM kind's entries in the table above. */
IL_INTERNAL il_status ili_custom_infer(il_net *net, ili_node *n, const int64_t *in_features);
IL_INTERNAL il_status ili_custom_forward(il_net *net, ili_node *n);
IL_INTERNAL il_status ili_custom_backward(il_net *net, ili_node *n);

/* nn_net.c: an exact copy of net (structure, mode, dropout state) with parameters converted to
 * dt; custom layers are shared, not owned, by the copy. */
IL_INTERNAL il_status ili_net_clone(il_net *net, il_dtype dt, il_net **out);
/* The output node's id (the last node unless set). */
IL_INTERNAL int ili_net_output(const il_net *net);
/* nn_inspect.c: views of buf (shaped like the parameter buffer) cut as the parameters are, into
 * out[] (up to cap) and names[] (may be NULL); the total in *count. On failure no view is left
 * behind. The callers check their arguments. */
IL_INTERNAL il_status ili_net_param_views(il_net *net, il_tensor *buf, il_tensor **out,
                                          const char **names, int cap, int *count);

/* nn_net.c: writes n doubles from host memory v into buf[off..] as buf's dtype (clobbers v). */
IL_INTERNAL il_status ili_net_write_host(il_net *net, il_tensor *buf, int64_t off, double *v,
                                         int64_t n);

/* nn_compile.c: lays out the arena for batch rows (no-op when already compiled for it). */
IL_INTERNAL il_status ili_net_compile(il_net *net, int64_t batch);
/* Regions (batch, width) of a node's output and output gradient; k-th input of a node. */
IL_INTERNAL void ili_node_out(il_net *net, const ili_node *n, ili_mat *m);
IL_INTERNAL void ili_node_dout(il_net *net, const ili_node *n, ili_mat *m);
IL_INTERNAL void ili_node_in(il_net *net, const ili_node *n, int k, ili_mat *m);
/* Plans which linear -> activation pairs run fused (the fields of ili_node) for the current
 * structure and output; ili_net_run_forward calls it, so backward sees the same plan. */
IL_INTERNAL void ili_net_plan_fusion(il_net *net);
/* Region (batch, width) at arena offset off. */
IL_INTERNAL void ili_arena_mat(il_net *net, int64_t off, int64_t width, ili_mat *m);
/* Weight (which 0: (in, out)) or bias (1: (1, out)) of n, in the parameter (grad 0) or
 * gradient (grad 1) buffer. */
IL_INTERNAL void ili_node_param(il_net *net, const ili_node *n, int which, int grad, ili_mat *m);
IL_INTERNAL void ili_mat_t(ili_mat *m); /* transposes in place */
IL_INTERNAL void ili_mat_desc(const ili_mat *m, il_tdesc *d);
/* A tensor handle viewing m (new; the caller frees it). */
IL_INTERNAL il_status ili_mat_view(il_net *net, const ili_mat *m, il_tensor **out);

/* nn_exec.c: one backend op on regions: out = op(a[, b]) with p[0] = p0 (b may be NULL). */
IL_INTERNAL il_status ili_net_op(il_net *net, il_op op, const ili_mat *out, const ili_mat *a,
                                 const ili_mat *b, double p0);
/* out = a · b with an epilogue (ironlearn/backend.h): mode IL_MATMUL_EPILOGUE_FORWARD applies
 * bias c (1, N; NULL: none) then the activation op act (-1: none); IL_MATMUL_EPILOGUE_GRAD
 * multiplies by the gradient op act of c (the activation's output) and writes the column sums
 * to out2 (1, N; NULL: not wanted). p is the activation's parameter. A backend that does not
 * support the fused call gets the separate ops. */
IL_INTERNAL il_status ili_net_matmul(il_net *net, const ili_mat *out, const ili_mat *a,
                                     const ili_mat *b, int mode, int act, double p,
                                     const ili_mat *c, const ili_mat *out2);
/* out (1, F) = sum over rows of a (B, F). */
IL_INTERNAL il_status ili_net_sum_rows(il_net *net, const ili_mat *out, const ili_mat *a);
/* Where a layer writes its contribution to input node id's gradient: returns 0 when that
 * gradient is not wanted (an input node outside gradcheck). After writing *m, the layer calls
 * ili_grad_end, which sums it in when it was not the first contribution. */
IL_INTERNAL int ili_grad_begin(il_net *net, int id, ili_mat *m);
IL_INTERNAL il_status ili_grad_end(il_net *net, int id);
/* Checks x against the graph inputs, compiles for their batch and copies them in. */
IL_INTERNAL il_status ili_net_load_inputs(il_net *net, int nin, const il_tensor *const *x);
/* Forward over every node up to the output (inputs already loaded); backward from the
 * output's gradient, which the caller has written. */
IL_INTERNAL il_status ili_net_run_forward(il_net *net, int train, int new_mask);
IL_INTERNAL il_status ili_net_run_backward(il_net *net);
/* ili_net_load_inputs in two halves: checks and compiles, then copies x into the arena. */
IL_INTERNAL il_status ili_net_prepare_inputs(il_net *net, int nin, const il_tensor *const *x);
IL_INTERNAL il_status ili_net_copy_inputs(il_net *net, int nin, const il_tensor *const *x);
/* The ops of one training step once the inputs are compiled for: inputs copied in, forward,
 * loss (value into net->loss_buf), backward, update. With checked non-NULL the loss is read
 * back and checked (IL_E_NUMERIC, nothing updated) before the backward pass. */
IL_INTERNAL il_status ili_net_step_ops(il_net *net, int nin, const il_tensor *const *x,
                                       const il_tensor *target, const il_loss *loss,
                                       il_optim *opt, double *checked);
/* Reads net->loss_buf; IL_E_NUMERIC naming step when it is not finite (skipped: the update of
 * that step did not happen). */
IL_INTERNAL il_status ili_net_read_loss(il_net *net, int64_t step, int skipped, double *value);

/* nn_graph.c: runs the step as a CUDA graph replay when it can (*done = 1), capturing it first
 * when it is the second consecutive step with the same key; *done = 0: run it eagerly. */
IL_INTERNAL il_status ili_net_graph_step(il_net *net, int nin, const il_tensor *const *x,
                                         const il_tensor *target, const il_loss *loss,
                                         il_optim *opt, double *loss_value, int *done);
/* Frees every graph of net and bumps net->gen (structure, output or device changed). */
IL_INTERNAL void ili_net_graphs_drop(il_net *net);
/* nn_optim.c: the OPTIM call the next update would run (nothing is run). */
IL_INTERNAL void ili_optim_update_call(const il_optim *opt, il_tensor *params, il_tensor *grads,
                                       il_opcall *c);

#endif
