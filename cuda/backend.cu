/*
 * backend.cu: the CUDA backend's table (ili_cuda_backend), device probing, per-context state
 * (one stream, one stream-ordered memory pool, one cuBLAS handle), memory with statistics, an
 * optional limit and out-of-memory recovery, host<->device copies, op dispatch, and the public
 * il_cuda_* functions.
 *
 * Nothing here is global and mutable: the only static is the probe result, computed once
 * (thread-safe) and immutable after. Everything else hangs off il_ctx.cuda.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.cuh"

/* ---- errors -------------------------------------------------------------------------------- */

il_status ilc_fail_cuda(il_ctx *ctx, const char *call, cudaError_t e, const char *file,
                        int line) {
    if (e == cudaErrorMemoryAllocation)
        return ili_seterr(ctx, IL_E_NOMEM, "cuda: out of device memory in %s", call);
    return ili_seterr(ctx, IL_E_DEVICE, "cuda: %s failed: %s (%s) at %s:%d", call,
                      cudaGetErrorName(e), cudaGetErrorString(e), file, line);
}

il_status ilc_fail_blas(il_ctx *ctx, const char *call, cublasStatus_t e, const char *file,
                        int line) {
    if (e == CUBLAS_STATUS_ALLOC_FAILED)
        return ili_seterr(ctx, IL_E_NOMEM, "cublas: out of memory in %s", call);
    return ili_seterr(ctx, IL_E_DEVICE, "cublas: %s failed: %s (%s) at %s:%d", call,
                      cublasGetStatusName(e), cublasGetStatusString(e), file, line);
}

/* ---- probing the device -------------------------------------------------------------------- */

__global__ void probe_kernel(int *p) {
    if (p) *p = 0;
}

/* Why CUDA cannot be used in this process, or "" when it can. */
struct probe_result {
    char reason[256];
    int nsm;
};

/* Turns cudaGetDeviceCount's answer into the reason users see. The runtime says "driver
 * insufficient" both without a driver and with an old one; the driver version tells them
 * apart (0: none installed). */
static void probe_reason(probe_result *r, cudaError_t e, const char *what) {
    char why[128] = "no usable NVIDIA driver";
    int drv = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
    if (e == cudaErrorNoDevice) snprintf(why, sizeof why, "no CUDA device found");
    else if (e == cudaErrorInsufficientDriver && drv == 0)
        snprintf(why, sizeof why, "no NVIDIA driver found");
    else if (e == cudaErrorInsufficientDriver)
        snprintf(why, sizeof why,
                 "the NVIDIA driver (CUDA %d.%d) is older than this build's runtime (CUDA %d.%d)",
                 drv / 1000, drv % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    else if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction)
        snprintf(why, sizeof why, "the GPU is older than every architecture this build targets");
    snprintf(r->reason, sizeof r->reason, "%s (%s: %s)", why, what, cudaGetErrorString(e));
    cudaGetLastError();
}

static probe_result probe(void) {
    probe_result r;
    memset(&r, 0, sizeof r);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n == 0) e = cudaErrorNoDevice;
    if (e != cudaSuccess) {
        probe_reason(&r, e, "cudaGetDeviceCount");
        return r;
    }
    /* A kernel that cannot load (no matching SASS or PTX) fails here, not mid-training. */
    cudaFuncAttributes fa;
    e = cudaFuncGetAttributes(&fa, probe_kernel);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&r.nsm, cudaDevAttrMultiProcessorCount, 0);
    if (e != cudaSuccess) probe_reason(&r, e, "loading the kernels");
    return r;
}

/* The probe runs once per process and is immutable after: pthread_once rather than a C++
 * function-local static, so the library needs no C++ runtime (__cxa_guard_*). */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static probe_result probe_value;

static void probe_init(void) { probe_value = probe(); }

static const probe_result &probed(void) {
    pthread_once(&probe_once, probe_init);
    return probe_value;
}

/* ---- per-context state --------------------------------------------------------------------- */

static il_status make_pool(il_ctx *ctx, ilc_state *s) {
    cudaMemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = s->device;
    ILC_CUDA(ctx, cudaMemPoolCreate(&s->pool, &props));
    /* Keep freed memory in the pool across synchronisations: giving it back to the driver and
     * asking again is exactly the per-step cudaMalloc cost this backend exists to avoid.
     * il_cuda_trim and the out-of-memory path release it. */
    uint64_t keep = UINT64_MAX;
    ILC_CUDA(ctx, cudaMemPoolSetAttribute(s->pool, cudaMemPoolAttrReleaseThreshold, &keep));
    return IL_OK;
}

static il_status make_state(il_ctx *ctx, ilc_state *s) {
    ILC_CUDA(ctx, cudaSetDevice(s->device));
    ILC_CUDA(ctx, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    IL_TRY(make_pool(ctx, s));
    ILC_CUDA(ctx, cudaMallocHost(&s->host_flag, 64));
    if (cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS) {
        s->blas = NULL;
        return ili_seterr(ctx, IL_E_DEVICE, "cuda device not available: cublasCreate failed");
    }
    ILC_BLAS(ctx, cublasSetStream(s->blas, s->stream));
    ILC_BLAS(ctx, cublasSetPointerMode(s->blas, CUBLAS_POINTER_MODE_HOST));
    ILC_BLAS(ctx, cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH));
    /* A fixed workspace of our own, so cuBLAS never allocates behind the pool's back (and a
     * later CUDA graph capture sees no allocation). 32 MiB is what cuBLAS asks on Hopper. */
    s->blas_ws_n = (size_t)32 << 20;
    IL_TRY(ilc_alloc(ctx, s->blas_ws_n, &s->blas_ws));
    ILC_BLAS(ctx, cublasSetWorkspace(s->blas, s->blas_ws, s->blas_ws_n));
    return IL_OK;
}

il_status ili_cuda_ready(il_ctx *ctx) {
    if (ctx->cuda != NULL) return IL_OK;
    const probe_result &p = probed();
    if (p.reason[0] != '\0')
        return ili_seterr(ctx, IL_E_DEVICE, "cuda device not available: %s", p.reason);
    ilc_state *s = (ilc_state *)ili_malloc(ctx, sizeof *s);
    if (s == NULL) return ili_nomem(ctx, sizeof *s);
    memset(s, 0, sizeof *s);
    s->nsm = p.nsm;
    ctx->cuda = s; /* set first: the helpers below count through it */
    il_status st = make_state(ctx, s);
    if (st != IL_OK) ili_cuda_ctx_free(ctx);
    return st;
}

void ili_cuda_ctx_free(il_ctx *ctx) {
    ilc_state *s = ilc_of(ctx);
    if (s == NULL) return;
    /* Errors are ignored: this runs at teardown, possibly after a device fault. */
    for (int k = 0; k < ILC_NSCRATCH; k++)
        if (s->scratch[k]) ilc_free(ctx, s->scratch[k], s->scratch_n[k]);
    if (s->blas_ws) ilc_free(ctx, s->blas_ws, s->blas_ws_n);
    if (s->blas) cublasDestroy(s->blas);
    if (s->stream) cudaStreamSynchronize(s->stream);
    if (s->pool) cudaMemPoolDestroy(s->pool);
    if (s->stream) cudaStreamDestroy(s->stream);
    if (s->host_flag) cudaFreeHost(s->host_flag);
    cudaGetLastError(); /* leave no sticky error for the next context */
    ili_free(ctx, s, sizeof *s);
    ctx->cuda = NULL;
}

/* ---- memory -------------------------------------------------------------------------------- */

static il_status pool_trim(il_ctx *ctx, ilc_state *s) {
    ILC_CUDA(ctx, cudaStreamSynchronize(s->stream));
    s->counts.syncs++;
    ILC_CUDA(ctx, cudaMemPoolTrimTo(s->pool, 0));
    return IL_OK;
}

static size_t reserved_bytes(ilc_state *s) {
    uint64_t v = 0;
    if (cudaMemPoolGetAttribute(s->pool, cudaMemPoolAttrReservedMemCurrent, &v) != cudaSuccess)
        cudaGetLastError();
    return (size_t)v;
}

static il_status oom(il_ctx *ctx, ilc_state *s, size_t n, const char *why) {
    return ili_seterr(ctx, IL_E_NOMEM,
                      "cuda: out of device memory: %zu bytes requested, %zu allocated, %zu "
                      "reserved (%s)",
                      n, s->allocated, reserved_bytes(s), why);
}

il_status ilc_no_capture(il_ctx *ctx, const char *what) {
    if (!ilc_of(ctx)->capturing) return IL_OK;
    return ili_seterr(ctx, IL_E_INTERNAL, "cuda: %s while a graph is being captured", what);
}

il_status ilc_alloc(il_ctx *ctx, size_t n, void **out) {
    ilc_state *s = ilc_of(ctx);
    IL_TRY(ilc_no_capture(ctx, "allocation"));
    if (s->limit && (n > s->limit || s->allocated > s->limit - n))
        return oom(ctx, s, n, "over the limit set by il_cuda_set_memory_limit");
    void *p = NULL;
    s->counts.mallocs++;
    cudaError_t e = cudaMallocAsync(&p, n, s->pool, s->stream);
    if (e == cudaErrorMemoryAllocation) {
        /* Memory freed on the stream may still be queued: wait, give the pool back, retry. */
        cudaGetLastError();
        IL_TRY(pool_trim(ctx, s));
        s->counts.mallocs++;
        e = cudaMallocAsync(&p, n, s->pool, s->stream);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            return oom(ctx, s, n, "after trimming the pool and retrying");
        }
    }
    if (e != cudaSuccess) return ilc_fail_cuda(ctx, "cudaMallocAsync", e, __FILE__, __LINE__);
    if (((uintptr_t)p & (IL_ALIGN - 1)) != 0) {
        cudaFreeAsync(p, s->stream);
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda: pool returned a misaligned block");
    }
    s->allocated += n;
    if (s->allocated > s->peak) s->peak = s->allocated;
    *out = p;
    return IL_OK;
}

void ilc_free(il_ctx *ctx, void *p, size_t n) {
    ilc_state *s = ilc_of(ctx);
    s->counts.frees++;
    /* Stream-ordered: the block returns to the pool once queued work that uses it is done. */
    if (cudaFreeAsync(p, s->stream) != cudaSuccess) cudaGetLastError();
    s->allocated -= n < s->allocated ? n : s->allocated;
}

il_status ilc_scratch(il_ctx *ctx, int slot, size_t n, void **out) {
    ilc_state *s = ilc_of(ctx);
    if (n == 0) n = 1;
    if (s->scratch_n[slot] < n) {
        if (s->scratch[slot]) ilc_free(ctx, s->scratch[slot], s->scratch_n[slot]);
        s->scratch[slot] = NULL;
        s->scratch_n[slot] = 0;
        size_t want = n + n / 4; /* some headroom against creeping growth */
        IL_TRY(ilc_alloc(ctx, want, &s->scratch[slot]));
        s->scratch_n[slot] = want;
        s->scratch_gen++; /* graphs that used the old block must not be replayed */
    }
    *out = s->scratch[slot];
    return IL_OK;
}

il_status ilc_read(il_ctx *ctx, void *host, const void *dev, size_t n) {
    ilc_state *s = ilc_of(ctx);
    IL_TRY(ilc_no_capture(ctx, "a read back to the host"));
    s->counts.d2h++;
    ILC_CUDA(ctx, cudaMemcpyAsync(host, dev, n, cudaMemcpyDeviceToHost, s->stream));
    s->counts.syncs++;
    ILC_CUDA(ctx, cudaStreamSynchronize(s->stream));
    return IL_OK;
}

/* ---- the table's slots --------------------------------------------------------------------- */

static il_status cuda_alloc(il_ctx *ctx, size_t n, void **out) { return ilc_alloc(ctx, n, out); }

static void cuda_free(il_ctx *ctx, void *p, size_t n) { ilc_free(ctx, p, n); }

/* Copies wait for completion: the host buffer may be reused (or freed) as soon as we return,
 * even when it is pinned memory of the caller's, where an async copy would still be reading. */
static il_status cuda_copy_in(il_ctx *ctx, void *dst, const void *src, size_t n) {
    ilc_state *s = ilc_of(ctx);
    IL_TRY(ilc_no_capture(ctx, "a copy from the host"));
    s->counts.h2d++;
    ILC_CUDA(ctx, cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s->stream));
    s->counts.syncs++;
    ILC_CUDA(ctx, cudaStreamSynchronize(s->stream));
    return IL_OK;
}

static il_status cuda_copy_out(il_ctx *ctx, void *dst, const void *src, size_t n) {
    return ilc_read(ctx, dst, src, n);
}

static il_status cuda_sync(il_ctx *ctx) {
    ilc_state *s = ilc_of(ctx);
    IL_TRY(ilc_no_capture(ctx, "a synchronisation"));
    s->counts.syncs++;
    ILC_CUDA(ctx, cudaStreamSynchronize(s->stream));
    return IL_OK;
}

/* The ops with kernels here: every op of il_ops.def as of this backend. An op added to
 * il_ops.def later is refused (IL_E_UNSUPPORTED, naming it) until it gets one. */
static int cuda_supports(il_ctx *ctx, const il_opcall *c) {
    (void)ctx;
    switch (c->op) {
    case IL_OP_ADD: case IL_OP_SUB: case IL_OP_MUL: case IL_OP_DIV: case IL_OP_POW:
    case IL_OP_MAXIMUM: case IL_OP_MINIMUM: case IL_OP_NEG: case IL_OP_EXP: case IL_OP_LOG:
    case IL_OP_TANH: case IL_OP_SIGMOID: case IL_OP_RELU: case IL_OP_SIN: case IL_OP_COS:
    case IL_OP_ABS: case IL_OP_SQRT: case IL_OP_CLAMP: case IL_OP_SUM: case IL_OP_MEAN:
    case IL_OP_MAX: case IL_OP_MIN: case IL_OP_ARGMAX: case IL_OP_SUMSQ: case IL_OP_MATMUL:
    case IL_OP_COPY: case IL_OP_FILL: case IL_OP_BERNOULLI: case IL_OP_LEAKY_RELU:
    case IL_OP_GELU: case IL_OP_SOFTPLUS: case IL_OP_SINE: case IL_OP_TANH_GRAD:
    case IL_OP_SIGMOID_GRAD: case IL_OP_RELU_GRAD: case IL_OP_LEAKY_RELU_GRAD:
    case IL_OP_GELU_GRAD: case IL_OP_SOFTPLUS_GRAD: case IL_OP_SINE_GRAD: case IL_OP_SOFTMAX:
    case IL_OP_SOFTMAX_GRAD: case IL_OP_LOSS_MSE: case IL_OP_LOSS_BCE:
    case IL_OP_LOSS_BCE_LOGITS: case IL_OP_LOSS_CE_INDEX: case IL_OP_LOSS_CE_PROBS:
    case IL_OP_LOSS_L1: case IL_OP_LOSS_HUBER: case IL_OP_SGD_UPDATE: case IL_OP_ADAM_UPDATE:
    case IL_OP_RMSPROP_UPDATE: case IL_OP_TAKE_ROWS: return 1;
    default: return 0;
    }
}

static il_status cuda_run(il_ctx *ctx, const il_opcall *c) {
    switch (ili_op_kind_of(c->op)) {
    case ILI_KIND_BINARY: return ilc_binary(ctx, c);
    case ILI_KIND_UNARY: return ilc_unary(ctx, c);
    case ILI_KIND_REDUCE: return ilc_reduce(ctx, c);
    case ILI_KIND_MATMUL: return ilc_matmul(ctx, c);
    case ILI_KIND_MISC:
        if (c->op == IL_OP_FILL) return ilc_fill(ctx, c);
        if (c->op == IL_OP_BERNOULLI) return ilc_bernoulli(ctx, c);
        return ilc_copy(ctx, c);
    case ILI_KIND_ROW: return ilc_row(ctx, c);
    case ILI_KIND_LOSS: return ilc_loss(ctx, c);
    case ILI_KIND_OPTIM: return ilc_optim(ctx, c);
    case ILI_KIND_NONE: break;
    }
    return ili_seterr(ctx, IL_E_UNSUPPORTED, "%s is not supported by the cuda backend",
                      il_op_name(c->op));
}

extern "C" const struct il_backend_ops ili_cuda_backend = {
    .abi_version = IL_BACKEND_ABI,
    .name = "cuda",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .copy_in = cuda_copy_in,
    .copy_out = cuda_copy_out,
    .supports = cuda_supports,
    .run = cuda_run,
    .sync = cuda_sync,
};

/* ---- public API ---------------------------------------------------------------------------- */

il_status il_cuda_available(il_ctx *ctx) {
    if (ctx == NULL) return IL_E_ARG;
    return ili_cuda_ready(ctx);
}

il_status ili_cuda_memory(il_ctx *ctx, il_device_mem_stats *out) {
    ilc_state *s = ilc_of(ctx);
    memset(out, 0, sizeof *out);
    if (s == NULL) return IL_OK;
    out->allocated = s->allocated;
    out->reserved = reserved_bytes(s);
    out->peak = s->peak;
    return IL_OK;
}

il_status il_cuda_trim(il_ctx *ctx) {
    if (ctx == NULL) return IL_E_ARG;
    IL_TRY(ili_cuda_ready(ctx));
    return pool_trim(ctx, ilc_of(ctx));
}

il_status il_cuda_set_tf32(il_ctx *ctx, int on) {
    if (ctx == NULL) return IL_E_ARG;
    IL_TRY(ili_cuda_ready(ctx));
    ilc_of(ctx)->tf32 = on != 0;
    return IL_OK;
}

il_status il_cuda_set_memory_limit(il_ctx *ctx, size_t bytes) {
    if (ctx == NULL) return IL_E_ARG;
    IL_TRY(ili_cuda_ready(ctx));
    ilc_of(ctx)->limit = bytes;
    return IL_OK;
}

void ili_cuda_counts_get(il_ctx *ctx, ili_cuda_counts *out) {
    memset(out, 0, sizeof *out);
    if (ctx && ctx->cuda) *out = ilc_of(ctx)->counts;
}
