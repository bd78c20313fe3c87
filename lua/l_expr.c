/*
 * l_expr.c: il.expr: parse, roll and sample, and the "il.Expr" userdata: f(number),
 * f(tensor), tostring(f) and f.src (source that parses back to f).
 *
 * An expression userdata holds one il_expr pointer, pushed NULL with its metatable set before the
 * C expression is made (liolib's order); __gc and __close free it.
 */
#include "l_impl.h"

#include <string.h>

#define L_EXPR_MT "il.Expr"

/* Pushes an empty expression userdata. [-0, +1, m] */
static il_expr **newexpr(lua_State *L) {
    il_expr **p = (il_expr **)lua_newuserdatauv(L, sizeof(il_expr *), 0);
    *p = NULL;
    luaL_setmetatable(L, L_EXPR_MT);
    return p;
}

static il_expr *checkexpr(lua_State *L, int idx) {
    il_expr **p = (il_expr **)luaL_checkudata(L, idx, L_EXPR_MT);
    if (*p == NULL) luaL_error(L, "attempt to use a freed expression");
    return *p;
}

static int expr_gc(lua_State *L) {
    il_expr **p = (il_expr **)luaL_checkudata(L, 1, L_EXPR_MT);
    il_expr_free(*p);
    *p = NULL;
    return 0;
}

/* Pushes the source of e; the C string is freed before any error propagates. [-0, +1, e] */
static void pushsrc(lua_State *L, const il_expr *e) {
    il_ctx *ctx = l_ctx(L);
    char *s = NULL;
    luaL_checkstack(L, 3, NULL);
    il_status st = il_expr_format(ctx, e, &s);
    if (st != IL_OK) l_fail(L, st);
    l_pushcstr(L, s);
}

static int expr_tostring(lua_State *L) {
    il_expr **p = (il_expr **)luaL_checkudata(L, 1, L_EXPR_MT);
    if (*p == NULL) {
        lua_pushliteral(L, "il.Expr (freed)");
        return 1;
    }
    pushsrc(L, *p);
    return 1;
}

/* f(x): a number for a number, a new tensor for a tensor. [-0, +1, e] */
static int expr_call(lua_State *L) {
    il_expr *e = checkexpr(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_pushnumber(L, (lua_Number)il_expr_eval(e, (double)lua_tonumber(L, 2)));
        return 1;
    }
    il_tensor *x = l_totensor(L, 2), *y = NULL;
    if (x == NULL) return luaL_typeerror(L, 2, "number or tensor");
    il_tensor **slot = l_newslot(L);
    il_status s = il_expr_eval_tensor(l_ctx(L), e, x, &y);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, y, il_tensor_storage_bytes(y));
    return 1;
}

/* f.src: the source text. [-0, +1, e] */
static int expr_index(lua_State *L) {
    il_expr *e = checkexpr(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k != NULL && strcmp(k, "src") == 0) {
        pushsrc(L, e);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* il.expr.parse(src) -> f [-0, +1, e] */
static int l_parse(lua_State *L) {
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    il_expr **p = newexpr(L);
    il_status s = il_expr_parse_n(l_ctx(L), src, len, p);
    if (s != IL_OK) return l_fail(L, s);
    return 1;
}

/* The expression at idx, parsing a string there first (replacing it). [-0, +0, e] */
il_expr *l_toexpr(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *src = lua_tolstring(L, idx, &len);
        il_expr **p = newexpr(L);
        il_status s = il_expr_parse_n(l_ctx(L), src, len, p);
        if (s != IL_OK) l_fail(L, s);
        lua_replace(L, idx);
    }
    return checkexpr(L, idx);
}

/* il.expr.roll{draws=15, seed=} -> f, chits (numbers and operator strings in draw order)
 * [-0, +2, e] */
static int l_roll(lua_State *L) {
    static l_optkeys keys = {"draws", "seed", NULL};
    l_checkopts(L, 1, keys);
    lua_Integer draws = l_optint(L, 1, "draws", 15, 1);
    if (draws > 1000) return luaL_error(L, "option 'draws' must be at most 1000");
    uint64_t seedbuf;
    const uint64_t *seed = l_optseed(L, 1, &seedbuf);
    int *chits = (int *)lua_newuserdatauv(L, (size_t)draws * sizeof(int), 0);
    il_expr **p = newexpr(L);
    il_status s = il_expr_roll(l_ctx(L), (int)draws, seed, p, chits);
    if (s != IL_OK) return l_fail(L, s);
    lua_createtable(L, (int)draws, 0);
    for (lua_Integer i = 0; i < draws; i++) {
        char op = (char)chits[i];
        if (chits[i] <= 10)
            lua_pushinteger(L, chits[i]);
        else
            lua_pushlstring(L, &op, 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

static const luaL_Reg expr_meta[] = {
    {"__gc", expr_gc},     {"__close", expr_gc},    {"__tostring", expr_tostring},
    {"__call", expr_call}, {"__index", expr_index}, {NULL, NULL},
};

static const luaL_Reg expr_funcs[] = {
    {"parse", l_parse},
    {"roll", l_roll},
    {"sample", l_sample},
    {NULL, NULL},
};

void l_open_expr(lua_State *L) {
    luaL_newmetatable(L, L_EXPR_MT);
    l_setfuncs(L, expr_meta);
    lua_pushliteral(L, L_EXPR_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_createtable(L, 0, 3);
    l_setfuncs(L, expr_funcs);
    lua_setfield(L, -2, "expr");
}
