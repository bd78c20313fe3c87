/*
 * ironlearn/checkpoint.h: safetensors files and the training state a checkpoint captures
 * (optimizer state, the context's generator, the graph's structure). Included by ironlearn.h.
 * Format and guarantees: docs/checkpoints.md.
 */
#ifndef IRONLEARN_CHECKPOINT_H
#define IRONLEARN_CHECKPOINT_H

#ifndef IRONLEARN_H
#error "include <ironlearn.h>, not <ironlearn/checkpoint.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors ------------------------------------------------------------------------- */

/*
 * Writes n tensors (f32/f64/i64, any device or layout: each is copied to the host, row-major)
 * named names[i] (unique, non-empty), plus nmeta string pairs in "__metadata__", to path,
 * atomically: a temporary file in the same folder is written, flushed, fsynced and renamed over
 * path, then the folder is fsynced. On failure the temporary file is removed and path is left
 * as it was. IL_E_ARG (bad names or arguments), IL_E_DTYPE, IL_E_NOMEM, IL_E_IO (naming the
 * file and the failing call).
 */
IL_API il_status il_safetensors_write(il_ctx *ctx, const char *path, int n,
                                      const char *const *names, const il_tensor *const *tensors,
                                      int nmeta, const char *const *meta_keys,
                                      const char *const *meta_values);

/* A safetensors file read into memory: CPU tensors and metadata strings, owned by it. */
typedef struct il_safetensors il_safetensors;

/*
 * Reads and validates path: header length against the file size, well-formed JSON, each
 * tensor's dtype (F32, F64, I64), shape, and byte range (inside the data section, not
 * overlapping, numel * size bytes), string metadata. IL_E_IO (cannot open or read),
 * IL_E_FORMAT (the message names the file and what is wrong where), IL_E_NOMEM.
 */
IL_API il_status il_safetensors_read(il_ctx *ctx, const char *path, il_safetensors **out);
IL_API void il_safetensors_free(il_safetensors *f);
IL_API int il_safetensors_count(const il_safetensors *f);
/* Name and tensor (borrowed, valid until il_safetensors_free) of entry i, in file order. */
IL_API const char *il_safetensors_name(const il_safetensors *f, int i);
IL_API const il_tensor *il_safetensors_tensor(const il_safetensors *f, int i);
/* The tensor named name, or NULL. */
IL_API const il_tensor *il_safetensors_find(const il_safetensors *f, const char *name);
/* The metadata value of key (borrowed), or NULL when absent. */
IL_API const char *il_safetensors_meta(const il_safetensors *f, const char *key);

/* ---- training state ---------------------------------------------------------------------- */

/* The generator state of the context (xoshiro256**), to save and restore exactly. Setting an
 * all-zero state is IL_E_ARG (the generator would only produce zeros). */
IL_API void il_ctx_rng_get(const il_ctx *ctx, uint64_t s[4]);
IL_API il_status il_ctx_rng_set(il_ctx *ctx, const uint64_t s[4]);

/* Kind and options (defaults filled in) of an optimizer. */
IL_API il_optim_kind il_optim_kind_of(const il_optim *opt);
IL_API void il_optim_options(const il_optim *opt, il_optim_opts *out);
IL_API const char *il_optim_kind_name(il_optim_kind kind); /* "adam", ... or "?" */
/* Sets the update count (the bias corrections and the schedule's step follow it). */
IL_API il_status il_optim_set_steps(il_optim *opt, int64_t steps);
/* Number of state buffers (0..3) and the name of buffer k ("momentum", "exp_avg",
 * "exp_avg_sq", "square_avg"; NULL when k is out of range). */
IL_API int il_optim_num_state(const il_optim *opt);
IL_API const char *il_optim_state_name(const il_optim *opt, int k);
/* Views of state buffer k, one per network parameter, in il_net_parameters' order and shapes
 * (writing them changes the state). New handles in out[0..cap-1]; *count gets the number. */
IL_API il_status il_optim_state_views(il_optim *opt, int k, il_tensor **out, int cap, int *count);

/* The dropout generator of a network (seeded on its first mask): a restored network draws the
 * same masks. */
IL_API void il_net_dropout_get(const il_net *net, int *have_seed, uint64_t *seed,
                               uint64_t *counter);
IL_API void il_net_dropout_set(il_net *net, int have_seed, uint64_t seed, uint64_t counter);

/*
 * The graph as JSON (a new string; free with il_ctx_free_string): {"dtype":"f32","output":k,
 * "nodes":[{"kind":"input","features":2}, {"kind":"linear","name":"linear1","in":[0],
 * "features":8,"bias":true}, ...]}. A custom layer cannot be described: IL_E_UNSUPPORTED naming it.
 */
IL_API il_status il_net_spec_json(il_net *net, char **out);

#ifdef __cplusplus
}
#endif
#endif
