/*
 * data_impl.h: helpers shared by the data, image and expression files (data_*.c, image*.c,
 * expr_*.c): whole-file reading and atomic writing, random generator choice (the growing
 * string is strbuf.c's ili_sbuf). Not installed.
 */
#ifndef IL_DATA_IMPL_H
#define IL_DATA_IMPL_H

#include "il_impl.h"

/* The last component of path, for messages ("data/x.csv" -> "x.csv"). */
IL_INTERNAL const char *ili_basename(const char *path);

/* Reads the whole file at path into a new block of *len + 1 bytes (NUL-terminated), freed with
 * ili_free(ctx, buf, *len + 1). IL_E_IO naming the file and the reason, IL_E_NOMEM. */
IL_INTERNAL il_status ili_read_file(il_ctx *ctx, const char *path, char **buf, size_t *len);
/* Writes len bytes to path through a temporary file in the same folder renamed over it, so the
 * old file survives any failure. IL_E_IO naming the file and the reason. */
IL_INTERNAL il_status ili_write_file_atomic(il_ctx *ctx, const char *path, const void *data,
                                            size_t len);

/* The generator for a draw: a private one seeded from *seed (in *local), or the context's. */
IL_INTERNAL ili_rng *ili_pick_rng(il_ctx *ctx, const uint64_t *seed, ili_rng *local);
/* Uniform integer in [0, n) for n >= 1, without modulo bias. */
IL_INTERNAL uint64_t ili_rng_below(ili_rng *r, uint64_t n);

/* ---- stb glue (image_stb.c) --------------------------------------------------------------- */

/* Decodes an image file held in memory into 8-bit pixels (*c channels as stored, 1..4), from
 * the context's allocator; release with ili_stb_free. On failure returns NULL and *reason says
 * why (stb's words). */
IL_INTERNAL unsigned char *ili_stb_decode(il_ctx *ctx, const unsigned char *buf, size_t len, int *w,
                                          int *h, int *c, const char **reason);
/* Encodes 8-bit pixels (w x h x c, rows packed) as PNG; NULL when out of memory. */
IL_INTERNAL unsigned char *ili_stb_png(il_ctx *ctx, const unsigned char *pix, int w, int h, int c,
                                       int *len);
IL_INTERNAL void ili_stb_free(il_ctx *ctx, void *p);

#endif
