/* consumer: links an installed iron-learn and does one small computation, checking statuses. */
#include <stdio.h>
#include <string.h>

#include <ironlearn.h>

int main(void) {
    il_ctx *ctx = NULL;
    il_tensor *a = NULL, *s = NULL;
    double sum = 0;
    if (strcmp(il_version(), IL_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s, library %s\n", IL_VERSION_STRING, il_version());
        return 1;
    }
    if (il_ctx_new(&ctx) != IL_OK) return 1;
    il_status st = il_tensor_arange(ctx, 1, 5, 1, IL_DTYPE_F32, IL_DEVICE_CPU, &a);
    if (st == IL_OK) st = il_tensor_reduce(ctx, IL_OP_SUM, a, IL_AXIS_ALL, 0, &s);
    if (st == IL_OK) st = il_tensor_item(ctx, s, &sum);
    if (st != IL_OK) fprintf(stderr, "consumer: %s\n", il_errmsg(ctx));
    il_tensor_free(a);
    il_tensor_free(s);
    il_ctx_free(ctx);
    if (st != IL_OK || sum != 10) return 1;
    printf("consumer: iron-learn %s, 1+2+3+4 = %g\n", il_version(), sum);
    return 0;
}
