/*
 * l_data.c: il.data: load_json, load_csv, image_from_csv, grid, pixels and split (il.data.batches
 * is in l_batches.c), plus the option readers the data, image and expression bindings share.
 *
 * Each function checks its arguments and options, pushes its result userdata (holding NULL),
 * then makes the C tensors and stores them, so an error never strands C memory.
 */
#include "l_impl.h"

#include <math.h>
#include <string.h>

/* ---- options ----------------------------------------------------------------------------- */

lua_Integer l_optint(lua_State *L, int idx, const char *key, lua_Integer dflt, lua_Integer lo) {
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, key) == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return dflt;
    }
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < lo) luaL_error(L, "option '%s' must be an integer >= %I", key, lo);
    lua_pop(L, 1);
    return v;
}

double l_optnum(lua_State *L, int idx, const char *key, double dflt) {
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, key) == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return dflt;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "option '%s' must be a number, got %s", key, luaL_typename(L, -1));
    double v = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

int l_optbool(lua_State *L, int idx, const char *key, int dflt) {
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, key) == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return dflt;
    }
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_error(L, "option '%s' must be a boolean, got %s", key, luaL_typename(L, -1));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const uint64_t *l_optseed(lua_State *L, int idx, uint64_t *buf) {
    if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "seed") == LUA_TNIL) {
        if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
        return NULL;
    }
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint) luaL_error(L, "option 'seed' must be an integer");
    lua_pop(L, 1);
    *buf = (uint64_t)v;
    return buf;
}

/* ---- loaders ----------------------------------------------------------------------------- */

/* Pushes n empty tensor slots into slots[0..n-1]. [-0, +n, m] */
static void pushslots(lua_State *L, il_tensor ***slots, int n) {
    for (int i = 0; i < n; i++)
        slots[i] = l_newslot(L);
}

/* Stores the dataset's tensors into the four slots on top. [-0, +0, -] */
static void setdataset(lua_State *L, il_tensor **slots[4], il_dataset *d) {
    il_tensor *t[4] = {d->x, d->y, d->x_test, d->y_test};
    for (int i = 0; i < 4; i++)
        l_settensor(L, slots[i], t[i], il_tensor_storage_bytes(t[i]));
}

/* il.data.load_json(path[, field][, {dtype=}]) -> x, y, x_test, y_test [-0, +4, e] */
static int l_load_json(lua_State *L) {
    static l_optkeys keys = {"dtype", NULL};
    const char *path = luaL_checkstring(L, 1);
    int oi = lua_type(L, 2) == LUA_TTABLE ? 2 : 3;
    const char *field = oi == 3 ? luaL_optstring(L, 2, NULL) : NULL;
    l_checkopts(L, oi, keys);
    il_dtype dt = l_optdtype(L, oi, IL_DTYPE_F32);
    il_tensor **slots[4];
    il_dataset d;
    pushslots(L, slots, 4);
    il_status s = il_data_load_json(l_ctx(L), path, field, dt, &d);
    if (s != IL_OK) return l_fail(L, s);
    setdataset(L, slots, &d);
    return 4;
}

/* Pushes the n NUL-separated names of a C names string as a table. [-0, +1, m] */
static int pushnames(lua_State *L) {
    const char *p = (const char *)lua_touserdata(L, 1);
    lua_Integer n = lua_tointeger(L, 2);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_pushstring(L, p);
        lua_rawseti(L, -2, i);
        p += strlen(p) + 1;
    }
    return 1;
}

/* Reads the CSV options at idx into o. [-0, +0, e] */
static void csvopts(lua_State *L, int idx, il_csv_opts *o) {
    static l_optkeys keys = {"header", "dtype", "delimiter", NULL};
    l_checkopts(L, idx, keys);
    o->header = -1;
    o->delimiter = ',';
    o->dtype = l_optdtype(L, idx, IL_DTYPE_F32);
    if (lua_isnoneornil(L, idx)) return;
    if (lua_getfield(L, idx, "header") != LUA_TNIL) o->header = lua_toboolean(L, -1);
    if (lua_getfield(L, idx, "delimiter") != LUA_TNIL) {
        size_t n;
        const char *d = lua_tolstring(L, -1, &n);
        if (d == NULL || n != 1) luaL_error(L, "option 'delimiter' must be one character");
        o->delimiter = d[0];
    }
    lua_pop(L, 2);
}

/* il.data.load_csv(path, {header=, dtype=, delimiter=}) -> tensor, names (nil without a header)
 * [-0, +2, e] */
static int l_load_csv(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    il_csv_opts o;
    csvopts(L, 2, &o);
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = NULL, **slot = l_newslot(L);
    char *names = NULL;
    il_status s = il_data_load_csv(ctx, path, &o, &t, &names);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, t, il_tensor_storage_bytes(t));
    if (names == NULL) {
        lua_pushnil(L);
        return 2;
    }
    /* The names are C memory: copied under lua_pcall, freed before any error propagates. */
    lua_pushcfunction(L, pushnames);
    lua_pushlightuserdata(L, names);
    lua_pushinteger(L, (lua_Integer)il_tensor_shape(t)[1]);
    int st = lua_pcall(L, 2, 1, 0);
    il_ctx_free_string(ctx, names);
    if (st != LUA_OK) return lua_error(L);
    return 2;
}

/* il.data.image_from_csv(t | path[, {dtype=}]) -> (H, W) image from rows (x, y, value)
 * [-0, +1, e] */
static int l_image_from_csv(lua_State *L) {
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = l_totensor(L, 1), *img = NULL;
    if (t == NULL) {
        const char *path = luaL_checkstring(L, 1);
        il_csv_opts o;
        csvopts(L, 2, &o);
        il_tensor **slot = l_newslot(L); /* the table, owned by the stack meanwhile */
        il_status s = il_data_load_csv(ctx, path, &o, &t, NULL);
        if (s != IL_OK) return l_fail(L, s);
        l_settensor(L, slot, t, il_tensor_storage_bytes(t));
    }
    il_tensor **slot = l_newslot(L);
    il_status s = il_data_image_from_csv(ctx, t, &img);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, img, il_tensor_storage_bytes(img));
    return 1;
}

/* ---- coordinates and splits -------------------------------------------------------------- */

/* il.data.grid(w, h[, {dtype=}]) -> (w*h, 2) coordinates in [-1, 1] [-0, +1, e] */
static int l_grid(lua_State *L) {
    static l_optkeys keys = {"dtype", NULL};
    lua_Integer w = luaL_checkinteger(L, 1), h = luaL_checkinteger(L, 2);
    luaL_argcheck(L, w >= 1, 1, "width must be >= 1");
    luaL_argcheck(L, h >= 1, 2, "height must be >= 1");
    l_checkopts(L, 3, keys);
    il_dtype dt = l_optdtype(L, 3, IL_DTYPE_F32);
    il_tensor *g = NULL, **slot = l_newslot(L);
    il_status s = il_data_grid(l_ctx(L), (int64_t)w, (int64_t)h, dt, &g);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, g, il_tensor_storage_bytes(g));
    return 1;
}

/* il.data.pixels(img) -> coords (H*W, 2), values (H*W, C) [-0, +2, e] */
static int l_pixels(lua_State *L) {
    il_tensor *img = l_checktensor(L, 1), *c = NULL, *v = NULL;
    il_tensor **sc = l_newslot(L), **sv = l_newslot(L);
    il_status s = il_data_pixels(l_ctx(L), img, &c, &v);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, sc, c, il_tensor_storage_bytes(c));
    l_settensor(L, sv, v, il_tensor_storage_bytes(v));
    return 2;
}

/* Test rows for split: opts.test as a fraction in (0, 1) or a count. [-0, +0, e] */
static int64_t testrows(lua_State *L, int idx, int64_t rows) {
    double t = l_optnum(L, idx, "test", 0.2);
    if (t > 0 && t < 1) return (int64_t)llround(t * (double)rows);
    if (t >= 0 && t == floor(t) && t <= (double)rows) return (int64_t)t;
    return luaL_error(L,
                      "option 'test' must be a fraction in (0, 1) or a row count in 0..%I, "
                      "got %f",
                      (lua_Integer)rows, t);
}

/* il.data.split(x, y, {test=0.2, shuffle=true, seed=}) -> x_train, y_train, x_test, y_test
 * [-0, +4, e] */
static int l_split(lua_State *L) {
    static l_optkeys keys = {"test", "shuffle", "seed", NULL};
    il_tensor *x = l_checktensor(L, 1), *y = l_checktensor(L, 2);
    l_checkopts(L, 3, keys);
    if (il_tensor_ndim(x) == 0) return luaL_argerror(L, 1, "a 0-d tensor has no rows");
    int64_t ntest = testrows(L, 3, il_tensor_shape(x)[0]);
    int shuffle = l_optbool(L, 3, "shuffle", 1);
    uint64_t seedbuf;
    const uint64_t *seed = l_optseed(L, 3, &seedbuf);
    il_tensor **slots[4];
    il_dataset d;
    pushslots(L, slots, 4);
    il_status s = il_data_split(l_ctx(L), x, y, ntest, shuffle, seed, &d);
    if (s != IL_OK) return l_fail(L, s);
    setdataset(L, slots, &d);
    return 4;
}

static const luaL_Reg data_funcs[] = {
    {"load_json", l_load_json},
    {"load_csv", l_load_csv},
    {"image_from_csv", l_image_from_csv},
    {"grid", l_grid},
    {"pixels", l_pixels},
    {"split", l_split},
    {"batches", l_batches},
    {NULL, NULL},
};

void l_open_data(lua_State *L) {
    lua_createtable(L, 0, 8);
    l_setfuncs(L, data_funcs);
    lua_setfield(L, -2, "data");
}
