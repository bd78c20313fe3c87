/*
 * l_create.c: tensor constructors: il.tensor (from a number, a nested table or a tensor),
 * il.zeros, il.ones, il.full, il.rand, il.randn, il.arange and il.linspace.
 *
 * Every constructor checks all its arguments and options first, then pushes the result's
 * userdata (holding NULL), then makes the C tensor, so an argument error never strands C memory.
 */
#include "l_impl.h"

#include <stdio.h>

static l_optkeys create_keys = {"dtype", "device", NULL};

/* Writes the 1-based index path idx[0..n-1] as "2,1" into buf. */
static const char *fmtpath(char *buf, size_t size, const int64_t *idx, int n) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld",
                                 (long long)idx[i]);
    return buf;
}

/* Infers the shape of the nested table at idx from the first element at each depth.
 * Returns ndim. [-0, +0, e] */
static int inferShape(lua_State *L, int idx, int64_t shape[IL_MAX_DIMS]) {
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (nd == IL_MAX_DIMS) luaL_error(L, "nested table deeper than %d levels", IL_MAX_DIMS);
        shape[nd++] = (int64_t)lua_rawlen(L, -1);
        if (shape[nd - 1] == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

/* Filling state: the shape being checked, where the walk is, and the staging buffer. */
typedef struct fill {
    const int64_t *shape;
    int nd;
    int isint; /* buf holds int64_t rather than double */
    void *buf;
    int64_t pos;
    int64_t idx[IL_MAX_DIMS]; /* 1-based index path, for messages */
} fill;

/* Copies the numbers of the table on top (at depth dim) into f->buf, checking that it is
 * rectangular and numeric. [-0, +0, e] */
static void filltable(lua_State *L, fill *f, int dim) {
    char path[128];
    int64_t len = (int64_t)lua_rawlen(L, -1);
    if (len != f->shape[dim])
        luaL_error(L, "ragged nested table: row %s has length %I, expected %I",
                   fmtpath(path, sizeof path, f->idx, dim), (lua_Integer)len,
                   (lua_Integer)f->shape[dim]);
    luaL_checkstack(L, 2, "nested table too deep");
    for (int64_t i = 1; i <= len; i++) {
        int t = lua_rawgeti(L, -1, (lua_Integer)i);
        f->idx[dim] = i;
        if (dim + 1 < f->nd) {
            if (t != LUA_TTABLE)
                luaL_error(L, "ragged nested table: element %s is a %s, expected a table",
                           fmtpath(path, sizeof path, f->idx, dim + 1), luaL_typename(L, -1));
            filltable(L, f, dim + 1);
        } else if (t == LUA_TTABLE) {
            luaL_error(L, "ragged nested table: element %s is a table, expected a number",
                       fmtpath(path, sizeof path, f->idx, dim + 1));
        } else if (t != LUA_TNUMBER) {
            luaL_error(L, "element %s is a %s, expected a number",
                       fmtpath(path, sizeof path, f->idx, dim + 1), luaL_typename(L, -1));
        } else if (f->isint) {
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            ((int64_t *)f->buf)[f->pos++] = isint ? (int64_t)v : (int64_t)lua_tonumber(L, -1);
        } else {
            ((double *)f->buf)[f->pos++] = (double)lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
}

/* il.tensor(nested_table, opts) with the table at 1 and checked options at 2. [-0, +1, e] */
static int fromtable(lua_State *L, il_dtype dt, il_device dev) {
    il_ctx *ctx = l_ctx(L);
    int64_t shape[IL_MAX_DIMS], numel = 1;
    fill f = {shape, 0, dt == IL_DTYPE_I64, NULL, 0, {0}};
    il_tensor *out = NULL;
    f.nd = inferShape(L, 1, shape);
    for (int i = 0; i < f.nd; i++) {
        /* Shared subtables could claim more elements than memory holds. */
        if (shape[i] > 0 && numel > ((int64_t)1 << 40) / shape[i])
            return luaL_error(L, "nested table too large");
        numel *= shape[i];
    }
    /* The staging buffer is a userdata, so the collector owns it if a check below raises. */
    f.buf = lua_newuserdatauv(L, (size_t)(numel > 0 ? numel : 1) * 8, 0);
    lua_pushvalue(L, 1);
    filltable(L, &f, 0);
    lua_pop(L, 1);
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_from_data(ctx, f.nd, shape, dt, dev, f.buf,
                                      f.isint ? IL_DTYPE_I64 : IL_DTYPE_F64, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* il.tensor(t, opts): a copy of tensor t, converted to opts' dtype and device (default: t's).
 * [-0, +1, e] */
static int fromtensor(lua_State *L, il_tensor *t) {
    il_ctx *ctx = l_ctx(L);
    il_dtype dt = l_optdtype(L, 2, il_tensor_dtype(t));
    il_device dev = l_optdevice(L, 2, il_tensor_device(t));
    il_tensor *a = NULL, *b = NULL;
    il_tensor **slot = l_newslot(L);
    /* Moving devices or cloning always copies; a dtype change after that copies again. */
    il_status s = dev != il_tensor_device(t) ? il_tensor_to_device(ctx, t, dev, &a)
                                             : il_tensor_clone(ctx, t, &a);
    if (s == IL_OK && dt != il_tensor_dtype(a)) {
        s = il_tensor_to_dtype(ctx, a, dt, &b);
        il_tensor_free(a);
        a = b;
    }
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, a, il_tensor_storage_bytes(a));
    return 1;
}

/* il.tensor(number | nested table | tensor, {dtype=, device=}) [-0, +1, e] */
static int l_tensor(lua_State *L) {
    l_checkopts(L, 2, create_keys);
    il_tensor *t = l_totensor(L, 1);
    if (t != NULL) return fromtensor(L, t);
    il_dtype dt = l_optdtype(L, 2, IL_DTYPE_F32);
    il_device dev = l_optdevice(L, 2, IL_DEVICE_CPU);
    if (lua_type(L, 1) == LUA_TTABLE) return fromtable(L, dt, dev);
    if (lua_type(L, 1) != LUA_TNUMBER) return luaL_typeerror(L, 1, "number, table or tensor");
    double v = (double)lua_tonumber(L, 1);
    il_tensor *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_full(l_ctx(L), 0, NULL, v, dt, dev, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* The shaped constructors, told apart by upvalue 2. */
enum { K_ZEROS, K_ONES, K_FULL, K_RAND, K_RANDN };

/* il.zeros/ones/rand/randn(shape, opts), il.full(shape, value, opts) [-0, +1, e] */
static int l_shaped(lua_State *L) {
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    int optarg = kind == K_FULL ? 3 : 2;
    int64_t shape[IL_MAX_DIMS];
    int nd = l_checkshape(L, 1, 1, shape, 0);
    double v = kind == K_FULL ? (double)luaL_checknumber(L, 2) : kind == K_ONES ? 1.0 : 0.0;
    l_checkopts(L, optarg, create_keys);
    il_dtype dt = l_optdtype(L, optarg, IL_DTYPE_F32);
    il_device dev = l_optdevice(L, optarg, IL_DEVICE_CPU);
    il_ctx *ctx = l_ctx(L);
    il_tensor *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s;
    switch (kind) {
    case K_RAND: s = il_tensor_rand(ctx, nd, shape, dt, dev, &out); break;
    case K_RANDN: s = il_tensor_randn(ctx, nd, shape, dt, dev, &out); break;
    case K_ZEROS: s = il_tensor_zeros(ctx, nd, shape, dt, dev, &out); break;
    default: s = il_tensor_full(ctx, nd, shape, v, dt, dev, &out); break;
    }
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* il.arange([start,] stop[, step][, opts]): [start, stop) by step, like numpy.arange.
 * [-0, +1, e] */
static int l_arange(lua_State *L) {
    int n = 0;
    double a[3];
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        a[n] = (double)lua_tonumber(L, n + 1);
        n++;
    }
    if (n == 0) return luaL_typeerror(L, 1, "number");
    double start = n >= 2 ? a[0] : 0.0, stop = n >= 2 ? a[1] : a[0], step = n == 3 ? a[2] : 1.0;
    luaL_argcheck(L, step != 0.0, 3, "step must not be zero");
    l_checkopts(L, n + 1, create_keys);
    il_dtype dt = l_optdtype(L, n + 1, IL_DTYPE_F32);
    il_device dev = l_optdevice(L, n + 1, IL_DEVICE_CPU);
    il_tensor *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_arange(l_ctx(L), start, stop, step, dt, dev, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* il.linspace(start, stop, n[, opts]): n points from start to stop inclusive. [-0, +1, e] */
static int l_linspace(lua_State *L) {
    double start = (double)luaL_checknumber(L, 1), stop = (double)luaL_checknumber(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 1, 3, "need at least one point");
    l_checkopts(L, 4, create_keys);
    il_dtype dt = l_optdtype(L, 4, IL_DTYPE_F32);
    il_device dev = l_optdevice(L, 4, IL_DEVICE_CPU);
    il_tensor *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_linspace(l_ctx(L), start, stop, (int64_t)n, dt, dev, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

static const luaL_Reg create_funcs[] = {
    {"tensor", l_tensor},
    {"arange", l_arange},
    {"linspace", l_linspace},
    {NULL, NULL},
};

static const struct {
    const char *name;
    int kind;
} shaped[] = {{"zeros", K_ZEROS}, {"ones", K_ONES}, {"full", K_FULL},
              {"rand", K_RAND},   {"randn", K_RANDN}};

void l_open_create(lua_State *L) {
    l_setfuncs(L, create_funcs);
    for (size_t i = 0; i < sizeof shaped / sizeof shaped[0]; i++) {
        lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
        lua_pushinteger(L, shaped[i].kind);
        lua_pushcclosure(L, l_shaped, 2);
        lua_setfield(L, -2, shaped[i].name);
    }
}
