/*
 * l_host.c: the entry points of ironlearn_lua.h, through which a C host that embeds Lua shares
 * tensors with scripts (il_lua_context, il_lua_push_tensor, il_lua_to_tensor).
 */
#include "l_impl.h"

#include "ironlearn_lua.h"

il_ctx *il_lua_context(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    l_ctxbox *box = (l_ctxbox *)luaL_testudata(L, -1, L_CTX_MT);
    lua_pop(L, 1);
    return box != NULL ? box->ctx : NULL;
}

/* Runs protected: makes the tensor's userdata (the only allocation) for the light pointer at 1. */
static int pushslot(lua_State *L) {
    il_tensor *t = (il_tensor *)lua_touserdata(L, 1);
    il_tensor **slot = l_newslot(L);
    *slot = t;
    return 1;
}

int il_lua_push_tensor(lua_State *L, il_tensor *t) {
    il_ctx *ctx = il_lua_context(L);
    if (t == NULL) return luaL_error(L, "il_lua_push_tensor: tensor is NULL");
    if (ctx == NULL || il_tensor_ctx(t) != ctx) {
        il_tensor_free(t);
        return luaL_error(L, "il_lua_push_tensor: %s", ctx == NULL
                          ? "the il module is not open in this state"
                          : "the tensor belongs to another context (use il_lua_context)");
    }
    /* Pushing a light C function and a light pointer allocates nothing; a failure inside the
     * protected call leaves t to free here, so ownership passes to the state in every case. */
    lua_pushcfunction(L, pushslot);
    lua_pushlightuserdata(L, t);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        il_tensor_free(t);
        return lua_error(L);
    }
    return 1;
}

il_tensor *il_lua_to_tensor(lua_State *L, int idx) {
    il_tensor **p = (il_tensor **)luaL_testudata(L, idx, L_TENSOR_MT);
    return p != NULL ? *p : NULL;
}
