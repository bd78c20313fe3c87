/*
 * ironlearn.h: the public C API of iron-learn.
 *
 * Conventions (see docs/c_api.md):
 * - Every fallible function returns il_status (IL_OK = 0, errors negative) and writes its
 *   results through out-parameters; il_errmsg(ctx) holds the detail of the last error.
 * - Axes and indices count from 0. Dimensions are int64_t, byte counts size_t.
 * - A function returning a tensor through `il_tensor **out` hands the caller a new handle that
 *   the caller owns and releases with il_tensor_free(). Tensor arguments are borrowed.
 * - Views (reshape, transpose, narrow, expand) are new handles sharing storage with their base;
 *   the storage lives until its last handle is freed.
 * - The library never prints, exits or aborts because of input.
 */
#ifndef IRONLEARN_H
#define IRONLEARN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define IL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define IL_API __attribute__((visibility("default")))
#else
#define IL_API
#endif

#define IL_VERSION_MAJOR 0
#define IL_VERSION_MINOR 1
#define IL_VERSION_PATCH 0
#define IL_VERSION_STRING "0.1.0"

#define IL_MAX_DIMS 8

typedef enum il_status {
    IL_OK = 0,
    IL_E_ARG = -1,         /* an argument is invalid (NULL, negative size, unknown name) */
    IL_E_NOMEM = -2,       /* an allocation failed */
    IL_E_SHAPE = -3,       /* shapes do not fit the operation */
    IL_E_DTYPE = -4,       /* the dtype is unknown or not supported by the operation */
    IL_E_DEVICE = -5,      /* the device is missing, or a device call failed */
    IL_E_RANGE = -6,       /* an axis, index or count is out of range */
    IL_E_FREED = -7,       /* the object was already freed */
    IL_E_IO = -8,          /* a file could not be read or written */
    IL_E_FORMAT = -9,      /* a file or string is malformed */
    IL_E_UNSUPPORTED = -10, /* the operation is not available in this build or backend */
    IL_E_NUMERIC = -11,    /* a NaN or infinity where a finite number is required */
    IL_E_INTERNAL = -12    /* a broken internal invariant: a bug in iron-learn */
} il_status;

typedef enum il_dtype {
    IL_DTYPE_F32 = 0,
    IL_DTYPE_F64 = 1,
    IL_DTYPE_I64 = 2, /* indices (argmax); add/sub/mul/neg/abs/copy only */
    IL_DTYPE_COUNT
} il_dtype;

typedef enum il_device {
    IL_DEVICE_CPU = 0,
    IL_DEVICE_CUDA = 1,
    IL_DEVICE_COUNT
} il_device;

/* Operations, generated from core/il_ops.def: IL_OP_ADD, IL_OP_EXP, ... */
typedef enum il_op {
#define IL_OP(NAME, name, kind) IL_OP_##NAME,
#include "ironlearn/il_ops.def"
#undef IL_OP
    IL_OP_COUNT
} il_op;

typedef struct il_ctx il_ctx;
typedef struct il_tensor il_tensor;

/*
 * Allocator hook in the manner of lua_Alloc: nsize == 0 frees ptr and returns NULL; otherwise
 * returns a block of nsize bytes (ptr NULL: a new block; else resized) or NULL on failure.
 * osize is the block's old size when ptr is not NULL.
 */
typedef void *(*il_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

typedef struct il_mem_stats {
    size_t bytes_in_use; /* bytes handed out by the hook and not yet returned */
    size_t bytes_peak;   /* high-water mark of bytes_in_use */
    uint64_t n_allocs;   /* allocation calls made (successful or not) since the context began */
    uint64_t n_frees;    /* blocks returned */
} il_mem_stats;

/* ---- library ----------------------------------------------------------------------------- */

IL_API const char *il_version(void);
/* Static name of a status ("IL_E_SHAPE: shape mismatch"); never NULL. */
IL_API const char *il_status_str(il_status s);
IL_API const char *il_dtype_name(il_dtype dt);      /* "f32", "f64", "i64", or "?" */
IL_API const char *il_device_name(il_device dev);   /* "cpu", "cuda", or "?" */
IL_API const char *il_op_name(il_op op);            /* "add", ... or "?" */
/* Parses "f32"/"float32"/"f64"/"float64"/"double"/"i64"/"int64". IL_E_DTYPE if unknown. */
IL_API il_status il_dtype_parse(const char *name, il_dtype *out);
IL_API il_status il_device_parse(const char *name, il_device *out); /* "cpu", "cuda" */
IL_API size_t il_dtype_size(il_dtype dt); /* 0 for an invalid dtype */

/* ---- context ----------------------------------------------------------------------------- */

/* New context using malloc/realloc/free. Returns IL_E_NOMEM or IL_OK. */
IL_API il_status il_ctx_new(il_ctx **out);
/* New context whose every allocation goes through alloc(ud, ...). */
IL_API il_status il_ctx_new_with_alloc(il_ctx **out, il_alloc_fn alloc, void *ud);
/* Frees the context and its thread pool. Tensors of the context must be freed first. */
IL_API void il_ctx_free(il_ctx *ctx);
/* Detail of the last error on this context (never NULL; "" when none). */
IL_API const char *il_errmsg(const il_ctx *ctx);
IL_API void il_ctx_clear_error(il_ctx *ctx);
/* Sets the context's error message (printf format) and returns s: for hosts and backends that
 * report failures from callbacks, e.g. `return il_ctx_error(ctx, IL_E_ARG, "bad %s", what);`. */
IL_API il_status il_ctx_error(il_ctx *ctx, il_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
IL_API void il_ctx_memory(const il_ctx *ctx, il_mem_stats *out);
/* Seeds the context's random generator (xoshiro256**). */
IL_API void il_ctx_seed(il_ctx *ctx, uint64_t seed);
/* Worker threads for CPU kernels, 1..256 (the calling thread counts as one). */
IL_API il_status il_ctx_set_threads(il_ctx *ctx, int n);
IL_API int il_ctx_threads(const il_ctx *ctx);
/* Live tensor handles of this context (for leak checks). */
IL_API int64_t il_ctx_live_tensors(const il_ctx *ctx);

/* ---- devices ----------------------------------------------------------------------------- */

/* Device memory of one context: bytes held by live tensors and workspaces (allocated), bytes
 * the context's CUDA pool holds from the driver (reserved, >= allocated), and the high-water
 * mark of allocated. For IL_DEVICE_CPU: the context's bytes_in_use/bytes_in_use/bytes_peak. */
typedef struct il_device_mem_stats {
    size_t allocated, reserved, peak;
} il_device_mem_stats;

/* IL_OK when CUDA tensors can be made on this context; else IL_E_DEVICE, the reason (no driver,
 * no device, driver too old, built without CUDA) in il_errmsg. Initialises the device (stream,
 * memory pool, cuBLAS) on first success. */
IL_API il_status il_cuda_available(il_ctx *ctx);
/* Memory statistics for dev. IL_E_DEVICE when dev is CUDA and it is unavailable. */
IL_API il_status il_device_memory(il_ctx *ctx, il_device dev, il_device_mem_stats *out);
/* Returns the context's unused pooled device memory to the driver (waits for queued work). */
IL_API il_status il_cuda_trim(il_ctx *ctx);
/* Lets f32 matrix products use TF32 tensor cores (on != 0); off by default (full f32). */
IL_API il_status il_cuda_set_tf32(il_ctx *ctx, int on);
/* Caps the context's allocated device bytes (0: no cap). A tensor that would pass the cap is
 * IL_E_NOMEM, as is a real out-of-memory after the pool was trimmed and the allocation retried. */
IL_API il_status il_cuda_set_memory_limit(il_ctx *ctx, size_t bytes);

/* ---- tensors: creation ------------------------------------------------------------------- */

/* Uninitialised contiguous tensor. shape may be NULL when ndim == 0 (a scalar). */
IL_API il_status il_tensor_empty(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                 il_device dev, il_tensor **out);
IL_API il_status il_tensor_zeros(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                 il_device dev, il_tensor **out);
IL_API il_status il_tensor_full(il_ctx *ctx, int ndim, const int64_t *shape, double value,
                                il_dtype dt, il_device dev, il_tensor **out);
/* Uniform in [0, 1) and standard normal, from the context's generator. */
IL_API il_status il_tensor_rand(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                il_device dev, il_tensor **out);
IL_API il_status il_tensor_randn(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                 il_device dev, il_tensor **out);
/* [start, stop) by step (step != 0), 1-D. */
IL_API il_status il_tensor_arange(il_ctx *ctx, double start, double stop, double step,
                                  il_dtype dt, il_device dev, il_tensor **out);
/* n >= 1 evenly spaced points from start to stop inclusive, 1-D. */
IL_API il_status il_tensor_linspace(il_ctx *ctx, double start, double stop, int64_t n,
                                    il_dtype dt, il_device dev, il_tensor **out);
/* Copies count values of src_dt from host memory into a new CPU/device tensor of dt. */
IL_API il_status il_tensor_from_data(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                     il_device dev, const void *src, il_dtype src_dt,
                                     il_tensor **out);
/* A CPU tensor over the caller's own contiguous row-major memory, without copying: data must
 * hold numel elements of dt, aligned to the element size, and stay valid until release(ud) is
 * called (release may be NULL). The library never frees data; release(ud) runs exactly once,
 * when the last handle (views included) is freed, also when this call fails. Writes through the
 * tensor (in-place ops, a network's outputs copied into it) are visible to the caller. */
IL_API il_status il_tensor_from_host(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                     void *data, void (*release)(void *ud), void *ud,
                                     il_tensor **out);
/* Releases the handle (and the storage with its last handle). NULL is ignored. */
IL_API void il_tensor_free(il_tensor *t);

/* ---- tensors: properties (t borrowed, never NULL) ---------------------------------------- */

IL_API int il_tensor_ndim(const il_tensor *t);
IL_API const int64_t *il_tensor_shape(const il_tensor *t);   /* ndim entries */
IL_API const int64_t *il_tensor_strides(const il_tensor *t); /* in elements */
IL_API int64_t il_tensor_numel(const il_tensor *t);
IL_API il_dtype il_tensor_dtype(const il_tensor *t);
IL_API il_device il_tensor_device(const il_tensor *t);
IL_API int il_tensor_is_contiguous(const il_tensor *t);
IL_API il_ctx *il_tensor_ctx(const il_tensor *t);
/* Host pointer to the first element of a CPU tensor (NULL for a device tensor). */
IL_API void *il_tensor_data(const il_tensor *t);
/* Bytes of the storage behind this handle (shared with views). */
IL_API size_t il_tensor_storage_bytes(const il_tensor *t);
/* Non-zero when a and b are views of the same storage. */
IL_API int il_tensor_shares_storage(const il_tensor *a, const il_tensor *b);

/* ---- tensors: views (share storage) ------------------------------------------------------ */

/* One entry of shape may be -1 (inferred). A non-contiguous tensor that cannot be viewed in the
 * new shape is copied, as torch.reshape does. */
IL_API il_status il_tensor_reshape(il_ctx *ctx, const il_tensor *t, int ndim,
                                   const int64_t *shape, il_tensor **out);
IL_API il_status il_tensor_transpose(il_ctx *ctx, const il_tensor *t, int a, int b,
                                     il_tensor **out);
/* Elements start..start+len-1 along axis. */
IL_API il_status il_tensor_narrow(il_ctx *ctx, const il_tensor *t, int axis, int64_t start,
                                  int64_t len, il_tensor **out);
/* Broadcast view to shape (NumPy rules, stride 0 on expanded axes). */
IL_API il_status il_tensor_expand(il_ctx *ctx, const il_tensor *t, int ndim,
                                  const int64_t *shape, il_tensor **out);
/* A new handle to the same view. */
IL_API il_status il_tensor_ref(il_ctx *ctx, const il_tensor *t, il_tensor **out);

/* ---- tensors: copies and conversion ------------------------------------------------------ */

IL_API il_status il_tensor_contiguous(il_ctx *ctx, const il_tensor *t, il_tensor **out);
IL_API il_status il_tensor_clone(il_ctx *ctx, const il_tensor *t, il_tensor **out);
IL_API il_status il_tensor_to_dtype(il_ctx *ctx, const il_tensor *t, il_dtype dt,
                                    il_tensor **out);
IL_API il_status il_tensor_to_device(il_ctx *ctx, const il_tensor *t, il_device dev,
                                     il_tensor **out);
/* dst[...] = src, broadcasting src to dst's shape and converting dtype. */
IL_API il_status il_tensor_copy_(il_ctx *ctx, il_tensor *dst, const il_tensor *src);
IL_API il_status il_tensor_fill_(il_ctx *ctx, il_tensor *t, double value);
/* Copies all elements, row-major, as dst_dt into host memory dst (capacity in elements). */
IL_API il_status il_tensor_read(il_ctx *ctx, const il_tensor *t, void *dst, il_dtype dst_dt,
                                int64_t capacity);
/* The single element of a tensor with numel 1, as double. */
IL_API il_status il_tensor_item(il_ctx *ctx, const il_tensor *t, double *out);

/* ---- operations -------------------------------------------------------------------------- */

/* Elementwise a op b with NumPy broadcasting on both operands; op is ADD, SUB, MUL, DIV, POW,
 * MAXIMUM or MINIMUM. Mixed dtypes promote (i64 < f32 < f64). */
IL_API il_status il_tensor_binary(il_ctx *ctx, il_op op, const il_tensor *a, const il_tensor *b,
                                  il_tensor **out);
/* a op s or (reverse != 0) s op a, for a number s; same ops as il_tensor_binary. */
IL_API il_status il_tensor_binary_scalar(il_ctx *ctx, il_op op, const il_tensor *a, double s,
                                         int reverse, il_tensor **out);
/* Unary map: NEG, EXP, LOG, TANH, SIGMOID, RELU, SIN, COS, ABS, SQRT. */
IL_API il_status il_tensor_unary(il_ctx *ctx, il_op op, const il_tensor *a, il_tensor **out);
/* Elementwise min(max(a, lo), hi); lo <= hi. */
IL_API il_status il_tensor_clamp(il_ctx *ctx, const il_tensor *a, double lo, double hi,
                                 il_tensor **out);
/* Reduction SUM, MEAN, MAX, MIN, ARGMAX or SUMSQ (sum of squares) over one axis, or over all elements when
 * axis == IL_AXIS_ALL (then the result is 0-d, or all-ones shape with keepdim). ARGMAX returns
 * i64 indices (0-based; the first maximum wins; NaN counts as the maximum). */
#define IL_AXIS_ALL (-1000)
IL_API il_status il_tensor_reduce(il_ctx *ctx, il_op op, const il_tensor *a, int axis,
                                  int keepdim, il_tensor **out);
/* Matrix product: 1-D and 2-D as numpy.matmul, and batched (..., M, K) x (..., K, N) with the
 * batch axes broadcast. */
IL_API il_status il_tensor_matmul(il_ctx *ctx, const il_tensor *a, const il_tensor *b,
                                  il_tensor **out);

/* ---- text -------------------------------------------------------------------------------- */

/* Writes a NumPy/Torch-like rendering (values, shape, dtype, device; middle elided when numel
 * exceeds 1000) into a new NUL-terminated string from the context's allocator; release it with
 * il_ctx_free_string(). */
IL_API il_status il_tensor_format(il_ctx *ctx, const il_tensor *t, char **out);
IL_API void il_ctx_free_string(il_ctx *ctx, char *s);

#ifdef __cplusplus
}
#endif

#include "ironlearn/nn.h"
#include "ironlearn/schedule.h"
#include "ironlearn/checkpoint.h"
#include "ironlearn/data.h"

#endif
