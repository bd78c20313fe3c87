/*
 * tensors.c: the C API without Lua. Builds the XOR inputs, broadcasts, multiplies and reduces,
 * checking every status the way a real host program should.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ironlearn.h>

/* Prints t through the library's formatter. */
static il_status show(il_ctx *ctx, const char *label, const il_tensor *t) {
    char *s = NULL;
    il_status st = il_tensor_format(ctx, t, &s);
    if (st != IL_OK) return st;
    printf("%s = %s\n", label, s);
    il_ctx_free_string(ctx, s);
    return IL_OK;
}

static il_status run(il_ctx *ctx) {
    const double xor_x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int64_t shape[2] = {4, 2}, wshape[2] = {2, 3};
    il_tensor *x = NULL, *w = NULL, *h = NULL, *t = NULL, *s = NULL;
    il_status st = il_tensor_from_data(ctx, 2, shape, IL_DTYPE_F32, IL_DEVICE_CPU, xor_x,
                                       IL_DTYPE_F64, &x);
    if (st == IL_OK) st = il_tensor_randn(ctx, 2, wshape, IL_DTYPE_F32, IL_DEVICE_CPU, &w);
    if (st == IL_OK) st = il_tensor_matmul(ctx, x, w, &h);        /* (4, 2) @ (2, 3) */
    if (st == IL_OK) st = il_tensor_unary(ctx, IL_OP_TANH, h, &t);
    if (st == IL_OK) st = il_tensor_reduce(ctx, IL_OP_SUM, t, 1, 0, &s); /* over axis 1 */
    if (st == IL_OK) st = show(ctx, "x", x);
    if (st == IL_OK) st = show(ctx, "tanh(x @ w)", t);
    if (st == IL_OK) st = show(ctx, "row sums", s);
    il_tensor_free(x);
    il_tensor_free(w);
    il_tensor_free(h);
    il_tensor_free(t);
    il_tensor_free(s);
    return st;
}

int main(void) {
    il_ctx *ctx = NULL;
    if (il_ctx_new(&ctx) != IL_OK) {
        fprintf(stderr, "tensors: out of memory\n");
        return 1;
    }
    il_ctx_seed(ctx, 1);
    il_status st = run(ctx);
    if (st != IL_OK) fprintf(stderr, "tensors: %s: %s\n", il_status_str(st), il_errmsg(ctx));
    il_ctx_free(ctx);
    return st == IL_OK ? 0 : 1;
}
