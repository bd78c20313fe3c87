/*
 * cudatest.c: see cudatest.h.
 */
#include "cudatest.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int ct_failures = 0;

void ct_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    ct_failures++;
}

il_ctx *ct_begin_cuda(void) {
    il_ctx *ctx = NULL;
    if (il_ctx_new(&ctx) != IL_OK) {
        fprintf(stderr, "cannot create a context\n");
        exit(1);
    }
    if (il_cuda_available(ctx) != IL_OK) {
        printf("no CUDA device: %s\n", il_errmsg(ctx));
        il_ctx_free(ctx);
        exit(77);
    }
    return ctx;
}

int ct_end(il_ctx *ctx) {
    CT_CHECK(il_ctx_live_tensors(ctx) == 0, "%lld tensors still alive",
             (long long)il_ctx_live_tensors(ctx));
    il_ctx_free(ctx);
    if (ct_failures) fprintf(stderr, "%d failure(s)\n", ct_failures);
    else printf("all passed\n");
    return ct_failures ? 1 : 0;
}

ct_buf ct_buf_values(il_ctx *ctx, il_dtype dt, int64_t n, const double *v) {
    ct_buf b = {NULL, NULL, dt, n};
    CT_OK(ctx, il_tensor_from_data(ctx, 1, &n, dt, IL_DEVICE_CPU, v, IL_DTYPE_F64, &b.cpu));
    if (b.cpu) CT_OK(ctx, il_tensor_to_device(ctx, b.cpu, IL_DEVICE_CUDA, &b.gpu));
    return b;
}

ct_buf ct_buf_rand(il_ctx *ctx, il_dtype dt, int64_t n, double lo, double hi) {
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (v == NULL) exit(1);
    for (int64_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * ili_rng_uniform(&ctx->rng);
    ct_buf b = ct_buf_values(ctx, dt, n, v);
    free(v);
    return b;
}

void ct_buf_free(ct_buf *b) {
    il_tensor_free(b->cpu);
    il_tensor_free(b->gpu);
    b->cpu = b->gpu = NULL;
}

ct_arg ct_contig(ct_buf *b, int ndim, const int64_t *shape) {
    ct_arg a;
    memset(&a, 0, sizeof a);
    a.b = b;
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    ili_contiguous_strides(ndim, shape, a.stride);
    return a;
}

ct_arg ct_swap(ct_arg a, int i, int j) {
    int64_t s = a.shape[i], t = a.stride[i];
    a.shape[i] = a.shape[j], a.stride[i] = a.stride[j];
    a.shape[j] = s, a.stride[j] = t;
    return a;
}

il_tdesc ct_desc(const ct_arg *a, int gpu) {
    il_tdesc d;
    ili_tensor_desc(gpu ? a->b->gpu : a->b->cpu, &d);
    d.data = (char *)d.data + a->off * (int64_t)il_dtype_size(d.dtype);
    d.ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) d.shape[i] = a->shape[i], d.stride[i] = a->stride[i];
    return d;
}

void ct_compare(il_ctx *ctx, const char *what, const ct_buf *b, int exact) {
    double *x = malloc(sizeof(double) * (size_t)(b->n + 1));
    double *y = malloc(sizeof(double) * (size_t)(b->n + 1));
    if (!x || !y) exit(1);
    CT_OK(ctx, il_tensor_read(ctx, b->cpu, x, IL_DTYPE_F64, b->n));
    CT_OK(ctx, il_tensor_read(ctx, b->gpu, y, IL_DTYPE_F64, b->n));
    double atol = b->dt == IL_DTYPE_F32 ? 1e-5 : 1e-12, rtol = b->dt == IL_DTYPE_F32 ? 1e-4 : 1e-10;
    if (exact || b->dt == IL_DTYPE_I64) atol = rtol = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < b->n; i++) {
        if ((isnan(x[i]) && isnan(y[i])) || x[i] == y[i]) continue;
        if (fabs(x[i] - y[i]) <= atol + rtol * fabs(x[i])) continue;
        if (bad++ < 3)
            ct_fail(__FILE__, __LINE__, "%s (%s): element %lld: cpu %.17g, cuda %.17g", what,
                    il_dtype_name(b->dt), (long long)i, x[i], y[i]);
    }
    free(x);
    free(y);
}

/* The call for one device: the template with descriptors of that device's buffers. */
static il_opcall make_call(const il_opcall *tmpl, int nin, const ct_arg *ins, const ct_arg *out,
                           const ct_arg *out2, int gpu) {
    il_opcall c = *tmpl;
    c.nin = nin;
    for (int k = 0; k < nin; k++) c.in[k] = ct_desc(&ins[k], gpu);
    if (out) c.out = ct_desc(out, gpu);
    if (out2) c.out2 = ct_desc(out2, gpu);
    return c;
}

il_status ct_run_both(il_ctx *ctx, const char *what, const il_opcall *tmpl, int nin,
                      const ct_arg *ins, const ct_arg *out, const ct_arg *out2, ct_buf *const *check,
                      int nchk, int exact) {
    il_opcall cc = make_call(tmpl, nin, ins, out, out2, 0);
    il_opcall gc = make_call(tmpl, nin, ins, out, out2, 1);
    il_status sc = ili_backend_run(ctx, IL_DEVICE_CPU, &cc);
    char msg[IL_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", il_errmsg(ctx));
    il_status sg = ili_backend_run(ctx, IL_DEVICE_CUDA, &gc);
    if (sg == IL_OK) sg = ili_cuda_backend.sync(ctx); /* surface asynchronous faults here */
    CT_CHECK(sc == sg, "%s: cpu says %s (%s), cuda says %s (%s)", what, il_status_str(sc), msg,
             il_status_str(sg), il_errmsg(ctx));
    if (sc != IL_OK && sc == sg)
        CT_CHECK(strcmp(msg, il_errmsg(ctx)) == 0, "%s: messages differ: '%s' / '%s'", what, msg,
                 il_errmsg(ctx));
    if (sc == IL_OK && sg == IL_OK)
        for (int k = 0; k < nchk; k++) ct_compare(ctx, what, check[k], exact);
    return sc;
}
