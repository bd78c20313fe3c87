/*
 * fuzz_util.h: what the fuzz targets share: a fresh context per input and the leak check that
 * ends each run (every tensor freed, every byte back). A broken invariant aborts, which is what
 * libFuzzer and the corpus replay both report.
 */
#ifndef IL_FUZZ_UTIL_H
#define IL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ironlearn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline il_ctx *fz_ctx(size_t *baseline) {
    il_ctx *ctx = NULL;
    if (il_ctx_new(&ctx) != IL_OK) abort();
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    *baseline = m.bytes_in_use;
    return ctx;
}

static inline void fz_check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz: %s\n", what);
        abort();
    }
}

static inline void fz_done(il_ctx *ctx, size_t baseline) {
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    fz_check(il_ctx_live_tensors(ctx) == 0, "a tensor leaked");
    fz_check(m.bytes_in_use == baseline, "memory leaked");
    il_ctx_free(ctx);
}

#endif
