/*
 * test_threads.c: no global state. Two contexts training XOR in two threads at once, and two
 * lua_States running one training script in two threads, must each give bit for bit what the
 * same run gives alone. Run under ThreadSanitizer with -DIL_TSAN=ON.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifdef IL_TEST_LUA
#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "ironlearn_lua.h"
#endif

#define NPARAM 17 /* 2x4 + 4 + 4x1 + 1 */
#define STEPS 300

typedef struct xor_run {
    uint64_t seed;
    float params[NPARAM];
    double loss;
    il_status st;
} xor_run;

/* One complete XOR training on a context of its own; records status, final loss, parameters. */
static void *train_xor(void *arg) {
    xor_run *r = arg;
    static const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
    const int64_t xshape[2] = {4, 2}, yshape[2] = {4, 1};
    il_ctx *ctx = NULL;
    il_tensor *x = NULL, *y = NULL, *p[4] = {NULL, NULL, NULL, NULL};
    il_net *net = NULL;
    il_optim *opt = NULL;
    il_layer_opts h = {.out_features = 4}, o = {.out_features = 1};
    il_optim_opts oo = {.lr = 0.05};
    il_loss mse = {.kind = IL_LOSS_MSE};
    int node = 0, np = 0;
    r->st = il_ctx_new(&ctx);
    if (r->st != IL_OK) return NULL;
    il_ctx_seed(ctx, r->seed);
    il_status st = il_tensor_from_data(ctx, 2, xshape, IL_DTYPE_F32, IL_DEVICE_CPU, xs,
                                       IL_DTYPE_F32, &x);
    if (st == IL_OK)
        st = il_tensor_from_data(ctx, 2, yshape, IL_DTYPE_F32, IL_DEVICE_CPU, ys, IL_DTYPE_F32, &y);
    if (st == IL_OK) st = il_net_new(ctx, IL_DTYPE_F32, &net);
    if (st == IL_OK) st = il_net_input(net, 2, &node);
    if (st == IL_OK) st = il_net_layer(net, IL_LAYER_LINEAR, &h, 1, &node, &node);
    if (st == IL_OK) st = il_net_layer(net, IL_LAYER_TANH, NULL, 1, &node, &node);
    if (st == IL_OK) st = il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &node, &node);
    if (st == IL_OK) st = il_net_layer(net, IL_LAYER_SIGMOID, NULL, 1, &node, &node);
    if (st == IL_OK) st = il_optim_new(net, IL_OPTIM_ADAM, &oo, &opt);
    const il_tensor *in[1] = {x};
    for (int i = 0; i < STEPS && st == IL_OK; i++) st = il_net_step(net, 1, in, y, &mse, opt, &r->loss);
    if (st == IL_OK) st = il_net_parameters(net, p, NULL, 4, &np);
    for (int i = 0, off = 0; st == IL_OK && i < np; i++) {
        int64_t n = il_tensor_numel(p[i]);
        if (off + n > NPARAM) st = IL_E_INTERNAL;
        else st = il_tensor_read(ctx, p[i], r->params + off, IL_DTYPE_F32, n);
        off += (int)n;
    }
    for (int i = 0; i < 4; i++) il_tensor_free(p[i]);
    il_optim_free(opt);
    il_net_free(net);
    il_tensor_free(x);
    il_tensor_free(y);
    il_ctx_free(ctx);
    r->st = st;
    return NULL;
}

static void test_two_contexts(void **state) {
    (void)state;
    xor_run alone = {.seed = 11}, t[2] = {{.seed = 11}, {.seed = 11}};
    train_xor(&alone);
    assert_int_equal(alone.st, IL_OK);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, train_xor, &t[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(t[i].st, IL_OK);
        assert_memory_equal(t[i].params, alone.params, sizeof alone.params);
        assert_memory_equal(&t[i].loss, &alone.loss, sizeof alone.loss);
    }
}

#ifdef IL_TEST_LUA
static const char script[] =
    "il.seed(3)\n"
    "local x = il.tensor{{0,0},{0,1},{1,0},{1,1}}\n"
    "local y = il.tensor{{0},{1},{1},{0}}\n"
    "local net = il.nn.sequential{il.nn.linear(2,4), il.nn.tanh(), il.nn.linear(4,1),\n"
    "  il.nn.sigmoid()}\n"
    "local opt = il.optim.adam(net, {lr = 0.05})\n"
    "net:fit{x = x, y = y, loss = il.loss.mse, optim = opt, epochs = 200, progress = false}\n"
    "return string.format('%a', il.loss.mse(net:forward(x), y):item())\n";

typedef struct lua_run {
    char result[64];
    int ok;
} lua_run;

/* One lua_State, opened, run and closed entirely on the calling thread. */
static void *run_lua(void *arg) {
    lua_run *r = arg;
    lua_State *L = luaL_newstate();
    r->ok = 0;
    if (L == NULL) return NULL;
    luaL_openlibs(L);
    luaL_requiref(L, "il", luaopen_il, 1);
    lua_pop(L, 1);
    if (luaL_dostring(L, script) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
        snprintf(r->result, sizeof r->result, "%s", lua_tostring(L, -1));
        r->ok = 1;
    } else {
        snprintf(r->result, sizeof r->result, "%.63s", lua_tostring(L, -1));
    }
    lua_close(L);
    return NULL;
}

static void test_two_lua_states(void **state) {
    (void)state;
    lua_run alone, t[2];
    run_lua(&alone);
    if (!alone.ok) fail_msg("alone: %s", alone.result);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, run_lua, &t[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        if (!t[i].ok) fail_msg("thread %d: %s", i, t[i].result);
        assert_string_equal(t[i].result, alone.result);
    }
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_contexts),
#ifdef IL_TEST_LUA
        cmocka_unit_test(test_two_lua_states),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
