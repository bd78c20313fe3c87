/*
 * cudatest.h: helpers of the CUDA tests (test_cuda_*.c). Plain C without cmocka, so the GPU
 * machine, which may lack cmocka, builds and runs them too. A test counts failures, prints each
 * with its place, and exits 0 (pass), 1 (fail) or 77 (skipped: no device), as CTest expects.
 */
#ifndef IL_CUDATEST_H
#define IL_CUDATEST_H

#include <stdint.h>
#include <stdio.h>

#include "il_impl.h"

extern int ct_failures;

void ct_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define CT_CHECK(cond, ...)                                                                       \
    do {                                                                                          \
        if (!(cond)) ct_fail(__FILE__, __LINE__, __VA_ARGS__);                                    \
    } while (0)

/* Evaluates a status expression; a failure is reported with the context's message. */
#define CT_OK(ctx, expr)                                                                          \
    do {                                                                                          \
        il_status ct_s_ = (expr);                                                                 \
        if (ct_s_ != IL_OK)                                                                       \
            ct_fail(__FILE__, __LINE__, "%s: %s: %s", #expr, il_status_str(ct_s_),               \
                    il_errmsg(ctx));                                                              \
    } while (0)

/* A new context; when CUDA is unavailable prints "no CUDA device: <reason>" and exits 77. */
il_ctx *ct_begin_cuda(void);
/* Frees ctx after checking that no tensor is alive; returns the process exit status. */
int ct_end(il_ctx *ctx);

/* A buffer held twice, on the CPU and on CUDA, with equal contents. */
typedef struct ct_buf {
    il_tensor *cpu, *gpu;
    il_dtype dt;
    int64_t n;
} ct_buf;

/* n values uniform in [lo, hi) (i64: truncated), the same on both devices. */
ct_buf ct_buf_rand(il_ctx *ctx, il_dtype dt, int64_t n, double lo, double hi);
/* n given values (as f64) on both devices. */
ct_buf ct_buf_values(il_ctx *ctx, il_dtype dt, int64_t n, const double *v);
void ct_buf_free(ct_buf *b);

/* A strided view of a buffer: element offset, shape and strides (in elements). */
typedef struct ct_arg {
    ct_buf *b;
    int64_t off;
    int ndim;
    int64_t shape[IL_MAX_DIMS], stride[IL_MAX_DIMS];
} ct_arg;

/* A contiguous view of b at offset 0 with the given shape. */
ct_arg ct_contig(ct_buf *b, int ndim, const int64_t *shape);
/* a with axes i and j swapped (a transposed view). */
ct_arg ct_swap(ct_arg a, int i, int j);
/* The descriptor of a on the CPU (gpu = 0) or on CUDA (gpu = 1). */
il_tdesc ct_desc(const ct_arg *a, int gpu);

/*
 * Runs the call on both backends with in[k] = ins[k], out = *out and out2 = *out2 (each may be
 * NULL), expects the same status, and when both succeed compares every buffer in `check`
 * (nchk of them) in full: |cpu - gpu| <= atol + rtol |cpu| (f32: 1e-5, 1e-4; f64: 1e-12,
 * 1e-10; i64 and exact: equal), NaN matching NaN. Returns the status.
 */
il_status ct_run_both(il_ctx *ctx, const char *what, const il_opcall *tmpl, int nin,
                      const ct_arg *ins, const ct_arg *out, const ct_arg *out2, ct_buf *const *check,
                      int nchk, int exact);
/* Compares two buffers as ct_run_both does. */
void ct_compare(il_ctx *ctx, const char *what, const ct_buf *b, int exact);

#endif
