/*
 * test_cuda_data.c: row gathers and chunked inference on CUDA. il_data_take_rows* on the device
 * against the CPU (every dtype, strided data, errors alike); an epoch of shuffled mini-batches
 * gathered as il.data.batches does it (permutation uploaded once, each batch a gather by a
 * narrowed view of it) copies nothing between host and device per batch; il_net_forward in
 * chunks on CUDA against the CPU's one pass, dropout in train mode included, and the chunk rule
 * under il_cuda_set_memory_limit. Exits 77 when there is no CUDA device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cudatest.h"
#include "nn_impl.h"

static il_ctx *ctx;

/* Values of t as doubles (malloc'd). */
static double *vals(const il_tensor *t) {
    int64_t n = il_tensor_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    CT_OK(ctx, il_tensor_read(ctx, t, v, IL_DTYPE_F64, n));
    return v;
}

/* |a - b| <= atol + rtol |a| over n values (exact when both are 0). */
static void close_vals(const char *what, const double *a, const double *b, int64_t n, double atol,
                       double rtol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= atol + rtol * fabs(a[i]))) {
            ct_fail(__FILE__, __LINE__, "%s: element %lld: %.17g vs %.17g", what, (long long)i,
                    a[i], b[i]);
            return;
        }
}

static void test_take_rows(void) {
    il_dtype dts[3] = {IL_DTYPE_F32, IL_DTYPE_F64, IL_DTYPE_I64};
    const int64_t idx[7] = {4, 0, 99, 4, 17, 63, 1};
    for (int d = 0; d < 3; d++) {
        ct_buf b = ct_buf_rand(ctx, dts[d], 100 * 12, -100, 100);
        il_tensor *c3 = NULL, *g3 = NULL, *ct = NULL, *gt = NULL;
        int64_t sh[3] = {12, 100, 1}; /* (12, 100, 1) transposed: strided rows */
        CT_OK(ctx, il_tensor_reshape(ctx, b.cpu, 3, sh, &c3));
        CT_OK(ctx, il_tensor_reshape(ctx, b.gpu, 3, sh, &g3));
        CT_OK(ctx, il_tensor_transpose(ctx, c3, 0, 1, &ct));
        CT_OK(ctx, il_tensor_transpose(ctx, g3, 0, 1, &gt));
        il_tensor *rc = NULL, *rg = NULL;
        CT_OK(ctx, il_data_take_rows(ctx, ct, idx, 7, &rc));
        CT_OK(ctx, il_data_take_rows(ctx, gt, idx, 7, &rg));
        CT_CHECK(rg && il_tensor_device(rg) == IL_DEVICE_CUDA, "gather left the device");
        double *a = vals(rc), *v = vals(rg);
        close_vals("take_rows strided", a, v, 7 * 12, 0, 0);
        free(a), free(v);
        il_tensor_free(rc), il_tensor_free(rg);
        /* by an index tensor on the device, and a bad index named alike */
        int64_t n = 7;
        il_tensor *gi = NULL;
        CT_OK(ctx, il_tensor_from_data(ctx, 1, &n, IL_DTYPE_I64, IL_DEVICE_CUDA, idx, IL_DTYPE_I64,
                                       &gi));
        CT_OK(ctx, il_data_take_rows_t(ctx, gt, gi, &rg));
        CT_OK(ctx, il_data_take_rows(ctx, ct, idx, 7, &rc));
        a = vals(rc), v = vals(rg);
        close_vals("take_rows_t", a, v, 7 * 12, 0, 0);
        free(a), free(v);
        il_tensor_free(rc), il_tensor_free(rg), il_tensor_free(gi);
        const int64_t bad[3] = {5, 100, -3};
        n = 3;
        CT_OK(ctx, il_tensor_from_data(ctx, 1, &n, IL_DTYPE_I64, IL_DEVICE_CUDA, bad, IL_DTYPE_I64,
                                       &gi));
        rg = NULL;
        il_status s = il_data_take_rows_t(ctx, gt, gi, &rg);
        CT_CHECK(s == IL_E_RANGE && strstr(il_errmsg(ctx), "row 100 out of range for 100 rows"),
                 "bad index on CUDA: %s: %s", il_status_str(s), il_errmsg(ctx));
        il_tensor_free(gi);
        il_tensor_free(c3), il_tensor_free(g3), il_tensor_free(ct), il_tensor_free(gt);
        ct_buf_free(&b);
    }
}

/* Shuffled batches as l_batches.c gathers them on the device: after the permutation's upload,
 * no host<->device copy per batch. */
static void test_batches_stay_on_device(void) {
    enum { N = 10000, B = 256 };
    ct_buf xb = ct_buf_rand(ctx, IL_DTYPE_F32, N * 3, -1, 1), yb = ct_buf_rand(ctx, IL_DTYPE_F32, N, 0, 1);
    il_tensor *x = NULL, *y = NULL, *dperm = NULL;
    int64_t xs[2] = {N, 3}, ys[2] = {N, 1}, n = N, perm[N];
    CT_OK(ctx, il_tensor_reshape(ctx, xb.gpu, 2, xs, &x));
    CT_OK(ctx, il_tensor_reshape(ctx, yb.gpu, 2, ys, &y));
    CT_OK(ctx, il_data_permutation(ctx, N, NULL, perm));
    CT_OK(ctx, il_tensor_from_data(ctx, 1, &n, IL_DTYPE_I64, IL_DEVICE_CUDA, perm, IL_DTYPE_I64,
                                   &dperm));
    ili_cuda_counts a, b;
    ili_cuda_counts_get(ctx, &a);
    il_tensor *first = NULL;
    for (int64_t pos = 0; pos < N; pos += B) {
        int64_t len = N - pos < B ? N - pos : B;
        il_tensor *t[2] = {x, y};
        for (int k = 0; k < 2; k++) {
            il_tensor *iv = NULL, *out = NULL;
            int64_t sh[2] = {len, k ? 1 : 3};
            CT_OK(ctx, il_tensor_narrow(ctx, dperm, 0, pos, len, &iv));
            CT_OK(ctx, il_tensor_empty(ctx, 2, sh, IL_DTYPE_F32, IL_DEVICE_CUDA, &out));
            CT_OK(ctx, il_data_take_rows_into(ctx, t[k], iv, 0, out));
            il_tensor_free(iv);
            if (pos == 0 && k == 0) first = out;
            else il_tensor_free(out);
        }
    }
    ili_cuda_counts_get(ctx, &b);
    CT_CHECK(b.h2d == a.h2d && b.d2h == a.d2h,
             "an epoch of batches copied %llu h2d, %llu d2h",
             (unsigned long long)(b.h2d - a.h2d), (unsigned long long)(b.d2h - a.d2h));
    /* and the first batch holds rows perm[0..B) */
    il_tensor *ref = NULL, *xc = NULL;
    CT_OK(ctx, il_tensor_reshape(ctx, xb.cpu, 2, xs, &xc));
    CT_OK(ctx, il_data_take_rows(ctx, xc, perm, B, &ref));
    double *a1 = vals(ref), *b1 = vals(first);
    close_vals("first batch", a1, b1, B * 3, 0, 0);
    free(a1), free(b1);
    il_tensor_free(ref), il_tensor_free(xc), il_tensor_free(first);
    il_tensor_free(x), il_tensor_free(y), il_tensor_free(dperm);
    ct_buf_free(&xb), ct_buf_free(&yb);
}

static int add(il_net *net, il_layer_kind kind, int64_t out, double p, int in) {
    il_layer_opts o;
    memset(&o, 0, sizeof o);
    o.out_features = out;
    o.p = p;
    o.seed = 5;
    int node = -1;
    CT_OK(ctx, il_net_layer(net, kind, &o, 1, &in, &node));
    return node;
}

/* The CPU's one pass against CUDA in chunks (train mode: dropout masks alike). */
static void test_forward_chunks(il_dtype dt) {
    il_net *net = NULL;
    int x = -1;
    CT_OK(ctx, il_net_new(ctx, dt, &net));
    CT_OK(ctx, il_net_input(net, 3, &x));
    int h = add(net, IL_LAYER_FOURIER, 16, 0, x);
    h = add(net, IL_LAYER_TANH, 0, 0, add(net, IL_LAYER_LINEAR, 64, 0, h));
    h = add(net, IL_LAYER_DROPOUT, 0, 0.3, h);
    h = add(net, IL_LAYER_RELU, 0, 0, add(net, IL_LAYER_LINEAR, 64, 0, h));
    add(net, IL_LAYER_SOFTMAX, 0, 0, add(net, IL_LAYER_LINEAR, 5, 0, h));
    int64_t rows = 5000;
    ct_buf xb = ct_buf_rand(ctx, dt, rows * 3, -1, 1);
    int64_t sh[2] = {rows, 3};
    il_tensor *xc = NULL, *xg = NULL, *yc = NULL, *yg = NULL;
    CT_OK(ctx, il_tensor_reshape(ctx, xb.cpu, 2, sh, &xc));
    CT_OK(ctx, il_tensor_reshape(ctx, xb.gpu, 2, sh, &xg));
    uint64_t c0 = net->drop_counter;
    CT_OK(ctx, il_net_forward(net, 1, (const il_tensor *const *)&xc, &yc));
    uint64_t c1 = net->drop_counter;
    CT_OK(ctx, il_net_move(net, IL_DEVICE_CUDA));
    const int64_t chunks[3] = {1000, 777, 4999};
    double atol = dt == IL_DTYPE_F32 ? 1e-5 : 1e-12, rtol = dt == IL_DTYPE_F32 ? 1e-4 : 1e-10;
    double *a = vals(yc);
    for (int k = 0; k < 3; k++) {
        net->drop_counter = c0;
        CT_OK(ctx, il_net_set_forward_chunk(net, chunks[k]));
        CT_OK(ctx, il_net_forward(net, 1, (const il_tensor *const *)&xg, &yg));
        CT_CHECK(net->drop_counter == c1, "dropout counter after chunks");
        double *b = vals(yg);
        close_vals(dt == IL_DTYPE_F32 ? "chunked forward f32" : "chunked forward f64", a, b,
                   rows * 5, atol, rtol);
        free(b);
        il_tensor_free(yg);
    }
    /* under a memory limit the automatic chunk keeps the arena within half of what is left */
    il_device_mem_stats m;
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CUDA, &m));
    il_net *big = NULL;
    CT_OK(ctx, il_net_new(ctx, dt, &big));
    CT_OK(ctx, il_net_input(big, 3, &x));
    add(big, IL_LAYER_LINEAR, 1, 0, add(big, IL_LAYER_LINEAR, 512, 0, x));
    CT_OK(ctx, il_net_move(big, IL_DEVICE_CUDA));
    CT_OK(ctx, il_device_memory(ctx, IL_DEVICE_CUDA, &m));
    size_t limit = m.allocated + ((size_t)16 << 20); /* 16 MiB more */
    CT_OK(ctx, il_cuda_set_memory_limit(ctx, limit));
    CT_OK(ctx, il_net_forward(big, 1, (const il_tensor *const *)&xg, &yg));
    size_t es = il_dtype_size(dt);
    CT_CHECK((size_t)big->arena_cap * es <= ((size_t)8 << 20), "arena %lld elements under a "
             "16 MiB margin", (long long)big->arena_cap);
    CT_CHECK(big->batch < rows, "no chunking under the limit");
    CT_OK(ctx, il_cuda_set_memory_limit(ctx, 0));
    il_tensor_free(yg);
    il_net_free(big);
    free(a);
    il_tensor_free(xc), il_tensor_free(xg), il_tensor_free(yc);
    ct_buf_free(&xb);
    il_net_free(net);
}

int main(void) {
    ctx = ct_begin_cuda();
    test_take_rows();
    test_batches_stay_on_device();
    test_forward_chunks(IL_DTYPE_F64);
    test_forward_chunks(IL_DTYPE_F32);
    return ct_end(ctx);
}
