/*
 * l_impl.h: declarations shared by the Lua binding's files (l_init.c, l_tensor.c, l_create.c,
 * l_ops.c). Not installed. The binding uses only the public C API (ironlearn.h).
 *
 * Conventions:
 * - Every function the binding registers is a C closure whose upvalue 1 is the context box
 *   (a full userdata holding the lua_State's one il_ctx), so no C state is global.
 * - Stack effects follow the Lua manual's notation: [-o, +p, x], x being '-' (raises nothing),
 *   'm' (may raise a memory error) or 'e' (may raise any error).
 * - Lua axes count from 1, negative ones from the end; l_checkaxis converts to C's 0-based axes.
 */
#ifndef L_IMPL_H
#define L_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "lauxlib.h"
#include "lua.h"

#include "ironlearn.h"

#define L_TENSOR_MT "il.Tensor"
#define L_CTX_MT "il.Context"

/* luaopen_il must be visible although the build hides symbols by default. */
#if defined(__GNUC__)
#define L_EXPORT __attribute__((visibility("default")))
#else
#define L_EXPORT
#endif

L_EXPORT int luaopen_il(lua_State *L);

/* The context box: the only per-state C data. gcdebt counts bytes of C memory made since the
 * collector was last told about it; collect_at is the context's bytes_in_use at which a full
 * collection runs (see l_settensor). */
typedef struct l_ctxbox {
    il_ctx *ctx;
    size_t gcdebt;
    size_t collect_at;
} l_ctxbox;

/* Options table keys, a NULL-terminated list. */
typedef const char *const l_optkeys[];

/* ---- l_init.c ---------------------------------------------------------------------------- */

/* The context of the running closure (upvalue 1); raises once lua_close freed it. [-0, +0, e] */
il_ctx *l_ctx(lua_State *L);
/* Raises the context's error message for a failed status. Call only after all C cleanup.
 * [-0, +0, e] */
int l_fail(lua_State *L, il_status s);
/* Raises unless idx is nil/none or a table whose keys are all in keys ("unknown option 'k'").
 * Returns 1 when there is a table. [-0, +0, e] */
int l_checkopts(lua_State *L, int idx, l_optkeys keys);
/* opts.dtype / opts.device of the (checked) options table at idx, or dflt. [-0, +0, e] */
il_dtype l_optdtype(lua_State *L, int idx, il_dtype dflt);
il_device l_optdevice(lua_State *L, int idx, il_device dflt);
/* Registers funcs into the table on top, each a closure over the context box. [-0, +0, m] */
void l_setfuncs(lua_State *L, const luaL_Reg *funcs);

/* ---- l_tensor.c -------------------------------------------------------------------------- */

/* Pushes a new tensor userdata holding NULL, its metatable set, and returns its slot; the
 * caller creates the C tensor into a local and stores it with l_settensor. [-0, +1, m] */
il_tensor **l_newslot(lua_State *L);
/* Stores t (owned from now on by the userdata) in slot and tells the collector about new_bytes
 * of C memory, which may run it. [-0, +0, -] */
void l_settensor(lua_State *L, il_tensor **slot, il_tensor *t, size_t new_bytes);
/* The tensor of a live "il.Tensor" userdata at idx; raises on anything else or a freed one.
 * [-0, +0, e] */
il_tensor *l_checktensor(lua_State *L, int idx);
/* The tensor at idx when it is a live tensor userdata, else NULL. [-0, +0, e] */
il_tensor *l_totensor(lua_State *L, int idx);
/* Converts the Lua axis at arg (1-based, negative from the end) of t to a 0-based C axis;
 * raises "axis 4 out of range for a 3-d tensor". [-0, +0, e] */
int l_checkaxis(lua_State *L, const il_tensor *t, int arg);
/* Reads a shape given as a table at arg, or as the integers arg..last (allow_neg admits -1).
 * Returns ndim. [-0, +0, e] */
int l_checkshape(lua_State *L, int arg, int last, int64_t shape[IL_MAX_DIMS], int allow_neg);
/* Makes the view userdata at idx keep the base userdata at base alive. [-0, +0, -] */
void l_keepbase(lua_State *L, int idx, int base);
void l_open_tensor(lua_State *L); /* [-0, +0, m] metatable and methods */

/* ---- l_create.c -------------------------------------------------------------------------- */

void l_open_create(lua_State *L); /* [-0, +0, m] il.tensor, il.zeros... into the table on top */

/* ---- l_ops.c ----------------------------------------------------------------------------- */

/* Adds the metamethods and methods of l_ops.c to the metatable at mt and the methods table at
 * methods. [-0, +0, m] */
void l_open_ops(lua_State *L, int mt, int methods);

#endif
