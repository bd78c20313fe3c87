/*
 * safetensors_write.c: il_safetensors_write, an atomic safetensors writer.
 *
 * Layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length N,
 * N bytes of JSON ({"__metadata__": {string: string}, name: {"dtype", "shape",
 * "data_offsets": [begin, end]}}, padded with spaces to a multiple of 8 so the data section is
 * aligned), then the tensors' bytes, little-endian and row-major, back to back in argument order.
 *
 * Atomicity: everything goes to a mkstemp file next to the target, which is fsynced, closed and
 * renamed over the target; then the folder is fsynced so the rename itself is durable. Any
 * failure removes the temporary file, so the target is either the old file or the whole new one.
 */
/* mkstemp, fsync, fchmod: POSIX 2008, beyond C11. */
#define _POSIX_C_SOURCE 200809L
#include "ckpt_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ili_ckpt_fail_at = 0;

const char *ili_st_dtype_name(il_dtype dt) {
    switch (dt) {
    case IL_DTYPE_F32: return "F32";
    case IL_DTYPE_F64: return "F64";
    case IL_DTYPE_I64: return "I64";
    default: return NULL;
    }
}

int ili_st_dtype_parse(const char *s) {
    if (strcmp(s, "F32") == 0) return IL_DTYPE_F32;
    if (strcmp(s, "F64") == 0) return IL_DTYPE_F64;
    if (strcmp(s, "I64") == 0) return IL_DTYPE_I64;
    return -1;
}

/* ---- the header -------------------------------------------------------------------------- */

/* Builds the padded header for the tensors and metadata into b (b->failed on no memory). */
static void build_header(ili_sbuf *b, int n, const char *const *names,
                         const il_tensor *const *tensors, int nmeta, const char *const *mk,
                         const char *const *mv) {
    uint64_t off = 0;
    ili_sbuf_printf(b, "{\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
        if (i) ili_sbuf_add(b, ",", 1);
        ili_sbuf_json_string(b, mk[i]);
        ili_sbuf_add(b, ":", 1);
        ili_sbuf_json_string(b, mv[i]);
    }
    ili_sbuf_add(b, "}", 1);
    for (int i = 0; i < n; i++) {
        const il_tensor *t = tensors[i];
        uint64_t bytes = (uint64_t)il_tensor_numel(t) * il_dtype_size(t->dtype);
        ili_sbuf_add(b, ",", 1);
        ili_sbuf_json_string(b, names[i]);
        ili_sbuf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", ili_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            ili_sbuf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        ili_sbuf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                        (unsigned long long)(off + bytes));
        off += bytes;
    }
    ili_sbuf_add(b, "}", 1);
    while (!b->failed && b->len % 8 != 0)
        ili_sbuf_add(b, " ", 1);
}

/* IL_E_ARG/IL_E_DTYPE unless every name is non-empty and unique and every tensor writable. */
static il_status check_args(il_ctx *ctx, const char *path, int n, const char *const *names,
                            const il_tensor *const *tensors, int nmeta, const char *const *mk,
                            const char *const *mv) {
    if (path == NULL || *path == '\0' || n < 0 || nmeta < 0 || (n > 0 && (!names || !tensors)) ||
        (nmeta > 0 && (!mk || !mv)))
        return ili_seterr(ctx, IL_E_ARG, "safetensors_write: bad arguments");
    for (int i = 0; i < nmeta; i++)
        if (mk[i] == NULL || mv[i] == NULL)
            return ili_seterr(ctx, IL_E_ARG, "safetensors_write: metadata %d is NULL", i);
    for (int i = 0; i < n; i++) {
        if (names[i] == NULL || *names[i] == '\0' || strcmp(names[i], "__metadata__") == 0)
            return ili_seterr(ctx, IL_E_ARG, "%s: tensor %d has no usable name", path, i);
        IL_TRY(ili_check_tensor(ctx, tensors[i], "safetensors_write"));
        if (ili_st_dtype_name(tensors[i]->dtype) == NULL)
            return ili_seterr(ctx, IL_E_DTYPE, "%s: tensor '%s' has an unsupported dtype", path,
                              names[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return ili_seterr(ctx, IL_E_ARG, "%s: tensor name '%s' is used twice", path,
                                  names[i]);
    }
    return IL_OK;
}

/* ---- the file ---------------------------------------------------------------------------- */

/* A write in progress: the temporary file and what failed. */
typedef struct wfile {
    il_ctx *ctx;
    const char *path;
    char *tmp; /* owned: "<path>.tmp.XXXXXX" */
    size_t tmpn;
    int fd;
    int created; /* the temporary file exists (mkstemp succeeded) */
} wfile;

/* Counts down the test hook; non-zero when this operation is to fail. */
static int injected(void) {
    return ili_ckpt_fail_at > 0 && --ili_ckpt_fail_at == 0;
}

static il_status io_fail(wfile *w, const char *what) {
    int e = injected() ? EIO : errno;
    return ili_seterr(w->ctx, IL_E_IO, "%s: %s failed: %s", w->path, what, strerror(e));
}

static il_status wr(wfile *w, const void *p, size_t n) {
    const char *c = (const char *)p;
    if (injected())
        return ili_seterr(w->ctx, IL_E_IO, "%s: write failed: %s (injected)", w->path,
                          strerror(EIO));
    while (n > 0) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return io_fail(w, "write");
        c += k;
        n -= (size_t)k;
    }
    return IL_OK;
}

/* Creates the temporary file next to the target (same folder, so rename is atomic). */
static il_status open_tmp(wfile *w) {
    w->tmpn = strlen(w->path) + 12;
    w->tmp = ili_malloc(w->ctx, w->tmpn);
    if (w->tmp == NULL) return ili_nomem(w->ctx, w->tmpn);
    snprintf(w->tmp, w->tmpn, "%s.tmp.XXXXXX", w->path);
    if (injected()) {
        errno = ENOSPC;
        return ili_seterr(w->ctx, IL_E_IO, "%s: cannot create a temporary file: %s (injected)",
                          w->path, strerror(ENOSPC));
    }
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0)
        return ili_seterr(w->ctx, IL_E_IO, "%s: cannot create a temporary file: %s", w->path,
                          strerror(errno));
    w->created = 1;
    /* mkstemp makes the file 0600; a checkpoint is an ordinary file (umask aside). */
    (void)fchmod(w->fd, 0644);
    return IL_OK;
}

/* Writes each tensor's bytes, copying it to host memory (row-major) one at a time. */
static il_status write_data(wfile *w, int n, const il_tensor *const *tensors) {
    for (int i = 0; i < n; i++) {
        const il_tensor *t = tensors[i];
        int64_t numel = il_tensor_numel(t);
        size_t bytes = (size_t)numel * il_dtype_size(t->dtype);
        if (bytes == 0) continue;
        void *host = ili_malloc(w->ctx, bytes);
        if (host == NULL) return ili_nomem(w->ctx, bytes);
        il_status s = il_tensor_read(w->ctx, t, host, t->dtype, numel);
        if (s == IL_OK) s = wr(w, host, bytes); /* hosts here are little-endian (x86, arm64) */
        ili_free(w->ctx, host, bytes);
        IL_TRY(s);
    }
    return IL_OK;
}

/* fsync of the target's folder: makes the rename survive a power cut. */
static il_status sync_dir(wfile *w) {
    const char *slash = strrchr(w->path, '/');
    size_t n = slash ? (size_t)(slash - w->path) : 0;
    char dir[4096];
    if (n >= sizeof dir) n = 0;
    if (n == 0)
        snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
    else
        memcpy(dir, w->path, n), dir[n] = '\0';
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return io_fail(w, "opening the folder");
    int bad = injected() || fsync(fd) != 0;
    int e = errno;
    close(fd);
    errno = e;
    return bad ? io_fail(w, "fsync of the folder") : IL_OK;
}

/* The steps after the header is built; on failure the caller removes the temporary file. */
static il_status write_file(wfile *w, const char *header, size_t hlen, int n,
                            const il_tensor *const *tensors) {
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    IL_TRY(open_tmp(w));
    IL_TRY(wr(w, len8, 8));
    IL_TRY(wr(w, header, hlen));
    IL_TRY(write_data(w, n, tensors));
    if (injected() || fsync(w->fd) != 0) return io_fail(w, "fsync");
    int fd = w->fd;
    w->fd = -1;
    if (injected() || close(fd) != 0) return io_fail(w, "close");
    if (injected() || rename(w->tmp, w->path) != 0) return io_fail(w, "rename");
    ili_free(w->ctx, w->tmp, w->tmpn);
    w->tmp = NULL; /* renamed: nothing to remove any more */
    return sync_dir(w);
}

il_status il_safetensors_write(il_ctx *ctx, const char *path, int n, const char *const *names,
                               const il_tensor *const *tensors, int nmeta,
                               const char *const *meta_keys, const char *const *meta_values) {
    if (ctx == NULL) return IL_E_ARG;
    IL_TRY(check_args(ctx, path, n, names, tensors, nmeta, meta_keys, meta_values));
    ili_sbuf h = {ctx, NULL, 0, 0, 0};
    char *header;
    build_header(&h, n, names, tensors, nmeta, meta_keys, meta_values);
    IL_TRY(ili_sbuf_finish(&h, &header));
    wfile w = {ctx, path, NULL, 0, -1, 0};
    il_status s = write_file(&w, header, h.len, n, tensors);
    if (w.fd >= 0) close(w.fd);
    if (w.tmp != NULL) {
        if (w.created) unlink(w.tmp);
        ili_free(ctx, w.tmp, w.tmpn);
    }
    il_ctx_free_string(ctx, header);
    return s;
}
