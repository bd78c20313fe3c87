/*
 * testutil.c: see testutil.h.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *tu_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize) {
    tu_alloc *a = ud;
    if (nsize == 0) {
        if (ptr) a->live_blocks--;
        free(ptr);
        return NULL;
    }
    a->count++;
    if (a->fail_at > 0 && a->count >= a->fail_at) return NULL;
    void *p = realloc(ptr, nsize);
    if (p && !ptr) a->live_blocks++;
    return p;
}

il_ctx *tu_ctx(void) {
    il_ctx *ctx = NULL;
    assert_int_equal(il_ctx_new(&ctx), IL_OK);
    assert_non_null(ctx);
    return ctx;
}

void tu_ctx_done(il_ctx *ctx) {
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    assert_int_equal(il_ctx_live_tensors(ctx), 0);
    il_ctx_free(ctx);
}

il_tensor *tu_tensor(il_ctx *ctx, il_dtype dt, const double *values, int ndim, ...) {
    int64_t shape[IL_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    il_tensor *t = NULL;
    il_status s = il_tensor_from_data(ctx, ndim, shape, dt, IL_DEVICE_CPU, values, IL_DTYPE_F64, &t);
    if (s != IL_OK) fail_msg("tu_tensor: %s", il_errmsg(ctx));
    return t;
}

double *tu_values(il_ctx *ctx, const il_tensor *t) {
    int64_t n = il_tensor_numel(t);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    il_status s = il_tensor_read(ctx, t, v, IL_DTYPE_F64, n);
    if (s != IL_OK) fail_msg("tu_values: %s", il_errmsg(ctx));
    return v;
}

void tu_assert_shape(const il_tensor *t, int ndim, ...) {
    assert_int_equal(il_tensor_ndim(t), ndim);
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(il_tensor_shape(t)[i], va_arg(ap, int));
    va_end(ap);
}

void tu_assert_close(const double *got, const double *want, int64_t n, double atol, double rtol) {
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i]) && isnan(got[i])) continue;
        if (isinf(want[i]) && got[i] == want[i]) continue;
        double err = fabs(got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i])))
            fail_msg("element %lld: got %.17g, want %.17g (err %.3g)", (long long)i, got[i],
                     want[i], err);
    }
}

void tu_assert_errmsg(il_ctx *ctx, const char *needle) {
    const char *m = il_errmsg(ctx);
    if (strstr(m, needle) == NULL) fail_msg("error message \"%s\" lacks \"%s\"", m, needle);
}
