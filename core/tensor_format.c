/*
 * tensor_format.c: text rendering of a tensor in the manner of PyTorch and NumPy:
 *   tensor([[ 1.5000, -2.0000],
 *           [ 0.2500,  3.0000]], shape=(2, 2), dtype=f32, device=cpu)
 * Tensors of more than 1000 elements show the first and last 3 entries of each axis with "...".
 */
#include "il_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EDGE 3
#define SUMMARIZE_ABOVE 1000

static void puts_(ili_sbuf *b, const char *s) { ili_sbuf_add(b, s, strlen(s)); }

static void spaces(ili_sbuf *b, int n) {
    for (int i = 0; i < n; i++) ili_sbuf_add(b, " ", 1);
}

/* How numbers are written: chosen once per tensor from the values shown. */
typedef struct numfmt {
    int integer;  /* every shown value is integral: "3." (floats) or "3" (i64) */
    int sci;      /* scientific: "1.2346e+08" */
    int width;    /* column width */
    il_dtype dt;
} numfmt;

typedef struct view {
    const char *data; /* host memory of the first element */
    il_dtype dt;
    int ndim;
    const int64_t *shape, *stride;
    int summarize;
} view;

static double at(const view *v, int64_t off) {
    switch (v->dt) {
    case IL_DTYPE_F32: return ((const float *)v->data)[off];
    case IL_DTYPE_F64: return ((const double *)v->data)[off];
    default: return (double)((const int64_t *)v->data)[off];
    }
}

static int num_str(const numfmt *f, const view *v, int64_t off, char *s, size_t n) {
    if (v->dt == IL_DTYPE_I64) return snprintf(s, n, "%lld", (long long)((const int64_t *)v->data)[off]);
    double x = at(v, off);
    if (isnan(x)) return snprintf(s, n, "nan");
    if (isinf(x)) return snprintf(s, n, x > 0 ? "inf" : "-inf");
    if (f->sci) return snprintf(s, n, "%.4e", x);
    if (f->integer) return snprintf(s, n, "%.0f.", x);
    return snprintf(s, n, "%.4f", x);
}

/* Visits the shown elements (all, or the edges of each axis when summarizing). */
typedef void (*visit_fn)(void *arg, const view *v, int64_t off);

static void visit(const view *v, int d, int64_t off, visit_fn fn, void *arg) {
    if (d == v->ndim) {
        fn(arg, v, off);
        return;
    }
    int64_t n = v->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (v->summarize && n > 2 * EDGE && i == EDGE) i = n - EDGE;
        visit(v, d + 1, off + i * v->stride[d], fn, arg);
    }
}

typedef struct scan {
    double maxabs, minabs;
    int integer, any;
} scan;

static void scan_one(void *arg, const view *v, int64_t off) {
    scan *s = arg;
    double x = at(v, off);
    if (!isfinite(x)) return;
    double a = fabs(x);
    if (x != floor(x)) s->integer = 0;
    if (!s->any || a > s->maxabs) s->maxabs = a;
    if (a != 0 && (s->minabs == 0 || a < s->minabs)) s->minabs = a;
    s->any = 1;
}

typedef struct widest {
    const numfmt *f;
    int w;
} widest;

static void width_one(void *arg, const view *v, int64_t off) {
    widest *w = arg;
    char s[64];
    int n = num_str(w->f, v, off, s, sizeof s);
    if (n > w->w) w->w = n;
}

static void choose_format(const view *v, numfmt *f) {
    scan s = {0, 0, 1, 0};
    visit(v, 0, 0, scan_one, &s);
    f->dt = v->dt;
    f->integer = s.integer;
    f->sci = v->dt != IL_DTYPE_I64 &&
             (s.maxabs >= 1e8 || (!s.integer && s.minabs > 0 && s.minabs < 1e-4) ||
              (s.minabs > 0 && s.maxabs / s.minabs > 1e3 && !s.integer));
    widest w = {f, 1};
    visit(v, 0, 0, width_one, &w);
    f->width = w.w;
}

static void print_num(ili_sbuf *b, const numfmt *f, const view *v, int64_t off) {
    char s[64];
    int n = num_str(f, v, off, s, sizeof s);
    spaces(b, f->width - n);
    ili_sbuf_add(b, s, (size_t)n);
}

/* Separator after an element of axis d that is not the last one. */
static void separator(ili_sbuf *b, const view *v, int d, int indent, int wrap) {
    puts_(b, ",");
    if (d == v->ndim - 1 && !wrap) {
        puts_(b, " ");
        return;
    }
    for (int k = d; k < v->ndim - 1; k++) puts_(b, "\n");
    if (d == v->ndim - 1) puts_(b, "\n");
    spaces(b, indent + d + 1);
}

static void print_axis(ili_sbuf *b, const numfmt *f, const view *v, int d, int64_t off,
                       int indent) {
    if (d == v->ndim) {
        print_num(b, f, v, off);
        return;
    }
    int64_t n = v->shape[d];
    /* Rows wrap at 80 columns, as in NumPy and PyTorch. */
    int per_line = (80 - indent - d - 1) / (f->width + 2);
    if (per_line < 1) per_line = 1;
    int64_t shown = 0;
    puts_(b, "[");
    for (int64_t i = 0; i < n; i++) {
        if (v->summarize && n > 2 * EDGE && i == EDGE) {
            puts_(b, "...");
            separator(b, v, d, indent, 0);
            i = n - EDGE;
        }
        print_axis(b, f, v, d + 1, off + i * v->stride[d], indent);
        shown++;
        if (i < n - 1)
            separator(b, v, d, indent, d == v->ndim - 1 && shown % per_line == 0);
    }
    puts_(b, "]");
}

static void render(ili_sbuf *b, const view *v, il_device dev) {
    numfmt f;
    choose_format(v, &f);
    puts_(b, "tensor(");
    print_axis(b, &f, v, 0, 0, 7);
    char shape[200], tail[300];
    snprintf(tail, sizeof tail, ", shape=%s, dtype=%s, device=%s)",
             ili_shape_str(shape, sizeof shape, v->ndim, v->shape), il_dtype_name(v->dt),
             il_device_name(dev));
    puts_(b, tail);
}

il_status il_tensor_format(il_ctx *ctx, const il_tensor *t, char **out) {
    IL_TRY(ili_check_tensor(ctx, t, "format"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "format: out is NULL");
    *out = NULL;
    il_tensor *host = NULL;
    if (t->st->device != IL_DEVICE_CPU) IL_TRY(il_tensor_to_device(ctx, t, IL_DEVICE_CPU, &host));
    const il_tensor *h = host ? host : t;
    view v = {il_tensor_data(h), h->dtype, h->ndim, h->shape, h->stride,
              il_tensor_numel(h) > SUMMARIZE_ABOVE};
    ili_sbuf b = {ctx, NULL, 0, 0, 0};
    if (il_tensor_numel(h) == 0) {
        char shape[200], tail[300];
        snprintf(tail, sizeof tail, "tensor([], shape=%s, dtype=%s, device=%s)",
                 ili_shape_str(shape, sizeof shape, h->ndim, h->shape), il_dtype_name(h->dtype),
                 il_device_name(t->st->device));
        puts_(&b, tail);
    } else {
        render(&b, &v, t->st->device);
    }
    il_tensor_free(host);
    return ili_sbuf_finish(&b, out);
}
