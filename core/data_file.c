/*
 * data_file.c: what the loaders share: reading a whole file, writing one atomically, the choice
 * of random generator, and il_dataset_free.
 */
#include "data_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *ili_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Size of an open file by seeking; -1 when it cannot be sought (a pipe). */
static long filesize(FILE *f) {
    if (fseek(f, 0, SEEK_END) != 0) return -1;
    long n = ftell(f);
    if (fseek(f, 0, SEEK_SET) != 0) return -1;
    return n;
}

il_status ili_read_file(il_ctx *ctx, const char *path, char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (path == NULL) return ili_seterr(ctx, IL_E_ARG, "path is NULL");
    FILE *f = fopen(path, "rb");
    if (f == NULL) return ili_seterr(ctx, IL_E_IO, "%s: cannot open (%s)", path, strerror(errno));
    long n = filesize(f);
    if (n < 0) {
        fclose(f);
        return ili_seterr(ctx, IL_E_IO, "%s: cannot read (not a regular file)", path);
    }
    char *b = ili_malloc(ctx, (size_t)n + 1);
    if (b == NULL) {
        fclose(f);
        return ili_nomem(ctx, (size_t)n + 1);
    }
    size_t got = fread(b, 1, (size_t)n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != (size_t)n) {
        ili_free(ctx, b, (size_t)n + 1);
        return ili_seterr(ctx, IL_E_IO, "%s: read error", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = (size_t)n;
    return IL_OK;
}

il_status ili_write_file_atomic(il_ctx *ctx, const char *path, const void *data, size_t len) {
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ili_seterr(ctx, IL_E_IO, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) return ili_seterr(ctx, IL_E_IO, "%s: cannot write (%s)", path, strerror(errno));
    size_t put = fwrite(data, 1, len, f);
    /* fclose flushes: its failure (a full disk) is a write failure too. */
    int bad = put != len || fflush(f) != 0;
    int saved = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad || rename(tmp, path) != 0) {
        if (!bad) saved = errno;
        remove(tmp);
        return ili_seterr(ctx, IL_E_IO, "%s: cannot write (%s)", path, strerror(saved));
    }
    return IL_OK;
}

/* ---- random generators ------------------------------------------------------------------- */

ili_rng *ili_pick_rng(il_ctx *ctx, const uint64_t *seed, ili_rng *local) {
    if (seed == NULL) return &ctx->rng;
    ili_rng_seed(local, *seed);
    return local;
}

uint64_t ili_rng_below(ili_rng *r, uint64_t n) {
    /* Rejection of the top partial range (Lemire's threshold), so every value is equally likely. */
    uint64_t limit = -n % n;
    for (;;) {
        uint64_t v = ili_rng_next(r);
        if (v >= limit) return v % n;
    }
}

void il_dataset_free(il_dataset *d) {
    if (d == NULL) return;
    il_tensor_free(d->x);
    il_tensor_free(d->y);
    il_tensor_free(d->x_test);
    il_tensor_free(d->y_test);
    d->x = d->y = d->x_test = d->y_test = NULL;
}
