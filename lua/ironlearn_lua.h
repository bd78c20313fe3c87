/*
 * ironlearn_lua.h: the Lua binding's API for C hosts that embed Lua (examples/embed/host.c).
 *
 * A host links ironlearn::lua (libironlearn_lua.a) with Lua 5.4, opens the module with
 * luaL_requiref(L, "il", luaopen_il, 1), and then may hand its own tensors to scripts:
 *
 *     il_ctx *ctx = il_lua_context(L);          // the state's context (owned by the state)
 *     il_tensor *t;
 *     il_tensor_from_host(ctx, 1, &n, IL_DTYPE_F32, buf, NULL, NULL, &t);
 *     il_lua_push_tensor(L, t);                 // the state now owns the handle t
 *
 * Each lua_State has its own il_ctx; tensors pushed into a state must belong to its context.
 */
#ifndef IRONLEARN_LUA_H
#define IRONLEARN_LUA_H

#include "lua.h"

#include "ironlearn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the module: returns the il table ([-0, +1, e]). Use with luaL_requiref. */
IL_API int luaopen_il(lua_State *L);
/* The context of L's il module, or NULL when the module has not been opened in L. The state
 * owns it: it lives until lua_close(L). [-0, +0, -] */
IL_API il_ctx *il_lua_context(lua_State *L);
/* Pushes t as an il.Tensor; the state takes ownership of t (freed by the collector), even when
 * this raises. t must belong to il_lua_context(L). [-0, +1, e] */
IL_API int il_lua_push_tensor(lua_State *L, il_tensor *t);
/* The tensor at idx (borrowed: valid while the Lua value is), or NULL if it is not one. [-0, +0, e] */
IL_API il_tensor *il_lua_to_tensor(lua_State *L, int idx);

#ifdef __cplusplus
}
#endif
#endif
