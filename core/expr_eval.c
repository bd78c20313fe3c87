/*
 * expr_eval.c: evaluating an expression at a number (plain C doubles) and over a whole tensor
 * (composed of public tensor operations, so it runs on the tensor's device with its dtype).
 *
 * Tensor evaluation folds subtrees without x to numbers, so `2*x + 1` is two scalar operations
 * on the tensor and no constant tensors are made.
 */
#include "expr_impl.h"

#include <math.h>

static double fn(int f, double a) {
    switch (f) {
    case FN_SIN: return sin(a);
    case FN_COS: return cos(a);
    case FN_TAN: return tan(a);
    case FN_EXP: return exp(a);
    case FN_LOG: return log(a);
    case FN_SQRT: return sqrt(a);
    default: return fabs(a);
    }
}

static double binop(int kind, double a, double b) {
    switch (kind) {
    case EX_ADD: return a + b;
    case EX_SUB: return a - b;
    case EX_MUL: return a * b;
    case EX_DIV: return a / b;
    default: return pow(a, b);
    }
}

double ili_expr_eval_node(const il_expr *e, int32_t i, double x) {
    const ili_ex_node *n = &e->nodes[i];
    switch (n->kind) {
    case EX_NUM: return n->v;
    case EX_X: return x;
    case EX_NEG: return -ili_expr_eval_node(e, n->a, x);
    case EX_FN: return fn(n->fn, ili_expr_eval_node(e, n->a, x));
    default: return binop(n->kind, ili_expr_eval_node(e, n->a, x), ili_expr_eval_node(e, n->b, x));
    }
}

double il_expr_eval(const il_expr *e, double x) {
    if (e == NULL || e->root < 0) return NAN;
    return ili_expr_eval_node(e, e->root, x);
}

/* ---- over tensors ------------------------------------------------------------------------ */

/* A subtree's value: a tensor (owned), or the number c when t is NULL (no x below). */
typedef struct val {
    il_tensor *t;
    double c;
} val;

static const il_op binops[] = {[EX_ADD] = IL_OP_ADD,
                               [EX_SUB] = IL_OP_SUB,
                               [EX_MUL] = IL_OP_MUL,
                               [EX_DIV] = IL_OP_DIV,
                               [EX_POW] = IL_OP_POW};

static il_status tval(il_ctx *ctx, const il_expr *e, int32_t i, const il_tensor *x, val *out);

/* tan has no tensor op: sin/cos, which is how tan is defined. */
static il_status tensor_fn(il_ctx *ctx, int f, const il_tensor *a, il_tensor **out) {
    static const il_op ops[] = {[FN_SIN] = IL_OP_SIN, [FN_COS] = IL_OP_COS,   [FN_EXP] = IL_OP_EXP,
                                [FN_LOG] = IL_OP_LOG, [FN_SQRT] = IL_OP_SQRT, [FN_ABS] = IL_OP_ABS};
    if (f != FN_TAN) return il_tensor_unary(ctx, ops[f], a, out);
    il_tensor *s = NULL, *c = NULL;
    il_status st = il_tensor_unary(ctx, IL_OP_SIN, a, &s);
    if (st == IL_OK) st = il_tensor_unary(ctx, IL_OP_COS, a, &c);
    if (st == IL_OK) st = il_tensor_binary(ctx, IL_OP_DIV, s, c, out);
    il_tensor_free(s);
    il_tensor_free(c);
    return st;
}

/* One operand (a unary node's). */
static il_status tunary(il_ctx *ctx, const ili_ex_node *n, val a, val *out) {
    if (a.t == NULL) {
        out->c = n->kind == EX_NEG ? -a.c : fn(n->fn, a.c);
        return IL_OK;
    }
    il_status s = n->kind == EX_NEG ? il_tensor_unary(ctx, IL_OP_NEG, a.t, &out->t)
                                    : tensor_fn(ctx, n->fn, a.t, &out->t);
    il_tensor_free(a.t);
    return s;
}

/* Two operands, either of which may be a number. */
static il_status tbinary(il_ctx *ctx, int kind, val a, val b, val *out) {
    il_status s = IL_OK;
    if (a.t == NULL && b.t == NULL)
        out->c = binop(kind, a.c, b.c);
    else if (b.t == NULL)
        s = il_tensor_binary_scalar(ctx, binops[kind], a.t, b.c, 0, &out->t);
    else if (a.t == NULL)
        s = il_tensor_binary_scalar(ctx, binops[kind], b.t, a.c, 1, &out->t);
    else
        s = il_tensor_binary(ctx, binops[kind], a.t, b.t, &out->t);
    il_tensor_free(a.t);
    il_tensor_free(b.t);
    return s;
}

static il_status tval(il_ctx *ctx, const il_expr *e, int32_t i, const il_tensor *x, val *out) {
    const ili_ex_node *n = &e->nodes[i];
    val a = {NULL, 0}, b = {NULL, 0};
    out->t = NULL;
    switch (n->kind) {
    case EX_NUM: out->c = n->v; return IL_OK;
    case EX_X: return il_tensor_ref(ctx, x, &out->t);
    case EX_NEG:
    case EX_FN: IL_TRY(tval(ctx, e, n->a, x, &a)); return tunary(ctx, n, a, out);
    default: {
        IL_TRY(tval(ctx, e, n->a, x, &a));
        il_status s = tval(ctx, e, n->b, x, &b);
        if (s != IL_OK) {
            il_tensor_free(a.t);
            return s;
        }
        return tbinary(ctx, n->kind, a, b, out);
    }
    }
}

il_status il_expr_eval_tensor(il_ctx *ctx, const il_expr *e, const il_tensor *x, il_tensor **out) {
    IL_TRY(ili_check_tensor(ctx, x, "expr_eval"));
    if (e == NULL || out == NULL || e->root < 0)
        return ili_seterr(ctx, IL_E_ARG, "expr_eval: NULL argument");
    *out = NULL;
    il_tensor *xf = NULL;
    /* Integer inputs would make integer powers and quotients: evaluate in f32 instead. */
    if (x->dtype == IL_DTYPE_I64) IL_TRY(il_tensor_to_dtype(ctx, x, IL_DTYPE_F32, &xf));
    const il_tensor *in = xf ? xf : x;
    val v = {NULL, 0};
    il_status s = tval(ctx, e, e->root, in, &v);
    if (s == IL_OK && v.t == NULL) /* no x at all: a constant of x's shape */
        s = il_tensor_full(ctx, in->ndim, in->shape, v.c, in->dtype, in->st->device, &v.t);
    il_tensor_free(xf);
    if (s == IL_OK) *out = v.t;
    return s;
}
