/*
 * image.c: il_image_load and il_image_save: 8-bit pixels (decoded and encoded by stb, see
 * image_stb.c) to and from f32 tensors in [0, 1], with gray conversion, thresholding and
 * bilinear resizing on load, and an atomic PNG write on save.
 */
#include "data_impl.h"

#include <math.h>
#include <string.h>

/* Pixels as doubles, h x w x c, row-major. */
typedef struct fimg {
    double *v;
    int64_t w, h, c;
} fimg;

static size_t fbytes(int64_t w, int64_t h, int64_t c) {
    return (size_t)(w * h * c > 0 ? w * h * c : 1) * sizeof(double);
}

/* Converts 8-bit pixels to [0, 1], to one gray channel when gray is set: Rec. 601 luma, with
 * alpha composited on white, since the images this serves (silhouettes, drawings) are
 * transparent where their background is. */
static void convert(const unsigned char *p, int64_t n, int c, int gray, double *out) {
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *q = p + i * c;
        if (!gray) {
            for (int k = 0; k < c; k++)
                out[i * c + k] = q[k] / 255.0;
            continue;
        }
        double v = c >= 3 ? (0.299 * q[0] + 0.587 * q[1] + 0.114 * q[2]) / 255.0 : q[0] / 255.0;
        if (c == 2 || c == 4) {
            double a = q[c - 1] / 255.0;
            v = a * v + (1.0 - a);
        }
        out[i] = v;
    }
}

/* Bilinear resampling with pixel centres aligned (as OpenCV's INTER_LINEAR). */
static void resize(const fimg *src, fimg *dst) {
    double sy = (double)src->h / (double)dst->h, sx = (double)src->w / (double)dst->w;
    for (int64_t r = 0; r < dst->h; r++) {
        double fy = fmax(0.0, (r + 0.5) * sy - 0.5);
        int64_t y0 = (int64_t)fy, y1 = y0 + 1 < src->h ? y0 + 1 : src->h - 1;
        double ty = fy - (double)y0;
        for (int64_t col = 0; col < dst->w; col++) {
            double fx = fmax(0.0, (col + 0.5) * sx - 0.5);
            int64_t x0 = (int64_t)fx, x1 = x0 + 1 < src->w ? x0 + 1 : src->w - 1;
            double tx = fx - (double)x0;
            for (int64_t k = 0; k < src->c; k++) {
                const double *s = src->v;
                int64_t c = src->c;
                double top =
                    s[(y0 * src->w + x0) * c + k] * (1 - tx) + s[(y0 * src->w + x1) * c + k] * tx;
                double bot =
                    s[(y1 * src->w + x0) * c + k] * (1 - tx) + s[(y1 * src->w + x1) * c + k] * tx;
                dst->v[(r * dst->w + col) * c + k] = top * (1 - ty) + bot * ty;
            }
        }
    }
}

/* Makes the result tensor from img, resizing and thresholding as opts ask. Frees nothing. */
static il_status finish(il_ctx *ctx, fimg *img, const il_image_opts *o, il_tensor **out) {
    fimg sized = *img;
    if (o->width > 0 && o->height > 0 && (o->width != img->w || o->height != img->h)) {
        if (o->width > 65536 || o->height > 65536)
            return ili_seterr(ctx, IL_E_ARG, "image: size %lld x %lld is too large",
                              (long long)o->width, (long long)o->height);
        sized = (fimg){NULL, o->width, o->height, img->c};
        sized.v = ili_malloc(ctx, fbytes(sized.w, sized.h, sized.c));
        if (sized.v == NULL) return ili_nomem(ctx, fbytes(sized.w, sized.h, sized.c));
        resize(img, &sized);
    }
    int64_t n = sized.w * sized.h * sized.c;
    if (o->has_threshold)
        for (int64_t i = 0; i < n; i++)
            sized.v[i] = sized.v[i] >= o->threshold ? 1.0 : 0.0;
    int64_t shape[3] = {sized.h, sized.w, sized.c};
    il_status s = il_tensor_from_data(ctx, sized.c == 1 ? 2 : 3, shape, IL_DTYPE_F32, IL_DEVICE_CPU,
                                      sized.v, IL_DTYPE_F64, out);
    if (sized.v != img->v) ili_free(ctx, sized.v, fbytes(sized.w, sized.h, sized.c));
    return s;
}

il_status il_image_load(il_ctx *ctx, const char *path, const il_image_opts *opts, il_tensor **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "image_load: out is NULL");
    *out = NULL;
    il_image_opts o = opts ? *opts : (il_image_opts){0};
    char *buf;
    size_t len;
    int w, h, c;
    const char *why;
    IL_TRY(ili_read_file(ctx, path, &buf, &len));
    unsigned char *pix = ili_stb_decode(ctx, (const unsigned char *)buf, len, &w, &h, &c, &why);
    ili_free(ctx, buf, len + 1);
    if (pix == NULL) {
        if (strcmp(why, "outofmem") == 0) return ili_nomem(ctx, len);
        return ili_seterr(ctx, IL_E_FORMAT, "%s: truncated or not an image (stb: %s)",
                          ili_basename(path), why);
    }
    fimg img = {NULL, w, h, o.gray ? 1 : c};
    img.v = ili_malloc(ctx, fbytes(img.w, img.h, img.c));
    il_status s = img.v ? IL_OK : ili_nomem(ctx, fbytes(img.w, img.h, img.c));
    if (s == IL_OK) convert(pix, (int64_t)w * h, c, o.gray, img.v);
    ili_stb_free(ctx, pix);
    if (s == IL_OK) s = finish(ctx, &img, &o, out);
    ili_free(ctx, img.v, fbytes(img.w, img.h, img.c));
    return s;
}

/* Checks t's shape for saving: (H, W) or (H, W, C), C in 1..4, sides 1..65536. */
static il_status saveshape(il_ctx *ctx, const il_tensor *t, int *w, int *h, int *c) {
    int nd = il_tensor_ndim(t);
    const int64_t *sh = il_tensor_shape(t);
    if (nd != 2 && nd != 3)
        return ili_seterr(ctx, IL_E_SHAPE,
                          "image_save: expected (H, W) or (H, W, C), got a %d-d "
                          "tensor",
                          nd);
    int64_t ch = nd == 3 ? sh[2] : 1;
    if (ch < 1 || ch > 4)
        return ili_seterr(ctx, IL_E_SHAPE, "image_save: %lld channels, expected 1 to 4",
                          (long long)ch);
    if (sh[0] < 1 || sh[1] < 1 || sh[0] > 65536 || sh[1] > 65536)
        return ili_seterr(ctx, IL_E_SHAPE,
                          "image_save: %lld x %lld pixels, expected 1 to 65536 a "
                          "side",
                          (long long)sh[1], (long long)sh[0]);
    *h = (int)sh[0];
    *w = (int)sh[1];
    *c = (int)ch;
    return IL_OK;
}

il_status il_image_save(il_ctx *ctx, const char *path, const il_tensor *t) {
    IL_TRY(ili_check_tensor(ctx, t, "image_save"));
    if (path == NULL) return ili_seterr(ctx, IL_E_ARG, "image_save: path is NULL");
    int w = 0, h = 0, c = 0, len = 0;
    IL_TRY(saveshape(ctx, t, &w, &h, &c));
    int64_t n = (int64_t)w * h * c;
    size_t vb = (size_t)n * sizeof(double);
    double *v = ili_malloc(ctx, vb);
    unsigned char *pix = ili_malloc(ctx, (size_t)n), *png = NULL;
    il_status s = v && pix ? IL_OK : ili_nomem(ctx, vb + (size_t)n);
    if (s == IL_OK) s = il_tensor_read(ctx, t, v, IL_DTYPE_F64, n);
    if (s == IL_OK) {
        for (int64_t i = 0; i < n; i++) /* !(x > 0) also catches NaN */
            pix[i] = !(v[i] > 0) ? 0 : v[i] >= 1 ? 255 : (unsigned char)lround(v[i] * 255.0);
        png = ili_stb_png(ctx, pix, w, h, c, &len);
        if (png == NULL) s = ili_nomem(ctx, (size_t)n);
    }
    if (s == IL_OK) s = ili_write_file_atomic(ctx, path, png, (size_t)len);
    ili_stb_free(ctx, png);
    ili_free(ctx, v, vb);
    ili_free(ctx, pix, (size_t)n);
    return s;
}
