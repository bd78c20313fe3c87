/*
 * bench_gpu.c: iron-learn's training step on CUDA for issue 9's workloads, the iron-learn side
 * of scripts/bench/gpu/run.sh (torch_peers.py is the PyTorch side; table.py joins them).
 *
 *   xor       4 points, 2-4-1 tanh / sigmoid, MSE, SGD lr 0.5
 *   mlp40k    40,000 random points, 2-64-64-64-1 ReLU, MSE, Adam 1e-3, full batch
 *   mlp474    the 474x474 grid (224,676 points), 2-256-256-256-1 ReLU, Adam 1e-3
 *   siren65k  65,536 random points, 2-256x4 sine (omega 30, SIREN init), linear 256->1,
 *             Adam 1e-4
 * f32, MSE; points uniform in [-1, 1]^2 (grid: linspace(-1, 1, 474) squared), target
 * sin(3 x0) cos(3 x1), as torch_peers.py (same recipe; the random points are not the same
 * values). Linear layers start as PyTorch's nn.Linear (IL_INIT_UNIFORM), SIREN layers with the
 * SIREN inits; every net is built on the CPU after il_ctx_seed(ctx, 1), then il_net_move'd.
 *
 * Timing: per workload, TF32 setting and mode, a fresh net; 20 warm-up steps, then 5 rounds of
 * N steps (xor 2000, mlp40k 300, the others 50), each ended by il_net_last_loss (which waits
 * for the device) and timed with CLOCK_MONOTONIC. Modes: "eager" (IL_GRAPH_OFF, the loss read
 * back every step) and "graph" (IL_GRAPH_AUTO, loss_value NULL: steps replay a CUDA graph and
 * nothing is read back). One JSON line per run: median, min and max ms/step, and per step the
 * backend's counters (il_impl.h) over the steps of the rounds (the round-ending reads left out).
 *
 * --parity: each workload trained K steps (default 100) from the same weights and data on the
 * CPU and on CUDA in graph mode (TF32 off); one JSON line each with the relative L2 difference
 * of all final parameters, ||cpu - cuda|| / ||cpu|| (pass: <= --parity-tol, default 1e-3, ten
 * times the f32 per-op rtol 1e-4 of tests/cudatest.c, since K steps of Adam compound rounding
 * differences), the largest elementwise |a - b| / max(|a|, |b|, 1e-3) and how many elements
 * miss the per-op tolerance 1e-5 + 1e-4 |cpu| (both for information), and the losses (pass also
 * needs the final losses within 10 * tol relative). --parity-rows R trains on every
 * (rows / R)-th point only: same network, same code path, a smaller batch, so that mlp474 and
 * siren65k finish quickly on the CPU.
 *
 * Usage: bench_gpu [--workloads a,b] [--quick] [--parity] [--parity-rows R] [--parity-steps K]
 *                  [--parity-tol T] [--threads T]
 * Exit: 0, 1 on an error or a failed parity check, 2 on bad usage, 77 without a CUDA device.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static const workload WORKLOADS[] = {
    {"xor", 4, 2, {2, 4, 1}, ACT_TANH_SIGMOID, IL_OPTIM_SGD, 0.5, 2000},
    {"mlp40k", 40000, 4, {2, 64, 64, 64, 1}, ACT_RELU, IL_OPTIM_ADAM, 1e-3, 300},
    {"mlp474", 474 * 474, 4, {2, 256, 256, 256, 1}, ACT_RELU, IL_OPTIM_ADAM, 1e-3, 50},
    {"siren65k", 65536, 5, {2, 256, 256, 256, 256, 1}, ACT_SINE, IL_OPTIM_ADAM, 1e-4, 50},
};
#define NWORK ((int)(sizeof WORKLOADS / sizeof WORKLOADS[0]))
#define WARMUP 20
#define ROUNDS 5
#define OMEGA 30.0

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64 in [0, 1): the points do not depend on the C library's rand. */
static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* x (n, 2), y (n, 1) on dev. stride > 1 keeps every stride-th point of the full set (parity). */
static void make_data(il_ctx *ctx, const workload *w, int64_t stride, il_device dev,
                      il_tensor **x, il_tensor **y) {
    int64_t full = w->rows, n = (full + stride - 1) / stride;
    double *xv = malloc((size_t)full * 2 * sizeof *xv), *yv = malloc((size_t)full * sizeof *yv);
    if (!xv || !yv) {
        fprintf(stderr, "bench_gpu: out of host memory for %s's data\n", w->name);
        exit(1);
    }
    uint64_t seed = 0;
    for (int64_t i = 0; i < full; i++) {
        double *p = xv + 2 * i;
        if (!strcmp(w->name, "xor")) {
            p[0] = (double)(i >> 1), p[1] = (double)(i & 1);
            yv[i] = (double)((i >> 1) ^ (i & 1));
            continue;
        }
        if (!strcmp(w->name, "mlp474")) { /* meshgrid(t, t, indexing="ij") */
            p[0] = -1 + 2.0 * (double)(i / 474) / 473, p[1] = -1 + 2.0 * (double)(i % 474) / 473;
        } else {
            p[0] = 2 * uniform(&seed) - 1, p[1] = 2 * uniform(&seed) - 1;
        }
        yv[i] = sin(3 * p[0]) * cos(3 * p[1]);
    }
    for (int64_t i = 1; i < n; i++) { /* subsample in place: row i*stride -> row i */
        xv[2 * i] = xv[2 * i * stride], xv[2 * i + 1] = xv[2 * i * stride + 1];
        yv[i] = yv[i * stride];
    }
    int64_t xs[2] = {n, 2}, ys[2] = {n, 1};
    CHECK(il_tensor_from_data(ctx, 2, xs, IL_DTYPE_F32, dev, xv, IL_DTYPE_F64, x));
    CHECK(il_tensor_from_data(ctx, 2, ys, IL_DTYPE_F32, dev, yv, IL_DTYPE_F64, y));
    free(xv);
    free(yv);
}

static int add(il_ctx *ctx, il_net *net, il_layer_kind kind, const il_layer_opts *o, int prev) {
    il_layer_opts zero;
    memset(&zero, 0, sizeof zero);
    int node;
    CHECK(il_net_layer(net, kind, o ? o : &zero, 1, &prev, &node));
    return node;
}

/* The workload's network on the CPU, weights from il_ctx_seed(ctx, 1). */
static il_net *make_net(il_ctx *ctx, const workload *w) {
    il_ctx_seed(ctx, 1);
    il_net *net;
    CHECK(il_net_new(ctx, IL_DTYPE_F32, &net));
    int node;
    CHECK(il_net_input(net, w->width[0], &node));
    for (int l = 0; l < w->nlayers; l++) {
        int last = l == w->nlayers - 1;
        il_layer_opts o;
        memset(&o, 0, sizeof o);
        o.out_features = w->width[l + 1];
        o.init = IL_INIT_UNIFORM;
        if (w->act == ACT_SINE) o.init = l == 0 ? IL_INIT_SIREN_FIRST : IL_INIT_SIREN;
        o.omega = OMEGA;
        node = add(ctx, net, IL_LAYER_LINEAR, &o, node);
        if (w->act == ACT_RELU && !last) node = add(ctx, net, IL_LAYER_RELU, NULL, node);
        if (w->act == ACT_SINE && !last) {
            memset(&o, 0, sizeof o);
            o.omega = OMEGA;
            node = add(ctx, net, IL_LAYER_SINE, &o, node);
        }
        if (w->act == ACT_TANH_SIGMOID)
            node = add(ctx, net, last ? IL_LAYER_SIGMOID : IL_LAYER_TANH, NULL, node);
    }
    return net;
}

static il_optim *make_optim(il_ctx *ctx, il_net *net, const workload *w) {
    il_optim_opts oo;
    memset(&oo, 0, sizeof oo);
    oo.lr = w->lr;
    il_optim *opt;
    CHECK(il_optim_new(net, w->opt, &oo, &opt));
    return opt;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void counts_add(ili_cuda_counts *acc, const ili_cuda_counts *a, const ili_cuda_counts *b) {
    acc->mallocs += b->mallocs - a->mallocs, acc->frees += b->frees - a->frees;
    acc->h2d += b->h2d - a->h2d, acc->d2h += b->d2h - a->d2h, acc->syncs += b->syncs - a->syncs;
    acc->launches += b->launches - a->launches, acc->graphs += b->graphs - a->graphs;
    acc->graph_nodes += b->graph_nodes - a->graph_nodes;
}

/* One timed run of w on CUDA in the given mode (0 eager, 1 graph) and TF32 setting. */
static void bench(il_ctx *ctx, const workload *w, int graph, int tf32, int quick) {
    il_tensor *x, *y;
    make_data(ctx, w, 1, IL_DEVICE_CUDA, &x, &y);
    il_net *net = make_net(ctx, w);
    CHECK(il_net_move(net, IL_DEVICE_CUDA));
    il_optim *opt = make_optim(ctx, net, w);
    CHECK(il_cuda_set_tf32(ctx, tf32));
    CHECK(il_net_set_graph(net, graph ? IL_GRAPH_AUTO : IL_GRAPH_OFF));
    il_loss loss = {IL_LOSS_MSE, 0};
    const il_tensor *xs[1] = {x};
    double value = 0, first = 0, ms[ROUNDS];
    double *lv = graph ? NULL : &value;
    int steps = quick ? (w->steps + 4) / 5 : w->steps;
    CHECK(il_net_step(net, 1, xs, y, &loss, opt, &first));
    for (int s = 1; s < WARMUP; s++) CHECK(il_net_step(net, 1, xs, y, &loss, opt, lv));
    CHECK(il_net_last_loss(net, &value));
    ili_cuda_counts acc, a, b;
    memset(&acc, 0, sizeof acc);
    for (int r = 0; r < ROUNDS; r++) {
        ili_cuda_counts_get(ctx, &a);
        double t0 = now();
        for (int s = 0; s < steps; s++) CHECK(il_net_step(net, 1, xs, y, &loss, opt, lv));
        ili_cuda_counts_get(ctx, &b); /* host-side counters: no wait */
        CHECK(il_net_last_loss(net, &value));
        ms[r] = 1e3 * (now() - t0) / steps;
        counts_add(&acc, &a, &b);
    }
    int how = il_net_last_step_graph(net);
    double med[ROUNDS];
    memcpy(med, ms, sizeof ms);
    qsort(med, ROUNDS, sizeof med[0], cmp_double);
    il_device_mem_stats m;
    CHECK(il_device_memory(ctx, IL_DEVICE_CUDA, &m));
    double n = (double)steps * ROUNDS;
    printf("{\"impl\": \"iron-learn\", \"workload\": \"%s\", \"mode\": \"%s\", \"tf32\": %d, "
           "\"steps\": %d, \"rounds\": %d, \"ms_per_step\": %.6g, \"ms_min\": %.6g, "
           "\"ms_max\": %.6g, \"loss_first\": %.8g, \"loss_after\": %.8g, "
           "\"last_step_graph\": %d, \"launches_per_step\": %.3f, \"graphs_per_step\": %.3f, "
           "\"graph_nodes_per_step\": %.3f, \"syncs_per_step\": %.3f, \"d2h_per_step\": %.3f, "
           "\"mallocs\": %llu, \"frees\": %llu, \"h2d\": %llu, \"device_allocated\": %zu, "
           "\"device_reserved\": %zu}\n",
           w->name, graph ? "graph" : "eager", tf32, steps, ROUNDS, med[ROUNDS / 2], med[0],
           med[ROUNDS - 1], first, value, how, (double)acc.launches / n,
           (double)acc.graphs / n, (double)acc.graph_nodes / n, (double)acc.syncs / n,
           (double)acc.d2h / n, (unsigned long long)acc.mallocs, (unsigned long long)acc.frees,
           (unsigned long long)acc.h2d, m.allocated, m.reserved);
    fflush(stdout);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x);
    il_tensor_free(y);
}

/* All parameters of net, in order, as doubles on the host (malloc'd; *n gets the count). */
static double *read_params(il_ctx *ctx, il_net *net, int64_t *n) {
    il_tensor *p[64];
    int count;
    CHECK(il_net_parameters(net, p, NULL, 64, &count));
    double *v = malloc((size_t)il_net_num_params(net) * sizeof *v);
    if (!v) {
        fprintf(stderr, "bench_gpu: out of host memory\n");
        exit(1);
    }
    int64_t k = 0;
    for (int i = 0; i < count; i++) {
        int64_t m = il_tensor_numel(p[i]);
        CHECK(il_tensor_read(ctx, p[i], v + k, IL_DTYPE_F64, m));
        k += m;
        il_tensor_free(p[i]);
    }
    *n = k;
    return v;
}

/* Trains w `steps` steps on dev (CUDA: graph mode, TF32 off); returns its parameters. */
static double *train(il_ctx *ctx, const workload *w, int64_t stride, il_device dev, int steps,
                     double loss_out[2], int *how, int64_t *np) {
    il_tensor *x, *y;
    make_data(ctx, w, stride, dev, &x, &y);
    il_net *net = make_net(ctx, w);
    if (dev == IL_DEVICE_CUDA) {
        CHECK(il_net_move(net, dev));
        CHECK(il_cuda_set_tf32(ctx, 0));
        CHECK(il_net_set_graph(net, IL_GRAPH_AUTO));
    }
    il_optim *opt = make_optim(ctx, net, w);
    il_loss loss = {IL_LOSS_MSE, 0};
    const il_tensor *xs[1] = {x};
    double value = 0;
    for (int s = 0; s < steps; s++) {
        if (dev == IL_DEVICE_CPU) {
            CHECK(il_net_step(net, 1, xs, y, &loss, opt, &value));
        } else {
            CHECK(il_net_step(net, 1, xs, y, &loss, opt, NULL));
            if (s == 0 || s == steps - 1) CHECK(il_net_last_loss(net, &value));
        }
        if (s == 0) loss_out[0] = value;
    }
    loss_out[1] = value;
    *how = il_net_last_step_graph(net);
    double *v = read_params(ctx, net, np);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x);
    il_tensor_free(y);
    return v;
}

static int parity(il_ctx *ctx, const workload *w, int64_t rows, int steps, double tol) {
    int64_t stride = rows > 0 && rows < w->rows ? (w->rows + rows - 1) / rows : 1;
    double lc[2], lg[2], t0 = now();
    int how_c, how_g;
    int64_t n, n2;
    double *pc = train(ctx, w, stride, IL_DEVICE_CPU, steps, lc, &how_c, &n);
    double t1 = now();
    double *pg = train(ctx, w, stride, IL_DEVICE_CUDA, steps, lg, &how_g, &n2);
    double t2 = now(), d2 = 0, c2 = 0, maxrel = 0, maxabs = 0;
    int64_t missed = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = pc[i], b = pg[i], d = fabs(a - b);
        d2 += d * d, c2 += a * a;
        double rel = d / fmax(fmax(fabs(a), fabs(b)), 1e-3);
        if (!(rel <= maxrel)) maxrel = rel; /* NaN sticks */
        if (!(d <= maxabs)) maxabs = d;
        if (!(d <= 1e-5 + 1e-4 * fabs(a))) missed++;
    }
    double rel_l2 = sqrt(d2) / fmax(sqrt(c2), 1e-30);
    double loss_rel = fabs(lc[1] - lg[1]) / fmax(fabs(lc[1]), 1e-30);
    int pass = n == n2 && rel_l2 <= tol && loss_rel <= 10 * tol && how_g == 2;
    printf("{\"parity\": \"%s\", \"rows\": %lld, \"steps\": %d, \"params\": %lld, "
           "\"rel_l2\": %.3e, \"max_rel\": %.3e, \"max_abs\": %.3e, \"outside_op_tol\": %lld, "
           "\"tol\": %.1e, \"loss_first_cpu\": %.8g, \"loss_first_cuda\": %.8g, "
           "\"loss_cpu\": %.8g, \"loss_cuda\": %.8g, \"loss_rel\": %.3e, "
           "\"cuda_last_step_graph\": %d, \"cpu_threads\": %d, \"cpu_s\": %.2f, "
           "\"cuda_s\": %.2f, \"pass\": %s}\n",
           w->name, (long long)((w->rows + stride - 1) / stride), steps, (long long)n, rel_l2,
           maxrel, maxabs, (long long)missed, tol, lc[0], lg[0], lc[1], lg[1], loss_rel, how_g,
           il_ctx_threads(ctx), t1 - t0, t2 - t1, pass ? "true" : "false");
    fflush(stdout);
    free(pc);
    free(pg);
    return pass;
}

static void usage(const char *msg) {
    fprintf(stderr, "bench_gpu: %s\nusage: bench_gpu [--workloads xor,mlp40k,mlp474,siren65k] "
            "[--quick] [--parity] [--parity-rows R] [--parity-steps K] [--parity-tol T] "
            "[--threads T]\n", msg);
    exit(2);
}

/* Marks the workloads named in the comma-separated list. */
static void select_workloads(const char *list, int *on) {
    char buf[256];
    if (strlen(list) >= sizeof buf) usage("--workloads: list too long");
    strcpy(buf, list);
    memset(on, 0, NWORK * sizeof *on);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        int k = 0;
        while (k < NWORK && strcmp(WORKLOADS[k].name, t)) k++;
        if (k == NWORK) usage("--workloads: unknown workload");
        on[k] = 1;
    }
}

static double numarg(int argc, char **argv, int *i, double lo) {
    if (*i + 1 >= argc) usage("an option needs a value");
    char *end;
    double v = strtod(argv[++*i], &end);
    if (*end || !(v >= lo)) usage("bad option value");
    return v;
}

int main(int argc, char **argv) {
    int on[NWORK] = {1, 1, 1, 1}, quick = 0, do_parity = 0, psteps = 100;
    int64_t prows = 0;
    double ptol = 1e-3;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (int)ncpu;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--workloads") && i + 1 < argc) select_workloads(argv[++i], on);
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--parity")) do_parity = 1;
        else if (!strcmp(a, "--parity-rows")) prows = (int64_t)numarg(argc, argv, &i, 1);
        else if (!strcmp(a, "--parity-steps")) psteps = (int)numarg(argc, argv, &i, 1);
        else if (!strcmp(a, "--parity-tol")) ptol = numarg(argc, argv, &i, 0);
        else if (!strcmp(a, "--threads")) threads = (int)numarg(argc, argv, &i, 1);
        else usage("unknown or incomplete option");
    }
    il_ctx *ctx;
    if (il_ctx_new(&ctx) != IL_OK) {
        fprintf(stderr, "bench_gpu: cannot create a context\n");
        return 1;
    }
    if (il_cuda_available(ctx) != IL_OK) {
        fprintf(stderr, "bench_gpu: skipped: %s\n", il_errmsg(ctx));
        il_ctx_free(ctx);
        return 77;
    }
    int failed = 0;
    if (do_parity) {
        CHECK(il_ctx_set_threads(ctx, threads > 256 ? 256 : threads));
        for (int k = 0; k < NWORK; k++)
            if (on[k]) failed += !parity(ctx, &WORKLOADS[k], prows, psteps, ptol);
    } else {
        for (int k = 0; k < NWORK; k++)
            for (int tf32 = 0; tf32 < (strcmp(WORKLOADS[k].name, "xor") ? 2 : 1); tf32++)
                for (int graph = 0; graph < 2; graph++)
                    if (on[k]) bench(ctx, &WORKLOADS[k], graph, tf32, quick);
    }
    il_ctx_free(ctx);
    return failed ? 1 : 0;
}
