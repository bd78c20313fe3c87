/*
 * fuzz_safetensors.c: the checkpoint loader (issue 7). Any input, written to a file, must read
 * or fail with IL_E_FORMAT (never IL_E_NOMEM from a lying header: lengths are checked against
 * the file size before anything is allocated), and leak nothing.
 */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include "fuzz_util.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/il_fuzz_st_%ld", (long)getpid());
    FILE *fp = fopen(path, "wb");
    fz_check(fp != NULL, "cannot write the input file");
    fz_check(fwrite(data, 1, size, fp) == size, "cannot write the input file");
    fclose(fp);
    size_t base;
    il_ctx *ctx = fz_ctx(&base);
    il_safetensors *f = NULL;
    il_status s = il_safetensors_read(ctx, path, &f);
    fz_check(s == IL_OK || s == IL_E_FORMAT, "unexpected status");
    fz_check(s == IL_OK || f == NULL, "output set on failure");
    for (int i = 0; i < il_safetensors_count(f); i++)
        fz_check(il_safetensors_tensor(f, i) != NULL, "an entry without a tensor");
    il_safetensors_free(f);
    fz_done(ctx, base);
    remove(path);
    return 0;
}
