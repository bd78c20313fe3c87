/*
 * tensor_create.c: constructors. Values are made on the host and moved to the requested device
 * in one copy, except random tensors on CUDA: those are drawn on the device (Philox keyed by one
 * draw from the context's generator), so the CPU and CUDA streams of a seed differ.
 */
#include "il_impl.h"

#include <math.h>

il_status il_tensor_empty(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                          il_device dev, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    if (ili_backend_get(ctx, dev) == NULL) return IL_E_DEVICE;
    return ili_tensor_new(ctx, ndim, shape, dt, dev, out);
}

il_status il_tensor_full(il_ctx *ctx, int ndim, const int64_t *shape, double value, il_dtype dt,
                         il_device dev, il_tensor **out) {
    IL_TRY(il_tensor_empty(ctx, ndim, shape, dt, dev, out));
    il_status s = il_tensor_fill_(ctx, *out, value);
    if (s != IL_OK) {
        il_tensor_free(*out);
        *out = NULL;
    }
    return s;
}

il_status il_tensor_zeros(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                          il_device dev, il_tensor **out) {
    return il_tensor_full(ctx, ndim, shape, 0.0, dt, dev, out);
}

/* Truncation without undefined behaviour: NaN is 0, out-of-range values saturate. */
static int64_t to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

typedef double (*value_fn)(il_ctx *ctx, int64_t i, const double *p);

/* Builds a host tensor whose element i is f(ctx, i, p), then moves it to dev. */
static il_status generate(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                          il_device dev, value_fn f, const double *p, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    *out = NULL;
    if (ili_backend_get(ctx, dev) == NULL) return IL_E_DEVICE;
    il_tensor *t;
    IL_TRY(ili_tensor_new(ctx, ndim, shape, dt, IL_DEVICE_CPU, &t));
    int64_t n = il_tensor_numel(t);
    void *data = il_tensor_data(t);
    for (int64_t i = 0; i < n; i++) {
        double v = f(ctx, i, p);
        switch (dt) {
        case IL_DTYPE_F32: ((float *)data)[i] = (float)v; break;
        case IL_DTYPE_F64: ((double *)data)[i] = v; break;
        default: ((int64_t *)data)[i] = to_i64(v); break;
        }
    }
    if (dev == IL_DEVICE_CPU) {
        *out = t;
        return IL_OK;
    }
    il_status s = il_tensor_to_device(ctx, t, dev, out);
    il_tensor_free(t);
    return s;
}

static double uniform_at(il_ctx *ctx, int64_t i, const double *p) {
    return ili_rng_uniform(&ctx->rng);
}

static double normal_at(il_ctx *ctx, int64_t i, const double *p) {
    return ili_rng_normal(&ctx->rng);
}

static double step_at(il_ctx *ctx, int64_t i, const double *p) {
    return p[0] + (double)i * p[1];
}

/* Ends exactly on stop, however the step rounds. */
static double linspace_at(il_ctx *ctx, int64_t i, const double *p) {
    return (i > 0 && i == (int64_t)p[2] - 1) ? p[3] : p[0] + (double)i * p[1];
}

static il_status float_only(il_ctx *ctx, const char *what, il_dtype dt) {
    if (dt == IL_DTYPE_F32 || dt == IL_DTYPE_F64) return IL_OK;
    return ili_seterr(ctx, IL_E_DTYPE, "%s: dtype %s is not a floating type", what,
                      il_dtype_name(dt));
}

#ifdef IL_HAVE_CUDA
/* A random CUDA tensor drawn on the device: no host buffer, no copy. The key is the next draw
 * of the context's generator, so the stream still follows il_ctx_seed. */
static il_status cuda_random(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                             int normal, il_tensor **out) {
    *out = NULL;
    if (ili_backend_get(ctx, IL_DEVICE_CUDA) == NULL) return IL_E_DEVICE;
    il_tensor *t;
    IL_TRY(ili_tensor_new(ctx, ndim, shape, dt, IL_DEVICE_CUDA, &t));
    il_status s = ili_cuda_random(ctx, t, normal, ili_rng_next(&ctx->rng));
    if (s != IL_OK) {
        il_tensor_free(t);
        return s;
    }
    *out = t;
    return IL_OK;
}
#endif

il_status il_tensor_rand(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                         il_device dev, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    IL_TRY(float_only(ctx, "rand", dt));
#ifdef IL_HAVE_CUDA
    if (dev == IL_DEVICE_CUDA) return cuda_random(ctx, ndim, shape, dt, 0, out);
#endif
    return generate(ctx, ndim, shape, dt, dev, uniform_at, NULL, out);
}

il_status il_tensor_randn(il_ctx *ctx, int ndim, const int64_t *shape, il_dtype dt,
                          il_device dev, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    IL_TRY(float_only(ctx, "randn", dt));
#ifdef IL_HAVE_CUDA
    if (dev == IL_DEVICE_CUDA) return cuda_random(ctx, ndim, shape, dt, 1, out);
#endif
    return generate(ctx, ndim, shape, dt, dev, normal_at, NULL, out);
}

il_status il_tensor_arange(il_ctx *ctx, double start, double stop, double step, il_dtype dt,
                           il_device dev, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    if (!isfinite(start) || !isfinite(stop) || !isfinite(step))
        return ili_seterr(ctx, IL_E_NUMERIC, "arange: start, stop and step must be finite");
    if (step == 0) return ili_seterr(ctx, IL_E_ARG, "arange: step must not be zero");
    double count = ceil((stop - start) / step);
    if (count < 0) count = 0;
    if (count > 1e15) return ili_seterr(ctx, IL_E_NOMEM, "arange: %.0f elements", count);
    int64_t n = (int64_t)count;
    double p[2] = {start, step};
    return generate(ctx, 1, &n, dt, dev, step_at, p, out);
}

il_status il_tensor_linspace(il_ctx *ctx, double start, double stop, int64_t n, il_dtype dt,
                             il_device dev, il_tensor **out) {
    if (ctx == NULL || out == NULL) return IL_E_ARG;
    if (!isfinite(start) || !isfinite(stop))
        return ili_seterr(ctx, IL_E_NUMERIC, "linspace: start and stop must be finite");
    if (n < 0)
        return ili_seterr(ctx, IL_E_RANGE, "linspace: point count %lld is negative", (long long)n);
    double p[4] = {start, n > 1 ? (stop - start) / (double)(n - 1) : 0.0, (double)n, stop};
    return generate(ctx, 1, &n, dt, dev, linspace_at, p, out);
}
