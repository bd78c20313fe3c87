/*
 * fuzz_json.c: the JSON dataset loader. Any input must load or fail with a format status and no
 * leak, with and without a dataset name.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t base;
    il_ctx *ctx = fz_ctx(&base);
    for (int k = 0; k < 2; k++) {
        il_dataset d;
        il_status s = il_data_parse_json(ctx, (const char *)data, size, "fuzz.json", k ? "a" : NULL,
                                         IL_DTYPE_F32, &d);
        fz_check(s == IL_OK || s == IL_E_FORMAT || s == IL_E_ARG, "unexpected status");
        fz_check(s == IL_OK || (d.x == NULL && d.y_test == NULL), "outputs set on failure");
        il_dataset_free(&d);
    }
    fz_done(ctx, base);
    return 0;
}
