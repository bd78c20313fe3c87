/*
 * l_sample.c: il.expr.sample(f, {n=25, test=6, x={lo, hi}, y={lo, hi}, rule=, seed=, balance=,
 * dtype=}) -> x, y, x_test, y_test.
 *
 * A Lua rule function runs from inside the C sampler through a callback that calls it under
 * lua_pcall, so an error in it becomes a failed status: the sampler frees its buffers and the
 * error is raised afterwards with the function's own message.
 */
#include "l_impl.h"

#include <string.h>

/* What the rule callback needs: the state, the function's stack slot, the context. */
typedef struct rulecall {
    lua_State *L;
    int fn;
    il_ctx *ctx;
} rulecall;

/* il_sample_fn calling the Lua rule(x, y, fx) -> boolean or 0/1. */
static il_status luarule(void *ud, double x, double y, double fx, int *label) {
    rulecall *r = (rulecall *)ud;
    lua_State *L = r->L;
    if (!lua_checkstack(L, 4)) return il_ctx_error(r->ctx, IL_E_NOMEM, "sample: Lua stack full");
    lua_pushvalue(L, r->fn);
    lua_pushnumber(L, (lua_Number)x);
    lua_pushnumber(L, (lua_Number)y);
    lua_pushnumber(L, (lua_Number)fx);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        il_status s =
            il_ctx_error(r->ctx, IL_E_ARG, "%s", msg ? msg : "error in the rule function");
        lua_pop(L, 1);
        return s;
    }
    il_status s = IL_OK;
    if (lua_type(L, -1) == LUA_TBOOLEAN)
        *label = lua_toboolean(L, -1);
    else if (lua_type(L, -1) == LUA_TNUMBER)
        *label = lua_tonumber(L, -1) != 0;
    else
        s = il_ctx_error(r->ctx, IL_E_ARG,
                         "sample: the rule must return a boolean or a number, "
                         "got %s",
                         luaL_typename(L, -1));
    lua_pop(L, 1);
    return s;
}

/* Reads opts[key] = {lo, hi} into lo/hi; returns 0 when absent. [-0, +0, e] */
static int optrange(lua_State *L, int idx, const char *key, double *lo, double *hi) {
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, key) == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return 0;
    }
    int ok = lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) == 2;
    ok = ok && lua_rawgeti(L, -1, 1) == LUA_TNUMBER && lua_rawgeti(L, -2, 2) == LUA_TNUMBER;
    if (ok) {
        *lo = (double)lua_tonumber(L, -2);
        *hi = (double)lua_tonumber(L, -1);
        ok = *lo < *hi;
    }
    if (!ok) luaL_error(L, "option '%s' must be {lo, hi} with lo < hi", key);
    lua_pop(L, 3);
    return 1;
}

/* Reads opts.rule: a name or a function (whose stack slot goes to r->fn). [-0, +0, e] */
static il_sample_rule optrule(lua_State *L, int idx, rulecall *r) {
    static const char *const names[] = {"between", "above", "below", NULL};
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "rule") == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return IL_SAMPLE_BETWEEN;
    }
    if (lua_type(L, -1) == LUA_TFUNCTION) {
        r->fn = lua_gettop(L); /* stays on the stack for the whole call */
        return IL_SAMPLE_CUSTOM;
    }
    const char *s = lua_tostring(L, -1);
    for (int i = 0; s != NULL && names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0) {
            lua_pop(L, 1);
            return (il_sample_rule)i;
        }
    return (il_sample_rule)luaL_error(L, "option 'rule' must be \"between\", \"above\", "
                                         "\"below\" or a function");
}

/* il.expr.sample(f | src, opts) -> x, y, x_test, y_test [-0, +4, e] */
int l_sample(lua_State *L) {
    static l_optkeys keys = {"n", "test", "x", "y", "rule", "seed", "balance", "dtype", NULL};
    il_expr *e = l_toexpr(L, 1);
    l_checkopts(L, 2, keys);
    il_sample_opts o;
    uint64_t seedbuf;
    rulecall rc = {L, 0, l_ctx(L)};
    memset(&o, 0, sizeof o);
    o.n = (int64_t)l_optint(L, 2, "n", 25, 0);
    o.test = (int64_t)l_optint(L, 2, "test", 6, 0);
    if (!optrange(L, 2, "x", &o.xlo, &o.xhi)) o.xlo = -10, o.xhi = 10;
    o.has_y = optrange(L, 2, "y", &o.ylo, &o.yhi);
    o.seed = l_optseed(L, 2, &seedbuf);
    o.balance = l_optbool(L, 2, "balance", 0);
    o.dtype = l_optdtype(L, 2, IL_DTYPE_F32);
    o.rule = optrule(L, 2, &rc);
    o.fn = luarule;
    o.ud = &rc;
    il_tensor **slots[4];
    for (int i = 0; i < 4; i++)
        slots[i] = l_newslot(L);
    il_dataset d;
    il_status s = il_expr_sample(rc.ctx, e, &o, &d);
    if (s != IL_OK) return l_fail(L, s);
    il_tensor *t[4] = {d.x, d.y, d.x_test, d.y_test};
    for (int i = 0; i < 4; i++)
        l_settensor(L, slots[i], t[i], il_tensor_storage_bytes(t[i]));
    return 4;
}
