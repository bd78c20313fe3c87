/*
 * il_impl.h: internal types and helpers shared across core files. Not installed.
 */
#ifndef IL_IMPL_H
#define IL_IMPL_H

#include <stdarg.h>
#include <stdbool.h>

#include "ironlearn.h"
#include "ironlearn/backend.h"

/* The CUDA sources (C++) include this header too: keep the internal names C-linked. */
#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define IL_INTERNAL __attribute__((visibility("hidden")))
#else
#define IL_INTERNAL
#endif

#ifdef NDEBUG
#define IL_ASSERT(c) ((void)0)
#else
#include <assert.h>
#define IL_ASSERT(c) assert(c)
#endif

#define IL_ALIGN 64
#define IL_ERRMSG_MAX 512

/* Propagates a failed status. */
#define IL_TRY(expr)                                                                              \
    do {                                                                                          \
        il_status il_try_s_ = (expr);                                                             \
        if (il_try_s_ != IL_OK) return il_try_s_;                                                 \
    } while (0)

typedef struct ili_rng {
    uint64_t s[4];
} ili_rng;

typedef struct ili_pool ili_pool;

/* Workspaces: matmul packing of B (0) and A (1), partial products (2), column sums (3). */
#define ILI_SCRATCH_SLOTS 4

struct il_ctx {
    il_alloc_fn alloc;
    void *alloc_ud;
    il_mem_stats mem;
    char errmsg[IL_ERRMSG_MAX];
    ili_rng rng;
    int nthreads;
    ili_pool *pool; /* NULL until a kernel first needs more than one thread */
    int64_t live_tensors;
    /* Grow-only kernel workspaces (ili_scratch), kept so steady-state work allocates nothing. */
    void *scratch[ILI_SCRATCH_SLOTS];
    size_t scratch_n[ILI_SCRATCH_SLOTS];
    /* The CUDA backend's per-context state (stream, pool, cuBLAS handle, statistics), created
     * on first use by ili_cuda_ready and freed by ili_cuda_ctx_free; NULL until then. */
    void *cuda;
};

/* Refcounted memory on one device. */
typedef struct ili_storage {
    il_ctx *ctx;
    void *data;
    size_t nbytes;
    int64_t refcount;
    il_device device;
    /* Borrowed host memory (il_tensor_from_host, tensor_external.c): data is not ours to free;
     * ext_release(ext_ud) runs, if set, when the last handle goes. ext is 0 for owned memory. */
    int ext;
    void (*ext_release)(void *ud);
    void *ext_ud;
} ili_storage;

struct il_tensor {
    il_ctx *ctx;
    ili_storage *st;
    il_dtype dtype;
    int ndim;
    int64_t shape[IL_MAX_DIMS];
    int64_t stride[IL_MAX_DIMS]; /* elements */
    int64_t offset;              /* elements from st->data */
};

/* ---- memory (ctx.c) ---------------------------------------------------------------------- */

/* Raw blocks through the context's hook, counted in ctx->mem. NULL on failure (no message). */
IL_INTERNAL void *ili_malloc(il_ctx *ctx, size_t n);
IL_INTERNAL void *ili_realloc(il_ctx *ctx, void *p, size_t oldn, size_t n);
IL_INTERNAL void ili_free(il_ctx *ctx, void *p, size_t n);
/* 64-byte aligned blocks (for tensor data); free with the same size. */
IL_INTERNAL void *ili_malloc_aligned(il_ctx *ctx, size_t n);
IL_INTERNAL void ili_free_aligned(il_ctx *ctx, void *p, size_t n);
/* Sets the message and returns s. */
IL_INTERNAL il_status ili_seterr(il_ctx *ctx, il_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
IL_INTERNAL il_status ili_nomem(il_ctx *ctx, size_t nbytes);
/* A 64-byte aligned workspace of at least n bytes owned by the context, reused (and grown) by
 * later calls with the same slot; valid until the next call for that slot or il_ctx_free. Kernels
 * use it for packing buffers so that repeated calls allocate nothing. NULL when out of memory. */
IL_INTERNAL void *ili_scratch(il_ctx *ctx, int slot, size_t n);
/* Returns every workspace to the allocator (tests use it to compare memory exactly). */
IL_INTERNAL void ili_scratch_release(il_ctx *ctx);
/* The dtype two operands meet in: i64 < f32 < f64, as NumPy and PyTorch promote. */
IL_INTERNAL il_dtype ili_dtype_promote(il_dtype a, il_dtype b);

/* ---- strings (strbuf.c) ------------------------------------------------------------------ */

/* A growing string in the layout il_ctx_free_string expects (its capacity just before the
 * text). A failed allocation sets failed; later appends do nothing. */
typedef struct ili_sbuf {
    il_ctx *ctx;
    char *block;
    size_t cap, len; /* len counts the text after the capacity word */
    int failed;
} ili_sbuf;

IL_INTERNAL void ili_sbuf_add(ili_sbuf *b, const char *s, size_t n);
IL_INTERNAL void ili_sbuf_printf(ili_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s as a JSON string literal: quotes, backslashes and control characters escaped. */
IL_INTERNAL void ili_sbuf_json_string(ili_sbuf *b, const char *s);
/* Hands the text to *out (a string for il_ctx_free_string), or frees it and returns
 * IL_E_NOMEM when an append failed. (strbuf.c) */
IL_INTERNAL il_status ili_sbuf_finish(ili_sbuf *b, char **out);
/* A copy of s in ctx's allocator (released with ili_free and strlen(s) + 1), or NULL when out
 * of memory. */
IL_INTERNAL char *ili_strdup(il_ctx *ctx, const char *s);

/* ---- random (rng.c) ---------------------------------------------------------------------- */

IL_INTERNAL void ili_rng_seed(ili_rng *r, uint64_t seed);
IL_INTERNAL uint64_t ili_rng_next(ili_rng *r);
IL_INTERNAL double ili_rng_uniform(ili_rng *r); /* [0, 1), 53 bits */
IL_INTERNAL double ili_rng_normal(ili_rng *r);  /* N(0, 1) */

/* ---- shapes (shape.c) -------------------------------------------------------------------- */

IL_INTERNAL int64_t ili_numel(int ndim, const int64_t *shape);
IL_INTERNAL void ili_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Formats "(2, 3, 4)" into buf. Returns buf. */
IL_INTERNAL const char *ili_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
/* NumPy broadcast of two shapes into out (ndim = max). IL_E_SHAPE with both shapes named. */
IL_INTERNAL il_status ili_broadcast_shape(il_ctx *ctx, const char *what, int na,
                                          const int64_t *sa, int nb, const int64_t *sb,
                                          int *nout, int64_t *out);
/* Checks ndim (0..8) and every dim (>= 0), and that the element count fits in memory. */
IL_INTERNAL il_status ili_check_shape(il_ctx *ctx, int ndim, const int64_t *shape);
/* Strides viewing (on, oshape, ostride) as nshape without a copy; 0 when impossible. */
IL_INTERNAL int ili_view_strides(int on, const int64_t *oshape, const int64_t *ostride, int nn,
                                 const int64_t *nshape, int64_t *nstride);
/* Normalises a possibly negative axis (-1 = last) against ndim. IL_E_RANGE names it. */
IL_INTERNAL il_status ili_axis(il_ctx *ctx, int axis, int ndim, int *out);

/* ---- tensors (tensor.c) ------------------------------------------------------------------ */

/* New contiguous, uninitialised tensor. */
IL_INTERNAL il_status ili_tensor_new(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                                     il_device dev, il_tensor **out);
/* New handle sharing t's storage with the given geometry. */
IL_INTERNAL il_status ili_tensor_view(il_ctx *ctx, const il_tensor *t, int ndim,
                                      const int64_t *shape, const int64_t *stride,
                                      int64_t offset, il_tensor **out);
IL_INTERNAL void ili_tensor_desc(const il_tensor *t, il_tdesc *d);
/* Descriptor of t broadcast to (ndim, shape); the shapes must be compatible. */
IL_INTERNAL void ili_tensor_desc_expand(const il_tensor *t, int ndim, const int64_t *shape,
                                        il_tdesc *d);
/* IL_E_ARG unless t is a live tensor of ctx. */
IL_INTERNAL il_status ili_check_tensor(il_ctx *ctx, const il_tensor *t, const char *what);

/* ---- descriptors and op kinds (cpu_iter.c), shared by the CPU and CUDA backends ---------- */

/* Non-zero when the memory spans of two descriptors intersect (empty ones never do). */
IL_INTERNAL int ili_desc_overlap(const il_tdesc *a, const il_tdesc *b);
/* Non-zero when the descriptor is row-major contiguous (size-1 axes ignored). */
IL_INTERNAL int ili_desc_contiguous(const il_tdesc *d);

/* The KIND column of il_ops.def: backends dispatch on it and kernels reject other kinds. */
typedef enum ili_op_kind {
    ILI_KIND_BINARY,
    ILI_KIND_UNARY,
    ILI_KIND_REDUCE,
    ILI_KIND_MATMUL,
    ILI_KIND_MISC,
    ILI_KIND_ROW,
    ILI_KIND_LOSS,
    ILI_KIND_OPTIM,
    ILI_KIND_NONE
} ili_op_kind;
IL_INTERNAL ili_op_kind ili_op_kind_of(il_op op);

/* ---- backends (backend.c) ---------------------------------------------------------------- */

IL_INTERNAL const struct il_backend_ops *ili_backend_get(il_ctx *ctx, il_device dev);
IL_INTERNAL il_status ili_backend_alloc(il_ctx *ctx, il_device dev, size_t n, void **out);
IL_INTERNAL void ili_backend_free(il_ctx *ctx, il_device dev, void *p, size_t n);
IL_INTERNAL il_status ili_backend_run(il_ctx *ctx, il_device dev, const il_opcall *call);
IL_INTERNAL il_status ili_backend_copy_in(il_ctx *ctx, il_device dev, void *dst,
                                          const void *src, size_t n);
IL_INTERNAL il_status ili_backend_copy_out(il_ctx *ctx, il_device dev, void *dst,
                                           const void *src, size_t n);

/* The CPU backend (cpu_backend.c), the reference for every op. */
IL_INTERNAL extern const struct il_backend_ops ili_cpu_backend;

/* ---- CPU kernels (cpu_*.c), called by cpu_backend.c's dispatch ------------------------- */

IL_INTERNAL il_status ili_cpu_binary(il_ctx *ctx, const il_opcall *c);
IL_INTERNAL il_status ili_cpu_unary(il_ctx *ctx, const il_opcall *c);
IL_INTERNAL il_status ili_cpu_reduce(il_ctx *ctx, const il_opcall *c);
IL_INTERNAL il_status ili_cpu_matmul(il_ctx *ctx, const il_opcall *c);
IL_INTERNAL il_status ili_cpu_copy(il_ctx *ctx, const il_opcall *c);
IL_INTERNAL il_status ili_cpu_fill(il_ctx *ctx, const il_opcall *c);
/* Layer activations and their gradients (cpu_activation.c); ili_cpu_unary/binary delegate. */
IL_INTERNAL il_status ili_cpu_activation(il_ctx *ctx, const il_opcall *c);
IL_INTERNAL il_status ili_cpu_bernoulli(il_ctx *ctx, const il_opcall *c); /* cpu_nn.c */
IL_INTERNAL il_status ili_cpu_row(il_ctx *ctx, const il_opcall *c);       /* cpu_nn.c */
IL_INTERNAL il_status ili_cpu_loss(il_ctx *ctx, const il_opcall *c);      /* cpu_loss.c */
IL_INTERNAL il_status ili_cpu_optim(il_ctx *ctx, const il_opcall *c);     /* cpu_optim.c */

/* ---- thread pool (threadpool.c) ---------------------------------------------------------- */

/* Body of a parallel loop: handles items [begin, end) as worker `tid` (0..nthreads-1). */
typedef void (*ili_task_fn)(void *arg, int64_t begin, int64_t end, int tid);
/*
 * Runs fn over [0, n) split into at most ctx->nthreads contiguous chunks of at least `grain`
 * items, on the context's persistent pool (the caller runs one chunk itself), and returns when
 * all are done. Runs inline when one chunk suffices. IL_E_NOMEM/IL_E_INTERNAL if the pool
 * cannot be started (then nothing has run).
 */
IL_INTERNAL il_status ili_parallel_for(il_ctx *ctx, int64_t n, int64_t grain, ili_task_fn fn,
                                       void *arg);
IL_INTERNAL void ili_pool_free(il_ctx *ctx);

/* ---- the CUDA backend (cuda/), linked in when built with IL_HAVE_CUDA --------------------- */

IL_INTERNAL extern const struct il_backend_ops ili_cuda_backend;
/* Creates the context's CUDA state on first use. IL_E_DEVICE with the reason ("cuda device not
 * available: ...") when there is no driver, no device, or the driver is too old. */
IL_INTERNAL il_status ili_cuda_ready(il_ctx *ctx);
/* Releases the context's CUDA state (il_ctx_free calls it); nothing when there is none. */
IL_INTERNAL void ili_cuda_ctx_free(il_ctx *ctx);
/* Fills the contiguous CUDA tensor t with uniform [0, 1) (normal = 0) or N(0, 1) values drawn
 * on the device by Philox4x32-10 keyed by `key`, counter = element index. f32/f64. */
IL_INTERNAL il_status ili_cuda_random(il_ctx *ctx, il_tensor *t, int normal, uint64_t key);
/* Device memory statistics of the context (zeros before first use). */
IL_INTERNAL il_status ili_cuda_memory(il_ctx *ctx, il_device_mem_stats *out);

/* Events the CUDA backend counts per context, so tests and benchmarks can assert that a
 * steady-state step allocates nothing and copies nothing between host and device. */
typedef struct ili_cuda_counts {
    uint64_t mallocs;  /* cudaMallocAsync calls (tensors, scratch, workspaces) */
    uint64_t frees;    /* cudaFreeAsync calls */
    uint64_t h2d, d2h; /* host-to-device and device-to-host copies */
    uint64_t syncs;    /* stream synchronisations */
    uint64_t launches; /* kernel launches and cuBLAS calls, graph launches included */
    uint64_t graphs;   /* graph launches (each also counted in launches) */
    uint64_t graph_nodes; /* kernel nodes in the graphs launched (work launched by graphs) */
} ili_cuda_counts;
IL_INTERNAL void ili_cuda_counts_get(il_ctx *ctx, ili_cuda_counts *out);
/* Bytes left under il_cuda_set_memory_limit into *left; 0 (nothing written) when no limit is
 * set (cuda/copy.cu). */
IL_INTERNAL int ili_cuda_limit_left(il_ctx *ctx, size_t *left);

/* CUDA graphs of whole steps (cuda/graph.cu, driven by core/nn_graph.c). Between begin and end
 * the context's ops are recorded, not run; what needs the host (allocation, reads back,
 * copies in, synchronisation) is refused with IL_E_INTERNAL meanwhile. guard: the device loss
 * value the recorded OPTIM kernel checks (a non-finite loss skips the update). end with keep 0
 * drops the recording (after a refused op) and leaves the stream usable; *out stays NULL. */
typedef struct ili_cuda_graph ili_cuda_graph;
IL_INTERNAL il_status ili_cuda_capture_begin(il_ctx *ctx, const void *guard, il_dtype guard_dt);
IL_INTERNAL il_status ili_cuda_capture_end(il_ctx *ctx, int keep, ili_cuda_graph **out);
/* Non-zero while g may be replayed: the scratch blocks and TF32 setting it was captured with
 * are still the context's. */
IL_INTERNAL int ili_cuda_graph_valid(il_ctx *ctx, const ili_cuda_graph *g);
IL_INTERNAL size_t ili_cuda_graph_nodes(const ili_cuda_graph *g);
/* One replay; optim is this step's OPTIM call (its scalars go into the recorded update). */
IL_INTERNAL il_status ili_cuda_graph_launch(il_ctx *ctx, ili_cuda_graph *g, const il_opcall *optim);
IL_INTERNAL void ili_cuda_graph_free(il_ctx *ctx, ili_cuda_graph *g);

#ifdef __cplusplus
}
#endif
#endif
