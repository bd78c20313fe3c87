/*
 * data_csv.c: numeric CSV files (il_data_load_csv, il_data_parse_csv) and the seed's image CSV
 * turned back into an image (il_data_image_from_csv).
 *
 * Two passes over the text: the first counts data rows so the number buffer is allocated once,
 * the second parses them. Lines end at '\n' (a '\r' before it is dropped); blank lines are
 * skipped; fields are trimmed and may be "quoted" ("" inside is one quote). Numbers go through
 * strtod on a bounded NUL-terminated copy, since the text need not be NUL-terminated.
 */
#include "data_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Longest number text accepted (longer fields are reported as not numbers). */
#define NUM_MAX 64

typedef struct csv {
    il_ctx *ctx;
    const char *name;
    const char *p, *end; /* the rest of the text */
    int64_t line;        /* of the line last taken */
    char delim;
} csv;

/* A line or field [s, e); done marks a line whose last field was taken. */
typedef struct span {
    const char *s, *e;
    int done;
} span;

static int isblank_(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

/* Takes the next line that is not blank into *ln; 0 at the end of the text. */
static int nextline(csv *c, span *ln) {
    while (c->p < c->end) {
        const char *s = c->p, *nl = memchr(s, '\n', (size_t)(c->end - s));
        const char *e = nl ? nl : c->end;
        c->p = nl ? nl + 1 : c->end;
        c->line++;
        while (e > s && isblank_(e[-1]))
            e--;
        const char *t = s;
        while (t < e && isblank_(*t))
            t++;
        if (t < e) {
            ln->s = s;
            ln->e = e;
            ln->done = 0;
            return 1;
        }
    }
    return 0;
}

/* Splits the next field off *ln (trimmed, quotes kept) into *f; 0 when the line is used up. A
 * trailing delimiter leaves one last empty field. */
static int nextfield(span *ln, char delim, span *f) {
    if (ln->done) return 0;
    const char *p = ln->s;
    int quoted = 0;
    while (p < ln->e && (quoted || *p != delim)) {
        if (*p == '"') quoted = !quoted;
        p++;
    }
    f->s = ln->s;
    f->e = p;
    while (f->s < f->e && isblank_(*f->s))
        f->s++;
    while (f->e > f->s && isblank_(f->e[-1]))
        f->e--;
    f->done = 0;
    if (p == ln->e)
        ln->done = 1;
    else
        ln->s = p + 1; /* past the delimiter */
    return 1;
}

static int64_t countfields(span ln, char delim) {
    int64_t n = 0;
    span f;
    while (nextfield(&ln, delim, &f))
        n++;
    return n;
}

/* Parses the field as a number (quotes allowed around it); 0 when it is not one. */
static int tonumber(span f, double *v) {
    char buf[NUM_MAX + 1];
    if (f.e - f.s >= 2 && *f.s == '"' && f.e[-1] == '"') {
        f.s++;
        f.e--;
    }
    size_t n = (size_t)(f.e - f.s);
    if (n == 0 || n > NUM_MAX) return 0;
    memcpy(buf, f.s, n);
    buf[n] = '\0';
    char *end;
    *v = strtod(buf, &end);
    return end == buf + n;
}

/* Appends the field's text, unquoted, then a NUL, to the names string. */
static void addname(ili_sbuf *b, span f) {
    int quoted = f.e - f.s >= 2 && *f.s == '"' && f.e[-1] == '"';
    const char *p = f.s + quoted, *e = f.e - quoted;
    while (p < e) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        const char *stop = q ? q + 1 : e; /* keeps one quote of a doubled "" */
        ili_sbuf_add(b, p, (size_t)(stop - p));
        p = q && q + 1 < e && q[1] == '"' ? q + 2 : stop;
    }
    ili_sbuf_add(b, "", 1);
}

/* Whether every field of the line is a number. */
static int allnumbers(span ln, char delim) {
    span f;
    double v;
    while (nextfield(&ln, delim, &f))
        if (!tonumber(f, &v)) return 0;
    return 1;
}

/* Parses one data row of ncols fields into row. */
static il_status parserow(csv *c, span ln, int64_t ncols, double *row) {
    int64_t have = countfields(ln, c->delim);
    if (have != ncols)
        return ili_seterr(c->ctx, IL_E_FORMAT, "%s:%lld: row has %lld columns, expected %lld",
                          c->name, (long long)c->line, (long long)have, (long long)ncols);
    span f;
    for (int64_t j = 0; nextfield(&ln, c->delim, &f); j++) {
        if (tonumber(f, &row[j])) continue;
        int n = (int)(f.e - f.s);
        if (n == 0)
            return ili_seterr(c->ctx, IL_E_FORMAT,
                              "%s:%lld: column %lld is empty, expected a number", c->name,
                              (long long)c->line, (long long)j + 1);
        return ili_seterr(c->ctx, IL_E_FORMAT, "%s:%lld: column %lld ('%.*s') is not a number",
                          c->name, (long long)c->line, (long long)j + 1, n > 32 ? 32 : n, f.s);
    }
    return IL_OK;
}

/* Parses the data rows after the header (or from the first line) into a new tensor. */
static il_status parsebody(csv *c, int64_t ncols, const csv *start, il_dtype dt, il_tensor **out) {
    csv scan = *start;
    span ln;
    int64_t rows = 0;
    while (nextline(&scan, &ln))
        rows++;
    if (rows > ((int64_t)1 << 40) / ncols)
        return ili_seterr(c->ctx, IL_E_RANGE, "%s: too large", c->name);
    size_t bytes = (size_t)(rows * ncols > 0 ? rows * ncols : 1) * sizeof(double);
    double *buf = ili_malloc(c->ctx, bytes);
    if (buf == NULL) return ili_nomem(c->ctx, bytes);
    il_status s = IL_OK;
    *c = *start;
    for (int64_t i = 0; s == IL_OK && nextline(c, &ln); i++)
        s = parserow(c, ln, ncols, buf + i * ncols);
    int64_t shape[2] = {rows, ncols};
    if (s == IL_OK)
        s = il_tensor_from_data(c->ctx, 2, shape, dt, IL_DEVICE_CPU, buf, IL_DTYPE_F64, out);
    ili_free(c->ctx, buf, bytes);
    return s;
}

/* Collects the header's names into a new names string. */
static il_status headernames(csv *c, span ln, char **names) {
    ili_sbuf b = {c->ctx, NULL, 0, 0, 0};
    span f;
    while (nextfield(&ln, c->delim, &f))
        addname(&b, f);
    return ili_sbuf_finish(&b, names);
}

il_status il_data_parse_csv(il_ctx *ctx, const char *text, size_t len, const char *name,
                            const il_csv_opts *opts, il_tensor **out, char **names) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL || (text == NULL && len > 0))
        return ili_seterr(ctx, IL_E_ARG, "load_csv: NULL argument");
    *out = NULL;
    if (names) *names = NULL;
    il_csv_opts o = opts ? *opts : (il_csv_opts){-1, ',', IL_DTYPE_F32};
    if (o.delimiter == 0) o.delimiter = ',';
    if (il_dtype_size(o.dtype) == 0) return ili_seterr(ctx, IL_E_DTYPE, "load_csv: unknown dtype");
    if (o.delimiter == '"' || o.delimiter == '\n' || isblank_(o.delimiter))
        return ili_seterr(ctx, IL_E_ARG, "load_csv: the delimiter cannot be a quote or blank");
    csv c = {ctx, name ? name : "csv", text, text + len, 0, o.delimiter};
    span first;
    if (!nextline(&c, &first)) return ili_seterr(ctx, IL_E_FORMAT, "%s: empty (no rows)", c.name);
    int64_t ncols = countfields(first, c.delim);
    int header = o.header < 0 ? !allnumbers(first, c.delim) : o.header != 0;
    csv start = c;
    if (!header) { /* the first line is data: start over at it */
        start.p = text;
        start.line = 0;
    }
    il_status s = parsebody(&c, ncols, &start, o.dtype, out);
    if (s == IL_OK && header && names) s = headernames(&c, first, names);
    if (s != IL_OK) {
        il_tensor_free(*out);
        *out = NULL;
    }
    return s;
}

il_status il_data_load_csv(il_ctx *ctx, const char *path, const il_csv_opts *opts, il_tensor **out,
                           char **names) {
    if (ctx == NULL) return IL_E_ARG;
    if (out) *out = NULL;
    if (names) *names = NULL;
    char *buf;
    size_t len;
    IL_TRY(ili_read_file(ctx, path, &buf, &len));
    il_status s = il_data_parse_csv(ctx, buf, len, ili_basename(path), opts, out, names);
    ili_free(ctx, buf, len + 1);
    return s;
}

/* ---- the seed's image CSV ---------------------------------------------------------------- */

/* Largest image rebuilt from a CSV (pixels), so a stray huge coordinate cannot ask for
 * terabytes. */
#define IMAGE_MAX_PIXELS ((int64_t)1 << 26)

/* Checks that v is a coordinate (a non-negative integer below 2^31). */
static il_status coord(il_ctx *ctx, double v, int64_t row, const char *what, int64_t *out) {
    if (!(v >= 0 && v < 2147483648.0 && v == floor(v)))
        return ili_seterr(ctx, IL_E_FORMAT,
                          "image_from_csv: row %lld: %s = %g is not a non-negative integer",
                          (long long)row + 1, what, v);
    *out = (int64_t)v;
    return IL_OK;
}

il_status il_data_image_from_csv(il_ctx *ctx, const il_tensor *t, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, t, "image_from_csv"));
    if (out == NULL) return ili_seterr(ctx, IL_E_ARG, "image_from_csv: out is NULL");
    *out = NULL;
    if (t->ndim != 2 || t->shape[1] != 3)
        return ili_seterr(ctx, IL_E_SHAPE, "image_from_csv: expected (N, 3) rows of x, y, value");
    int64_t n = t->shape[0], w = 0, h = 0, x = 0, y = 0;
    size_t bytes = (size_t)(n > 0 ? n : 1) * 3 * sizeof(double);
    double *v = ili_malloc(ctx, bytes);
    if (v == NULL) return ili_nomem(ctx, bytes);
    il_status s = il_tensor_read(ctx, t, v, IL_DTYPE_F64, n * 3);
    for (int64_t i = 0; i < n && s == IL_OK; i++) {
        s = coord(ctx, v[3 * i], i, "x", &x);
        if (s == IL_OK) s = coord(ctx, v[3 * i + 1], i, "y", &y);
        w = x + 1 > w ? x + 1 : w;
        h = y + 1 > h ? y + 1 : h;
    }
    if (s == IL_OK && w * h > IMAGE_MAX_PIXELS)
        s = ili_seterr(ctx, IL_E_RANGE, "image_from_csv: %lld x %lld pixels is too large",
                       (long long)w, (long long)h);
    int64_t shape[2] = {h, w};
    il_dtype dt = t->dtype == IL_DTYPE_I64 ? IL_DTYPE_F32 : t->dtype;
    if (s == IL_OK) s = il_tensor_zeros(ctx, 2, shape, IL_DTYPE_F64, IL_DEVICE_CPU, out);
    for (int64_t i = 0; i < n && s == IL_OK; i++) {
        double *img = il_tensor_data(*out);
        img[(int64_t)v[3 * i + 1] * w + (int64_t)v[3 * i]] = v[3 * i + 2];
    }
    ili_free(ctx, v, bytes);
    if (s == IL_OK && dt != IL_DTYPE_F64) {
        il_tensor *conv = NULL;
        s = il_tensor_to_dtype(ctx, *out, dt, &conv);
        il_tensor_free(*out);
        *out = conv;
    }
    if (s != IL_OK) {
        il_tensor_free(*out);
        *out = NULL;
    }
    return s;
}
