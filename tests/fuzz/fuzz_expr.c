/*
 * fuzz_expr.c: the expression parser. Any input must parse or fail cleanly; whatever parses
 * must print to source that parses to the same text again and evaluates the same, on numbers
 * and on a small tensor.
 */
#include "fuzz_util.h"

#include <math.h>
#include <string.h>

static void check_roundtrip(il_ctx *ctx, const il_expr *e) {
    char *src = NULL, *again = NULL;
    il_expr *back = NULL;
    fz_check(il_expr_format(ctx, e, &src) == IL_OK, "format failed");
    fz_check(il_expr_parse(ctx, src, &back) == IL_OK, "printed source does not parse");
    fz_check(il_expr_format(ctx, back, &again) == IL_OK, "format failed");
    fz_check(strcmp(src, again) == 0, "printing is not stable");
    for (double x = -3; x <= 3; x += 0.75) {
        double a = il_expr_eval(e, x), b = il_expr_eval(back, x);
        fz_check(a == b || (isnan(a) && isnan(b)), "reparsed expression evaluates differently");
    }
    il_ctx_free_string(ctx, src);
    il_ctx_free_string(ctx, again);
    il_expr_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t base;
    il_ctx *ctx = fz_ctx(&base);
    il_expr *e = NULL;
    il_status s = il_expr_parse_n(ctx, (const char *)data, size, &e);
    fz_check(s == IL_OK || s == IL_E_FORMAT, "unexpected status");
    if (s == IL_OK) {
        il_tensor *x = NULL, *y = NULL;
        check_roundtrip(ctx, e);
        fz_check(il_tensor_linspace(ctx, -2, 2, 5, IL_DTYPE_F64, IL_DEVICE_CPU, &x) == IL_OK,
                 "linspace");
        fz_check(il_expr_eval_tensor(ctx, e, x, &y) == IL_OK, "tensor evaluation failed");
        il_tensor_free(x);
        il_tensor_free(y);
        il_expr_free(e);
    }
    fz_done(ctx, base);
    return 0;
}
