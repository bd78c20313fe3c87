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

/* The host's data and results, shared with the protected function below. */
typedef struct host_job {
    const char *script;
    float x[N], y[N]; /* the host's own buffers, trained on in place */
    int released;     /* how many times the library let go of a buffer */
    float w, b;       /* the trained parameters, read back */
} host_job;

/* Wraps buf (N rows, 1 column) and pushes it into L, which then owns the tensor handle. */
static void push_host_buffer(lua_State *L, host_job *job, float *buf) {
    const int64_t shape[2] = {N, 1};
    il_tensor *t = NULL;
    il_status st = il_tensor_from_host(il_lua_context(L), 2, shape, IL_DTYPE_F32, buf,
                                       buffer_released, &job->released, &t);
    if (st != IL_OK) luaL_error(L, "%s", il_errmsg(il_lua_context(L)));
    il_lua_push_tensor(L, t);
}

/* Reads the single value of the tensor at idx into *out. */
static void read_scalar(lua_State *L, int idx, float *out) {
    il_tensor *t = il_lua_to_tensor(L, idx);
    if (t == NULL || il_tensor_numel(t) != 1) luaL_error(L, "train.lua must return 2 scalars");
    if (il_tensor_read(il_lua_context(L), t, out, IL_DTYPE_F32, 1) != IL_OK)
        luaL_error(L, "%s", il_errmsg(il_lua_context(L)));
}

/* Runs under lua_pcall, so every Lua error (the script's, a memory error, ours) comes back to
 * main as a status and a message instead of a panic. */
static int run_job(lua_State *L) {
    host_job *job = (host_job *)lua_touserdata(L, 1);
    luaL_requiref(L, "il", luaopen_il, 1); /* package.loaded.il and the global il */
    lua_pop(L, 1);
    if (luaL_loadfile(L, job->script) != LUA_OK) return lua_error(L);
    push_host_buffer(L, job, job->x);
    push_host_buffer(L, job, job->y);
    lua_call(L, 2, 2);
    read_scalar(L, -2, &job->w);
    read_scalar(L, -1, &job->b);
    return 0;
}

int main(int argc, char **argv) {
    static host_job job; /* static: large buffers off the stack, and it outlives the state */
    job.script = argc > 1 ? argv[1] : "train.lua";
    for (int i = 0; i < N; i++) {
        job.x[i] = -1.0f + 2.0f * (float)i / (N - 1);
        job.y[i] = 2.0f * job.x[i] + 1.0f;
    }

    lua_State *L = luaL_newstate();
    if (L == NULL) return 1;
    luaL_openlibs(L);
    lua_pushcfunction(L, run_job);
    lua_pushlightuserdata(L, &job);
    int ok = lua_pcall(L, 1, 0, 0) == LUA_OK;
    if (!ok) fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    lua_close(L); /* collects the tensors: the host's buffers are released, never freed */

    printf("host: w = %.4f, b = %.4f (want 2, 1); buffers released %d times\n", job.w, job.b,
           job.released);
    if (!ok || job.released != 2 || fabsf(job.w - 2.0f) > 0.05f || fabsf(job.b - 1.0f) > 0.05f)
        return 1;
    /* The script trained on the host's memory in place; the data is still the host's own. */
    for (int i = 0; i < N; i++)
        if (job.y[i] != 2.0f * job.x[i] + 1.0f) return 1;
    return 0;
}
