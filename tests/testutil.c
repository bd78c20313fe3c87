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

void tu_assert_close_at(const char *what, const double *got, const double *want, int64_t n,
                        double atol, double rtol) {
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i]) && isnan(got[i])) continue;
        if (isinf(want[i]) && got[i] == want[i]) continue;
        double err = fabs(got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i])))
            fail_msg("%s%selement %lld: got %.17g, want %.17g (err %.3g)", what ? what : "",
                     what ? ": " : "", (long long)i, got[i], want[i], err);
    }
}

void tu_assert_close(const double *got, const double *want, int64_t n, double atol, double rtol) {
    tu_assert_close_at(NULL, got, want, n, atol, rtol);
}

void tu_assert_errmsg(il_ctx *ctx, const char *needle) {
    const char *m = il_errmsg(ctx);
    if (strstr(m, needle) == NULL) fail_msg("error message \"%s\" lacks \"%s\"", m, needle);
}

il_ctx *tu_ctx_base(size_t *base) {
    il_ctx *ctx = tu_ctx();
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    *base = m.bytes_in_use;
    return ctx;
}

void tu_ctx_done_exact(il_ctx *ctx, size_t base) {
    il_mem_stats m;
    assert_int_equal(il_ctx_set_threads(ctx, 1), IL_OK);
    assert_int_equal(il_ctx_live_tensors(ctx), 0);
    il_ctx_memory(ctx, &m);
    assert_int_equal(m.bytes_in_use, base);
    il_ctx_free(ctx);
}

int64_t tu_numel(int nd, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    return n;
}

il_tensor *tu_mk(il_ctx *ctx, il_dtype dt, int nd, const int64_t *shape, const double *v) {
    il_tensor *t = NULL;
    il_status s = il_tensor_from_data(ctx, nd, shape, dt, IL_DEVICE_CPU, v, IL_DTYPE_F64, &t);
    if (s != IL_OK) fail_msg("from_data: %s", il_errmsg(ctx));
    return t;
}

double *tu_view_vals(const il_tensor *base, const double *bv, const il_tensor *view) {
    int nd = il_tensor_ndim(view);
    const int64_t *sh = il_tensor_shape(view), *st = il_tensor_strides(view);
    size_t es = il_dtype_size(il_tensor_dtype(view));
    int64_t off0 = (int64_t)(((char *)il_tensor_data(view) - (char *)il_tensor_data(base)) / es);
    int64_t n = tu_numel(nd, sh);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = off0;
        for (int d = nd - 1; d >= 0; d--) {
            off += (rem % sh[d]) * st[d];
            rem /= sh[d];
        }
        v[i] = bv[off];
    }
    return v;
}

double tu_urand(uint64_t *state, double lo, double hi) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return lo + (hi - lo) * ((double)(x >> 11) * 0x1p-53);
}

int tu_layer(il_net *net, il_layer_kind k, int from, const il_layer_opts *o) {
    int id = -1;
    il_status s = il_net_layer(net, k, o, 1, &from, &id);
    if (s != IL_OK) fail_msg("layer kind %d: %s", (int)k, il_status_str(s));
    return id;
}

double tu_gradcheck(il_ctx *ctx, il_net *net, il_tensor *x, const char *what) {
    double err = -1;
    const il_tensor *xs[1] = {x};
    il_status s = il_net_gradcheck(net, 1, xs, 0, &err);
    if (s != IL_OK) fail_msg("%s: %s", what, il_errmsg(ctx));
    printf("  %-28s max rel err %.3g\n", what, err);
    if (!(err < 1e-6)) fail_msg("%s: error %g", what, err);
    return err;
}

int64_t tu_alloc_sweep(il_status (*f)(il_ctx *ctx, void *ud), void *ud, int64_t limit) {
    for (int64_t n = 1; n < limit; n++) {
        tu_alloc a = {0, n, 0};
        il_ctx *ctx = NULL;
        if (il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a) != IL_OK) {
            assert_int_equal(a.live_blocks, 0);
            continue;
        }
        il_status s = f(ctx, ud);
        if (s != IL_OK && s != IL_E_NOMEM)
            fail_msg("fail_at=%lld: status %s (%s)", (long long)n, il_status_str(s),
                     il_errmsg(ctx));
        if (s == IL_E_NOMEM) tu_assert_errmsg(ctx, "out of memory");
        assert_int_equal(il_ctx_live_tensors(ctx), 0);
        il_ctx_free(ctx);
        assert_int_equal(a.live_blocks, 0);
        if (s == IL_OK) return n; /* every earlier failure point was exercised */
    }
    fail_msg("scenario never succeeded below fail_at=%lld", (long long)limit);
    return -1;
}
