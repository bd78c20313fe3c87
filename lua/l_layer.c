/*
 * l_layer.c: layer descriptors ("il.Layer": il.nn.linear, tanh, ..., add, concat), graph nodes
 * ("il.Node": il.nn.input(n) and layer(node, ...)), their widths, and adding a layer to a C
 * network. Building whole networks from them is l_build.c's.
 *
 * A descriptor only describes a layer: each network built from it gets fresh parameters, and
 * calling one descriptor on two nodes makes two layers (no weight sharing). Nodes are immutable
 * Lua objects recording (descriptor, input nodes) and their width, which is checked when the
 * node is made, so a width error points at the line that made it.
 *
 * User values: a descriptor's 1 is its name (or nil), 2 its custom functions (l_custom.c); a
 * node's 1 is its descriptor (nil for an input), 2 the table of its input nodes.
 */
#include "l_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const l_kind_names[IL_LAYER_COUNT] = {
    "input",    "linear", "tanh",    "sigmoid", "relu", "leaky_relu", "gelu",
    "softplus", "sine",   "softmax", "dropout", "add",  "concat",     "layer",
    "fourier"};

static const struct {
    const char *name;
    il_init init;
} inits[] = {
    {"xavier_uniform", IL_INIT_XAVIER_UNIFORM},
    {"glorot_uniform", IL_INIT_XAVIER_UNIFORM},
    {"xavier_normal", IL_INIT_XAVIER_NORMAL},
    {"glorot_normal", IL_INIT_XAVIER_NORMAL},
    {"he_uniform", IL_INIT_HE_UNIFORM},
    {"kaiming_uniform", IL_INIT_HE_UNIFORM},
    {"he_normal", IL_INIT_HE_NORMAL},
    {"kaiming_normal", IL_INIT_HE_NORMAL},
    {"normal", IL_INIT_NORMAL},
    {"uniform", IL_INIT_UNIFORM},
    {"zeros", IL_INIT_ZEROS},
};

/* A siren descriptor is a linear one with a SIREN init; adding it also adds the sine after
 * it, unless it is a SIREN's linear head (last=true). */
int l_issiren(const l_layer *ly) {
    return ly->kind == IL_LAYER_LINEAR &&
           (ly->opts.init == IL_INIT_SIREN || ly->opts.init == IL_INIT_SIREN_FIRST);
}

int l_isjoin(il_layer_kind k) {
    return k == IL_LAYER_ADD || k == IL_LAYER_CONCAT;
}

l_layer *l_checklayer(lua_State *L, int idx) {
    return (l_layer *)luaL_checkudata(L, idx, L_LAYER_MT);
}

l_node *l_tonode(lua_State *L, int idx) {
    return (l_node *)luaL_testudata(L, idx, L_NODE_MT);
}

const char *l_layerlabel(lua_State *L, int idx, int pos, char *buf, size_t size) {
    l_layer *ly = l_checklayer(L, idx);
    int n = 0;
    lua_getiuservalue(L, idx, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
        n = snprintf(buf, size, "%s '%s'", l_kind_names[ly->kind], lua_tostring(L, -1));
    else if (ly->kind == IL_LAYER_LINEAR || ly->kind == IL_LAYER_FOURIER)
        n = snprintf(buf, size, "%s(%lld, %lld)", l_issiren(ly) ? "siren" : l_kind_names[ly->kind],
                     (long long)ly->in_features, (long long)ly->opts.out_features);
    else
        n = snprintf(buf, size, "%s", l_kind_names[ly->kind]);
    lua_pop(L, 1);
    if (pos > 0 && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " (layer %d)", pos);
    return buf;
}

int64_t l_layerwidth(lua_State *L, int idx, int nin, const int64_t *w, const char *lbl) {
    l_layer *ly = l_checklayer(L, idx);
    int64_t sum = 0;
    switch (ly->kind) {
    case IL_LAYER_LINEAR:
        if (w[0] != ly->in_features)
            luaL_error(L, "%s: expected %I input features, got %I", lbl,
                       (lua_Integer)ly->in_features, (lua_Integer)w[0]);
        return ly->opts.out_features;
    case IL_LAYER_FOURIER:
        if (w[0] != ly->in_features)
            luaL_error(L, "%s: expected %I input features, got %I", lbl,
                       (lua_Integer)ly->in_features, (lua_Integer)w[0]);
        return 2 * ly->opts.out_features;
    case IL_LAYER_ADD:
        for (int i = 1; i < nin; i++)
            if (w[i] != w[0])
                luaL_error(L, "%s: input widths differ (%I and %I)", lbl, (lua_Integer)w[0],
                           (lua_Integer)w[i]);
        return w[0];
    case IL_LAYER_CONCAT:
        for (int i = 0; i < nin; i++)
            sum += w[i];
        return sum;
    case IL_LAYER_CUSTOM: return l_customwidth(L, idx, nin, w, lbl);
    default: return w[0];
    }
}

int l_addlayer(lua_State *L, l_net *n, int idx, int nin, const int *in) {
    l_layer *ly = l_checklayer(L, idx);
    il_layer_opts opts = ly->opts;
    int node = -1;
    il_status s;
    lua_getiuservalue(L, idx, 1);
    /* The descriptor keeps its name alive; C copies it. */
    opts.name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    n->L = L;
    if (ly->kind == IL_LAYER_CUSTOM)
        s = l_customadd(L, n, idx, nin, in, &node);
    else
        s = il_net_layer(n->net, ly->kind, &opts, nin, in, &node);
    if (s == IL_OK && ly->sine_after) {
        il_layer_opts so;
        memset(&so, 0, sizeof so);
        so.omega = opts.omega;
        int lin = node;
        s = il_net_layer(n->net, IL_LAYER_SINE, &so, 1, &lin, &node);
    }
    if (s != IL_OK) l_fail(L, s);
    return node;
}

/* ---- descriptors ------------------------------------------------------------------------- */

/* Pushes a new descriptor of kind with the name option of the (checked) table at optidx.
 * [-0, +1, e] */
static l_layer *newlayer(lua_State *L, il_layer_kind kind, int optidx) {
    int hasopts = optidx > 0 && lua_type(L, optidx) == LUA_TTABLE;
    l_layer *ly = (l_layer *)lua_newuserdatauv(L, sizeof *ly, 2);
    memset(ly, 0, sizeof *ly);
    ly->kind = kind;
    ly->in_features = -1;
    luaL_setmetatable(L, L_LAYER_MT);
    if (hasopts) {
        int t = lua_getfield(L, optidx, "name");
        if (t != LUA_TNIL && t != LUA_TSTRING)
            luaL_error(L, "option 'name' must be a string, got %s", luaL_typename(L, -1));
        lua_setiuservalue(L, -2, 1);
    }
    return ly;
}

static l_optkeys name_keys = {"name", NULL};

/* il.nn.linear(i, o, {init=, bias=, name=}) [-0, +1, e] */
static int nn_linear(lua_State *L) {
    static l_optkeys keys = {"init", "bias", "name", NULL};
    lua_Integer i = luaL_checkinteger(L, 1), o = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 1, 1, "input features must be >= 1");
    luaL_argcheck(L, o >= 1, 2, "output features must be >= 1");
    l_checkopts(L, 3, keys);
    il_init init = IL_INIT_XAVIER_UNIFORM;
    int bias = 1;
    if (!lua_isnoneornil(L, 3)) {
        if (lua_getfield(L, 3, "init") != LUA_TNIL) {
            const char *name = luaL_tolstring(L, -1, NULL);
            size_t k, n = sizeof inits / sizeof inits[0];
            for (k = 0; k < n && strcmp(inits[k].name, name) != 0; k++) {
            }
            if (k == n || lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "unknown init '%s'", name);
            init = inits[k].init;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "bias") != LUA_TNIL) bias = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    l_layer *ly = newlayer(L, IL_LAYER_LINEAR, 3);
    ly->in_features = (int64_t)i;
    ly->opts.out_features = (int64_t)o;
    ly->opts.in_features = (int64_t)i;
    ly->opts.init = init;
    ly->opts.bias = bias ? 0 : -1;
    return 1;
}

/* il.nn.tanh(), sigmoid, relu, gelu, softplus, softmax, add, concat: kind in upvalue 2;
 * optional {name=}. [-0, +1, e] */
static int nn_simple(lua_State *L) {
    il_layer_kind kind = (il_layer_kind)lua_tointeger(L, lua_upvalueindex(2));
    l_checkopts(L, 1, name_keys);
    newlayer(L, kind, 1);
    return 1;
}

/* il.nn.leaky_relu([alpha][, {name=}]) [-0, +1, e] */
static int nn_leaky_relu(lua_State *L) {
    int o = lua_type(L, 1) == LUA_TNUMBER || lua_isnil(L, 1) ? 2 : 1;
    double a = o == 2 ? (double)luaL_optnumber(L, 1, 0.01) : 0.01;
    l_checkopts(L, o, name_keys);
    l_layer *ly = newlayer(L, IL_LAYER_LEAKY_RELU, o);
    ly->opts.alpha = a;
    return 1;
}

/* il.nn.sine{omega=30, name=} or il.nn.sine(omega[, {name=}]) [-0, +1, e] */
static int nn_sine(lua_State *L) {
    static l_optkeys keys = {"omega", "name", NULL};
    double omega = 30.0;
    int o = 1;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        omega = (double)lua_tonumber(L, 1);
        o = 2;
    }
    l_checkopts(L, o, keys);
    if (o == 1) omega = l_optnum(L, 1, "omega", omega);
    if (!(omega > 0)) return luaL_error(L, "sine: omega must be > 0");
    l_layer *ly = newlayer(L, IL_LAYER_SINE, o);
    ly->opts.omega = omega;
    return 1;
}

/* il.nn.siren(in, out, {omega=30, first=false, last=false, name=}): a linear layer with the
 * SIREN init followed by sine(omega): one descriptor, two network nodes; last=true is the
 * linear head alone (SIREN init, no sine). [-0, +1, e] */
static int nn_siren(lua_State *L) {
    static l_optkeys keys = {"omega", "first", "last", "name", NULL};
    lua_Integer i = luaL_checkinteger(L, 1), o = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 1, 1, "input features must be >= 1");
    luaL_argcheck(L, o >= 1, 2, "output features must be >= 1");
    l_checkopts(L, 3, keys);
    double omega = l_optnum(L, 3, "omega", 30.0);
    if (!(omega > 0) || !isfinite(omega)) return luaL_error(L, "siren: omega must be > 0");
    int first = 0, last = 0;
    if (!lua_isnoneornil(L, 3)) {
        first = lua_getfield(L, 3, "first") != LUA_TNIL && lua_toboolean(L, -1);
        last = lua_getfield(L, 3, "last") != LUA_TNIL && lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    l_layer *ly = newlayer(L, IL_LAYER_LINEAR, 3);
    ly->in_features = ly->opts.in_features = (int64_t)i;
    ly->opts.out_features = (int64_t)o;
    ly->opts.init = first ? IL_INIT_SIREN_FIRST : IL_INIT_SIREN;
    ly->opts.omega = omega;
    ly->sine_after = !last;
    return 1;
}

/* il.nn.fourier(in, {features=, sigma=10, seed=, name=}): fixed random Fourier features,
 * 2 * features wide. [-0, +1, e] */
static int nn_fourier(lua_State *L) {
    static l_optkeys keys = {"features", "sigma", "seed", "name", NULL};
    lua_Integer i = luaL_checkinteger(L, 1);
    luaL_argcheck(L, i >= 1, 1, "input features must be >= 1");
    luaL_checktype(L, 2, LUA_TTABLE);
    l_checkopts(L, 2, keys);
    double f = l_optnum(L, 2, "features", 0), sigma = l_optnum(L, 2, "sigma", 10.0);
    double seed = l_optnum(L, 2, "seed", 0);
    if (!(f >= 1 && f <= (double)((int64_t)1 << 39)) || f != floor(f))
        return luaL_error(L, "fourier: features must be an integer >= 1");
    if (!(sigma > 0) || !isfinite(sigma)) return luaL_error(L, "fourier: sigma must be > 0");
    if (!(seed >= 0 && seed < 9007199254740992.0) || seed != floor(seed))
        return luaL_error(L, "fourier: seed must be an integer in [1, 2^53)");
    l_layer *ly = newlayer(L, IL_LAYER_FOURIER, 2);
    ly->in_features = (int64_t)i;
    ly->opts.out_features = (int64_t)f;
    ly->opts.sigma = sigma;
    ly->opts.seed = (uint64_t)seed;
    return 1;
}

/* il.nn.dropout(p[, {name=}]) [-0, +1, e] */
static int nn_dropout(lua_State *L) {
    double p = (double)luaL_checknumber(L, 1);
    luaL_argcheck(L, p >= 0 && p < 1, 1, "dropout probability must be in [0, 1)");
    l_checkopts(L, 2, name_keys);
    l_layer *ly = newlayer(L, IL_LAYER_DROPOUT, 2);
    ly->opts.p = p;
    return 1;
}

/* tostring(layer): "il.Layer (linear(2, 8))" [-0, +1, e] */
static int layer_tostring(lua_State *L) {
    char buf[160];
    lua_pushfstring(L, "il.Layer (%s)", l_layerlabel(L, 1, 0, buf, sizeof buf));
    return 1;
}

/* ---- nodes ------------------------------------------------------------------------------- */

/* Pushes a node of width whose descriptor is at layer (0: an input) and whose input nodes are
 * first..first+nin-1. [-0, +1, m] */
static void pushnode(lua_State *L, int64_t width, int layer, int first, int nin) {
    l_node *nd = (l_node *)lua_newuserdatauv(L, sizeof *nd, 2);
    nd->width = width;
    nd->isinput = layer == 0;
    luaL_setmetatable(L, L_NODE_MT);
    if (layer == 0) return;
    lua_pushvalue(L, layer);
    lua_setiuservalue(L, -2, 1);
    lua_createtable(L, nin, 0);
    for (int i = 0; i < nin; i++) {
        lua_pushvalue(L, first + i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, -2, 2);
}

/* il.nn.input(n) -> an input node of width n [-0, +1, e] */
static int nn_input(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1, 1, "input features must be >= 1");
    pushnode(L, (int64_t)n, 0, 0, 0);
    return 1;
}

/* layer(node, ...) -> a node fed by the given nodes [-0, +1, e] */
static int layer_call(lua_State *L) {
    l_layer *ly = l_checklayer(L, 1);
    int nin = lua_gettop(L) - 1;
    int64_t w[L_MAXIN];
    char lbl[160];
    l_layerlabel(L, 1, 0, lbl, sizeof lbl);
    if (l_isjoin(ly->kind) && (nin < 2 || nin > L_MAXIN))
        return luaL_error(L, "%s: a join takes 2 to %d nodes, got %d", lbl, L_MAXIN, nin);
    if (ly->kind != IL_LAYER_CUSTOM && !l_isjoin(ly->kind) && nin != 1)
        return luaL_error(L, "%s: takes 1 node, got %d", lbl, nin);
    if (nin < 1 || nin > L_MAXIN)
        return luaL_error(L, "%s: takes 1 to %d nodes, got %d", lbl, L_MAXIN, nin);
    for (int i = 0; i < nin; i++) {
        l_node *nd = l_tonode(L, i + 2);
        if (nd == NULL)
            return luaL_error(L, "%s: argument %d is a %s, expected a node", lbl, i + 1,
                              luaL_typename(L, i + 2));
        w[i] = nd->width;
    }
    int64_t width = l_layerwidth(L, 1, nin, w, lbl);
    pushnode(L, width, 1, 2, nin);
    return 1;
}

/* node.features (its width); node.input (true for an input node) [-0, +1, e] */
static int node_index(lua_State *L) {
    l_node *nd = (l_node *)luaL_checkudata(L, 1, L_NODE_MT);
    const char *k = lua_tostring(L, 2);
    if (k != NULL && strcmp(k, "features") == 0)
        lua_pushinteger(L, (lua_Integer)nd->width);
    else if (k != NULL && strcmp(k, "input") == 0)
        lua_pushboolean(L, nd->isinput);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg nn_funcs[] = {
    {"linear", nn_linear}, {"leaky_relu", nn_leaky_relu},
    {"sine", nn_sine},     {"dropout", nn_dropout},
    {"input", nn_input},   {"layer", l_customlayer},
    {"siren", nn_siren},   {"fourier", nn_fourier},
    {NULL, NULL},
};

static const il_layer_kind simple_kinds[] = {
    IL_LAYER_TANH,     IL_LAYER_SIGMOID, IL_LAYER_RELU, IL_LAYER_GELU,
    IL_LAYER_SOFTPLUS, IL_LAYER_SOFTMAX, IL_LAYER_ADD,  IL_LAYER_CONCAT,
};

void l_open_layer(lua_State *L) {
    int nn = lua_gettop(L);
    l_setfuncs(L, nn_funcs);
    for (size_t i = 0; i < sizeof simple_kinds / sizeof simple_kinds[0]; i++) {
        lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
        lua_pushinteger(L, simple_kinds[i]);
        lua_pushcclosure(L, nn_simple, 2);
        lua_setfield(L, nn, l_kind_names[simple_kinds[i]]);
    }
    luaL_newmetatable(L, L_LAYER_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushcclosure(L, layer_call, 1);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, layer_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, L_LAYER_MT);
    lua_setfield(L, -2, "__metatable");
    luaL_newmetatable(L, L_NODE_MT);
    lua_pushcfunction(L, node_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, L_NODE_MT);
    lua_setfield(L, -2, "__metatable");
    lua_settop(L, nn);
    l_open_build(L);
}
