/*
 * cpu_backend.c: the CPU backend's table and its dispatch. The CPU backend is the reference
 * implementation: every op exists here first, and other backends are tested against it.
 */
#include "il_impl.h"

static il_status cpu_alloc(il_ctx *ctx, size_t n, void **out) {
    void *p = ili_malloc_aligned(ctx, n);
    if (p == NULL) return ili_nomem(ctx, n);
    *out = p;
    return IL_OK;
}

static void cpu_free(il_ctx *ctx, void *p, size_t n) {
    ili_free_aligned(ctx, p, n);
}

typedef enum { KIND_BINARY, KIND_UNARY, KIND_REDUCE, KIND_MATMUL, KIND_MISC } op_kind;

static const op_kind kinds[IL_OP_COUNT] = {
#define IL_OP(NAME, name, kind) KIND_##kind,
#include "ironlearn/il_ops.def"
#undef IL_OP
};

static il_status cpu_run(il_ctx *ctx, const il_opcall *c) {
    switch (kinds[c->op]) {
    case KIND_BINARY: return ili_cpu_binary(ctx, c);
    case KIND_UNARY: return ili_cpu_unary(ctx, c);
    case KIND_REDUCE: return ili_cpu_reduce(ctx, c);
    case KIND_MATMUL: return ili_cpu_matmul(ctx, c);
    case KIND_MISC: return c->op == IL_OP_FILL ? ili_cpu_fill(ctx, c) : ili_cpu_copy(ctx, c);
    }
    return ili_seterr(ctx, IL_E_INTERNAL, "cpu backend: no kernel for %s", il_op_name(c->op));
}

const struct il_backend_ops ili_cpu_backend = {
    .abi_version = IL_BACKEND_ABI,
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_in = NULL,
    .copy_out = NULL,
    .supports = NULL,
    .run = cpu_run,
    .sync = NULL,
};
