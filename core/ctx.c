/*
 * ctx.c: the context (allocator hook, error message, random generator, thread settings) and the
 * library-wide name tables. Nothing here is global and mutable: every bit of state lives in an
 * il_ctx, so two contexts never interfere.
 */
#include "il_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > 256 ? 256 : (int)n;
}

il_status il_ctx_new_with_alloc(il_ctx **out, il_alloc_fn alloc, void *ud) {
    if (out == NULL || alloc == NULL) return IL_E_ARG;
    *out = NULL;
    il_ctx *ctx = alloc(ud, NULL, 0, sizeof *ctx);
    if (ctx == NULL) return IL_E_NOMEM;
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = alloc;
    ctx->alloc_ud = ud;
    /* The context's own block is counted, so bytes_in_use is honest from the start. */
    ctx->mem.bytes_in_use = ctx->mem.bytes_peak = sizeof *ctx;
    ctx->mem.n_allocs = 1;
    ctx->nthreads = default_threads();
    ili_rng_seed(&ctx->rng, 0x1ee7c0deULL);
    *out = ctx;
    return IL_OK;
}

il_status il_ctx_new(il_ctx **out) {
    return il_ctx_new_with_alloc(out, default_alloc, NULL);
}

void il_ctx_free(il_ctx *ctx) {
    if (ctx == NULL) return;
    ili_pool_free(ctx);
    ili_scratch_release(ctx);
#ifdef IL_HAVE_CUDA
    ili_cuda_ctx_free(ctx); /* after the tensors (freed by the caller), before the context */
#endif
    ctx->alloc(ctx->alloc_ud, ctx, sizeof *ctx, 0);
}

const char *il_errmsg(const il_ctx *ctx) {
    return ctx ? ctx->errmsg : "no context";
}

void il_ctx_clear_error(il_ctx *ctx) {
    if (ctx) ctx->errmsg[0] = '\0';
}

void il_ctx_memory(const il_ctx *ctx, il_mem_stats *out) {
    if (ctx && out) *out = ctx->mem;
}

void il_ctx_seed(il_ctx *ctx, uint64_t seed) {
    if (ctx) ili_rng_seed(&ctx->rng, seed);
}

il_status il_ctx_set_threads(il_ctx *ctx, int n) {
    if (ctx == NULL) return IL_E_ARG;
    if (n < 1 || n > 256)
        return ili_seterr(ctx, IL_E_RANGE, "thread count %d out of range 1..256", n);
    if (n != ctx->nthreads) {
        ili_pool_free(ctx); /* restarted lazily with the new size */
        ctx->nthreads = n;
    }
    return IL_OK;
}

int il_ctx_threads(const il_ctx *ctx) {
    return ctx ? ctx->nthreads : 0;
}

int64_t il_ctx_live_tensors(const il_ctx *ctx) {
    return ctx ? ctx->live_tensors : 0;
}

/* ---- memory ---------------------------------------------------------------------------- */

void *ili_malloc(il_ctx *ctx, size_t n) {
    if (n == 0) n = 1;
    ctx->mem.n_allocs++;
    void *p = ctx->alloc(ctx->alloc_ud, NULL, 0, n);
    if (p == NULL) return NULL;
    ctx->mem.bytes_in_use += n;
    if (ctx->mem.bytes_in_use > ctx->mem.bytes_peak) ctx->mem.bytes_peak = ctx->mem.bytes_in_use;
    return p;
}

void *ili_realloc(il_ctx *ctx, void *p, size_t oldn, size_t n) {
    if (p == NULL) return ili_malloc(ctx, n);
    if (n == 0) n = 1;
    ctx->mem.n_allocs++;
    void *q = ctx->alloc(ctx->alloc_ud, p, oldn, n);
    if (q == NULL) return NULL;
    ctx->mem.bytes_in_use += n;
    ctx->mem.bytes_in_use -= oldn;
    if (ctx->mem.bytes_in_use > ctx->mem.bytes_peak) ctx->mem.bytes_peak = ctx->mem.bytes_in_use;
    return q;
}

void ili_free(il_ctx *ctx, void *p, size_t n) {
    if (p == NULL) return;
    if (n == 0) n = 1;
    ctx->alloc(ctx->alloc_ud, p, n, 0);
    ctx->mem.bytes_in_use -= n;
    ctx->mem.n_frees++;
}

/* The hook knows nothing of alignment, so over-allocate and keep the raw pointer just below the
 * aligned block. */
void *ili_malloc_aligned(il_ctx *ctx, size_t n) {
    if (n > SIZE_MAX - IL_ALIGN - sizeof(void *)) return NULL;
    size_t raw_n = n + IL_ALIGN + sizeof(void *);
    char *raw = ili_malloc(ctx, raw_n);
    if (raw == NULL) return NULL;
    uintptr_t a = ((uintptr_t)raw + sizeof(void *) + IL_ALIGN - 1) & ~(uintptr_t)(IL_ALIGN - 1);
    ((void **)a)[-1] = raw;
    return (void *)a;
}

void ili_free_aligned(il_ctx *ctx, void *p, size_t n) {
    if (p == NULL) return;
    ili_free(ctx, ((void **)p)[-1], n + IL_ALIGN + sizeof(void *));
}

void ili_scratch_release(il_ctx *ctx) {
    for (int i = 0; i < ILI_SCRATCH_SLOTS; i++) {
        ili_free_aligned(ctx, ctx->scratch[i], ctx->scratch_n[i]);
        ctx->scratch[i] = NULL;
        ctx->scratch_n[i] = 0;
    }
}

void *ili_scratch(il_ctx *ctx, int slot, size_t n) {
    if (n <= ctx->scratch_n[slot]) return ctx->scratch[slot];
    ili_free_aligned(ctx, ctx->scratch[slot], ctx->scratch_n[slot]);
    ctx->scratch[slot] = NULL;
    ctx->scratch_n[slot] = 0;
    /* Grow by half again, so a slowly growing workload does not reallocate every call. */
    size_t want = n + n / 2;
    void *p = ili_malloc_aligned(ctx, want);
    if (p == NULL) return NULL;
    ctx->scratch[slot] = p;
    ctx->scratch_n[slot] = want;
    return p;
}

/* ---- errors ---------------------------------------------------------------------------- */

static il_status vseterr(il_ctx *ctx, il_status s, const char *fmt, va_list ap) {
    if (ctx == NULL) return s;
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    return s;
}

il_status ili_seterr(il_ctx *ctx, il_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vseterr(ctx, s, fmt, ap);
    va_end(ap);
    return s;
}

il_status il_ctx_error(il_ctx *ctx, il_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vseterr(ctx, s, fmt, ap);
    va_end(ap);
    return s;
}

il_status ili_nomem(il_ctx *ctx, size_t nbytes) {
    return ili_seterr(ctx, IL_E_NOMEM, "out of memory (allocating %zu bytes)", nbytes);
}

/* ---- names ----------------------------------------------------------------------------- */

const char *il_version(void) {
    return IL_VERSION_STRING;
}

const char *il_status_str(il_status s) {
    switch (s) {
    case IL_OK: return "IL_OK: success";
    case IL_E_ARG: return "IL_E_ARG: invalid argument";
    case IL_E_NOMEM: return "IL_E_NOMEM: out of memory";
    case IL_E_SHAPE: return "IL_E_SHAPE: shape mismatch";
    case IL_E_DTYPE: return "IL_E_DTYPE: unsupported dtype";
    case IL_E_DEVICE: return "IL_E_DEVICE: device error";
    case IL_E_RANGE: return "IL_E_RANGE: out of range";
    case IL_E_FREED: return "IL_E_FREED: object already freed";
    case IL_E_IO: return "IL_E_IO: input/output error";
    case IL_E_FORMAT: return "IL_E_FORMAT: malformed input";
    case IL_E_UNSUPPORTED: return "IL_E_UNSUPPORTED: not supported";
    case IL_E_NUMERIC: return "IL_E_NUMERIC: NaN or infinity";
    case IL_E_INTERNAL: return "IL_E_INTERNAL: internal error";
    }
    return "unknown status";
}

static const char *const dtype_names[IL_DTYPE_COUNT] = {"f32", "f64", "i64"};
static const size_t dtype_sizes[IL_DTYPE_COUNT] = {4, 8, 8};
static const char *const device_names[IL_DEVICE_COUNT] = {"cpu", "cuda"};
static const char *const op_names[IL_OP_COUNT] = {
#define IL_OP(NAME, name, kind) #name,
#include "ironlearn/il_ops.def"
#undef IL_OP
};

il_dtype ili_dtype_promote(il_dtype a, il_dtype b) {
    static const int rank[IL_DTYPE_COUNT] = {[IL_DTYPE_I64] = 0, [IL_DTYPE_F32] = 1,
                                             [IL_DTYPE_F64] = 2};
    return rank[a] >= rank[b] ? a : b;
}

const char *il_dtype_name(il_dtype dt) {
    return (unsigned)dt < IL_DTYPE_COUNT ? dtype_names[dt] : "?";
}

size_t il_dtype_size(il_dtype dt) {
    return (unsigned)dt < IL_DTYPE_COUNT ? dtype_sizes[dt] : 0;
}

const char *il_device_name(il_device dev) {
    return (unsigned)dev < IL_DEVICE_COUNT ? device_names[dev] : "?";
}

const char *il_op_name(il_op op) {
    return (unsigned)op < IL_OP_COUNT ? op_names[op] : "?";
}

il_status il_dtype_parse(const char *name, il_dtype *out) {
    static const struct { const char *name; il_dtype dt; } table[] = {
        {"f32", IL_DTYPE_F32}, {"float32", IL_DTYPE_F32}, {"float", IL_DTYPE_F32},
        {"f64", IL_DTYPE_F64}, {"float64", IL_DTYPE_F64}, {"double", IL_DTYPE_F64},
        {"i64", IL_DTYPE_I64}, {"int64", IL_DTYPE_I64}, {"long", IL_DTYPE_I64},
    };
    if (name == NULL || out == NULL) return IL_E_ARG;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) == 0) {
            *out = table[i].dt;
            return IL_OK;
        }
    }
    return IL_E_DTYPE;
}

il_status il_device_parse(const char *name, il_device *out) {
    if (name == NULL || out == NULL) return IL_E_ARG;
    for (int i = 0; i < IL_DEVICE_COUNT; i++) {
        if (strcmp(name, device_names[i]) == 0) {
            *out = (il_device)i;
            return IL_OK;
        }
    }
    return IL_E_DEVICE;
}
