/*
 * l_tensor.c: the "il.Tensor" userdata (life cycle, collector pressure), its properties
 * (t.shape, t.dtype, t.device, t.ndim, #t, t:numel(), t:size()) and conversions (t:to,
 * t:item, t:totable, tostring, t:clone, t:contiguous, t:free).
 *
 * A tensor userdata holds one il_tensor pointer and one user value (a view's base userdata).
 * It is pushed holding NULL with its metatable already set, and the C tensor is stored into it
 * only once created, so a Lua error can never leak a tensor (liolib's order). __gc, __close and
 * t:free() share one function that frees and resets the pointer; methods refuse NULL.
 */
#include "l_impl.h"

#include <stdio.h>
#include <string.h>

/* C memory per tensor handle besides its data (the handle and storage structs), counted so that
 * a loop of tiny tensors also nudges the collector. */
#define L_HANDLE_BYTES 256
/* The collector is told about C memory in chunks of at least this many bytes. */
#define L_GC_CHUNK (64 * 1024)
/* Garbage tensor bytes tolerated on top of twice the live ones before a full collection. */
#define L_GC_SLACK ((size_t)64 << 20)

il_tensor **l_newslot(lua_State *L) {
    il_tensor **slot = (il_tensor **)lua_newuserdatauv(L, sizeof(il_tensor *), 1);
    *slot = NULL;
    luaL_setmetatable(L, L_TENSOR_MT);
    return slot;
}

/*
 * Tensor data lives outside the Lua heap, so the collector does not see it: a loop making
 * 1 MB tensors would run the heap to gigabytes before a cycle frees the unreachable ones. Two
 * measures keep garbage tensors bounded:
 * - each new tensor adds its bytes to a debt paid as collector steps, as if Lua had allocated
 *   that much; in incremental mode this alone keeps garbage to about one cycle's worth;
 * - in generational mode (lua.c's default) those steps are minor collections, and a tensor that
 *   is still on the stack across two of them turns old and waits for a major collection, which
 *   the debt never triggers (it does not count towards Lua's heap size). So, like Lua's own
 *   pause, a full collection runs whenever the context's bytes in use pass twice what survived
 *   the last one, plus L_GC_SLACK.
 */
void l_settensor(lua_State *L, il_tensor **slot, il_tensor *t, size_t new_bytes) {
    l_ctxbox *box = (l_ctxbox *)lua_touserdata(L, lua_upvalueindex(1));
    *slot = t;
    box->gcdebt += new_bytes + L_HANDLE_BYTES;
    if (box->gcdebt < L_GC_CHUNK) return;
    size_t kb = box->gcdebt / 1024;
    box->gcdebt %= 1024;
    /* LUA_GCSTEP runs even a stopped collector, so respect collectgarbage("stop"). */
    if (!lua_gc(L, LUA_GCISRUNNING)) return;
    lua_gc(L, LUA_GCSTEP, kb > INT32_MAX ? INT32_MAX : (int)kb);
    il_mem_stats m;
    il_ctx_memory(box->ctx, &m);
    if (m.bytes_in_use < box->collect_at) return;
    if (box->collect_at > 0) {
        lua_gc(L, LUA_GCCOLLECT);
        il_ctx_memory(box->ctx, &m);
    }
    box->collect_at = 2 * m.bytes_in_use + L_GC_SLACK;
}

il_tensor *l_totensor(lua_State *L, int idx) {
    il_tensor **p = (il_tensor **)luaL_testudata(L, idx, L_TENSOR_MT);
    if (p == NULL) return NULL;
    if (*p == NULL) luaL_error(L, "attempt to use a freed tensor");
    return *p;
}

il_tensor *l_checktensor(lua_State *L, int idx) {
    il_tensor **p = (il_tensor **)luaL_checkudata(L, idx, L_TENSOR_MT);
    if (*p == NULL) luaL_error(L, "attempt to use a freed tensor");
    return *p;
}

/* A view of a view pins the root userdata rather than its parent, so `x = x:t()` in a loop
 * keeps two userdata alive, not a chain of every intermediate. */
void l_keepbase(lua_State *L, int idx, int base) {
    idx = lua_absindex(L, idx);
    if (lua_getiuservalue(L, base, 1) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, base);
    }
    lua_setiuservalue(L, idx, 1);
}

int l_checkaxis(lua_State *L, const il_tensor *t, int arg) {
    lua_Integer a = luaL_checkinteger(L, arg);
    int nd = il_tensor_ndim(t);
    if (a >= 1 && a <= nd) return (int)a - 1;
    if (a <= -1 && a >= -nd) return nd + (int)a;
    return luaL_error(L, "axis %d out of range for a %d-d tensor", (int)a, nd);
}

/* One size: an integer >= 0, or -1 when allowed. what names it in messages. [-0, +0, e] */
static int64_t checksize(lua_State *L, int idx, int arg, const char *what, int allow_neg) {
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (!isint || v < (allow_neg ? -1 : 0)) {
        const char *msg = lua_pushfstring(L, "%s must be %s, got %s", what,
                                          allow_neg ? "an integer >= -1" : "a non-negative integer",
                                          isint ? lua_tostring(L, idx) : luaL_typename(L, idx));
        luaL_argerror(L, arg, msg);
    }
    return (int64_t)v;
}

int l_checkshape(lua_State *L, int arg, int last, int64_t shape[IL_MAX_DIMS], int allow_neg) {
    if (lua_type(L, arg) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, arg);
        if (n > IL_MAX_DIMS) luaL_argerror(L, arg, "too many dimensions (more than 8)");
        for (int i = 0; i < (int)n; i++) {
            char what[32];
            lua_rawgeti(L, arg, i + 1);
            snprintf(what, sizeof what, "size %d", i + 1);
            shape[i] = checksize(L, -1, arg, what, allow_neg);
            lua_pop(L, 1);
        }
        return (int)n;
    }
    if (last - arg + 1 > IL_MAX_DIMS) luaL_argerror(L, arg, "too many dimensions (more than 8)");
    if (last < arg) luaL_typeerror(L, arg, "table or integer");
    for (int i = arg; i <= last; i++) {
        if (lua_type(L, i) != LUA_TNUMBER)
            luaL_typeerror(L, i, i == arg ? "table or integer" : "integer");
        shape[i - arg] = checksize(L, i, i, "size", allow_neg);
    }
    return last - arg + 1;
}

/* ---- life cycle -------------------------------------------------------------------------- */

/* __gc, __close and t:free(): frees once, then the userdata is an inert "freed tensor".
 * [-0, +0, e] */
static int tensor_free(lua_State *L) {
    il_tensor **p = (il_tensor **)luaL_checkudata(L, 1, L_TENSOR_MT);
    il_tensor_free(*p);
    *p = NULL;
    /* Drop the base reference too, so a freed view no longer pins its base userdata. */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

/* ---- properties -------------------------------------------------------------------------- */

/* Pushes a new table of t's sizes. [-0, +1, m] */
static void pushshape(lua_State *L, const il_tensor *t) {
    int nd = il_tensor_ndim(t);
    const int64_t *sh = il_tensor_shape(t);
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_pushinteger(L, (lua_Integer)sh[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* __index(t, k): a method from the methods table (upvalue 2), else a property. [-0, +1, e] */
static int tensor_index(lua_State *L) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    if (lua_type(L, 2) != LUA_TSTRING) return 1; /* nil */
    lua_pop(L, 1);
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "shape") == 0) {
        pushshape(L, l_checktensor(L, 1));
    } else if (strcmp(k, "dtype") == 0) {
        lua_pushstring(L, il_dtype_name(il_tensor_dtype(l_checktensor(L, 1))));
    } else if (strcmp(k, "device") == 0) {
        lua_pushstring(L, il_device_name(il_tensor_device(l_checktensor(L, 1))));
    } else if (strcmp(k, "ndim") == 0) {
        lua_pushinteger(L, il_tensor_ndim(l_checktensor(L, 1)));
    } else {
        lua_pushnil(L);
    }
    return 1;
}

/* #t: size of the first axis. [-0, +1, e] */
static int tensor_len(lua_State *L) {
    il_tensor *t = l_checktensor(L, 1);
    if (il_tensor_ndim(t) == 0) return luaL_error(L, "attempt to get length of a 0-d tensor");
    lua_pushinteger(L, (lua_Integer)il_tensor_shape(t)[0]);
    return 1;
}

/* t:numel() [-0, +1, e] */
static int tensor_numel(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)il_tensor_numel(l_checktensor(L, 1)));
    return 1;
}

/* t:size([axis]) -> the axis' size, or the shape table. [-0, +1, e] */
static int tensor_size(lua_State *L) {
    il_tensor *t = l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        pushshape(L, t);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)il_tensor_shape(t)[l_checkaxis(L, t, 2)]);
    return 1;
}

/* ---- conversions ------------------------------------------------------------------------- */

/* t:item() -> number (an integer for i64). [-0, +1, e] */
static int tensor_item(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = l_checktensor(L, 1);
    int64_t n = il_tensor_numel(t);
    if (n != 1)
        return luaL_error(L, "item() needs a tensor with one element, got %I elements",
                          (lua_Integer)n);
    if (il_tensor_dtype(t) == IL_DTYPE_I64) {
        int64_t v;
        il_status s = il_tensor_read(ctx, t, &v, IL_DTYPE_I64, 1);
        if (s != IL_OK) return l_fail(L, s);
        lua_pushinteger(L, (lua_Integer)v);
    } else {
        double v;
        il_status s = il_tensor_item(ctx, t, &v);
        if (s != IL_OK) return l_fail(L, s);
        lua_pushnumber(L, (lua_Number)v);
    }
    return 1;
}

/* Pushes a nested table of shape[dim..] from the row-major buffer at *pos. [-0, +1, m] */
static void pushnested(lua_State *L, const void *buf, int isint, const int64_t *shape, int nd,
                       int dim, int64_t *pos) {
    luaL_checkstack(L, 2, "tensor too deep");
    lua_createtable(L, (int)shape[dim], 0);
    for (int64_t i = 0; i < shape[dim]; i++) {
        if (dim + 1 < nd) {
            pushnested(L, buf, isint, shape, nd, dim + 1, pos);
        } else if (isint) {
            lua_pushinteger(L, (lua_Integer)((const int64_t *)buf)[(*pos)++]);
        } else {
            lua_pushnumber(L, (lua_Number)((const double *)buf)[(*pos)++]);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* t:totable() -> nested tables (a number for a 0-d tensor). [-0, +1, e] */
static int tensor_totable(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = l_checktensor(L, 1);
    int nd = il_tensor_ndim(t), isint = il_tensor_dtype(t) == IL_DTYPE_I64;
    int64_t n = il_tensor_numel(t), pos = 0;
    if (nd == 0) return tensor_item(L);
    /* The staging buffer is a userdata, so the collector owns it if anything below raises. */
    void *buf = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * 8, 0);
    il_status s = il_tensor_read(ctx, t, buf, isint ? IL_DTYPE_I64 : IL_DTYPE_F64, n);
    if (s != IL_OK) return l_fail(L, s);
    pushnested(L, buf, isint, il_tensor_shape(t), nd, 0, &pos);
    return 1;
}

/* tostring(t); a freed tensor prints as "il.Tensor (freed)" (as liolib prints a closed file)
 * so that error reports and debug prints never fail on one. The formatted string is C memory,
 * so it is pushed under lua_pcall and freed before any error propagates. [-0, +1, e] */
static int tensor_tostring(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    il_tensor **p = (il_tensor **)luaL_checkudata(L, 1, L_TENSOR_MT);
    char *str = NULL;
    if (*p == NULL) {
        lua_pushliteral(L, "il.Tensor (freed)");
        return 1;
    }
    luaL_checkstack(L, 4, NULL);
    il_status s = il_tensor_format(ctx, *p, &str);
    if (s != IL_OK) return l_fail(L, s);
    l_pushcstr(L, str);
    return 1;
}

/* Pushes a new tensor made by one C call that copies (new storage). */
typedef il_status (*copy_fn)(il_ctx *, const il_tensor *, il_tensor **);

/* [-0, +1, e] */
static int pushcopy(lua_State *L, copy_fn fn) {
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = l_checktensor(L, 1), *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = fn(ctx, t, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

static int tensor_clone(lua_State *L) { return pushcopy(L, il_tensor_clone); }

/* t:contiguous() may share t's storage when t is already contiguous; the C refcount keeps that
 * storage alive, so no user value is needed (one would chain `x = f(x):contiguous()` loops). */
static int tensor_contiguous(lua_State *L) { return pushcopy(L, il_tensor_contiguous); }

/* t:to("cuda" | "cpu" | "f32" | "f64" | "i64") [-0, +1, e] */
static int tensor_to(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = l_checktensor(L, 1), *out = NULL;
    const char *name = luaL_checkstring(L, 2);
    il_dtype dt;
    il_device dev;
    il_status s;
    int isdtype = il_dtype_parse(name, &dt) == IL_OK;
    if (!isdtype && il_device_parse(name, &dev) != IL_OK)
        return luaL_error(L, "unknown dtype or device '%s'", name);
    il_tensor **slot = l_newslot(L);
    s = isdtype ? il_tensor_to_dtype(ctx, t, dt, &out) : il_tensor_to_device(ctx, t, dev, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

static const luaL_Reg tensor_meta[] = {
    {"__gc", tensor_free},
    {"__close", tensor_free},
    {"__len", tensor_len},
    {"__tostring", tensor_tostring},
    {NULL, NULL},
};

static const luaL_Reg tensor_methods[] = {
    {"free", tensor_free},
    {"numel", tensor_numel},
    {"size", tensor_size},
    {"item", tensor_item},
    {"totable", tensor_totable},
    {"clone", tensor_clone},
    {"contiguous", tensor_contiguous},
    {"to", tensor_to},
    {NULL, NULL},
};

/* il.is_tensor(x) -> true for a tensor userdata, freed or not. [-0, +1, -] */
static int l_is_tensor(lua_State *L) {
    lua_pushboolean(L, luaL_testudata(L, 1, L_TENSOR_MT) != NULL);
    return 1;
}

/* Builds the metatable and methods; sets il.Tensor (the methods table, for Lua-side helpers)
 * and il.is_tensor in the module table on top. [-0, +0, m] */
void l_open_tensor(lua_State *L) {
    int mod = lua_gettop(L);
    luaL_newmetatable(L, L_TENSOR_MT); /* mod+1 */
    l_setfuncs(L, tensor_meta);
    lua_newtable(L); /* methods: mod+2 */
    l_setfuncs(L, tensor_methods);
    l_open_ops(L, mod + 1, mod + 2);
    lua_pushvalue(L, -1);
    lua_setfield(L, mod, "Tensor");
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushvalue(L, mod + 2);
    lua_pushcclosure(L, tensor_index, 2);
    lua_setfield(L, mod + 1, "__index");
    lua_pushliteral(L, "il.Tensor");
    lua_setfield(L, mod + 1, "__metatable");
    lua_settop(L, mod);
    lua_pushcfunction(L, l_is_tensor);
    lua_setfield(L, mod, "is_tensor");
}
