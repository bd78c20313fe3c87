/*
 * l_ckpt.c: checkpoints (issue 7). il.save, il.load, net:save, il.nn.load and fit's checkpoint=
 * and resume= options are written in Lua (il/checkpoint.lua, embedded as l_ckpt_lua.h), since
 * they only arrange tables; this file gives that chunk the C pieces it needs, in a private table
 * (not reachable from il): safetensors reading and writing, the graph's JSON, optimizer state
 * views, parameter copies and the generators' state.
 */
#include "l_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l_ckpt_lua.h"

#define L_STBOX_MT "il.SafetensorsBox"

/* A file being read, owned by a userdata so a Lua error while its tensors are handed out
 * cannot strand it. */
typedef struct stbox {
    il_safetensors *f;
} stbox;

static int stbox_gc(lua_State *L) {
    stbox *b = (stbox *)luaL_checkudata(L, 1, L_STBOX_MT);
    il_safetensors_free(b->f);
    b->f = NULL;
    return 0;
}

/* Pushes a tensor userdata holding a new handle of t (storage shared). [-0, +1, e] */
static void pushref(lua_State *L, const il_tensor *t) {
    il_tensor **slot = l_newslot(L);
    il_tensor *r = NULL;
    il_status s = il_tensor_ref(l_ctx(L), t, &r);
    if (s != IL_OK) l_fail(L, s);
    l_settensor(L, slot, r, 0);
}

/* read(path) -> {name = tensor}, {names in file order}, {metadata key = value} [-0, +3, e] */
static int ck_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    stbox *b = (stbox *)lua_newuserdatauv(L, sizeof *b, 0);
    b->f = NULL;
    luaL_setmetatable(L, L_STBOX_MT);
    int box = lua_gettop(L);
    il_status s = il_safetensors_read(l_ctx(L), path, &b->f);
    if (s != IL_OK) return l_fail(L, s);
    int n = il_safetensors_count(b->f);
    lua_createtable(L, 0, n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        pushref(L, il_safetensors_tensor(b->f, i));
        lua_setfield(L, box + 1, il_safetensors_name(b->f, i));
        lua_pushstring(L, il_safetensors_name(b->f, i));
        lua_rawseti(L, box + 2, i + 1);
    }
    lua_newtable(L);
    const char *doc = il_safetensors_meta(b->f, "iron-learn");
    if (doc != NULL) {
        lua_pushstring(L, doc);
        lua_setfield(L, -2, "iron-learn");
    }
    il_safetensors_free(b->f);
    b->f = NULL;
    return 3;
}

/* write(path, names, tensors, doc): the tensors (arrays of equal length) and doc as the
 * "iron-learn" metadata value. [-0, +0, e] */
static int ck_write(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    const char *doc = luaL_checkstring(L, 4);
    int n = (int)lua_rawlen(L, 2);
    /* Pointer arrays as userdata: nothing stranded if a check below raises. */
    const char **names = (const char **)lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    const il_tensor **ts =
        (const il_tensor **)lua_newuserdatauv(L, sizeof(il_tensor *) * (size_t)(n + 1), 0);
    for (int i = 0; i < n; i++) {
        /* Strings only: lua_tostring would convert a number on the stack copy, which dies at
         * the pop; a string stays alive in the names table. */
        if (lua_rawgeti(L, 2, i + 1) != LUA_TSTRING)
            return luaL_error(L, "save: tensor name %d is not a string", i + 1);
        names[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
        lua_rawgeti(L, 3, i + 1);
        ts[i] = l_checktensor(L, -1);
        lua_pop(L, 1);
    }
    const char *key = "iron-learn";
    il_status s = il_safetensors_write(l_ctx(L), path, n, names, ts, 1, &key, &doc);
    if (s != IL_OK) return l_fail(L, s);
    return 0;
}

/* netspec(net) -> the graph as a JSON string [-0, +1, e] */
static int ck_netspec(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    char *js = NULL;
    il_status s = il_net_spec_json(n->net, &js);
    if (s != IL_OK) return l_fail(L, s);
    l_pushcstr(L, js);
    return 1;
}

/* optim_views(opt, net) -> {names "optim.<param>.<slot>"}, {views} [-0, +2, e] */
static int ck_optim_views(lua_State *L) {
    il_optim *opt = l_checkoptim(L, 1);
    l_net *n = l_checknet(L, 2);
    int np = 0, got = 0;
    il_status s = il_net_parameters(n->net, NULL, NULL, 0, &np);
    if (s != IL_OK) return l_fail(L, s);
    const char **pn = (const char **)lua_newuserdatauv(L, sizeof(char *) * (size_t)(np + 1), 0);
    il_tensor **tmp = (il_tensor **)lua_newuserdatauv(L, sizeof(il_tensor *) * (size_t)(np + 1), 0);
    lua_newtable(L);
    lua_newtable(L);
    int names = lua_gettop(L) - 1, views = names + 1, c = 0, ns = il_optim_num_state(opt);
    if (ns > 0) {
        /* For the names only: the views are dropped at once. */
        s = il_net_parameters(n->net, tmp, pn, np, &got);
        for (int i = 0; s == IL_OK && i < got; i++)
            il_tensor_free(tmp[i]);
        if (s != IL_OK) return l_fail(L, s);
    }
    for (int k = 0; k < ns; k++) {
        /* Slots first, so no handle is ever unowned when something raises. */
        for (int i = 0; i < np; i++) {
            l_newslot(L);
            lua_rawseti(L, views, c + i + 1);
        }
        s = il_optim_state_views(opt, k, tmp, np, &got);
        if (s != IL_OK) return l_fail(L, s);
        for (int i = 0; i < got && i < np; i++) {
            lua_rawgeti(L, views, c + i + 1);
            l_settensor(L, (il_tensor **)lua_touserdata(L, -1), tmp[i], 0);
            lua_pop(L, 1);
            lua_pushfstring(L, "optim.%s.%s", pn[i], il_optim_state_name(opt, k));
            lua_rawseti(L, names, c + i + 1);
        }
        c += np;
    }
    return 2;
}

/* optim_info(opt) -> kind, {options} [-0, +2, e] */
static int ck_optim_info(lua_State *L) {
    il_optim *opt = l_checkoptim(L, 1);
    il_optim_opts o;
    il_optim_options(opt, &o);
    il_optim_kind k = il_optim_kind_of(opt);
    lua_pushstring(L, il_optim_kind_name(k));
    lua_newtable(L);
    lua_pushnumber(L, o.lr), lua_setfield(L, -2, "lr");
    lua_pushnumber(L, o.weight_decay), lua_setfield(L, -2, "weight_decay");
    if (o.clip_norm > 0) lua_pushnumber(L, o.clip_norm), lua_setfield(L, -2, "clip_norm");
    if (k == IL_OPTIM_SGD || k == IL_OPTIM_RMSPROP) {
        lua_pushnumber(L, o.momentum), lua_setfield(L, -2, "momentum");
    }
    if (k == IL_OPTIM_SGD) lua_pushboolean(L, o.nesterov), lua_setfield(L, -2, "nesterov");
    if (k == IL_OPTIM_ADAM || k == IL_OPTIM_ADAMW) {
        lua_createtable(L, 2, 0);
        lua_pushnumber(L, o.beta1), lua_rawseti(L, -2, 1);
        lua_pushnumber(L, o.beta2), lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, "betas");
    }
    if (k != IL_OPTIM_SGD) lua_pushnumber(L, o.eps), lua_setfield(L, -2, "eps");
    if (k == IL_OPTIM_RMSPROP) lua_pushnumber(L, o.alpha), lua_setfield(L, -2, "alpha");
    return 2;
}

/* set_steps(opt, n) [-0, +0, e] */
static int ck_set_steps(lua_State *L) {
    il_status s = il_optim_set_steps(l_checkoptim(L, 1), (int64_t)luaL_checkinteger(L, 2));
    return s == IL_OK ? 0 : l_fail(L, s);
}

/* copy(dst, src, what): dst[...] = src, same shape (what names it in the error). [-0, +0, e] */
static int ck_copy(lua_State *L) {
    il_tensor *d = l_checktensor(L, 1), *src = l_checktensor(L, 2);
    const char *what = luaL_checkstring(L, 3);
    int nd = il_tensor_ndim(d), same = nd == il_tensor_ndim(src);
    for (int i = 0; same && i < nd; i++)
        same = il_tensor_shape(d)[i] == il_tensor_shape(src)[i];
    if (!same) {
        char a[96], b[96];
        return luaL_error(L, "%s: shape %s in the file, %s expected by the architecture", what,
                          l_fmtshape(src, b, sizeof b), l_fmtshape(d, a, sizeof a));
    }
    il_status s = il_tensor_copy_(l_ctx(L), d, src);
    return s == IL_OK ? 0 : l_fail(L, s);
}

/* Pushes a 64-bit value as 16 hex digits (exact, unlike a JSON number). [-0, +1, m] */
static void pushhex(lua_State *L, uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%016" PRIx64, v);
    lua_pushstring(L, buf);
}

static uint64_t tohex(lua_State *L, int idx, const char *what) {
    const char *s = lua_tostring(L, idx);
    char *end = NULL;
    if (s == NULL || strlen(s) != 16) luaL_error(L, "%s: expected 16 hex digits", what);
    uint64_t v = (uint64_t)strtoull(s, &end, 16);
    if (end == NULL || *end != '\0') luaL_error(L, "%s: expected 16 hex digits", what);
    return v;
}

/* rng() -> {4 hex strings}; setrng(t) [-0, +1, e] / [-0, +0, e] */
static int ck_rng(lua_State *L) {
    uint64_t st[4];
    il_ctx_rng_get(l_ctx(L), st);
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++)
        pushhex(L, st[i]), lua_rawseti(L, -2, i + 1);
    return 1;
}

static int ck_setrng(lua_State *L) {
    uint64_t st[4];
    luaL_checktype(L, 1, LUA_TTABLE);
    for (int i = 0; i < 4; i++) {
        lua_rawgeti(L, 1, i + 1);
        st[i] = tohex(L, -1, "rng state");
        lua_pop(L, 1);
    }
    il_status s = il_ctx_rng_set(l_ctx(L), st);
    return s == IL_OK ? 0 : l_fail(L, s);
}

/* dropout(net) -> {have, seed hex, counter hex}; setdropout(net, t) */
static int ck_dropout(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    int have;
    uint64_t seed, counter;
    il_net_dropout_get(n->net, &have, &seed, &counter);
    lua_createtable(L, 3, 0);
    lua_pushboolean(L, have), lua_rawseti(L, -2, 1);
    pushhex(L, seed), lua_rawseti(L, -2, 2);
    pushhex(L, counter), lua_rawseti(L, -2, 3);
    return 1;
}

static int ck_setdropout(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_rawgeti(L, 2, 1);
    lua_rawgeti(L, 2, 2);
    lua_rawgeti(L, 2, 3);
    il_net_dropout_set(n->net, lua_toboolean(L, -3), tohex(L, -2, "dropout seed"),
                       tohex(L, -1, "dropout counter"));
    return 0;
}

/* netcheck(v), optimcheck(v): raise unless v is a live network / optimizer. [-0, +0, e] */
static int ck_netcheck(lua_State *L) {
    l_checknet(L, 1);
    return 0;
}

static int ck_optimcheck(lua_State *L) {
    l_checkoptim(L, 1);
    return 0;
}

static const luaL_Reg ck_funcs[] = {
    {"netcheck", ck_netcheck},
    {"optimcheck", ck_optimcheck},
    {"read", ck_read},
    {"write", ck_write},
    {"netspec", ck_netspec},
    {"optim_views", ck_optim_views},
    {"optim_info", ck_optim_info},
    {"set_steps", ck_set_steps},
    {"copy", ck_copy},
    {"rng", ck_rng},
    {"setrng", ck_setrng},
    {"dropout", ck_dropout},
    {"setdropout", ck_setdropout},
    {NULL, NULL},
};

/* Runs il/checkpoint.lua with the module table, the C pieces and the network methods table
 * (upvalue 2 of il.Net's __index, see l_nn.c), which it extends with save and fit's options.
 * [-0, +0, e] */
void l_open_ckpt(lua_State *L) {
    int mod = lua_gettop(L);
    if (luaL_newmetatable(L, L_STBOX_MT)) {
        lua_pushcfunction(L, stbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_loadbufferx(L, l_ckpt_lua, sizeof l_ckpt_lua - 1, "=il/checkpoint.lua", "t") != LUA_OK)
        lua_error(L);
    lua_pushvalue(L, mod);
    lua_newtable(L);
    l_setfuncs(L, ck_funcs);
    luaL_getmetatable(L, L_NET_MT);
    lua_getfield(L, -1, "__index");
    lua_getupvalue(L, -1, 2);
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_call(L, 3, 0);
}
