/*
 * safetensors_read.c: il_safetensors_read, a validating safetensors reader.
 *
 * Nothing in a file is trusted before it is checked: the header length against the file size
 * (and a cap, so a lying length cannot cause a huge allocation), the JSON, every entry's dtype,
 * shape and byte range (inside the data section, numel * size bytes, no two overlapping), and
 * the metadata (strings only, as the format requires). Tensor bytes are read only after the
 * whole header passed. cJSON's tree is malloc'd (its hooks are process-wide, see data_json.c)
 * and freed before returning on every path; everything kept goes through the context allocator.
 */
#include "ckpt_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* One tensor entry, checked. */
typedef struct st_entry {
    char *name; /* owned, nlen + 1 bytes */
    size_t nlen;
    il_dtype dt;
    int ndim;
    int64_t shape[IL_MAX_DIMS];
    uint64_t begin, end;
    il_tensor *t; /* owned once read */
} st_entry;

struct il_safetensors {
    il_ctx *ctx;
    int n, nmeta, metacap; /* metacap: the size of the metadata arrays */
    st_entry *e;           /* n entries */
    char **mkey, **mval;   /* nmeta each, owned (strlen + 1 bytes) */
};

/* What a read is working on. */
typedef struct rd {
    il_ctx *ctx;
    const char *path;
    FILE *fp;
    uint64_t fsize, hlen; /* file size, header length */
} rd;

/* IL_E_FORMAT with "<path>: " and the printf-formatted detail. */
static il_status bad(rd *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static il_status bad(rd *r, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ili_seterr(r->ctx, IL_E_FORMAT, "%s: %s", r->path, msg);
}

void il_safetensors_free(il_safetensors *f) {
    if (f == NULL) return;
    il_ctx *ctx = f->ctx;
    for (int i = 0; i < f->n; i++) {
        if (f->e[i].name) ili_free(ctx, f->e[i].name, f->e[i].nlen + 1);
        il_tensor_free(f->e[i].t);
    }
    for (int i = 0; i < f->nmeta; i++) {
        if (f->mkey[i]) ili_free(ctx, f->mkey[i], strlen(f->mkey[i]) + 1);
        if (f->mval[i]) ili_free(ctx, f->mval[i], strlen(f->mval[i]) + 1);
    }
    if (f->e) ili_free(ctx, f->e, sizeof *f->e * (size_t)(f->n ? f->n : 1));
    if (f->mkey) ili_free(ctx, f->mkey, sizeof(char *) * (size_t)f->metacap);
    if (f->mval) ili_free(ctx, f->mval, sizeof(char *) * (size_t)f->metacap);
    ili_free(ctx, f, sizeof *f);
}

/* ---- the header -------------------------------------------------------------------------- */

/* Reads the length field and the header text (NUL-terminated, new block of hlen + 1). */
static il_status read_header(rd *r, char **out) {
    unsigned char b8[8];
    *out = NULL;
    if (fseek(r->fp, 0, SEEK_END) != 0 || ftell(r->fp) < 0)
        return ili_seterr(r->ctx, IL_E_IO, "%s: cannot seek", r->path);
    r->fsize = (uint64_t)ftell(r->fp);
    rewind(r->fp);
    if (r->fsize < 8)
        return bad(r, "file too short (%lld bytes, the header length takes 8)",
                   (long long)r->fsize);
    if (fread(b8, 1, 8, r->fp) != 8) return ili_seterr(r->ctx, IL_E_IO, "%s: read failed", r->path);
    r->hlen = 0;
    for (int i = 7; i >= 0; i--)
        r->hlen = (r->hlen << 8) | b8[i];
    if (r->hlen > r->fsize - 8)
        return bad(r,
                   "header length too big: %lld bytes, but the file has only %lld after the "
                   "length field",
                   (long long)(r->hlen > INT64_MAX ? INT64_MAX : r->hlen),
                   (long long)(r->fsize - 8));
    if (r->hlen < 2 || r->hlen > (uint64_t)ILI_ST_MAX_HEADER)
        return bad(r, "bad header length: %lld bytes (2 to %lld accepted)", (long long)r->hlen,
                   (long long)ILI_ST_MAX_HEADER);
    char *h = ili_malloc(r->ctx, (size_t)r->hlen + 1);
    if (h == NULL) return ili_nomem(r->ctx, (size_t)r->hlen + 1);
    if (fread(h, 1, (size_t)r->hlen, r->fp) != (size_t)r->hlen) {
        ili_free(r->ctx, h, (size_t)r->hlen + 1);
        return ili_seterr(r->ctx, IL_E_IO, "%s: read failed", r->path);
    }
    h[r->hlen] = '\0';
    *out = h;
    return IL_OK;
}

/* An integer-valued JSON number in [0, lim]. */
static int getint(const cJSON *j, double lim, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= lim) || floor(v) != v) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* Checks one tensor entry's object and fills e (not the name). */
static il_status parse_entry(rd *r, const cJSON *o, st_entry *e, uint64_t dsize) {
    const char *nm = o->string;
    if (!cJSON_IsObject(o)) return bad(r, "tensor '%s': not an object", nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
        return bad(r, "tensor '%s': needs dtype, shape and data_offsets", nm);
    int k = ili_st_dtype_parse(dt->valuestring);
    if (k < 0)
        return ili_seterr(r->ctx, IL_E_FORMAT,
                          "%s: tensor '%s': unsupported dtype '%.40s' "
                          "(F32, F64 and I64 are read)",
                          r->path, nm, dt->valuestring);
    e->dt = (il_dtype)k;
    e->ndim = cJSON_GetArraySize(sh);
    if (e->ndim > IL_MAX_DIMS)
        return bad(r, "tensor '%s': %d dimensions (at most %d)", nm, e->ndim, IL_MAX_DIMS);
    uint64_t numel = 1, v;
    for (int d = 0; d < e->ndim; d++) {
        if (!getint(cJSON_GetArrayItem(sh, d), 9007199254740992.0, &v))
            return bad(r, "tensor '%s': shape entry %d is not a size", nm, d);
        e->shape[d] = (int64_t)v;
        numel = v == 0 || numel == 0 ? 0 : (numel > UINT64_MAX / v ? UINT64_MAX : numel * v);
    }
    uint64_t b, en;
    if (cJSON_GetArraySize(of) != 2 || !getint(cJSON_GetArrayItem(of, 0), 1.8e19, &b) ||
        !getint(cJSON_GetArrayItem(of, 1), 1.8e19, &en) || b > en)
        return bad(r, "tensor '%s': data_offsets must be [begin, end], begin <= end", nm);
    if (en > dsize)
        return bad(r, "tensor '%s': data_offsets end %lld is past the data section (%lld bytes)",
                   nm, (long long)(en > INT64_MAX ? INT64_MAX : en), (long long)dsize);
    size_t es = il_dtype_size(e->dt);
    if (numel > (en - b) / es || numel * es != en - b)
        return bad(r, "tensor '%s': %lld bytes for its shape, but data_offsets span %lld", nm,
                   numel > (uint64_t)INT64_MAX / 8 ? -1LL : (long long)(numel * es),
                   (long long)(en - b));
    e->begin = b;
    e->end = en;
    return IL_OK;
}

/* Copies the "__metadata__" object (strings only) into f. */
static il_status parse_meta(rd *r, const cJSON *m, il_safetensors *f) {
    if (!cJSON_IsObject(m)) return bad(r, "__metadata__ is not an object");
    int n = cJSON_GetArraySize(m);
    size_t bytes = sizeof(char *) * (size_t)(n ? n : 1);
    f->mkey = ili_malloc(r->ctx, bytes);
    f->mval = ili_malloc(r->ctx, bytes);
    if (!f->mkey || !f->mval) return ili_nomem(r->ctx, bytes);
    /* From here il_safetensors_free frees the arrays and whatever entries are not NULL. */
    memset(f->mkey, 0, bytes);
    memset(f->mval, 0, bytes);
    f->metacap = n ? n : 1;
    f->nmeta = n;
    int i = 0;
    for (const cJSON *c = m->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c))
            return bad(r, "__metadata__ '%s': values must be strings", c->string);
        f->mkey[i] = ili_strdup(r->ctx, c->string);
        f->mval[i] = ili_strdup(r->ctx, c->valuestring);
        if (!f->mkey[i] || !f->mval[i]) return ili_nomem(r->ctx, strlen(c->valuestring) + 1);
    }
    return IL_OK;
}

/* Orders entries by their first byte, for the overlap check. */
static int by_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

/* No two entries share a name or a byte (empty tensors take no bytes). */
static il_status check_layout(rd *r, il_safetensors *f) {
    if (f->n < 2) return IL_OK;
    size_t bytes = sizeof(st_entry *) * (size_t)f->n;
    st_entry **ix = ili_malloc(r->ctx, bytes);
    if (ix == NULL) return ili_nomem(r->ctx, bytes);
    for (int i = 0; i < f->n; i++)
        ix[i] = &f->e[i];
    il_status s = IL_OK;
    qsort(ix, (size_t)f->n, sizeof *ix, by_name);
    for (int i = 1; i < f->n && s == IL_OK; i++)
        if (strcmp(ix[i - 1]->name, ix[i]->name) == 0)
            s = bad(r, "tensor '%s' is listed twice", ix[i]->name);
    qsort(ix, (size_t)f->n, sizeof *ix, by_begin);
    const st_entry *prev = NULL;
    for (int i = 0; i < f->n && s == IL_OK; i++) {
        if (ix[i]->begin == ix[i]->end) continue;
        if (prev && ix[i]->begin < prev->end)
            s = ili_seterr(r->ctx, IL_E_FORMAT,
                           "%s: tensors '%s' and '%s' overlap (bytes %llu.."
                           "%llu and %llu..%llu)",
                           r->path, prev->name, ix[i]->name, (unsigned long long)prev->begin,
                           (unsigned long long)prev->end, (unsigned long long)ix[i]->begin,
                           (unsigned long long)ix[i]->end);
        prev = ix[i];
    }
    ili_free(r->ctx, ix, bytes);
    return s;
}

/* Fills f from the parsed header: metadata and checked entries. */
static il_status parse_tree(rd *r, const cJSON *root, il_safetensors *f) {
    if (!cJSON_IsObject(root)) return bad(r, "the header is not a JSON object");
    uint64_t dsize = r->fsize - 8 - r->hlen;
    int n = 0;
    for (const cJSON *c = root->child; c; c = c->next)
        n += strcmp(c->string, "__metadata__") != 0;
    size_t bytes = sizeof *f->e * (size_t)(n ? n : 1);
    if ((f->e = ili_malloc(r->ctx, bytes)) == NULL) return ili_nomem(r->ctx, bytes);
    memset(f->e, 0, bytes);
    f->n = n;
    int i = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (f->mkey != NULL) return bad(r, "__metadata__ is listed twice");
            IL_TRY(parse_meta(r, c, f));
            continue;
        }
        st_entry *e = &f->e[i++];
        if (c->string[0] == '\0') return bad(r, "a tensor has an empty name");
        IL_TRY(parse_entry(r, c, e, dsize));
        e->nlen = strlen(c->string);
        if ((e->name = ili_strdup(r->ctx, c->string)) == NULL)
            return ili_nomem(r->ctx, e->nlen + 1);
    }
    return check_layout(r, f);
}

/* Reads each entry's bytes into a new CPU tensor. */
static il_status read_data(rd *r, il_safetensors *f) {
    for (int i = 0; i < f->n; i++) {
        st_entry *e = &f->e[i];
        IL_TRY(il_tensor_empty(r->ctx, e->ndim, e->shape, e->dt, IL_DEVICE_CPU, &e->t));
        size_t n = (size_t)(e->end - e->begin);
        if (n == 0) continue;
        if (fseek(r->fp, (long)(8 + r->hlen + e->begin), SEEK_SET) != 0 ||
            fread(il_tensor_data(e->t), 1, n, r->fp) != n)
            return ili_seterr(r->ctx, IL_E_IO, "%s: cannot read tensor '%s'", r->path, e->name);
    }
    return IL_OK;
}

/* Header, tree, data, with the cJSON tree freed on every path. */
static il_status read_all(rd *r, il_safetensors *f) {
    char *h = NULL;
    IL_TRY(read_header(r, &h));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)r->hlen, &end, 0);
    il_status s;
    if (root == NULL) {
        long long at = end ? (long long)(end - h) : 0;
        s = ili_seterr(r->ctx, IL_E_FORMAT,
                       "%s: the header is not valid JSON (near byte %lld "
                       "of %lld)",
                       r->path, at + 8, (long long)r->hlen);
    } else {
        /* After the object only the padding (spaces) may follow. */
        const char *p = end;
        while (p < h + r->hlen && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        if (p != h + r->hlen)
            s = bad(r, "the header has bytes after its JSON object (at byte %lld)",
                    (long long)(p - h) + 8);
        else
            s = parse_tree(r, root, f);
        cJSON_Delete(root);
    }
    ili_free(r->ctx, h, (size_t)r->hlen + 1);
    return s == IL_OK ? read_data(r, f) : s;
}

il_status il_safetensors_read(il_ctx *ctx, const char *path, il_safetensors **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (path == NULL || out == NULL) return ili_seterr(ctx, IL_E_ARG, "safetensors_read: NULL");
    *out = NULL;
    il_safetensors *f = ili_malloc(ctx, sizeof *f);
    if (f == NULL) return ili_nomem(ctx, sizeof *f);
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    rd r = {ctx, path, fopen(path, "rb"), 0, 0};
    if (r.fp == NULL) {
        ili_free(ctx, f, sizeof *f);
        return ili_seterr(ctx, IL_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    il_status s = read_all(&r, f);
    fclose(r.fp);
    if (s != IL_OK) {
        il_safetensors_free(f);
        return s;
    }
    *out = f;
    return IL_OK;
}

int il_safetensors_count(const il_safetensors *f) {
    return f ? f->n : 0;
}

const char *il_safetensors_name(const il_safetensors *f, int i) {
    return f && i >= 0 && i < f->n ? f->e[i].name : NULL;
}

const il_tensor *il_safetensors_tensor(const il_safetensors *f, int i) {
    return f && i >= 0 && i < f->n ? f->e[i].t : NULL;
}

const il_tensor *il_safetensors_find(const il_safetensors *f, const char *name) {
    for (int i = 0; f && name && i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0) return f->e[i].t;
    return NULL;
}

const char *il_safetensors_meta(const il_safetensors *f, const char *key) {
    for (int i = 0; f && key && i < f->nmeta; i++)
        if (strcmp(f->mkey[i], key) == 0) return f->mval[i];
    return NULL;
}
