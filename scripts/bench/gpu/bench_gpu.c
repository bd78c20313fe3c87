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
 * --parity: CPU against CUDA after training (parity.c).
 *
 * Usage: bench_gpu [--workloads a,b] [--quick] [--parity] [--parity-rows R] [--parity-steps K]
 *                  [--parity-tol T] [--threads T]
 * Exit: 0, 1 on an error or a failed parity check, 2 on bad usage, 77 without a CUDA device
 * (after the CPU part of --parity).
 */
#include "bench_gpu.h"

#include <time.h>
#include <unistd.h>

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

void *xmalloc(size_t size) {
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "bench_gpu: out of host memory\n");
        exit(1);
    }
    return p;
}

double now(void) {
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

void make_data(il_ctx *ctx, const workload *w, int64_t stride, int reversed, il_device dev,
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
    for (int64_t i = 0, j = n - 1; reversed && i < j; i++, j--) {
        double t0 = xv[2 * i], t1 = xv[2 * i + 1], ty = yv[i];
        xv[2 * i] = xv[2 * j], xv[2 * i + 1] = xv[2 * j + 1], yv[i] = yv[j];
        xv[2 * j] = t0, xv[2 * j + 1] = t1, yv[j] = ty;
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

il_net *make_net(il_ctx *ctx, const workload *w) {
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

il_optim *make_optim(il_ctx *ctx, il_net *net, const workload *w) {
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
    make_data(ctx, w, 1, 0, IL_DEVICE_CUDA, &x, &y);
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
    qsort(ms, ROUNDS, sizeof ms[0], cmp_double);
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
           w->name, graph ? "graph" : "eager", tf32, steps, ROUNDS, ms[ROUNDS / 2], ms[0],
           ms[ROUNDS - 1], first, value, how, (double)acc.launches / n,
           (double)acc.graphs / n, (double)acc.graph_nodes / n, (double)acc.syncs / n,
           (double)acc.d2h / n, (unsigned long long)acc.mallocs, (unsigned long long)acc.frees,
           (unsigned long long)acc.h2d, m.allocated, m.reserved);
    fflush(stdout);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x);
    il_tensor_free(y);
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
    int threads = ncpu < 1 ? 1 : (int)ncpu; /* clamped to 256 below */
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
    if (threads > 256) threads = 256;
    il_ctx *ctx;
    if (il_ctx_new(&ctx) != IL_OK) {
        fprintf(stderr, "bench_gpu: cannot create a context\n");
        return 1;
    }
    int cuda = il_cuda_available(ctx) == IL_OK;
    if (!cuda) fprintf(stderr, "bench_gpu: skipped: %s\n", il_errmsg(ctx));
    if (!cuda && !do_parity) {
        il_ctx_free(ctx);
        return 77;
    }
    int failed = 0;
    if (do_parity) {
        CHECK(il_ctx_set_threads(ctx, threads));
        for (int k = 0; k < NWORK; k++)
            if (on[k]) failed += !parity(ctx, &WORKLOADS[k], prows, psteps, ptol, cuda);
    } else {
        for (int k = 0; k < NWORK; k++)
            for (int tf32 = 0; tf32 < (strcmp(WORKLOADS[k].name, "xor") ? 2 : 1); tf32++)
                for (int graph = 0; graph < 2; graph++)
                    if (on[k]) bench(ctx, &WORKLOADS[k], graph, tf32, quick);
    }
    il_ctx_free(ctx);
    return failed ? 1 : cuda ? 0 : 77;
}
