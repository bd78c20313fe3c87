/*
 * l_custom.c: layers written in Lua. il.nn.layer{forward=, backward=, out=, name=} makes a
 * descriptor; adding it to a network registers C callbacks (il_net_custom) that call the Lua
 * functions.
 *
 * The callbacks run inside C calls that hold memory no userdata owns, so a Lua error must never
 * unwind through them: each callback calls its Lua function under lua_pcall, copies the result
 * into the preallocated y or dx, and turns an error into a status whose message (set with
 * il_ctx_error) the binding raises once C has cleaned up. Inputs reach Lua as copies, so a
 * function may keep them. The functions stay alive through a registry reference that the
 * layer's release callback drops when the network is freed. The callbacks run on the thread
 * recorded in the network's userdata by the call now running (l_nn.c).
 */
#include "l_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct l_custom {
    l_net *box; /* the network's userdata: the thread to run on */
    int ref;    /* registry reference to the functions table {forward=, backward=, out=} */
    lua_Alloc alloc;
    void *alloc_ud;
    char name[64];  /* the summary's kind name */
    char label[80]; /* "layer 'name'" for messages */
} l_custom;

enum { CALL_INFER, CALL_FORWARD, CALL_BACKWARD };

/* One callback's arguments, handed to the protected worker. */
typedef struct l_call {
    l_custom *c;
    int what;
    int nin;
    const int64_t *inw;
    int64_t *outw;
    const il_tensor *const *x;
    const il_tensor *y, *dy;
    il_tensor *yout;
    il_tensor *const *dx;
} l_call;

static const char *const call_names[] = {"out", "forward", "backward"};

const char *l_fmtshape(const il_tensor *t, char *buf, size_t size) {
    int nd = il_tensor_ndim(t);
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < nd && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)il_tensor_shape(t)[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}

/* Pushes a copy of t as a new tensor userdata. [-0, +1, e] */
static void pushcopy(lua_State *L, const il_tensor *t) {
    il_tensor *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_clone(l_ctx(L), t, &out);
    if (s != IL_OK) l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
}

/* Copies the tensor at idx (what the Lua function returned) into dst, which it must match in
 * shape. [-0, +0, e] */
static void copyback(lua_State *L, l_call *cl, int idx, il_tensor *dst, const char *what) {
    char a[96], b[96];
    il_tensor *t = l_totensor(L, idx);
    if (t == NULL)
        luaL_error(L, "%s: %s must return a tensor, got %s", cl->c->label, what,
                   luaL_typename(L, idx));
    int same = il_tensor_ndim(t) == il_tensor_ndim(dst);
    for (int i = 0; same && i < il_tensor_ndim(t); i++)
        same = il_tensor_shape(t)[i] == il_tensor_shape(dst)[i];
    if (!same)
        luaL_error(L, "%s: %s returned shape %s, expected %s", cl->c->label, what,
                   l_fmtshape(t, a, sizeof a), l_fmtshape(dst, b, sizeof b));
    il_status s = il_tensor_copy_(l_ctx(L), dst, t);
    if (s != IL_OK) l_fail(L, s);
}

/* Calls the function on top with nargs arguments, prefixing an error with the layer and the
 * callback's name. [-(nargs+1), +nres, e] */
static void callfn(lua_State *L, l_call *cl, int nargs, int nres) {
    if (lua_pcall(L, nargs, nres, 0) == LUA_OK) return;
    if (lua_type(L, -1) == LUA_TSTRING)
        luaL_error(L, "%s: %s: %s", cl->c->label, call_names[cl->what], lua_tostring(L, -1));
    luaL_error(L, "%s: %s raised a %s value", cl->c->label, call_names[cl->what],
               luaL_typename(L, -1));
}

/* The default width: all inputs alike. [-0, +0, e] */
static int64_t samewidth(lua_State *L, const char *lbl, int nin, const int64_t *w) {
    for (int i = 1; i < nin; i++)
        if (w[i] != w[0])
            luaL_error(L, "%s: input widths differ (%I and %I); give the layer an out function",
                       lbl, (lua_Integer)w[0], (lua_Integer)w[i]);
    return w[0];
}

/* Calls the out function on top with the widths; returns its result. [-1, +0, e] */
static int64_t callout(lua_State *L, l_call *cl, const char *lbl, int nin, const int64_t *w) {
    for (int i = 0; i < nin; i++)
        lua_pushinteger(L, (lua_Integer)w[i]);
    callfn(L, cl, nin, 1);
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1)
        luaL_error(L, "%s: out must return a positive integer, got %s", lbl,
                   isint ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_pop(L, 1);
    return (int64_t)v;
}

/* The protected side of a callback: a closure over the context box. [-0, +0, e] */
static int worker(lua_State *L) {
    l_call *cl = (l_call *)lua_touserdata(L, 1);
    int nin = cl->nin;
    luaL_checkstack(L, nin + 8, "too many layer inputs");
    lua_rawgeti(L, LUA_REGISTRYINDEX, cl->c->ref); /* 2: functions */
    lua_getfield(L, 2, call_names[cl->what]);
    if (cl->what == CALL_INFER) {
        *cl->outw = lua_isnil(L, -1) ? samewidth(L, cl->c->label, nin, cl->inw)
                                     : callout(L, cl, cl->c->label, nin, cl->inw);
        return 0;
    }
    for (int i = 0; i < nin; i++)
        pushcopy(L, cl->x[i]);
    if (cl->what == CALL_FORWARD) {
        callfn(L, cl, nin, 1);
        copyback(L, cl, -1, cl->yout, "forward");
        return 0;
    }
    pushcopy(L, cl->y);
    pushcopy(L, cl->dy);
    callfn(L, cl, nin + 2, nin);
    int base = lua_gettop(L) - nin;
    for (int i = 0; i < nin; i++)
        copyback(L, cl, base + 1 + i, cl->dx[i], "backward");
    return 0;
}

/* A light C function, so pushing it cannot fail: makes the worker closure under protection.
 * [-0, +0, e] */
static int trampoline(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushcclosure(L, worker, 1);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
    return 0;
}

/* Runs the worker under lua_pcall on the network's current thread; an error becomes a status
 * carrying its message. Raises nothing. */
static il_status protect(il_ctx *ctx, l_call *cl) {
    lua_State *L = cl->c->box->L;
    if (!lua_checkstack(L, 4))
        return il_ctx_error(ctx, IL_E_NOMEM, "%s: Lua stack overflow", cl->c->label);
    lua_pushcfunction(L, trampoline);
    lua_pushlightuserdata(L, cl);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) return IL_OK;
    il_status s;
    if (lua_type(L, -1) == LUA_TSTRING)
        s = il_ctx_error(ctx, IL_E_ARG, "%s", lua_tostring(L, -1));
    else
        s = il_ctx_error(ctx, IL_E_ARG, "%s: %s failed", cl->c->label, call_names[cl->what]);
    lua_pop(L, 1);
    return s;
}

static il_status cb_infer(void *ud, il_ctx *ctx, int nin, const int64_t *in_features,
                          int64_t *out_features) {
    l_call cl = {(l_custom *)ud, CALL_INFER, nin,  in_features, out_features,
                 NULL,           NULL,       NULL, NULL,        NULL};
    return protect(ctx, &cl);
}

static il_status cb_forward(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                            il_tensor *y) {
    l_call cl = {(l_custom *)ud, CALL_FORWARD, nin, NULL, NULL, x, NULL, NULL, y, NULL};
    return protect(ctx, &cl);
}

static il_status cb_backward(void *ud, il_ctx *ctx, int nin, const il_tensor *const *x,
                             const il_tensor *y, const il_tensor *dy, il_tensor *const *dx) {
    l_call cl = {(l_custom *)ud, CALL_BACKWARD, nin, NULL, NULL, x, y, dy, NULL, dx};
    return protect(ctx, &cl);
}

/* Drops the functions and frees the layer's data; runs inside il_net_free, called from the
 * network's __gc (or a failed build), which records the thread first. */
static void cb_release(void *ud) {
    l_custom *c = (l_custom *)ud;
    luaL_unref(c->box->L, LUA_REGISTRYINDEX, c->ref);
    c->alloc(c->alloc_ud, c, sizeof *c, 0);
}

int64_t l_customwidth(lua_State *L, int idx, int nin, const int64_t *w, const char *lbl) {
    idx = lua_absindex(L, idx);
    l_call cl = {NULL, CALL_INFER, nin, w, NULL, NULL, NULL, NULL, NULL, NULL};
    l_custom fake;
    snprintf(fake.label, sizeof fake.label, "%s", lbl);
    cl.c = &fake;
    lua_getiuservalue(L, idx, 2);
    lua_getfield(L, -1, "out");
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return samewidth(L, lbl, nin, w);
    }
    return callout(L, &cl, lbl, nin, w);
}

il_status l_customadd(lua_State *L, l_net *n, int idx, int nin, const int *in, int *node) {
    void *aud;
    lua_Alloc alloc = lua_getallocf(L, &aud);
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    l_custom *c = (l_custom *)alloc(aud, NULL, 0, sizeof *c);
    if (c == NULL) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        luaL_error(L, "not enough memory");
    }
    c->box = n;
    c->ref = ref;
    c->alloc = alloc;
    c->alloc_ud = aud;
    lua_getiuservalue(L, idx, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
        snprintf(c->name, sizeof c->name, "%s", lua_tostring(L, -1));
        snprintf(c->label, sizeof c->label, "layer '%s'", c->name);
    } else {
        snprintf(c->name, sizeof c->name, "layer");
        snprintf(c->label, sizeof c->label, "layer");
    }
    lua_pop(L, 1);
    il_custom_layer cl = {c, cb_infer, cb_forward, cb_backward, cb_release, c->name};
    /* The network takes c from here on, releasing it on failure too. */
    return il_net_custom(n->net, &cl, nin, in, node);
}

/* il.nn.layer{forward=, backward=, out=, name=} -> a layer descriptor [-0, +1, e] */
int l_customlayer(lua_State *L) {
    static l_optkeys keys = {"forward", "backward", "out", "name", NULL};
    static const char *const fns[] = {"forward", "backward", "out"};
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkopts(L, 1, keys);
    lua_createtable(L, 0, 3); /* 2: functions */
    for (int i = 0; i < 3; i++) {
        int t = lua_getfield(L, 1, fns[i]);
        if (t == LUA_TNIL && i < 2)
            return luaL_error(L, "layer: option '%s' (a function) is required", fns[i]);
        if (t != LUA_TNIL && t != LUA_TFUNCTION)
            return luaL_error(L, "layer: option '%s' must be a function, got %s", fns[i],
                              luaL_typename(L, -1));
        lua_setfield(L, 2, fns[i]);
    }
    int t = lua_getfield(L, 1, "name"); /* 3 */
    if (t != LUA_TNIL && t != LUA_TSTRING)
        return luaL_error(L, "option 'name' must be a string, got %s", luaL_typename(L, -1));
    l_layer *ly = (l_layer *)lua_newuserdatauv(L, sizeof *ly, 2);
    memset(ly, 0, sizeof *ly);
    ly->kind = IL_LAYER_CUSTOM;
    ly->in_features = -1;
    luaL_setmetatable(L, L_LAYER_MT);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, 2);
    return 1;
}
