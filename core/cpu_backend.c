/*
 * cpu_backend.c: the CPU backend's table and its dispatch. The CPU backend is the reference
 * implementation: every op exists here first, and other backends are tested against it.
 */
#include "il_impl.h"

#include "cpu_iter_impl.h"

static il_status cpu_alloc(il_ctx *ctx, size_t n, void **out) {
    void *p = ili_malloc_aligned(ctx, n);
    if (p == NULL) return ili_nomem(ctx, n);
    *out = p;
    return IL_OK;
}

static void cpu_free(il_ctx *ctx, void *p, size_t n) {
    ili_free_aligned(ctx, p, n);
}

static il_status cpu_run(il_ctx *ctx, const il_opcall *c) {
    switch (ili_op_kind_of(c->op)) {
    case ILI_KIND_BINARY: return ili_cpu_binary(ctx, c);
    case ILI_KIND_UNARY: return ili_cpu_unary(ctx, c);
    case ILI_KIND_REDUCE: return ili_cpu_reduce(ctx, c);
    case ILI_KIND_MATMUL: return ili_cpu_matmul(ctx, c);
    case ILI_KIND_MISC:
        if (c->op == IL_OP_FILL) return ili_cpu_fill(ctx, c);
        if (c->op == IL_OP_BERNOULLI) return ili_cpu_bernoulli(ctx, c);
        return ili_cpu_copy(ctx, c);
    case ILI_KIND_ROW: return ili_cpu_row(ctx, c);
    case ILI_KIND_LOSS: return ili_cpu_loss(ctx, c);
    case ILI_KIND_OPTIM: return ili_cpu_optim(ctx, c);
    case ILI_KIND_NONE: break;
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
