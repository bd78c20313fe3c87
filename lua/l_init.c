/*
 * l_init.c: the Lua module's entry point (luaopen_il), the per-state context, options tables,
 * and the library-level functions (il.version, il.seed, il.threads, il.memory, il.cuda.*).
 *
 * Each lua_State gets one il_ctx, kept in a full userdata (the context box) stored in the
 * registry and handed to every binding function as upvalue 1. Nothing is global in C, so two
 * states in two threads never share anything.
 */
#include "l_impl.h"

#include <string.h>


il_ctx *l_ctx(lua_State *L) {
    l_ctxbox *box = (l_ctxbox *)lua_touserdata(L, lua_upvalueindex(1));
    /* Only a finalizer running during lua_close, after the box's own, can see this. */
    if (box->ctx == NULL) luaL_error(L, "iron-learn: the context is closed");
    return box->ctx;
}

int l_fail(lua_State *L, il_status s) {
    il_ctx *ctx = l_ctx(L);
    const char *msg = il_errmsg(ctx);
    /* The core always sets a message, but a bare status still beats an empty error. */
    if (msg[0] == '\0') msg = il_status_str(s);
    return luaL_error(L, "%s", msg);
}

/* Pushes the C string at index 1 (a light userdata); run under lua_pcall. [-0, +1, m] */
static int pushcstring(lua_State *L) {
    lua_pushstring(L, (const char *)lua_touserdata(L, 1));
    return 1;
}

void l_pushcstr(lua_State *L, char *s) {
    il_ctx *ctx = l_ctx(L);
    lua_pushcfunction(L, pushcstring);
    lua_pushlightuserdata(L, s);
    int status = lua_pcall(L, 1, 1, 0);
    il_ctx_free_string(ctx, s);
    if (status != LUA_OK) lua_error(L);
}

void l_setfuncs(lua_State *L, const luaL_Reg *funcs) {
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    luaL_setfuncs(L, funcs, 1);
}

int l_checkopts(lua_State *L, int idx, l_optkeys keys) {
    if (lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int known = 0;
        lua_pop(L, 1); /* the value */
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; keys[i] != NULL && !known; i++) known = strcmp(k, keys[i]) == 0;
            if (!known) return luaL_error(L, "unknown option '%s'", k);
        } else {
            /* Not lua_tostring on a non-string key: it would confuse lua_next. */
            return luaL_error(L, "unknown option (a %s key)", luaL_typename(L, -1));
        }
    }
    return 1;
}

/* Reads opts[key] as a string, or NULL when absent. Leaves nothing on the stack; the string
 * stays valid because the options table still references it. [-0, +0, e] */
static const char *optstring(lua_State *L, int idx, const char *key) {
    const char *s = NULL;
    if (lua_isnoneornil(L, idx)) return NULL;
    if (lua_getfield(L, idx, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1));
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return s;
}

il_dtype l_optdtype(lua_State *L, int idx, il_dtype dflt) {
    const char *s = optstring(L, idx, "dtype");
    il_dtype dt = dflt;
    if (s != NULL && il_dtype_parse(s, &dt) != IL_OK) luaL_error(L, "unknown dtype '%s'", s);
    return dt;
}

il_device l_optdevice(lua_State *L, int idx, il_device dflt) {
    const char *s = optstring(L, idx, "device");
    il_device dev = dflt;
    if (s != NULL && il_device_parse(s, &dev) != IL_OK) luaL_error(L, "unknown device '%s'", s);
    return dev;
}

/* ---- library functions ------------------------------------------------------------------- */

/* il.seed(n) [-0, +0, e] */
static int l_seed(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    il_ctx_seed(l_ctx(L), (uint64_t)n);
    return 0;
}

/* il.threads([n]) -> current count [-0, +1, e] */
static int l_threads(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 1 && n <= 256, 1, "thread count must be in 1..256");
        il_status s = il_ctx_set_threads(ctx, (int)n);
        if (s != IL_OK) return l_fail(L, s);
    }
    lua_pushinteger(L, il_ctx_threads(ctx));
    return 1;
}

/* il.memory() -> {bytes_in_use=, peak=, allocs=, frees=, live_tensors=} [-0, +1, m] */
static int l_memory(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)m.bytes_in_use);
    lua_setfield(L, -2, "bytes_in_use");
    lua_pushinteger(L, (lua_Integer)m.bytes_peak);
    lua_setfield(L, -2, "peak");
    lua_pushinteger(L, (lua_Integer)m.n_allocs);
    lua_setfield(L, -2, "allocs");
    lua_pushinteger(L, (lua_Integer)m.n_frees);
    lua_setfield(L, -2, "frees");
    lua_pushinteger(L, (lua_Integer)il_ctx_live_tensors(ctx));
    lua_setfield(L, -2, "live_tensors");
    return 1;
}

/* il.cuda.available() -> true | false, reason [-0, +1|2, m] */
static int l_cuda_available(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    if (il_cuda_available(ctx) == IL_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushstring(L, il_errmsg(ctx));
    il_ctx_clear_error(ctx);
    return 2;
}

/* il.cuda.memory() -> {allocated=, reserved=, peak=} (bytes); raises the reason CUDA is
 * unavailable. [-0, +1, e] */
static int l_cuda_memory(lua_State *L) {
    il_device_mem_stats m;
    il_status s = il_device_memory(l_ctx(L), IL_DEVICE_CUDA, &m);
    if (s != IL_OK) return l_fail(L, s);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)m.allocated);
    lua_setfield(L, -2, "allocated");
    lua_pushinteger(L, (lua_Integer)m.reserved);
    lua_setfield(L, -2, "reserved");
    lua_pushinteger(L, (lua_Integer)m.peak);
    lua_setfield(L, -2, "peak");
    return 1;
}

/* il.cuda.trim(): returns unused pooled device memory to the driver. [-0, +0, e] */
static int l_cuda_trim(lua_State *L) {
    il_status s = il_cuda_trim(l_ctx(L));
    return s == IL_OK ? 0 : l_fail(L, s);
}

/* il.cuda.tf32(on): lets f32 matrix products use TF32 tensor cores. [-0, +0, e] */
static int l_cuda_tf32(lua_State *L) {
    luaL_checkany(L, 1);
    il_status s = il_cuda_set_tf32(l_ctx(L), lua_toboolean(L, 1));
    return s == IL_OK ? 0 : l_fail(L, s);
}

/* il.cuda.limit(bytes): caps the device memory this state allocates (0: none). [-0, +0, e] */
static int l_cuda_limit(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "must be non-negative");
    il_status s = il_cuda_set_memory_limit(l_ctx(L), (size_t)n);
    return s == IL_OK ? 0 : l_fail(L, s);
}

/* __gc of the context box: runs at lua_close after every tensor's __gc (the box was marked for
 * finalization first, and finalizers run in reverse order), so no tensor outlives it. */
static int ctx_gc(lua_State *L) {
    l_ctxbox *box = (l_ctxbox *)luaL_checkudata(L, 1, L_CTX_MT);
    il_ctx_free(box->ctx);
    box->ctx = NULL;
    return 0;
}

/* Pushes the state's context box, creating it (and its il_ctx) on first use. [-0, +1, e] */
static void pushctx(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY) == LUA_TUSERDATA) return;
    lua_pop(L, 1);
    /* liolib's order: a harmless box with its metatable first, then the C object. */
    l_ctxbox *box = (l_ctxbox *)lua_newuserdatauv(L, sizeof(l_ctxbox), 0);
    box->ctx = NULL;
    box->gcdebt = 0;
    box->collect_at = 0; /* set by the first l_settensor */
    if (luaL_newmetatable(L, L_CTX_MT)) {
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    if (il_ctx_new(&box->ctx) != IL_OK)
        luaL_error(L, "iron-learn: cannot create a context (out of memory)");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
}

static const luaL_Reg il_funcs[] = {
    {"seed", l_seed},
    {"threads", l_threads},
    {"memory", l_memory},
    {NULL, NULL},
};

static const luaL_Reg cuda_funcs[] = {
    {"available", l_cuda_available},
    {"memory", l_cuda_memory},
    {"trim", l_cuda_trim},
    {"tf32", l_cuda_tf32},
    {"limit", l_cuda_limit},
    {NULL, NULL},
};

/* require "il": returns the module table and sets no global. [-0, +1, e] */
L_EXPORT int luaopen_il(lua_State *L) {
    luaL_checkversion(L);
    pushctx(L);
    lua_pop(L, 1);
    lua_createtable(L, 0, 32);
    l_setfuncs(L, il_funcs);
    lua_pushstring(L, il_version());
    lua_setfield(L, -2, "version");
    lua_createtable(L, 0, 5);
    l_setfuncs(L, cuda_funcs);
    lua_setfield(L, -2, "cuda");
    l_open_tensor(L);
    l_open_create(L);
    l_open_nn(L);
    l_open_data(L);
    l_open_image(L);
    l_open_expr(L);
    l_open_plot(L);
    l_open_schedule(L);
    l_open_progress(L);
    l_open_plotlines(L); /* after l_open_plot: extends il.plot */
    l_open_ckpt(L);      /* after l_open_nn and l_open_schedule: uses both */
    return 1;
}
