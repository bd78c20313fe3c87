/*
 * fuzz_csv.c: the CSV loader, with an automatic, a forced and no header, and with ';'. Any input
 * must load or fail with a format status and no leak; a loaded table's names match its columns.
 */
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t base;
    il_ctx *ctx = fz_ctx(&base);
    static const il_csv_opts opts[] = {{-1, ',', IL_DTYPE_F32},
                                       {1, ',', IL_DTYPE_F64},
                                       {0, ',', IL_DTYPE_F32},
                                       {-1, ';', IL_DTYPE_F32}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        il_tensor *t = NULL;
        char *names = NULL;
        il_status s =
            il_data_parse_csv(ctx, (const char *)data, size, "fuzz.csv", &opts[k], &t, &names);
        fz_check(s == IL_OK || s == IL_E_FORMAT || s == IL_E_RANGE, "unexpected status");
        if (s == IL_OK && names != NULL) { /* walk the names: exactly one per column */
            const char *p = names;
            for (int64_t j = 0; j < il_tensor_shape(t)[1]; j++)
                p += strlen(p) + 1;
        }
        il_ctx_free_string(ctx, names);
        il_tensor_free(t);
    }
    fz_done(ctx, base);
    return 0;
}
