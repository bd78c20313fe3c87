/*
 * xor.c: trains a 2-4-1 network (tanh hidden layer, sigmoid output, MSE, Adam) on XOR through
 * the C API alone, no Lua, checking every status the way a real host program should. Prints one
 * Predicted/Actual line per sample and exits non-zero unless all four are right.
 */
#include <stdio.h>

#include <ironlearn.h>

#define SEED 42
#define STEPS 2000
#define HIDDEN 4

/* The objects of one run, so a single cleanup path frees whatever was made. */
typedef struct run_state {
    il_tensor *x, *y, *pred;
    il_net *net;
    il_optim *opt;
} run_state;

static il_status build(il_ctx *ctx, run_state *r) {
    static const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    static const float ys[4] = {0, 1, 1, 0};
    const int64_t xshape[2] = {4, 2}, yshape[2] = {4, 1};
    int node = 0;
    il_layer_opts hidden = {.out_features = HIDDEN}, out = {.out_features = 1};
    il_optim_opts oo = {.lr = 0.05};
    il_status st = il_tensor_from_data(ctx, 2, xshape, IL_DTYPE_F32, IL_DEVICE_CPU, xs,
                                       IL_DTYPE_F32, &r->x);
    if (st == IL_OK)
        st = il_tensor_from_data(ctx, 2, yshape, IL_DTYPE_F32, IL_DEVICE_CPU, ys, IL_DTYPE_F32,
                                 &r->y);
    if (st == IL_OK) st = il_net_new(ctx, IL_DTYPE_F32, &r->net);
    if (st == IL_OK) st = il_net_input(r->net, 2, &node);
    if (st == IL_OK) st = il_net_layer(r->net, IL_LAYER_LINEAR, &hidden, 1, &node, &node);
    if (st == IL_OK) st = il_net_layer(r->net, IL_LAYER_TANH, NULL, 1, &node, &node);
    if (st == IL_OK) st = il_net_layer(r->net, IL_LAYER_LINEAR, &out, 1, &node, &node);
    if (st == IL_OK) st = il_net_layer(r->net, IL_LAYER_SIGMOID, NULL, 1, &node, &node);
    if (st == IL_OK) st = il_optim_new(r->net, IL_OPTIM_ADAM, &oo, &r->opt);
    return st;
}

static il_status train_and_report(il_ctx *ctx, run_state *r, int *wrong) {
    const il_tensor *in[1] = {r->x};
    const il_loss mse = {.kind = IL_LOSS_MSE};
    double loss = 0;
    float pred[4], actual[4];
    il_status st = IL_OK;
    for (int step = 1; step <= STEPS && st == IL_OK; step++) {
        st = il_net_step(r->net, 1, in, r->y, &mse, r->opt, &loss);
        if (st == IL_OK && step % 500 == 0) printf("step %4d | loss %.6f\n", step, loss);
    }
    if (st != IL_OK) return st;
    il_net_train(r->net, 0);
    st = il_net_forward(r->net, 1, in, &r->pred);
    if (st == IL_OK) st = il_tensor_read(ctx, r->pred, pred, IL_DTYPE_F32, 4);
    if (st == IL_OK) st = il_tensor_read(ctx, r->y, actual, IL_DTYPE_F32, 4);
    if (st != IL_OK) return st;
    *wrong = 0;
    for (int i = 0; i < 4; i++) {
        int ok = (pred[i] >= 0.5f) == (actual[i] >= 0.5f);
        *wrong += !ok;
        printf("Predicted: %.4f, Actual: %.4f, %s\n", pred[i], actual[i], ok ? "ok" : "WRONG");
    }
    return IL_OK;
}

int main(void) {
    il_ctx *ctx = NULL;
    run_state r = {0};
    int wrong = 4;
    if (il_ctx_new(&ctx) != IL_OK) {
        fprintf(stderr, "xor: out of memory\n");
        return 1;
    }
    il_ctx_seed(ctx, SEED);
    printf("iron-learn %s | C API | Adam lr 0.05 | %d steps\n", il_version(), STEPS);
    il_status st = build(ctx, &r);
    if (st == IL_OK) st = train_and_report(ctx, &r, &wrong);
    if (st != IL_OK) fprintf(stderr, "xor: %s: %s\n", il_status_str(st), il_errmsg(ctx));
    /* Optimizer before its network, tensors before the context. */
    il_optim_free(r.opt);
    il_net_free(r.net);
    il_tensor_free(r.x);
    il_tensor_free(r.y);
    il_tensor_free(r.pred);
    il_ctx_free(ctx);
    if (st == IL_OK && wrong > 0) fprintf(stderr, "xor: %d of 4 predictions wrong\n", wrong);
    return st == IL_OK && wrong == 0 ? 0 : 1;
}
