/*
 * l_nn.c: the "il.Net" userdata: life cycle, net:forward, net:step, net:parameters,
 * net:train/eval, net:to, tostring(net) and its properties (num_params, num_inputs, dtype,
 * training, out_features); builds the il.nn table (constructors come from l_layer.c).
 *
 * A network userdata is pushed holding NULL with its metatable set, then the C network is made
 * (liolib's order), so a Lua error while building leaves it to the collector. Around every C
 * call that may run custom layers the userdata records the running thread and is marked busy:
 * the layers' Lua functions run on that thread, and cannot re-enter the same network.
 */
#include "l_impl.h"

#include <string.h>

/* Rough C bytes of a network's bookkeeping, counted towards collector pressure on creation. */
#define L_NET_BYTES 4096

void l_gcdebt(lua_State *L, size_t bytes) {
    /* l_settensor keeps the collector's books; a dummy slot lends them to non-tensor memory. */
    il_tensor *none = NULL;
    l_settensor(L, &none, NULL, bytes);
}

size_t l_inuse(il_ctx *ctx) {
    il_mem_stats m;
    il_ctx_memory(ctx, &m);
    return m.bytes_in_use;
}

/* __gc of a network. The optimizers that point to it were made after it, so their finalizers
 * (which run in reverse order of creation) have already run. [-0, +0, e] */
static int net_gc(lua_State *L) {
    l_net *n = (l_net *)luaL_checkudata(L, 1, L_NET_MT);
    n->L = L; /* custom layers release their Lua functions through it */
    il_net_free(n->net);
    n->net = NULL;
    return 0;
}

l_net *l_newnet(lua_State *L, il_dtype dt) {
    il_ctx *ctx = l_ctx(L);
    l_net *n = (l_net *)lua_newuserdatauv(L, sizeof *n, 1);
    memset(n, 0, sizeof *n);
    n->L = L;
    n->training = 1;
    n->dtype = dt;
    luaL_setmetatable(L, L_NET_MT);
    il_net *net = NULL;
    il_status s = il_net_new(ctx, dt, &net);
    if (s != IL_OK) {
        l_fail(L, s);
        return NULL;
    }
    n->net = net;
    l_gcdebt(L, L_NET_BYTES);
    return n;
}

l_net *l_checknet(lua_State *L, int idx) {
    l_net *n = (l_net *)luaL_checkudata(L, idx, L_NET_MT);
    if (n->net == NULL) luaL_error(L, "attempt to use a freed network");
    if (n->busy) luaL_error(L, "network is busy (a custom layer called its own network)");
    return n;
}

int l_netinputs(lua_State *L, l_net *n, int first, int last, const il_tensor **x,
                const char *what) {
    int count = 0;
    if (lua_type(L, first) == LUA_TTABLE) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, first);
        if (len > L_MAXIN) luaL_error(L, "%s: too many inputs (%I)", what, len);
        for (int i = 0; i < (int)len; i++) {
            lua_rawgeti(L, first, i + 1);
            /* The table at first keeps the tensor alive. */
            x[count] = l_totensor(L, -1);
            if (x[count] == NULL)
                luaL_error(L, "%s: input %d is a %s, expected a tensor", what, i + 1,
                           luaL_typename(L, -1));
            count++;
            lua_pop(L, 1);
        }
    } else {
        if (last - first + 1 > L_MAXIN) luaL_error(L, "%s: too many inputs", what);
        for (int i = first; i <= last; i++)
            x[count++] = l_checktensor(L, i);
        if (count == 0) luaL_checkudata(L, first, L_TENSOR_MT);
    }
    if (count != n->nin)
        luaL_error(L, "%s: the network takes %d input%s, got %d", what, n->nin,
                   n->nin == 1 ? "" : "s", count);
    return count;
}

/* net:forward(x1, ..., xn) or net:forward{x1, ..., xn} -> y [-0, +1, e] */
static int net_forward(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    const il_tensor *x[L_MAXIN];
    int nin = l_netinputs(L, n, 2, lua_gettop(L), x, "forward");
    il_ctx *ctx = l_ctx(L);
    il_tensor *y = NULL;
    il_tensor **slot = l_newslot(L);
    size_t before = l_inuse(ctx);
    l_enter(L, n);
    il_status s = il_net_forward(n->net, nin, x, &y);
    l_leave(n);
    if (s != IL_OK) return l_fail(L, s);
    size_t after = l_inuse(ctx);
    l_settensor(L, slot, y, after > before ? after - before : 0);
    return 1;
}

/* net:step(x, y, loss, opt) -> the loss before the update, a 0-d tensor of the net's dtype.
 * x is a tensor, or a table of tensors for a network with several inputs. [-0, +1, e] */
static int net_step(lua_State *L) {
    static l_optkeys keys = {"read", NULL};
    l_net *n = l_checknet(L, 1);
    const il_tensor *x[L_MAXIN];
    int nin = l_netinputs(L, n, 2, 2, x, "step");
    l_checktensor(L, 3);
    il_loss loss = l_checkloss(L, 4);
    il_optim *opt = l_checkoptim(L, 5);
    l_checkopts(L, 6, keys);
    int read = l_optbool(L, 6, "read", 1);
    l_optim_prestep(L, 5); /* its schedule's rate, before anything is held */
    il_ctx *ctx = l_ctx(L);
    il_tensor *target = l_losstarget(L, &loss, 3), *out = NULL;
    il_tensor **slot = l_newslot(L);
    double v = 0;
    size_t before = l_inuse(ctx);
    l_enter(L, n);
    il_status s = il_net_step(n->net, nin, x, target, &loss, opt, read ? &v : NULL);
    l_leave(n);
    if (s != IL_OK) return l_fail(L, s);
    if (!read) return 0;
    size_t after = l_inuse(ctx);
    s = il_tensor_full(ctx, 0, NULL, v, n->dtype, IL_DEVICE_CPU, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, after > before ? after - before : 0);
    return 1;
}

/* net:loss() -> the last step's loss as a number, read back now [-0, +1, e] */
static int net_loss(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    double v = 0;
    il_status s = il_net_last_loss(n->net, &v);
    if (s != IL_OK) return l_fail(L, s);
    lua_pushnumber(L, v);
    return 1;
}

/* net:compile{graph = true|false, chunk = rows} -> net: CUDA graphs of training steps on (the
 * default) or off; the rows per chunk of net:forward (0: automatic). [-0, +1, e] */
static int net_compile(lua_State *L) {
    static l_optkeys keys = {"graph", "chunk", NULL};
    l_net *n = l_checknet(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_checkopts(L, 2, keys);
    if (lua_getfield(L, 2, "chunk") != LUA_TNIL) {
        lua_pop(L, 1);
        il_status s = il_net_set_forward_chunk(n->net, (int64_t)l_optint(L, 2, "chunk", 0, 0));
        if (s != IL_OK) return l_fail(L, s);
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, 2, "graph");
    int set = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (set) {
        il_graph_mode mode = l_optbool(L, 2, "graph", 1) ? IL_GRAPH_AUTO : IL_GRAPH_OFF;
        il_status s = il_net_set_graph(n->net, mode);
        if (s != IL_OK) return l_fail(L, s);
    }
    lua_settop(L, 1);
    return 1;
}

/* net:graphed() -> how the last step ran: "eager", "captured" or "replayed" [-0, +1, -] */
static int net_graphed(lua_State *L) {
    static const char *const how[] = {"eager", "captured", "replayed"};
    l_net *n = l_checknet(L, 1);
    int g = il_net_last_step_graph(n->net);
    lua_pushstring(L, how[g >= 0 && g <= 2 ? g : 0]);
    return 1;
}

/* il_net_parameters or il_net_buffers: named views of a network's tensors. */
typedef il_status (*lister)(il_net *, il_tensor **, const char **, int, int *);

/* Pushes an array of the views list gives (writing them changes the network) and an array of
 * their names. [-0, +2, e] */
static int push_views(lua_State *L, l_net *n, lister list) {
    int count = 0;
    il_status s = list(n->net, NULL, NULL, 0, &count);
    if (s != IL_OK) return l_fail(L, s);
    /* Every slot exists before C hands out handles, so nothing can raise while they are
     * unowned; the pointer arrays are userdata for the same reason. */
    il_tensor **tmp = (il_tensor **)lua_newuserdatauv(L, sizeof(il_tensor *) * (count + 1), 0);
    const char **names = (const char **)lua_newuserdatauv(L, sizeof(char *) * (count + 1), 0);
    lua_createtable(L, count, 0);
    int params = lua_gettop(L);
    for (int i = 0; i < count; i++) {
        l_newslot(L);
        lua_rawseti(L, params, i + 1);
    }
    int got = 0;
    s = list(n->net, tmp, names, count, &got);
    if (s != IL_OK) return l_fail(L, s);
    for (int i = 0; i < got && i < count; i++) {
        lua_rawgeti(L, params, i + 1);
        l_settensor(L, (il_tensor **)lua_touserdata(L, -1), tmp[i], 0);
        lua_pop(L, 1);
    }
    lua_createtable(L, count, 0);
    for (int i = 0; i < got && i < count; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

/* net:parameters() -> params, names: views of the network's parameter buffer. [-0, +2, e] */
static int net_parameters(lua_State *L) {
    return push_views(L, l_checknet(L, 1), il_net_parameters);
}

/* net:buffers() -> tensors, names: the fixed tensors layers own (a fourier layer's B), which
 * are not trained but belong to the network's state. [-0, +2, e] */
static int net_buffers(lua_State *L) {
    return push_views(L, l_checknet(L, 1), il_net_buffers);
}

/* net:train([on]) / net:eval() -> net [-0, +1, e] */
static int net_train(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    n->training = lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2);
    il_net_train(n->net, n->training);
    lua_settop(L, 1);
    return 1;
}

static int net_eval(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    n->training = 0;
    il_net_train(n->net, 0);
    lua_settop(L, 1);
    return 1;
}

/* Copies every tensor list gives of src into dst (built from the same recipe), converting
 * dtype; a and b hold cap handles each. Holds handles only while no Lua function runs. */
static il_status copyparams(il_ctx *ctx, il_net *dst, il_net *src, il_tensor **a, il_tensor **b,
                            int cap, lister list) {
    int ca = 0, cb = 0;
    il_status s = list(src, a, NULL, cap, &ca);
    if (s != IL_OK) return s;
    s = list(dst, b, NULL, cap, &cb);
    if (s != IL_OK) cb = 0;
    if (s == IL_OK && ca != cb)
        s = il_ctx_error(ctx, IL_E_INTERNAL, "net:to: the rebuilt network differs");
    for (int i = 0; s == IL_OK && i < ca; i++)
        s = il_tensor_copy_(ctx, b[i], a[i]);
    for (int i = 0; i < ca; i++)
        il_tensor_free(a[i]);
    for (int i = 0; i < cb; i++)
        il_tensor_free(b[i]);
    return s;
}

/* net:to("f32" | "f64" | "cpu" | "cuda") -> the network itself when nothing changes, else a new
 * network with the same layers and parameter values (optimizers must be made for it anew).
 * [-0, +1, e] */
static int net_to(lua_State *L) {
    l_net *n = l_checknet(L, 1);
    const char *name = luaL_checkstring(L, 2);
    il_device from = il_net_device(n->net), dev = from;
    il_dtype dt = n->dtype;
    if (il_device_parse(name, &dev) != IL_OK &&
        (il_dtype_parse(name, &dt) != IL_OK || (dt != IL_DTYPE_F32 && dt != IL_DTYPE_F64)))
        return luaL_error(L, "net:to: unknown dtype or device '%s'", name);
    if (dt == n->dtype && dev == from) {
        lua_settop(L, 1);
        return 1;
    }
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE)
        return luaL_error(L, "net:to: this network cannot be rebuilt");
    /* The rebuilt network starts on the CPU: it joins the source's device to take the values,
     * then goes where it was asked. */
    l_net *m = l_rebuild(L, lua_gettop(L), dt);
    il_status s = il_net_move(m->net, from);
    /* parameters, then fixed buffers: a fourier layer drawn from the generator must keep B */
    int count = 0, nbuf = 0;
    if (s == IL_OK) s = il_net_parameters(n->net, NULL, NULL, 0, &count);
    if (s == IL_OK) s = il_net_buffers(n->net, NULL, NULL, 0, &nbuf);
    if (s != IL_OK) return l_fail(L, s);
    if (nbuf > count) count = nbuf;
    il_tensor **a = (il_tensor **)lua_newuserdatauv(L, sizeof(il_tensor *) * (count + 1), 0);
    il_tensor **b = (il_tensor **)lua_newuserdatauv(L, sizeof(il_tensor *) * (count + 1), 0);
    s = copyparams(l_ctx(L), m->net, n->net, a, b, count, il_net_parameters);
    if (s == IL_OK) s = copyparams(l_ctx(L), m->net, n->net, a, b, count, il_net_buffers);
    if (s == IL_OK) s = il_net_move(m->net, dev);
    if (s != IL_OK) return l_fail(L, s);
    lua_pop(L, 2);
    m->training = n->training;
    il_net_train(m->net, m->training);
    return 1;
}

/* tostring(net): the summary (one line per node, then totals). [-0, +1, e] */
static int net_tostring(lua_State *L) {
    l_net *n = (l_net *)luaL_checkudata(L, 1, L_NET_MT);
    (void)l_ctx(L); /* raises once the context is closed, even for a freed net */
    char *str = NULL;
    if (n->net == NULL) {
        lua_pushliteral(L, "il.Net (freed)");
        return 1;
    }
    luaL_checkstack(L, 4, NULL);
    il_status s = il_net_summary(n->net, &str);
    if (s != IL_OK) return l_fail(L, s);
    l_pushcstr(L, str);
    return 1;
}

/* __index(net, k): a method (upvalue 2), else a property. [-0, +1, e] */
static int net_index(lua_State *L) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    if (lua_type(L, 2) != LUA_TSTRING) return 1;
    const char *k = lua_tostring(L, 2);
    l_net *n = (l_net *)luaL_checkudata(L, 1, L_NET_MT);
    if (n->net == NULL) return luaL_error(L, "attempt to use a freed network");
    if (strcmp(k, "num_params") == 0)
        lua_pushinteger(L, (lua_Integer)il_net_num_params(n->net));
    else if (strcmp(k, "num_inputs") == 0)
        lua_pushinteger(L, il_net_num_inputs(n->net));
    else if (strcmp(k, "dtype") == 0)
        lua_pushstring(L, il_dtype_name(n->dtype));
    else if (strcmp(k, "device") == 0)
        lua_pushliteral(L, "cpu");
    else if (strcmp(k, "training") == 0)
        lua_pushboolean(L, n->training);
    else if (strcmp(k, "out_features") == 0)
        lua_pushinteger(L, (lua_Integer)n->out_width);
    else if (strcmp(k, "in_features") == 0)
        lua_pushinteger(L, (lua_Integer)n->in_width[0]);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg net_meta[] = {
    {"__gc", net_gc},
    {"__tostring", net_tostring},
    {NULL, NULL},
};

static const luaL_Reg net_methods[] = {
    {"forward", net_forward}, {"step", net_step}, {"fit", l_fit}, {"parameters", net_parameters},
    {"loss", net_loss}, {"compile", net_compile}, {"graphed", net_graphed},
    {"buffers", net_buffers}, {"train", net_train}, {"eval", net_eval}, {"to", net_to},
    {NULL, NULL},
};

void l_open_nn(lua_State *L) {
    int mod = lua_gettop(L);
    luaL_newmetatable(L, L_NET_MT); /* mod+1 */
    l_setfuncs(L, net_meta);
    lua_newtable(L); /* methods: mod+2 */
    l_setfuncs(L, net_methods);
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushvalue(L, mod + 2);
    lua_pushcclosure(L, net_index, 2);
    lua_setfield(L, mod + 1, "__index");
    lua_pushliteral(L, L_NET_MT);
    lua_setfield(L, mod + 1, "__metatable");
    lua_settop(L, mod);
    lua_createtable(L, 0, 24); /* il.nn */
    l_open_layer(L);
    lua_setfield(L, mod, "nn");
    l_open_train(L);
}
