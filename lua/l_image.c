/*
 * l_image.c: il.image.load(path, {gray=, threshold=, size={w, h}}) and il.image.save(path, t).
 */
#include "l_impl.h"

/* Reads opts.size = {w, h} into o. [-0, +0, e] */
static void optsize(lua_State *L, int idx, il_image_opts *o) {
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "size") == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return;
    }
    int ok = lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) == 2;
    lua_Integer v[2] = {0, 0};
    for (int i = 0; ok && i < 2; i++) {
        int isint = 0;
        lua_rawgeti(L, -1, i + 1);
        v[i] = lua_tointegerx(L, -1, &isint);
        ok = isint && v[i] >= 1 && v[i] <= 65536;
        lua_pop(L, 1);
    }
    if (!ok) luaL_error(L, "option 'size' must be {width, height} with sizes in 1..65536");
    lua_pop(L, 1);
    o->width = (int64_t)v[0];
    o->height = (int64_t)v[1];
}

/* il.image.load(path, opts) -> (H, W) or (H, W, C) f32 tensor in [0, 1] [-0, +1, e] */
static int l_image_load(lua_State *L) {
    static l_optkeys keys = {"gray", "threshold", "size", NULL};
    const char *path = luaL_checkstring(L, 1);
    l_checkopts(L, 2, keys);
    il_image_opts o = {0};
    o.gray = l_optbool(L, 2, "gray", 0);
    double thr = l_optnum(L, 2, "threshold", -1);
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "threshold");
        o.has_threshold = !lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    o.threshold = thr;
    optsize(L, 2, &o);
    il_tensor *t = NULL, **slot = l_newslot(L);
    il_status s = il_image_load(l_ctx(L), path, &o, &t);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, t, il_tensor_storage_bytes(t));
    return 1;
}

/* il.image.save(path, t): PNG, values clamped to [0, 1], written atomically. [-0, +0, e] */
static int l_image_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    il_tensor *t = l_checktensor(L, 2);
    il_status s = il_image_save(l_ctx(L), path, t);
    if (s != IL_OK) return l_fail(L, s);
    return 0;
}

static const luaL_Reg image_funcs[] = {
    {"load", l_image_load},
    {"save", l_image_save},
    {NULL, NULL},
};

void l_open_image(lua_State *L) {
    lua_createtable(L, 0, 2);
    l_setfuncs(L, image_funcs);
    lua_setfield(L, -2, "image");
}
