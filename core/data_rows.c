/*
 * data_rows.c: coordinates and row handling for training data: il_data_grid, il_data_pixels,
 * il_data_permutation, il_data_take_rows and il_data_split.
 *
 * Row gathers run the TAKE_ROWS op on the tensor's own device, so data on CUDA never passes
 * through host memory: il_data_take_rows uploads its host index list once, il_data_take_rows_t
 * and il_data_take_rows_into take an index tensor already on the device.
 */
#include "data_impl.h"

#include <string.h>

il_status il_data_grid(il_ctx *ctx, int64_t w, int64_t h, il_dtype dt, il_tensor **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "grid: out is NULL");
    *out = NULL;
    if (w < 1 || h < 1 || w > ((int64_t)1 << 30) / h)
        return ili_seterr(ctx, IL_E_ARG,
                          "grid: size %lld x %lld must be at least 1 x 1 and at "
                          "most 2^30 pixels",
                          (long long)w, (long long)h);
    int64_t shape[2] = {w * h, 2};
    il_tensor *g = NULL;
    IL_TRY(il_tensor_empty(ctx, 2, shape, IL_DTYPE_F64, IL_DEVICE_CPU, &g));
    double *p = il_tensor_data(g);
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            p[2 * (r * w + c)] = w > 1 ? -1.0 + 2.0 * (double)c / (double)(w - 1) : 0.0;
            p[2 * (r * w + c) + 1] = h > 1 ? -1.0 + 2.0 * (double)r / (double)(h - 1) : 0.0;
        }
    if (dt == IL_DTYPE_F64) {
        *out = g;
        return IL_OK;
    }
    il_status s = il_tensor_to_dtype(ctx, g, dt, out);
    il_tensor_free(g);
    return s;
}

il_status il_data_pixels(il_ctx *ctx, const il_tensor *img, il_tensor **coords,
                         il_tensor **values) {
    IL_TRY(ili_check_tensor(ctx, img, "pixels"));
    if (coords == NULL || values == NULL) return ili_seterr(ctx, IL_E_ARG, "pixels: out is NULL");
    *coords = *values = NULL;
    int nd = il_tensor_ndim(img);
    const int64_t *sh = il_tensor_shape(img);
    if (nd != 2 && nd != 3)
        return ili_seterr(ctx, IL_E_SHAPE,
                          "pixels: expected an image (H, W) or (H, W, C), got a "
                          "%d-d tensor",
                          nd);
    int64_t vshape[2] = {sh[0] * sh[1], nd == 3 ? sh[2] : 1};
    il_dtype dt = il_tensor_dtype(img) == IL_DTYPE_I64 ? IL_DTYPE_F32 : il_tensor_dtype(img);
    il_tensor *flat = NULL;
    il_status s = il_data_grid(ctx, sh[1], sh[0], dt, coords);
    if (s == IL_OK) s = il_tensor_reshape(ctx, img, 2, vshape, &flat);
    /* A copy, not a view, so the values own their storage like every other result here. */
    if (s == IL_OK) s = il_tensor_clone(ctx, flat, values);
    il_tensor_free(flat);
    if (s != IL_OK) {
        il_tensor_free(*coords);
        il_tensor_free(*values);
        *coords = *values = NULL;
    }
    return s;
}

il_status il_data_permutation(il_ctx *ctx, int64_t n, const uint64_t *seed, int64_t *perm) {
    if (ctx == NULL) return IL_E_ARG;
    if (n < 0 || (perm == NULL && n > 0))
        return ili_seterr(ctx, IL_E_ARG, "permutation: bad size or NULL output");
    ili_rng local, *r = ili_pick_rng(ctx, seed, &local);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)ili_rng_below(r, (uint64_t)i + 1);
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    return IL_OK;
}

/* dst = rows idx of t by the TAKE_ROWS op; idx: n i64 on t's device, already checked. */
static il_status gather(il_ctx *ctx, const il_tensor *t, const il_tdesc *idx, il_tensor *dst) {
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = IL_OP_TAKE_ROWS;
    c.nin = 2;
    ili_tensor_desc(t, &c.in[0]);
    c.in[1] = *idx;
    ili_tensor_desc(dst, &c.out);
    return ili_backend_run(ctx, t->st->device, &c);
}

/* IL_E_RANGE naming the first of idx[0..n-1] (stride is) outside [0, rows), or IL_OK. */
static il_status check_host_idx(il_ctx *ctx, const int64_t *idx, int64_t n, int64_t is,
                                int64_t rows) {
    for (int64_t i = 0; i < n; i++) {
        int64_t v = idx[i * is];
        if (v < 0 || v >= rows)
            return ili_seterr(ctx, IL_E_RANGE, "take_rows: row %lld out of range for %lld rows",
                              (long long)v, (long long)rows);
    }
    return IL_OK;
}

/* A new (n, t's other axes) tensor like t. */
static il_status new_rows(il_ctx *ctx, const il_tensor *t, int64_t n, il_tensor **out) {
    int64_t shape[IL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    return ili_tensor_new(ctx, t->ndim, shape, t->dtype, t->st->device, out);
}

il_status il_data_take_rows(il_ctx *ctx, const il_tensor *t, const int64_t *idx, int64_t n,
                            il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "take_rows"));
    if (out == NULL || n < 0 || (idx == NULL && n > 0))
        return ili_seterr(ctx, IL_E_ARG, "take_rows: bad arguments");
    *out = NULL;
    if (t->ndim == 0) return ili_seterr(ctx, IL_E_SHAPE, "take_rows: a 0-d tensor has no rows");
    IL_TRY(check_host_idx(ctx, idx, n, 1, t->shape[0]));
    il_tensor *r = NULL, *dev = NULL;
    IL_TRY(new_rows(ctx, t, n, &r));
    il_tdesc d = {(void *)idx, IL_DTYPE_I64, 1, {n}, {1}};
    il_status s = IL_OK;
    if (n > 0 && t->st->device != IL_DEVICE_CPU) { /* the index list goes over once */
        s = il_tensor_from_data(ctx, 1, &n, IL_DTYPE_I64, t->st->device, idx, IL_DTYPE_I64, &dev);
        if (s == IL_OK) ili_tensor_desc(dev, &d);
    }
    if (s == IL_OK && n > 0) s = gather(ctx, t, &d, r);
    il_tensor_free(dev);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

/* Checks a device index vector against rows: its minimum and maximum, reduced on the device
 * into one pair read back; only when one is out of range is the whole vector read, to name the
 * first bad value. */
static il_status check_device_idx(il_ctx *ctx, const il_tensor *idx, int64_t rows) {
    int64_t n = idx->shape[0], two = 2, mm[2];
    il_tensor *pair = NULL;
    IL_TRY(ili_tensor_new(ctx, 1, &two, IL_DTYPE_I64, idx->st->device, &pair));
    il_status s = IL_OK;
    for (int k = 0; k < 2 && s == IL_OK; k++) {
        il_opcall c;
        memset(&c, 0, sizeof c);
        c.op = k ? IL_OP_MAX : IL_OP_MIN;
        c.nin = 1;
        c.axis = IL_AXIS_ALL;
        ili_tensor_desc(idx, &c.in[0]);
        ili_tensor_desc(pair, &c.out);
        c.out.shape[0] = 1;
        c.out.data = (int64_t *)c.out.data + k;
        s = ili_backend_run(ctx, idx->st->device, &c);
    }
    if (s == IL_OK) s = il_tensor_read(ctx, pair, mm, IL_DTYPE_I64, 2);
    il_tensor_free(pair);
    if (s != IL_OK || (mm[0] >= 0 && mm[1] < rows)) return s;
    size_t bytes = (size_t)n * sizeof(int64_t);
    int64_t *host = ili_malloc(ctx, bytes);
    if (host == NULL) return ili_nomem(ctx, bytes);
    s = il_tensor_read(ctx, idx, host, IL_DTYPE_I64, n);
    if (s == IL_OK) s = check_host_idx(ctx, host, n, 1, rows);
    ili_free(ctx, host, bytes);
    return s;
}

/* The checks of il_data_take_rows_into: shapes, dtypes, devices, no shared memory. */
static il_status check_into(il_ctx *ctx, const il_tensor *t, const il_tensor *idx,
                            const il_tensor *dst) {
    IL_TRY(ili_check_tensor(ctx, t, "take_rows"));
    IL_TRY(ili_check_tensor(ctx, idx, "take_rows index"));
    IL_TRY(ili_check_tensor(ctx, dst, "take_rows destination"));
    if (t->ndim == 0) return ili_seterr(ctx, IL_E_SHAPE, "take_rows: a 0-d tensor has no rows");
    if (idx->ndim != 1 || idx->dtype != IL_DTYPE_I64)
        return ili_seterr(ctx, IL_E_ARG, "take_rows: indices must be a 1-d i64 tensor");
    if (idx->st->device != t->st->device || dst->st->device != t->st->device)
        return ili_seterr(ctx, IL_E_DEVICE, "take_rows: data, indices and destination must be "
                                            "on one device");
    if (dst->dtype != t->dtype)
        return ili_seterr(ctx, IL_E_DTYPE, "take_rows: destination is %s, data %s",
                          il_dtype_name(dst->dtype), il_dtype_name(t->dtype));
    int ok = dst->ndim == t->ndim && dst->shape[0] == idx->shape[0];
    for (int d = 1; ok && d < t->ndim; d++) ok = dst->shape[d] == t->shape[d];
    if (!ok) return ili_seterr(ctx, IL_E_SHAPE, "take_rows: destination has the wrong shape");
    if (il_tensor_shares_storage(dst, t) || il_tensor_shares_storage(dst, idx))
        return ili_seterr(ctx, IL_E_ARG, "take_rows: destination shares memory with its inputs");
    return IL_OK;
}

il_status il_data_take_rows_into(il_ctx *ctx, const il_tensor *t, const il_tensor *idx, int check,
                                 il_tensor *dst) {
    IL_TRY(check_into(ctx, t, idx, dst));
    int64_t n = idx->shape[0];
    if (n == 0) return IL_OK;
    il_tdesc d;
    ili_tensor_desc(idx, &d);
    if (check && t->st->device == IL_DEVICE_CPU) /* CPU memory: read in place */
        IL_TRY(check_host_idx(ctx, (const int64_t *)d.data, n, d.stride[0], t->shape[0]));
    else if (check)
        IL_TRY(check_device_idx(ctx, idx, t->shape[0]));
    return gather(ctx, t, &d, dst);
}

il_status il_data_take_rows_t(il_ctx *ctx, const il_tensor *t, const il_tensor *idx,
                              il_tensor **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "take_rows: out is NULL");
    *out = NULL;
    IL_TRY(ili_check_tensor(ctx, t, "take_rows"));
    IL_TRY(ili_check_tensor(ctx, idx, "take_rows index"));
    if (t->ndim == 0) return ili_seterr(ctx, IL_E_SHAPE, "take_rows: a 0-d tensor has no rows");
    if (idx->ndim != 1)
        return ili_seterr(ctx, IL_E_ARG, "take_rows: indices must be a 1-d i64 tensor");
    il_tensor *r = NULL;
    IL_TRY(new_rows(ctx, t, idx->shape[0], &r));
    il_status s = il_data_take_rows_into(ctx, t, idx, 1, r);
    if (s != IL_OK) {
        il_tensor_free(r);
        return s;
    }
    *out = r;
    return IL_OK;
}

il_status il_data_split(il_ctx *ctx, const il_tensor *x, const il_tensor *y, int64_t ntest,
                        int shuffle, const uint64_t *seed, il_dataset *out) {
    IL_TRY(ili_check_tensor(ctx, x, "split"));
    IL_TRY(ili_check_tensor(ctx, y, "split"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "split: out is NULL");
    memset(out, 0, sizeof *out);
    if (x->ndim == 0 || y->ndim == 0 || x->shape[0] != y->shape[0])
        return ili_seterr(ctx, IL_E_SHAPE, "split: x and y must have the same number of rows");
    int64_t rows = x->shape[0], ntrain = rows - ntest;
    if (ntest < 0 || ntest > rows)
        return ili_seterr(ctx, IL_E_RANGE, "split: %lld test rows out of %lld", (long long)ntest,
                          (long long)rows);
    size_t bytes = (size_t)(rows > 0 ? rows : 1) * sizeof(int64_t);
    int64_t *perm = ili_malloc(ctx, bytes);
    if (perm == NULL) return ili_nomem(ctx, bytes);
    il_status s = IL_OK;
    if (shuffle)
        s = il_data_permutation(ctx, rows, seed, perm);
    else
        for (int64_t i = 0; i < rows; i++)
            perm[i] = i;
    if (s == IL_OK) s = il_data_take_rows(ctx, x, perm, ntrain, &out->x);
    if (s == IL_OK) s = il_data_take_rows(ctx, y, perm, ntrain, &out->y);
    if (s == IL_OK) s = il_data_take_rows(ctx, x, perm + ntrain, ntest, &out->x_test);
    if (s == IL_OK) s = il_data_take_rows(ctx, y, perm + ntrain, ntest, &out->y_test);
    ili_free(ctx, perm, bytes);
    if (s != IL_OK) il_dataset_free(out);
    return s;
}
