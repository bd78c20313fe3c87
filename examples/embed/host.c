/*
 * host.c: a C program that embeds Lua and iron-learn. It owns a lua_State, opens the il module
 * into it, hands a training script (train.lua) two tensors that wrap the host's own float
 * buffers without copying, runs the script, and reads the trained parameters back into host
 * memory. Exits non-zero unless the fit is y = 2x + 1.
 *
 *   host [path/to/train.lua]     (default: train.lua in the current directory)
 */
#include <math.h>
#include <stdio.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include <ironlearn.h>
#include <ironlearn_lua.h>

#define N 32

/* Host-side bookkeeping: the library calls this when the script's last view of a buffer goes. */
static void buffer_released(void *ud) { (*(int *)ud)++; }

/* Wraps buf (N rows, 1 column) and pushes it into L, which then owns the tensor handle. */
static int push_host_buffer(lua_State *L, float *buf, int *released) {
    const int64_t shape[2] = {N, 1};
    il_tensor *t = NULL;
    il_status st = il_tensor_from_host(il_lua_context(L), 2, shape, IL_DTYPE_F32, buf,
                                       buffer_released, released, &t);
    if (st != IL_OK) {
        fprintf(stderr, "host: %s\n", il_errmsg(il_lua_context(L)));
        return 0;
    }
    il_lua_push_tensor(L, t);
    return 1;
}

/* Reads the single value of the tensor at idx into *out. */
static int read_scalar(lua_State *L, int idx, float *out) {
    il_tensor *t = il_lua_to_tensor(L, idx);
    if (t == NULL || il_tensor_numel(t) != 1) return 0;
    return il_tensor_read(il_lua_context(L), t, out, IL_DTYPE_F32, 1) == IL_OK;
}

int main(int argc, char **argv) {
    const char *script = argc > 1 ? argv[1] : "train.lua";
    static float x[N], y[N]; /* the host's data: static, so it outlives the state anyway */
    int released = 0, ok = 1;
    float w = 0, b = 0;
    for (int i = 0; i < N; i++) {
        x[i] = -1.0f + 2.0f * (float)i / (N - 1);
        y[i] = 2.0f * x[i] + 1.0f;
    }

    lua_State *L = luaL_newstate();
    if (L == NULL) return 1;
    luaL_openlibs(L);
    luaL_requiref(L, "il", luaopen_il, 1); /* package.loaded.il and the global il */
    lua_pop(L, 1);

    if (luaL_loadfile(L, script) != LUA_OK) {
        fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    ok = push_host_buffer(L, x, &released) && push_host_buffer(L, y, &released);
    if (ok && lua_pcall(L, 2, 2, 0) != LUA_OK) {
        fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
        ok = 0;
    }
    /* The trained parameters, copied from the script's tensors into host variables. */
    if (ok) ok = read_scalar(L, -2, &w) && read_scalar(L, -1, &b);
    lua_close(L); /* collects the tensors: the host's buffers are released, never freed */

    printf("host: w = %.4f, b = %.4f (want 2, 1); buffers released %d times\n", w, b, released);
    if (!ok || released != 2 || fabsf(w - 2.0f) > 0.05f || fabsf(b - 1.0f) > 0.05f) return 1;
    /* The script trained on the host's memory in place; the data is still the host's own. */
    for (int i = 0; i < N; i++)
        if (y[i] != 2.0f * x[i] + 1.0f) return 1;
    return 0;
}
