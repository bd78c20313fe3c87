/*
 * ironlearn/nn.h: networks (layer graphs), losses and optimizers. Included by ironlearn.h.
 *
 * A network is a DAG of nodes built in topological order: inputs first, then layers whose
 * inputs are earlier nodes. Activations are matrices (batch, features). The network is compiled
 * for a batch size on first use (and again, transparently, when the batch size changes):
 * activations and their gradients then live in one arena, parameters in one contiguous buffer
 * and their gradients in another, so a steady-state il_net_step allocates nothing.
 *
 * Parameters are created (and initialised from the context's generator) when a layer is added.
 */
#ifndef IRONLEARN_NN_H
#define IRONLEARN_NN_H

#ifndef IRONLEARN_H
#error "include <ironlearn.h>, not <ironlearn/nn.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct il_net il_net;
typedef struct il_optim il_optim;

typedef enum il_layer_kind {
    IL_LAYER_INPUT = 0,  /* created by il_net_input */
    IL_LAYER_LINEAR,     /* y = x W + b; W: (in, out), b: (out) */
    IL_LAYER_TANH,
    IL_LAYER_SIGMOID,
    IL_LAYER_RELU,
    IL_LAYER_LEAKY_RELU, /* alpha */
    IL_LAYER_GELU,       /* tanh approximation, as torch's approximate='tanh' */
    IL_LAYER_SOFTPLUS,   /* log(1 + exp(x)), stable */
    IL_LAYER_SINE,       /* sin(omega x) */
    IL_LAYER_SOFTMAX,    /* along features */
    IL_LAYER_DROPOUT,    /* p; active in train mode only */
    IL_LAYER_ADD,        /* join: sum of >= 2 inputs of equal width */
    IL_LAYER_CONCAT,     /* join: inputs side by side along features */
    IL_LAYER_CUSTOM,     /* callbacks, see il_custom_layer */
    IL_LAYER_FOURIER,    /* fixed random Fourier features [sin(2 pi x B), cos(2 pi x B)]:
                            B (in, out_features) ~ N(0, sigma^2), drawn once, never trained;
                            output width 2 * out_features */
    IL_LAYER_COUNT
} il_layer_kind;

typedef enum il_init {
    IL_INIT_XAVIER_UNIFORM = 0, /* U(-a, a), a = sqrt(6 / (in + out)) (the default) */
    IL_INIT_XAVIER_NORMAL,      /* N(0, 2 / (in + out)) */
    IL_INIT_HE_UNIFORM,         /* U(-a, a), a = sqrt(6 / in) */
    IL_INIT_HE_NORMAL,          /* N(0, 2 / in) */
    IL_INIT_NORMAL,             /* N(0, 1) */
    IL_INIT_UNIFORM,            /* U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's nn.Linear) */
    IL_INIT_ZEROS,
    IL_INIT_SIREN_FIRST,        /* SIREN's first layer: U(-1/in, 1/in) */
    IL_INIT_SIREN,              /* later SIREN layers: U(-a, a), a = sqrt(6 / in) / omega */
    IL_INIT_COUNT
} il_init;

/* Options of a layer; zero-initialise, then set what the kind uses. */
typedef struct il_layer_opts {
    int64_t out_features; /* LINEAR; FOURIER: frequencies (output 2 * out_features) */
    il_init init;         /* LINEAR weights; biases start at zero except for UNIFORM and
                             the SIREN inits, whose biases are U(-1/sqrt(in), 1/sqrt(in)) */
    int bias;             /* LINEAR: 0 = with bias (default), -1 = without */
    double alpha;         /* LEAKY_RELU slope (0 means 0.01) */
    double omega;         /* SINE frequency, LINEAR with a SIREN init (0 means 30) */
    double p;             /* DROPOUT probability in [0, 1) */
    const char *name;     /* optional, copied; default "<kind><index>" */
    int64_t in_features;  /* LINEAR: expected input width, checked when added (0: any) */
    double sigma;         /* FOURIER: standard deviation of B (0 means 10) */
    uint64_t seed;        /* FOURIER: B's generator seed (0: drawn from the context's) */
} il_layer_opts;

/*
 * A layer written by the host (Lua uses this). forward writes y (batch, out_features) from the
 * inputs; backward writes dx[i] (each shaped like x[i]) from dy. Tensors passed in are borrowed
 * views valid only during the call; y and dx are preallocated and must be filled, not replaced.
 * A callback returns IL_OK or an error status after setting a message with il_ctx_error.
 */
typedef struct il_custom_layer {
    void *ud;
    /* Output width for the given input widths. */
    il_status (*infer)(void *ud, il_ctx *ctx, int nin, const int64_t *in_features,
                       int64_t *out_features);
    il_status (*forward)(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x, il_tensor *y);
    il_status (*backward)(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                          const il_tensor *y, const il_tensor *dy, il_tensor *const *dx);
    void (*release)(void *ud); /* called once when the network is freed; may be NULL */
    const char *kind_name;     /* shown by il_net_summary */
} il_custom_layer;

/* ---- building ---------------------------------------------------------------------------- */

/* An empty network whose parameters and activations have dtype dt (f32 or f64), on the CPU. */
IL_API il_status il_net_new(il_ctx *ctx, il_dtype dt, il_net **out);
IL_API void il_net_free(il_net *net);
/* A graph input of the given width. *node receives its id. */
IL_API il_status il_net_input(il_net *net, int64_t features, int *node);
/* A layer fed by nodes in[0..nin-1]; joins take >= 2 inputs, other kinds exactly 1. */
IL_API il_status il_net_layer(il_net *net, il_layer_kind kind, const il_layer_opts *opts,
                              int nin, const int *in, int *node);
/* A host-defined layer; the network takes cl->ud (released through cl->release), even when
 * this call fails. */
IL_API il_status il_net_custom(il_net *net, const il_custom_layer *cl, int nin, const int *in,
                               int *node);
/* Marks the output node (exactly one, for now); the last layer added is the default. */
IL_API il_status il_net_set_output(il_net *net, int node);
/* Moves the network's parameters, gradients and fixed buffers to dev (CPU or CUDA); compiled
 * state is dropped and rebuilt on the next run. Optimizers made for the network before the move
 * must be made anew. On failure the network is unchanged. IL_E_DEVICE when dev is unavailable. */
IL_API il_status il_net_move(il_net *net, il_device dev);

/* ---- inspecting -------------------------------------------------------------------------- */

IL_API int il_net_num_inputs(const il_net *net);
IL_API il_device il_net_device(const il_net *net);
IL_API int64_t il_net_num_params(const il_net *net); /* scalars */
/* Named parameter tensors: views of the one parameter buffer (writing them changes the net).
 * *count gets the number; names like "layers.1.weight" / "fc2.bias". New handles in out[]. */
IL_API il_status il_net_parameters(il_net *net, il_tensor **out, const char **names, int cap,
                                   int *count);
/* Fixed (non-trained) tensors that layers own, which a checkpoint must save with the
 * parameters: a FOURIER layer's B (in, out_features), named "<layer>.B". Views (new handles in
 * out[]) of each layer's own buffer: writing them changes the net. As il_net_parameters. */
IL_API il_status il_net_buffers(il_net *net, il_tensor **out, const char **names, int cap,
                                int *count);
/* A text summary: one line per node with kind, output shape and parameter count, then totals. */
IL_API il_status il_net_summary(il_net *net, char **out); /* free with il_ctx_free_string */
IL_API void il_net_train(il_net *net, int on); /* dropout active when on (the default) */

/* ---- running ----------------------------------------------------------------------------- */

/* Inference: x[i] is (batch, features_i); *y is a new (batch, out_features) tensor. Dropout
 * follows il_net_train (as in torch): call il_net_train(net, 0) for deterministic output. */
IL_API il_status il_net_forward(il_net *net, int nin, const il_tensor *const *x, il_tensor **y);
/* A large batch runs through il_net_forward in chunks of rows, each compiled and run on its own
 * and copied into *y; results are bit for bit those of one pass on the CPU (rows never
 * interact, and dropout draws the same mask; on CUDA, cuBLAS may pick another algorithm for
 * another row count, so the last bits may differ). rows > 0: at most rows per chunk. rows 0
 * (the default), automatic: as many rows as keep one chunk's arena (activations and gradients
 * of every layer) within 256 MiB, and on CUDA with il_cuda_set_memory_limit within half the
 * bytes still free under the limit; an arena already larger (from a bigger training batch) is
 * used whole. Chunks are of equal size give or take a row, and never shorter than the row
 * count from which every matrix product of the net takes the CPU's large-batch path (at least
 * 5; for a product x (M, K) · W (K, N): more than 4096 / (K N), and more than K / 8 when
 * K >= 4096): fewer, longer chunks are run instead. Nets with custom layers are never chunked.
 * IL_E_ARG for rows < 0. */
IL_API il_status il_net_set_forward_chunk(il_net *net, int64_t rows);

typedef enum il_loss_kind {
    IL_LOSS_MSE = 0,
    IL_LOSS_BCE,           /* predictions are probabilities, clamped away from 0 and 1 */
    IL_LOSS_BCE_LOGITS,    /* predictions are logits; stable */
    IL_LOSS_CROSS_ENTROPY, /* logits (batch, classes); targets class indices (batch) or (batch,1)
                              0-based, or one-hot/probabilities (batch, classes) */
    IL_LOSS_L1,
    IL_LOSS_HUBER,         /* delta */
    IL_LOSS_COUNT
} il_loss_kind;

typedef struct il_loss {
    il_loss_kind kind;
    double delta; /* HUBER (0 means 1) */
} il_loss;

/* Loss value (mean reduction) of predictions against targets, and optionally d loss / d pred
 * into grad (same shape as pred; NULL to skip). Used by il_net_step; exposed for tests. */
IL_API il_status il_loss_eval(il_ctx *ctx, const il_loss *loss, const il_tensor *pred,
                              const il_tensor *target, double *value, il_tensor *grad);

typedef enum il_optim_kind {
    IL_OPTIM_SGD = 0,
    IL_OPTIM_ADAM,
    IL_OPTIM_ADAMW,
    IL_OPTIM_RMSPROP,
    IL_OPTIM_COUNT
} il_optim_kind;

/* Options; zero-initialise, then set lr and what the kind uses. Zero means the default shown. */
typedef struct il_optim_opts {
    double lr;           /* required, > 0 */
    double momentum;     /* SGD, RMSPROP: 0 */
    int nesterov;        /* SGD: 0 */
    double weight_decay; /* all: 0 (ADAMW: decoupled, default 0.01 when left 0 and set_wd 0) */
    int set_wd;          /* non-zero: weight_decay is meant even when 0 */
    double beta1, beta2; /* ADAM/ADAMW: 0.9, 0.999 */
    double eps;          /* ADAM/ADAMW: 1e-8; RMSPROP: 1e-8 */
    double alpha;        /* RMSPROP smoothing: 0.99 */
    double clip_norm;    /* > 0: scale gradients so their global L2 norm is at most this */
} il_optim_opts;

/* An optimizer for net's parameters; its state (momentum, moments) lives in tensors shaped like
 * the parameter buffer. Using it with another network is IL_E_ARG. */
IL_API il_status il_optim_new(il_net *net, il_optim_kind kind, const il_optim_opts *opts,
                              il_optim **out);
IL_API void il_optim_free(il_optim *opt);
IL_API il_status il_optim_set_lr(il_optim *opt, double lr);
IL_API double il_optim_lr(const il_optim *opt);
IL_API int64_t il_optim_steps(const il_optim *opt);

/*
 * One training step on a batch: forward, loss, backward, gradient clipping and the optimizer
 * update, all inside C. *loss_value receives the loss before the update. A NaN or infinite loss
 * is IL_E_NUMERIC naming the step, and the parameters are left unchanged.
 *
 * On CUDA a step may run as a CUDA graph replay (il_net_set_graph). Then loss_value NULL means
 * nothing is read back and the host does not wait for the step: a NaN or infinite loss is
 * caught on the device instead (that step's update is skipped, the parameters stay as they
 * were) and reported by the next read, il_net_last_loss or a step given loss_value.
 */
IL_API il_status il_net_step(il_net *net, int nin, const il_tensor *const *x,
                             const il_tensor *target, const il_loss *loss, il_optim *opt,
                             double *loss_value);
/* The loss of the last il_net_step, read back now. IL_E_NUMERIC if it was not finite (the
 * update of that step was skipped); IL_E_ARG before any step. */
IL_API il_status il_net_last_loss(il_net *net, double *value);

/*
 * CUDA graphs. IL_GRAPH_AUTO (the default): on CUDA, the second il_net_step with the same
 * inputs, target (the same tensors: memory, shapes and strides), loss and optimizer captures
 * the whole step (input copy, forward, loss, backward, update) as a CUDA graph; later such
 * steps replay it in one launch, with the optimizer's current learning rate and step count.
 * Other steps run eagerly; 8 keys are kept per network, so a fixed set of up to 8 batch
 * tensors replays too. Steps that need the host in their middle always run eagerly: dropout
 * in training mode, custom layers, gradient clipping, cross-entropy with class indices (its
 * range check). IL_GRAPH_OFF: always eager. No effect on the CPU. Changing the network's
 * structure, output or device drops its graphs.
 */
typedef enum il_graph_mode { IL_GRAPH_OFF = 0, IL_GRAPH_AUTO = 1 } il_graph_mode;
IL_API il_status il_net_set_graph(il_net *net, il_graph_mode mode);
/* How the last il_net_step ran: 0 eagerly, 1 captured then replayed, 2 replayed. */
IL_API int il_net_last_step_graph(const il_net *net);

/*
 * Finite-difference gradient check of the loss 0.5 * sum(y * r) for a fixed random r, with
 * respect to every input element and every parameter, in float64 (an f32 network is checked on
 * an f64 copy). *max_rel_err gets the largest relative error found, per element
 * |a - n| / max(|a| + |n|, 1e-3), so round-off on near-zero gradients is not magnified.
 * eps 0 means 1e-6. Dropout is the identity in eval mode; in train mode one mask is drawn and
 * kept for the whole check.
 */
IL_API il_status il_net_gradcheck(il_net *net, int nin, const il_tensor *const *x, double eps,
                                  double *max_rel_err);

#ifdef __cplusplus
}
#endif
#endif
