/*
 * data_rows.c: coordinates and row handling for training data: il_data_grid, il_data_pixels,
 * il_data_permutation, il_data_take_rows and il_data_split.
 *
 * Row gathers stage through host memory in the tensor's own dtype (exact for every dtype) and
 * go back to the tensor's device, so they work on any backend without a gather kernel; they run
 * once per batch or split, not per element.
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

il_status il_data_take_rows(il_ctx *ctx, const il_tensor *t, const int64_t *idx, int64_t n,
                            il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "take_rows"));
    if (out == NULL || n < 0 || (idx == NULL && n > 0))
        return ili_seterr(ctx, IL_E_ARG, "take_rows: bad arguments");
    *out = NULL;
    if (t->ndim == 0) return ili_seterr(ctx, IL_E_SHAPE, "take_rows: a 0-d tensor has no rows");
    int64_t rows = t->shape[0], numel = il_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= rows)
            return ili_seterr(ctx, IL_E_RANGE, "take_rows: row %lld out of range for %lld rows",
                              (long long)idx[i], (long long)rows);
    size_t es = il_dtype_size(t->dtype), row = rows > 0 ? (size_t)(numel / rows) * es : 0;
    size_t srcb = (size_t)numel * es + 1, dstb = (size_t)n * row + 1;
    char *src = ili_malloc(ctx, srcb), *dst = ili_malloc(ctx, dstb);
    il_status s = src && dst ? IL_OK : ili_nomem(ctx, srcb + dstb);
    if (s == IL_OK) s = il_tensor_read(ctx, t, src, t->dtype, numel);
    if (s == IL_OK) {
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, row);
        int64_t shape[IL_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        shape[0] = n;
        s = il_tensor_from_data(ctx, t->ndim, shape, t->dtype, t->st->device, dst, t->dtype, out);
    }
    ili_free(ctx, src, srcb);
    ili_free(ctx, dst, dstb);
    return s;
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
