/*
 * bench_matmul.c: iron-learn's f32 matmul against OpenBLAS sgemm on the tall-skinny shapes of
 * a layer applied to a whole data set (40000x64 · 64x64 and 65536x256 · 256x256), on 1 and 2
 * threads, in one process. Prints a markdown table (GFLOP/s best-of and median, ratio
 * ours/OpenBLAS) and checks that both libraries agree.
 *
 * "ours" is the CPU backend's MATMUL op writing into a preallocated output, i.e. the same work
 * as sgemm with beta = 0; "API" is il_tensor_matmul, which also allocates its result tensor.
 * The libraries are timed in alternating phases with a pause between them: OpenBLAS workers
 * spin after each call, and timing its calls interleaved with ours would charge that spinning
 * to whichever library runs second.
 *
 * Two more shapes time the weight gradients of the same layers, X^T · dY with X^T a transposed
 * view (64x40000 · 40000x64 and 256x65536 · 65536x256).
 *
 * Built and run by scripts/bench/run_matmul.sh. Usage: bench_matmul [rounds] (default 5).
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_gemm_impl.h"
#include "il_impl.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench {
    il_ctx *ctx;
    il_tensor *a, *b, *c, *at; /* at: A's storage when A is a transposed view */
    int ta;
    float *pa, *pb, *pc, *pref;
    int64_t m, k, n;
    il_opcall call;
} bench;

enum { OURS, API, BLAS, NLIB };
#define MAXS 4096

typedef struct samples {
    double t[MAXS];
    int n;
} samples;

static int run_once(bench *x, int lib) {
    if (lib == BLAS) {
        cblas_sgemm(CblasRowMajor, x->ta ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)x->m,
                    (int)x->n, (int)x->k, 1.0f, x->pa, (int)(x->ta ? x->m : x->k), x->pb,
                    (int)x->n, 0.0f, x->pref, (int)x->n);
        return 0;
    }
    if (lib == OURS) return ili_cpu_matmul(x->ctx, &x->call) != IL_OK;
    il_tensor *r = NULL;
    il_status s = il_tensor_matmul(x->ctx, x->a, x->b, &r);
    il_tensor_free(r);
    return s != IL_OK;
}

/* One phase: two warm-up calls, then timed calls for at least 0.25 s (and 3 calls). */
static int phase(bench *x, int lib, samples *s) {
    for (int i = 0; i < 2; i++)
        if (run_once(x, lib)) return 1;
    double start = now();
    for (int i = 0; (i < 3 || now() - start < 0.25) && s->n < MAXS; i++) {
        double t0 = now();
        if (run_once(x, lib)) return 1;
        s->t[s->n++] = now() - t0;
    }
    return 0;
}

/* ta: A is the transposed view of a row-major (K, M) tensor (X^T in X^T · dY). */
static il_status setup(bench *x, int64_t m, int64_t k, int64_t n, int ta) {
    memset(x, 0, sizeof *x);
    x->m = m, x->k = k, x->n = n, x->ta = ta;
    IL_TRY(il_ctx_new(&x->ctx));
    il_ctx_seed(x->ctx, 42);
    int64_t sa[2] = {m, k}, st[2] = {k, m}, sb[2] = {k, n}, sc[2] = {m, n};
    if (ta) {
        IL_TRY(il_tensor_randn(x->ctx, 2, st, IL_DTYPE_F32, IL_DEVICE_CPU, &x->at));
        IL_TRY(il_tensor_transpose(x->ctx, x->at, 0, 1, &x->a));
    } else {
        IL_TRY(il_tensor_randn(x->ctx, 2, sa, IL_DTYPE_F32, IL_DEVICE_CPU, &x->a));
    }
    IL_TRY(il_tensor_randn(x->ctx, 2, sb, IL_DTYPE_F32, IL_DEVICE_CPU, &x->b));
    IL_TRY(il_tensor_zeros(x->ctx, 2, sc, IL_DTYPE_F32, IL_DEVICE_CPU, &x->c));
    x->pa = il_tensor_data(x->a), x->pb = il_tensor_data(x->b), x->pc = il_tensor_data(x->c);
    x->pref = calloc((size_t)(m * n), sizeof(float));
    if (!x->pref) return IL_E_NOMEM;
    x->call.op = IL_OP_MATMUL;
    x->call.nin = 2;
    ili_tensor_desc(x->a, &x->call.in[0]);
    ili_tensor_desc(x->b, &x->call.in[1]);
    ili_tensor_desc(x->c, &x->call.out);
    return IL_OK;
}

static void teardown(bench *x) {
    il_tensor_free(x->a), il_tensor_free(x->at), il_tensor_free(x->b), il_tensor_free(x->c);
    free(x->pref);
    il_ctx_free(x->ctx);
}

/* Largest |ours - openblas| relative to the largest |openblas|. */
static double max_rel_diff(const bench *x) {
    double d = 0, mx = 0;
    for (int64_t i = 0; i < x->m * x->n; i++) {
        double e = fabs((double)x->pc[i] - (double)x->pref[i]);
        if (e > d || e != e) d = e;
        if (fabs((double)x->pref[i]) > mx) mx = fabs((double)x->pref[i]);
    }
    return mx > 0 ? d / mx : d;
}

static double median(samples *s) {
    qsort(s->t, (size_t)s->n, sizeof(double), cmp_double);
    return s->n % 2 ? s->t[s->n / 2] : 0.5 * (s->t[s->n / 2 - 1] + s->t[s->n / 2]);
}

static int bench_one(int64_t m, int64_t k, int64_t n, int ta, int threads, int rounds) {
    bench x;
    if (setup(&x, m, k, n, ta) != IL_OK) {
        fprintf(stderr, "setup failed: %s\n", x.ctx ? il_errmsg(x.ctx) : "no context");
        return 1;
    }
    il_ctx_set_threads(x.ctx, threads);
    openblas_set_num_threads(threads);
    static samples s[NLIB];
    memset(s, 0, sizeof s);
    for (int r = 0; r < rounds; r++)
        for (int lib = 0; lib < NLIB; lib++) {
            pause_ms(300); /* lets the other library's spinning workers go to sleep */
            if (phase(&x, lib, &s[lib])) {
                fprintf(stderr, "matmul failed: %s\n", il_errmsg(x.ctx));
                teardown(&x);
                return 1;
            }
        }
    double fl = 2.0 * (double)m * (double)k * (double)n * 1e-9, best[NLIB], med[NLIB];
    for (int lib = 0; lib < NLIB; lib++) {
        med[lib] = fl / median(&s[lib]);
        best[lib] = fl / s[lib].t[0]; /* sorted by median() */
    }
    double diff = max_rel_diff(&x);
    printf("| %lldx%lld%s · %lldx%lld | %d | %.1f | %.1f | %.1f | %.1f | %.1f | **%.2f** | %.2f | "
           "%.1e |\n",
           (long long)m, (long long)k, ta ? " (Aᵀ)" : "", (long long)k, (long long)n, threads, best[OURS],
           med[OURS], best[API], best[BLAS], med[BLAS], best[OURS] / best[BLAS],
           med[OURS] / med[BLAS], diff);
    fflush(stdout);
    teardown(&x);
    /* Both are f32; the orders of summation may differ, so allow for K's rounding. */
    return diff > 2e-7 * (double)k;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1) rounds = 1;
    printf("iron-learn kernel: %s; OpenBLAS: %s\n\n", ili_gemm_auto()->name,
           openblas_get_config());
    printf("| shape (f32) | threads | ours best | ours median | API best | OpenBLAS best | "
           "OpenBLAS median | ratio best | ratio median | max rel diff |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    /* The two acceptance shapes, then the weight gradients of the same layers (X^T · dY). */
    const int64_t shapes[4][4] = {
        {40000, 64, 64, 0}, {65536, 256, 256, 0}, {64, 40000, 64, 1}, {256, 65536, 256, 1}};
    int bad = 0;
    for (int i = 0; i < 4; i++)
        for (int t = 1; t <= 2; t++)
            bad |= bench_one(shapes[i][0], shapes[i][1], shapes[i][2], (int)shapes[i][3], t,
                             rounds);
    printf("\nGFLOP/s (2·M·K·N per call); ratio = ours / OpenBLAS, above 1 means faster.\n");
    return bad;
}
