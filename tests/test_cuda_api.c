/*
 * test_cuda_api.c: the CUDA entry points of the public API, in a build with the CUDA backend,
 * on any machine. Without a device (CI): il_cuda_available and every il_cuda_* call return
 * IL_E_DEVICE with the reason, CUDA tensors and device memory queries fail cleanly, the CPU
 * keeps working and nothing leaks. With a device: the same calls succeed, memory statistics
 * move as tensors come and go, the memory limit turns into IL_E_NOMEM with a message (as does a
 * real out-of-memory, after the pool is trimmed and the allocation retried), and the context
 * still works afterwards. Always runs (never skipped).
 */
#include <string.h>

#include "cudatest.h"

/* What a machine without a usable device must answer. */
static void no_device(il_ctx *ctx) {
    char reason[IL_ERRMSG_MAX];
    snprintf(reason, sizeof reason, "%s", il_errmsg(ctx));
    printf("no CUDA device (%s): checking the failure paths\n", reason);
    CT_CHECK(strstr(reason, "cuda device not available: ") == reason, "reason: %s", reason);
    CT_CHECK(strlen(reason) > strlen("cuda device not available: ") + 5, "empty reason");
    int64_t shape[2] = {3, 4};
    il_tensor *t = (il_tensor *)ctx, *cpu = NULL;
    CT_CHECK(il_tensor_zeros(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CUDA, &t) == IL_E_DEVICE,
             "zeros on cuda");
    CT_CHECK(il_tensor_rand(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CUDA, &t) == IL_E_DEVICE,
             "rand on cuda");
    CT_OK(ctx, il_tensor_rand(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CPU, &cpu));
    CT_CHECK(il_tensor_to_device(ctx, cpu, IL_DEVICE_CUDA, &t) == IL_E_DEVICE, "to cuda");
    CT_CHECK(strcmp(il_errmsg(ctx), reason) == 0, "message changed: %s", il_errmsg(ctx));
    il_tensor_free(cpu);
    il_device_mem_stats m;
    CT_CHECK(il_device_memory(ctx, IL_DEVICE_CUDA, &m) == IL_E_DEVICE, "device_memory");
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CPU, &m));
    CT_CHECK(il_cuda_trim(ctx) == IL_E_DEVICE, "trim");
    CT_CHECK(il_cuda_set_tf32(ctx, 1) == IL_E_DEVICE, "tf32");
    CT_CHECK(il_cuda_set_memory_limit(ctx, 1 << 20) == IL_E_DEVICE, "limit");
    CT_CHECK(il_cuda_available(NULL) == IL_E_ARG, "NULL context");
    il_net *net = NULL; /* the CPU is unaffected */
    CT_OK(ctx, il_net_new(ctx, IL_DTYPE_F32, &net));
    il_net_free(net);
}

/* Statistics follow a tensor's life; trim returns the pool's memory. */
static void memory_stats(il_ctx *ctx) {
    il_device_mem_stats m0, m1, m2;
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CUDA, &m0));
    int64_t n = 1 << 20;
    il_tensor *t = NULL;
    CT_OK(ctx, il_tensor_zeros(ctx, 1, &n, IL_DTYPE_F32, IL_DEVICE_CUDA, &t));
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CUDA, &m1));
    CT_CHECK(m1.allocated >= m0.allocated + (4u << 20), "allocated %zu -> %zu", m0.allocated,
             m1.allocated);
    CT_CHECK(m1.reserved >= m1.allocated && m1.peak >= m1.allocated, "reserved %zu peak %zu",
             m1.reserved, m1.peak);
    il_tensor_free(t);
    CT_OK(ctx, il_cuda_trim(ctx));
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CUDA, &m2));
    CT_CHECK(m2.allocated == m0.allocated, "allocated after free %zu, before %zu", m2.allocated,
             m0.allocated);
    CT_CHECK(m2.reserved < m1.reserved, "trim kept %zu of %zu", m2.reserved, m1.reserved);
    CT_CHECK(m2.peak == m1.peak, "peak %zu", m2.peak);
}

/* The limit and a real out-of-memory are IL_E_NOMEM with a message; the context survives. */
static void out_of_memory(il_ctx *ctx) {
    il_device_mem_stats m;
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CUDA, &m));
    CT_OK(ctx, il_cuda_set_memory_limit(ctx, m.allocated + (1u << 20)));
    int64_t n = 1 << 20; /* 4 MiB of f32 */
    il_tensor *t = (il_tensor *)ctx;
    CT_CHECK(il_tensor_zeros(ctx, 1, &n, IL_DTYPE_F32, IL_DEVICE_CUDA, &t) == IL_E_NOMEM,
             "over the limit");
    CT_CHECK(strstr(il_errmsg(ctx), "il_cuda_set_memory_limit") != NULL, "message: %s",
             il_errmsg(ctx));
    CT_OK(ctx, il_cuda_set_memory_limit(ctx, 0));
    int64_t huge = (int64_t)1 << 48; /* 1 PiB of f32: no GPU has it */
    CT_CHECK(il_tensor_empty(ctx, 1, &huge, IL_DTYPE_F32, IL_DEVICE_CUDA, &t) == IL_E_NOMEM,
             "huge allocation");
    CT_CHECK(strstr(il_errmsg(ctx), "out of device memory") != NULL, "message: %s",
             il_errmsg(ctx));
    double v = 0;
    CT_OK(ctx, il_tensor_full(ctx, 1, &n, 2.0, IL_DTYPE_F32, IL_DEVICE_CUDA, &t));
    il_tensor *s = NULL;
    CT_OK(ctx, il_tensor_reduce(ctx, IL_OP_SUM, t, IL_AXIS_ALL, 0, &s));
    CT_OK(ctx, il_tensor_item(ctx, s, &v));
    CT_CHECK(v == 2.0 * (double)n, "sum after OOM %g", v);
    il_tensor_free(s);
    il_tensor_free(t);
}

/* Random tensors drawn on the device: in range, plausible moments, repeatable from the seed. */
static void random_tensors(il_ctx *ctx) {
    int64_t n = 1 << 20;
    for (int d = 0; d < 2; d++) {
        il_dtype dt = d ? IL_DTYPE_F64 : IL_DTYPE_F32;
        il_tensor *u = NULL, *g = NULL, *u2 = NULL, *mn = NULL, *mx = NULL, *mean = NULL;
        il_ctx_seed(ctx, 99);
        CT_OK(ctx, il_tensor_rand(ctx, 1, &n, dt, IL_DEVICE_CUDA, &u));
        CT_OK(ctx, il_tensor_randn(ctx, 1, &n, dt, IL_DEVICE_CUDA, &g));
        il_ctx_seed(ctx, 99);
        CT_OK(ctx, il_tensor_rand(ctx, 1, &n, dt, IL_DEVICE_CUDA, &u2));
        double lo, hi, mu, sq, same;
        CT_OK(ctx, il_tensor_reduce(ctx, IL_OP_MIN, u, IL_AXIS_ALL, 0, &mn));
        CT_OK(ctx, il_tensor_reduce(ctx, IL_OP_MAX, u, IL_AXIS_ALL, 0, &mx));
        CT_OK(ctx, il_tensor_item(ctx, mn, &lo));
        CT_OK(ctx, il_tensor_item(ctx, mx, &hi));
        CT_CHECK(lo >= 0 && lo < 1e-4 && hi < 1 && hi > 1 - 1e-4, "uniform range [%g, %g]", lo, hi);
        il_tensor_free(mn), il_tensor_free(mx);
        CT_OK(ctx, il_tensor_reduce(ctx, IL_OP_MEAN, g, IL_AXIS_ALL, 0, &mean));
        CT_OK(ctx, il_tensor_item(ctx, mean, &mu));
        il_tensor_free(mean);
        CT_OK(ctx, il_tensor_reduce(ctx, IL_OP_SUMSQ, g, IL_AXIS_ALL, 0, &mean));
        CT_OK(ctx, il_tensor_item(ctx, mean, &sq));
        il_tensor_free(mean);
        CT_CHECK(mu > -0.01 && mu < 0.01 && sq / (double)n > 0.99 && sq / (double)n < 1.01,
                 "normal mean %g, mean square %g", mu, sq / (double)n);
        il_tensor *diff = NULL;
        CT_OK(ctx, il_tensor_binary(ctx, IL_OP_SUB, u, u2, &diff));
        CT_OK(ctx, il_tensor_reduce(ctx, IL_OP_SUMSQ, diff, IL_AXIS_ALL, 0, &mean));
        CT_OK(ctx, il_tensor_item(ctx, mean, &same));
        CT_CHECK(same == 0, "same seed, different tensors");
        il_tensor_free(mean), il_tensor_free(diff);
        il_tensor_free(u), il_tensor_free(g), il_tensor_free(u2);
    }
}

int main(void) {
    il_ctx *ctx = NULL;
    if (il_ctx_new(&ctx) != IL_OK) return 1;
    if (il_cuda_available(ctx) != IL_OK) {
        no_device(ctx);
        return ct_end(ctx);
    }
    CT_OK(ctx, il_cuda_set_tf32(ctx, 1));
    CT_OK(ctx, il_cuda_set_tf32(ctx, 0));
    memory_stats(ctx);
    out_of_memory(ctx);
    random_tensors(ctx);
    return ct_end(ctx);
}
