/*
 * bench_gpu.h: what bench_gpu.c (the timed runs and main) and parity.c (CPU against CUDA after
 * training) share: the workloads and the helpers that build their data, nets and optimizers.
 */
#ifndef BENCH_GPU_H
#define BENCH_GPU_H

#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "il_impl.h" /* ili_cuda_counts_get: internal, this program links the static library */

#define CHECK(expr)                                                                               \
    do {                                                                                          \
        il_status s_ = (expr);                                                                    \
        if (s_ != IL_OK) {                                                                        \
            fprintf(stderr, "bench_gpu: %s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr,         \
                    il_status_str(s_), il_errmsg(ctx));                                           \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

enum { ACT_TANH_SIGMOID, ACT_RELU, ACT_SINE };

typedef struct workload {
    const char *name;
    int64_t rows;
    int nlayers;       /* linear layers */
    int64_t width[6];  /* width[0] inputs ... width[nlayers] outputs */
    int act;
    il_optim_kind opt;
    double lr;
    int steps;         /* per timed round */
} workload;

/* malloc, or "bench_gpu: out of host memory" and exit(1). */
void *xmalloc(size_t size);
double now(void);
/* x (n, 2), y (n, 1) on dev. stride > 1 keeps every stride-th point of the full set (parity);
 * reversed puts the rows in reverse order (the CPU spread's reordered run). */
void make_data(il_ctx *ctx, const workload *w, int64_t stride, int reversed, il_device dev,
               il_tensor **x, il_tensor **y);
/* The workload's network on the CPU, weights from il_ctx_seed(ctx, 1). */
il_net *make_net(il_ctx *ctx, const workload *w);
il_optim *make_optim(il_ctx *ctx, il_net *net, const workload *w);
/* --parity for one workload: one JSON line; cuda 0 runs the CPU part only. Returns pass. */
int parity(il_ctx *ctx, const workload *w, int64_t rows, int steps, double tol, int cuda);

#endif
