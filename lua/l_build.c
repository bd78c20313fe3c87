/*
 * l_build.c: building C networks from layer descriptors and nodes (l_layer.c):
 * il.nn.sequential{...} and il.nn.graph(inputs, outputs), rebuilding one in another dtype
 * (net:to), and the one-layer networks of il.gradcheck.
 *
 * il.nn.graph walks the nodes from the outputs and adds them to a new C network in topological
 * order. The network userdata is pushed first, so a Lua error while building leaves the partial
 * network to the collector. A network's user value 1 is its recipe ({kind="sequential",
 * layers=} or {kind="graph", inputs=, outputs=}, copies of what it was built from).
 */
#include "l_impl.h"

#include <string.h>

/* Adds an input of width w to n. [-0, +0, e] */
static int addinput(lua_State *L, l_net *n, int64_t w) {
    int id = -1;
    il_status s = il_net_input(n->net, w, &id);
    if (s != IL_OK) l_fail(L, s);
    n->in_width[n->nin++] = w;
    return id;
}

/* Pushes a network of dtype dt built from the array of layers at idx (a first element may be
 * an input node). [-0, +1, e] */
static l_net *buildseq(lua_State *L, int idx, il_dtype dt) {
    int len = (int)lua_rawlen(L, idx), start = 1, id;
    int64_t w;
    char lbl[160];
    size_t before = l_inuse(l_ctx(L));
    if (len == 0) luaL_error(L, "sequential: no layers");
    l_net *n = l_newnet(L, dt);
    lua_rawgeti(L, idx, 1);
    l_node *nd = l_tonode(L, -1);
    l_layer *first = (l_layer *)luaL_testudata(L, -1, L_LAYER_MT);
    if (nd != NULL && nd->isinput) {
        w = nd->width;
        start = 2;
    } else if (first != NULL &&
               (first->kind == IL_LAYER_LINEAR || first->kind == IL_LAYER_FOURIER)) {
        w = first->in_features;
    } else {
        luaL_error(L,
                   "sequential: the first layer must be linear(i, o), siren(i, o), fourier(i, {...}) or "
                   "il.nn.input(n), "
                   "got %s",
                   first ? l_kind_names[first->kind] : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    id = addinput(L, n, w);
    for (int i = start; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        l_layer *ly = (l_layer *)luaL_testudata(L, -1, L_LAYER_MT);
        if (ly == NULL)
            luaL_error(L, "sequential: element %d is a %s, expected a layer", i,
                       luaL_typename(L, -1));
        l_layerlabel(L, lua_gettop(L), i, lbl, sizeof lbl);
        if (l_isjoin(ly->kind)) luaL_error(L, "sequential: %s joins nodes; use il.nn.graph", lbl);
        w = l_layerwidth(L, lua_gettop(L), 1, &w, lbl);
        id = l_addlayer(L, n, lua_gettop(L), 1, &id);
        lua_pop(L, 1);
    }
    n->out_width = w;
    size_t after = l_inuse(l_ctx(L));
    l_gcdebt(L, after > before ? after - before : 0);
    return n;
}

/* Adds the node at idx and, first, the nodes it depends on; ids maps nodes to C node ids.
 * Returns its id. [-0, +0, e] */
static int visit(lua_State *L, l_net *n, int ids, int idx) {
    lua_pushvalue(L, idx);
    if (lua_rawget(L, ids) == LUA_TNUMBER) {
        int id = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        return id;
    }
    lua_pop(L, 1);
    l_node *nd = l_tonode(L, idx);
    if (nd == NULL)
        luaL_error(L, "graph: an output is a %s, expected a node", luaL_typename(L, idx));
    if (nd->isinput)
        luaL_error(L, "graph: the outputs depend on an input node not among the graph's inputs");
    luaL_checkstack(L, 8, "graph too deep");
    lua_getiuservalue(L, idx, 1); /* descriptor */
    lua_getiuservalue(L, idx, 2); /* input nodes */
    int top = lua_gettop(L), nin = (int)lua_rawlen(L, top), in[L_MAXIN];
    for (int i = 0; i < nin; i++) {
        lua_rawgeti(L, top, i + 1);
        in[i] = visit(L, n, ids, lua_gettop(L));
        lua_pop(L, 1);
    }
    int id = l_addlayer(L, n, top - 1, nin, in);
    lua_pushvalue(L, idx);
    lua_pushinteger(L, id);
    lua_rawset(L, ids);
    lua_pop(L, 2);
    return id;
}

/* Pushes a network of dtype dt from the arrays of input nodes at ins and output nodes at outs.
 * [-0, +1, e] */
static l_net *buildgraph(lua_State *L, int ins, int outs, il_dtype dt) {
    int nin = (int)lua_rawlen(L, ins);
    size_t before = l_inuse(l_ctx(L));
    if (nin < 1 || nin > L_MAXIN)
        luaL_error(L, "graph: needs 1 to %d inputs, got %d", L_MAXIN, nin);
    if (lua_rawlen(L, outs) != 1)
        luaL_error(L, "graph: needs exactly one output (several are not supported yet), got %d",
                   (int)lua_rawlen(L, outs));
    l_net *n = l_newnet(L, dt);
    lua_newtable(L); /* node -> id */
    int ids = lua_gettop(L);
    for (int i = 1; i <= nin; i++) {
        lua_rawgeti(L, ins, i);
        l_node *nd = l_tonode(L, -1);
        if (nd == NULL || !nd->isinput)
            luaL_error(L, "graph: input %d is not an input node (il.nn.input(n))", i);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, ids) != LUA_TNIL) luaL_error(L, "graph: input %d is listed twice", i);
        lua_pop(L, 1);
        lua_pushinteger(L, addinput(L, n, nd->width));
        lua_rawset(L, ids);
    }
    lua_rawgeti(L, outs, 1);
    int out = visit(L, n, ids, lua_gettop(L));
    n->out_width = l_tonode(L, -1)->width;
    lua_pop(L, 2);
    il_status s = il_net_set_output(n->net, out);
    if (s != IL_OK) l_fail(L, s);
    size_t after = l_inuse(l_ctx(L));
    l_gcdebt(L, after > before ? after - before : 0);
    return n;
}

/* Pushes a copy of the array at idx, or {value} when it is a node. [-0, +1, e] */
static void pusharray(lua_State *L, int idx, const char *what) {
    if (l_tonode(L, idx) != NULL) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, 1);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "graph: %s must be a node or a table of nodes, got %s", what,
                   luaL_typename(L, idx));
    int len = (int)lua_rawlen(L, idx);
    lua_createtable(L, len, 0);
    for (int i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        lua_rawseti(L, -2, i);
    }
}

/* Reads option dtype of the table at idx (f32 or f64). [-0, +0, e] */
static il_dtype netdtype(lua_State *L, int idx) {
    il_dtype dt = l_optdtype(L, idx, IL_DTYPE_F32);
    if (dt != IL_DTYPE_F32 && dt != IL_DTYPE_F64)
        luaL_error(L, "networks are f32 or f64, got %s", il_dtype_name(dt));
    return dt;
}

/* Stores the recipe table on top as user value 1 of the network below it. [-1, +0, -] */
static void setrecipe(lua_State *L) {
    lua_setiuservalue(L, -2, 1);
}

/* il.nn.sequential{layer, ..., dtype=} -> net [-0, +1, e] */
static int nn_sequential(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int len = (int)lua_rawlen(L, 1);
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            if (strcmp(lua_tostring(L, -1), "dtype") != 0)
                return luaL_error(L, "unknown option '%s'", lua_tostring(L, -1));
        } else if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
                   lua_tointeger(L, -1) > len) {
            return luaL_error(L, "sequential: unexpected key (a %s)", luaL_typename(L, -1));
        }
    }
    il_dtype dt = netdtype(L, 1);
    lua_createtable(L, 0, 2); /* recipe: 2 */
    lua_pushliteral(L, "sequential");
    lua_setfield(L, 2, "kind");
    lua_createtable(L, len, 0);
    for (int i = 1; i <= len; i++) {
        lua_rawgeti(L, 1, i);
        lua_rawseti(L, -2, i);
    }
    lua_setfield(L, 2, "layers");
    lua_getfield(L, 2, "layers");
    buildseq(L, 3, dt);
    lua_pushvalue(L, 2);
    setrecipe(L);
    return 1;
}

/* il.nn.graph(inputs, outputs[, {dtype=}]): inputs and outputs are nodes or arrays of nodes.
 * [-0, +1, e] */
static int nn_graph(lua_State *L) {
    static l_optkeys keys = {"dtype", NULL};
    l_checkopts(L, 3, keys);
    il_dtype dt = netdtype(L, 3);
    lua_settop(L, 3);
    lua_createtable(L, 0, 3); /* recipe: 4 */
    lua_pushliteral(L, "graph");
    lua_setfield(L, 4, "kind");
    pusharray(L, 1, "inputs");
    lua_setfield(L, 4, "inputs");
    pusharray(L, 2, "outputs");
    lua_setfield(L, 4, "outputs");
    lua_getfield(L, 4, "inputs");
    lua_getfield(L, 4, "outputs");
    buildgraph(L, 5, 6, dt);
    lua_pushvalue(L, 4);
    setrecipe(L);
    return 1;
}

l_net *l_rebuild(lua_State *L, int idx, il_dtype dt) {
    l_net *n;
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, "kind");
    int seq = strcmp(lua_tostring(L, -1), "sequential") == 0;
    lua_pop(L, 1);
    if (seq) {
        lua_getfield(L, idx, "layers");
        n = buildseq(L, lua_gettop(L), dt);
        lua_remove(L, -2);
    } else {
        lua_getfield(L, idx, "inputs");
        lua_getfield(L, idx, "outputs");
        n = buildgraph(L, lua_gettop(L) - 1, lua_gettop(L), dt);
        lua_replace(L, -3);
        lua_pop(L, 1);
    }
    lua_pushvalue(L, idx);
    setrecipe(L);
    return n;
}

l_net *l_layernet(lua_State *L, int idx, int nin, const int64_t *w, il_dtype dt) {
    char lbl[160];
    int in[L_MAXIN];
    idx = lua_absindex(L, idx);
    l_layer *ly = l_checklayer(L, idx);
    l_layerlabel(L, idx, 0, lbl, sizeof lbl);
    if (l_isjoin(ly->kind) ? nin < 2 : (ly->kind != IL_LAYER_CUSTOM && nin != 1))
        luaL_error(L, "%s: cannot take %d input%s", lbl, nin, nin == 1 ? "" : "s");
    int64_t out = l_layerwidth(L, idx, nin, w, lbl);
    l_net *n = l_newnet(L, dt);
    for (int i = 0; i < nin; i++)
        in[i] = addinput(L, n, w[i]);
    l_addlayer(L, n, idx, nin, in);
    n->out_width = out;
    return n;
}

static const luaL_Reg build_funcs[] = {
    {"sequential", nn_sequential},
    {"graph", nn_graph},
    {NULL, NULL},
};

void l_open_build(lua_State *L) {
    l_setfuncs(L, build_funcs);
}
