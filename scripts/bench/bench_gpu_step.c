/*
 * bench_gpu_step.c: iron-learn's steady-state training step on CUDA, the 40,000-point
 * 2-64-64-64-1 ReLU network (MSE, Adam lr 1e-3, full batch, f32), as bench_train.c's mlp40k.
 * Prints one JSON line per configuration (TF32 off, then on): ms per step and, over the timed
 * steps, the backend's counts of cudaMallocAsync/cudaFreeAsync calls, host<->device copies,
 * stream synchronisations and launches (kernels plus cuBLAS calls) per step.
 * gpu_step_torch.py is the PyTorch peer. Usage: bench_gpu_step [STEPS]
 *
 * The network is built on the CPU and moved to CUDA with il_net_move.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn_impl.h"

#define CHECK(expr)                                                                               \
    do {                                                                                          \
        il_status s_ = (expr);                                                                    \
        if (s_ != IL_OK) {                                                                        \
            fprintf(stderr, "bench_gpu_step: %s: %s\n", #expr, il_errmsg(ctx));                   \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int dense(il_ctx *ctx, il_net *net, int prev, int64_t out, int relu) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = out;
    int node;
    CHECK(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &prev, &node));
    if (relu) {
        memset(&o, 0, sizeof o);
        CHECK(il_net_layer(net, IL_LAYER_RELU, &o, 1, &node, &node));
    }
    return node;
}

/* x (n, 2) uniform in [-1, 1], y = sin(3 x0) cos(3 x1), moved to CUDA in one copy each. */
static void make_data(il_ctx *ctx, int64_t n, il_tensor **x, il_tensor **y) {
    double *xv = malloc((size_t)n * 2 * sizeof *xv), *yv = malloc((size_t)n * sizeof *yv);
    if (!xv || !yv) exit(1);
    srand(0);
    for (int64_t i = 0; i < n; i++) {
        xv[2 * i] = 2.0 * rand() / RAND_MAX - 1;
        xv[2 * i + 1] = 2.0 * rand() / RAND_MAX - 1;
        yv[i] = sin(3 * xv[2 * i]) * cos(3 * xv[2 * i + 1]);
    }
    int64_t xs[2] = {n, 2}, ys[2] = {n, 1};
    CHECK(il_tensor_from_data(ctx, 2, xs, IL_DTYPE_F32, IL_DEVICE_CUDA, xv, IL_DTYPE_F64, x));
    CHECK(il_tensor_from_data(ctx, 2, ys, IL_DTYPE_F32, IL_DEVICE_CUDA, yv, IL_DTYPE_F64, y));
    free(xv);
    free(yv);
}

static void run(il_ctx *ctx, int tf32, int steps) {
    il_tensor *x, *y;
    make_data(ctx, 40000, &x, &y);
    il_net *net;
    CHECK(il_net_new(ctx, IL_DTYPE_F32, &net));
    int node;
    CHECK(il_net_input(net, 2, &node));
    for (int l = 0; l < 3; l++) node = dense(ctx, net, node, 64, 1);
    dense(ctx, net, node, 1, 0);
    CHECK(il_net_move(net, IL_DEVICE_CUDA));
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = 1e-3;
    il_optim *opt;
    CHECK(il_optim_new(net, IL_OPTIM_ADAM, &oo, &opt));
    CHECK(il_cuda_set_tf32(ctx, tf32));
    il_loss loss = {IL_LOSS_MSE, 0};
    const il_tensor *xs[1] = {x};
    double value = 0, first = 0;
    for (int s = 0; s < 20; s++) CHECK(il_net_step(net, 1, xs, y, &loss, opt, s ? &value : &first));
    ili_cuda_counts a, b;
    ili_cuda_counts_get(ctx, &a);
    double t0 = now();
    for (int s = 0; s < steps; s++) CHECK(il_net_step(net, 1, xs, y, &loss, opt, &value));
    double dt = now() - t0;
    ili_cuda_counts_get(ctx, &b);
    il_device_mem_stats m;
    CHECK(il_device_memory(ctx, IL_DEVICE_CUDA, &m));
    printf("{\"impl\": \"iron-learn\", \"device\": \"cuda\", \"workload\": \"mlp40k\", "
           "\"tf32\": %d, \"steps\": %d, \"ms_per_step\": %.4f, \"loss_first\": %.6g, "
           "\"loss_last\": %.6g, \"mallocs\": %llu, \"frees\": %llu, \"h2d\": %llu, "
           "\"d2h_per_step\": %.2f, \"syncs_per_step\": %.2f, \"launches_per_step\": %.2f, "
           "\"device_allocated\": %zu, \"device_reserved\": %zu}\n",
           tf32, steps, 1e3 * dt / steps, first, value,
           (unsigned long long)(b.mallocs - a.mallocs), (unsigned long long)(b.frees - a.frees),
           (unsigned long long)(b.h2d - a.h2d), (double)(b.d2h - a.d2h) / steps,
           (double)(b.syncs - a.syncs) / steps, (double)(b.launches - a.launches) / steps,
           m.allocated, m.reserved);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x);
    il_tensor_free(y);
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 500;
    il_ctx *ctx;
    if (il_ctx_new(&ctx) != IL_OK) return 1;
    if (il_cuda_available(ctx) != IL_OK) {
        fprintf(stderr, "bench_gpu_step: %s\n", il_errmsg(ctx));
        il_ctx_free(ctx);
        return 77;
    }
    run(ctx, 0, steps);
    run(ctx, 1, steps);
    il_ctx_free(ctx);
    return 0;
}
