/*
 * data_json.c: the seed project's JSON datasets (il_data_load_json, il_data_parse_json), parsed
 * with cJSON.
 *
 * cJSON allocates its tree with malloc: its allocator hooks (cJSON_InitHooks) are process-wide,
 * and a library embedded in someone else's process must not change them. The tree lives only
 * inside one call and is freed on every path; the file buffer and the tensors go through the
 * context's allocator as usual.
 */
#include "data_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* What one load is working on: the context, the name for messages and the result dtype. */
typedef struct jload {
    il_ctx *ctx;
    const char *name;
    il_dtype dt;
} jload;

static const char *jtype(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "a number";
}

/* Reads obj[key] as an integer >= lo into *v; *v = -1 when absent and not required. */
static il_status getint(jload *j, const cJSON *obj, const char *key, int required, int64_t lo,
                        int64_t *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *v = -1;
    if (it == NULL) {
        if (!required) return IL_OK;
        return ili_seterr(j->ctx, IL_E_FORMAT, "%s: missing field '%s'", j->name, key);
    }
    if (!cJSON_IsNumber(it))
        return ili_seterr(j->ctx, IL_E_FORMAT, "%s: field '%s' is %s, expected an integer", j->name,
                          key, jtype(it));
    double d = it->valuedouble;
    if (!(d >= (double)lo && d <= 1e12 && d == floor(d)))
        return ili_seterr(j->ctx, IL_E_FORMAT, "%s: field '%s' must be an integer >= %lld, got %g",
                          j->name, key, (long long)lo, d);
    *v = (int64_t)d;
    return IL_OK;
}

/* Makes a (rows, cols) tensor from obj[key], which must be an array of rows*cols numbers;
 * expect describes the count for messages ("m*n = 8"). */
static il_status getmatrix(jload *j, const cJSON *obj, const char *key, int64_t rows, int64_t cols,
                           const char *expect, il_tensor **out) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (arr == NULL) return ili_seterr(j->ctx, IL_E_FORMAT, "%s: missing field '%s'", j->name, key);
    if (!cJSON_IsArray(arr))
        return ili_seterr(j->ctx, IL_E_FORMAT, "%s: field '%s' is %s, expected an array", j->name,
                          key, jtype(arr));
    int64_t want = rows * cols, have = cJSON_GetArraySize(arr);
    if (have != want)
        return ili_seterr(j->ctx, IL_E_FORMAT, "%s: field '%s' has %lld numbers, expected %s",
                          j->name, key, (long long)have, expect);
    size_t bytes = (size_t)(want > 0 ? want : 1) * sizeof(double);
    double *buf = ili_malloc(j->ctx, bytes);
    if (buf == NULL) return ili_nomem(j->ctx, bytes);
    int64_t i = 0;
    il_status s = IL_OK;
    for (const cJSON *v = arr->child; v != NULL && s == IL_OK; v = v->next, i++) {
        if (!cJSON_IsNumber(v))
            s = ili_seterr(j->ctx, IL_E_FORMAT,
                           "%s: field '%s': element %lld is %s, expected a number", j->name, key,
                           (long long)i + 1, jtype(v));
        else
            buf[i] = v->valuedouble;
    }
    int64_t shape[2] = {rows, cols};
    if (s == IL_OK)
        s = il_tensor_from_data(j->ctx, 2, shape, j->dt, IL_DEVICE_CPU, buf, IL_DTYPE_F64, out);
    ili_free(j->ctx, buf, bytes);
    return s;
}

/* Lists the names of obj's members that hold datasets (objects) into b, comma separated. */
static void listsets(const cJSON *root, ili_sbuf *b) {
    for (const cJSON *v = root->child; v != NULL; v = v->next) {
        if (!cJSON_IsObject(v) || v->string == NULL) continue;
        if (b->len > 0) ili_sbuf_add(b, ", ", 2);
        ili_sbuf_add(b, v->string, strlen(v->string));
    }
}

/* Reports field as unknown (or no dataset found at all), naming the datasets there are. */
static il_status nosuchset(jload *j, const cJSON *root, const char *field, il_status code) {
    ili_sbuf b = {j->ctx, NULL, 0, 0, 0};
    listsets(root, &b);
    const char *names = b.block && !b.failed ? b.block + sizeof(size_t) : "";
    il_status s;
    if (field != NULL)
        s = ili_seterr(j->ctx, code, "%s: no dataset '%s' (datasets: %s)", j->name, field,
                       names[0] ? names : "none");
    else
        s = ili_seterr(j->ctx, code, "%s: several datasets (%s); pass one's name", j->name, names);
    ili_free(j->ctx, b.block, b.cap);
    return s;
}

/* Finds the dataset object: root itself, root[field], or root's only member holding "m". */
static il_status pickset(jload *j, const cJSON *root, const char *field, const cJSON **set) {
    *set = NULL;
    if (field != NULL) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
        if (!cJSON_IsObject(v)) return nosuchset(j, root, field, IL_E_ARG);
        *set = v;
        return IL_OK;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "m") != NULL) {
        *set = root;
        return IL_OK;
    }
    int found = 0;
    for (const cJSON *v = root->child; v != NULL; v = v->next)
        if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "m") != NULL) {
            *set = v;
            found++;
        }
    if (found == 1) return IL_OK;
    *set = NULL;
    if (found == 0) return ili_seterr(j->ctx, IL_E_FORMAT, "%s: missing field 'm'", j->name);
    return nosuchset(j, root, NULL, IL_E_FORMAT);
}

/* Builds the four tensors of the dataset object set. */
static il_status readset(jload *j, const cJSON *set, il_dataset *out) {
    int64_t m, n, mt;
    char expect[96];
    IL_TRY(getint(j, set, "m", 1, 0, &m));
    IL_TRY(getint(j, set, "n", 1, 1, &n));
    IL_TRY(getint(j, set, "m_test", 0, 0, &mt));
    /* Bounds the products below; the arrays must match them, so nothing real is refused. */
    if (m > ((int64_t)1 << 40) / n || mt > ((int64_t)1 << 40) / n)
        return ili_seterr(j->ctx, IL_E_FORMAT, "%s: m, m_test or n is too large", j->name);
    snprintf(expect, sizeof expect, "m*n = %lld", (long long)(m * n));
    IL_TRY(getmatrix(j, set, "x", m, n, expect, &out->x));
    snprintf(expect, sizeof expect, "m = %lld", (long long)m);
    IL_TRY(getmatrix(j, set, "y", m, 1, expect, &out->y));
    if (mt < 0 && cJSON_GetObjectItemCaseSensitive(set, "x_test") == NULL) {
        /* No test set: the training set stands in, as the seed's XOR file does explicitly. */
        IL_TRY(il_tensor_ref(j->ctx, out->x, &out->x_test));
        return il_tensor_ref(j->ctx, out->y, &out->y_test);
    }
    if (mt < 0) return ili_seterr(j->ctx, IL_E_FORMAT, "%s: missing field 'm_test'", j->name);
    snprintf(expect, sizeof expect, "m_test*n = %lld", (long long)(mt * n));
    IL_TRY(getmatrix(j, set, "x_test", mt, n, expect, &out->x_test));
    snprintf(expect, sizeof expect, "m_test = %lld", (long long)mt);
    return getmatrix(j, set, "y_test", mt, 1, expect, &out->y_test);
}

/* Line and column (1-based) of byte pos in text. */
static void linecol(const char *text, size_t pos, int64_t *line, int64_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

il_status il_data_parse_json(il_ctx *ctx, const char *text, size_t len, const char *name,
                             const char *field, il_dtype dt, il_dataset *out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL || (text == NULL && len > 0))
        return ili_seterr(ctx, IL_E_ARG, "load_json: NULL argument");
    memset(out, 0, sizeof *out);
    if (il_dtype_size(dt) == 0) return ili_seterr(ctx, IL_E_DTYPE, "load_json: unknown dtype");
    jload j = {ctx, name ? name : "json", dt};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text ? text : "", len, &end, 0);
    if (root == NULL) {
        int64_t line, col;
        size_t pos = end && end >= text && (size_t)(end - text) <= len ? (size_t)(end - text) : 0;
        linecol(text ? text : "", pos, &line, &col);
        return ili_seterr(ctx, IL_E_FORMAT, "%s: not valid JSON (error at line %lld, column %lld)",
                          j.name, (long long)line, (long long)col);
    }
    const cJSON *set = NULL;
    il_status s = cJSON_IsObject(root)
                      ? pickset(&j, root, field, &set)
                      : ili_seterr(ctx, IL_E_FORMAT, "%s: the top level is %s, expected an object",
                                   j.name, jtype(root));
    if (s == IL_OK) s = readset(&j, set, out);
    cJSON_Delete(root);
    if (s != IL_OK) il_dataset_free(out);
    return s;
}

il_status il_data_load_json(il_ctx *ctx, const char *path, const char *field, il_dtype dt,
                            il_dataset *out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out != NULL) memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    IL_TRY(ili_read_file(ctx, path, &buf, &len));
    il_status s = il_data_parse_json(ctx, buf, len, ili_basename(path), field, dt, out);
    ili_free(ctx, buf, len + 1);
    return s;
}
