/*
 * l_train.c: losses ("il.Loss": il.loss.mse, bce, bce_logits, cross_entropy, l1, huber),
 * optimizers ("il.Optim": il.optim.sgd, adam, adamw, rmsprop) and il.gradcheck.
 *
 * A loss is a value naming a loss function: pass it to net:step or net:fit, call it on tensors
 * (il.loss.mse(pred, target) -> a 0-d tensor), or call it with options to get a configured one
 * (il.loss.huber{delta=0.5}). Cross entropy takes 1-based class indices, as Lua counts; they
 * are shifted to the C API's 0-based ones on the way in.
 *
 * An optimizer keeps its network alive through its user value; it is always made after its
 * network, so at a collection that frees both its finalizer runs first.
 */
#include "l_impl.h"

#include <string.h>

typedef struct l_loss {
    il_loss loss;
} l_loss;

/* An optimizer userdata: user value 1 is its network, user value 2 its schedule (or nil),
 * which `sched` points into. */
typedef struct l_optim {
    il_optim *opt;
    il_optim_kind kind;
    l_sched *sched;
} l_optim;

static const char *const loss_names[IL_LOSS_COUNT] = {"mse",           "bce", "bce_logits",
                                                      "cross_entropy", "l1",  "huber"};
static const char *const optim_names[IL_OPTIM_COUNT] = {"sgd", "adam", "adamw", "rmsprop"};

/* ---- losses ------------------------------------------------------------------------------ */

/* Pushes a new loss object. [-0, +1, m] */
static l_loss *pushloss(lua_State *L, il_loss loss) {
    l_loss *l = (l_loss *)lua_newuserdatauv(L, sizeof *l, 0);
    l->loss = loss;
    luaL_setmetatable(L, L_LOSS_MT);
    return l;
}

il_loss l_checkloss(lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *name = lua_tostring(L, idx);
        for (int k = 0; k < IL_LOSS_COUNT; k++)
            if (strcmp(name, loss_names[k]) == 0) return (il_loss){(il_loss_kind)k, 0};
        luaL_error(L, "unknown loss '%s'", name);
    }
    l_loss *l = (l_loss *)luaL_testudata(L, idx, L_LOSS_MT);
    if (l == NULL) luaL_typeerror(L, idx, "loss (il.loss.* or its name)");
    return l->loss;
}

il_tensor *l_losstarget(lua_State *L, const il_loss *loss, int idx) {
    il_tensor *t = l_checktensor(L, idx), *out = NULL;
    int nd = il_tensor_ndim(t);
    if (loss->kind != IL_LOSS_CROSS_ENTROPY ||
        !(nd == 1 || (nd == 2 && il_tensor_shape(t)[1] == 1))) {
        lua_pushvalue(L, idx);
        return t;
    }
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_binary_scalar(l_ctx(L), IL_OP_SUB, t, 1.0, 0, &out);
    if (s != IL_OK) l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return out;
}

/* loss(pred, target) -> 0-d tensor of pred's dtype; loss{delta=} -> a configured loss.
 * [-0, +1, e] */
static int loss_call(lua_State *L) {
    static l_optkeys huber_keys = {"delta", NULL};
    static l_optkeys no_keys = {NULL};
    l_loss *l = (l_loss *)luaL_checkudata(L, 1, L_LOSS_MT);
    il_loss loss = l->loss;
    if (lua_type(L, 2) == LUA_TTABLE) {
        l_checkopts(L, 2, loss.kind == IL_LOSS_HUBER ? huber_keys : no_keys);
        if (lua_getfield(L, 2, "delta") != LUA_TNIL) {
            loss.delta = (double)lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || !(loss.delta > 0))
                return luaL_error(L, "huber: delta must be a number > 0");
        }
        pushloss(L, loss);
        return 1;
    }
    il_tensor *pred = l_checktensor(L, 2);
    il_ctx *ctx = l_ctx(L);
    il_tensor *target = l_losstarget(L, &loss, 3), *out = NULL;
    double v = 0;
    il_tensor **slot = l_newslot(L);
    il_status s = il_loss_eval(ctx, &loss, pred, target, &v, NULL);
    if (s == IL_OK) s = il_tensor_full(ctx, 0, NULL, v, il_tensor_dtype(pred), IL_DEVICE_CPU, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, 0);
    return 1;
}

/* tostring(loss): "il.Loss (huber, delta=0.5)" [-0, +1, e] */
static int loss_tostring(lua_State *L) {
    l_loss *l = (l_loss *)luaL_checkudata(L, 1, L_LOSS_MT);
    if (l->loss.kind == IL_LOSS_HUBER)
        lua_pushfstring(L, "il.Loss (huber, delta=%f)", l->loss.delta > 0 ? l->loss.delta : 1.0);
    else
        lua_pushfstring(L, "il.Loss (%s)", loss_names[l->loss.kind]);
    return 1;
}

/* loss.kind, loss.delta [-0, +1, e] */
static int loss_index(lua_State *L) {
    l_loss *l = (l_loss *)luaL_checkudata(L, 1, L_LOSS_MT);
    const char *k = lua_tostring(L, 2);
    if (k != NULL && strcmp(k, "kind") == 0)
        lua_pushstring(L, loss_names[l->loss.kind]);
    else if (k != NULL && strcmp(k, "delta") == 0 && l->loss.kind == IL_LOSS_HUBER)
        lua_pushnumber(L, l->loss.delta > 0 ? l->loss.delta : 1.0);
    else
        lua_pushnil(L);
    return 1;
}

/* ---- optimizers -------------------------------------------------------------------------- */

il_optim *l_checkoptim(lua_State *L, int idx) {
    l_optim *o = (l_optim *)luaL_checkudata(L, idx, L_OPTIM_MT);
    if (o->opt == NULL) luaL_error(L, "attempt to use a freed optimizer");
    return o->opt;
}

/* Reads the options table at idx for an optimizer of kind. [-0, +0, e] */
static il_optim_opts optopts(lua_State *L, int idx, il_optim_kind kind) {
    static l_optkeys sgd = {"lr", "momentum", "nesterov", "weight_decay", "clip_norm", NULL};
    static l_optkeys adam = {"lr", "betas", "eps", "weight_decay", "clip_norm", NULL};
    static l_optkeys rms = {"lr", "alpha", "eps", "momentum", "weight_decay", "clip_norm", NULL};
    il_optim_opts o;
    memset(&o, 0, sizeof o);
    l_checkopts(L, idx, kind == IL_OPTIM_SGD ? sgd : kind == IL_OPTIM_RMSPROP ? rms : adam);
    o.lr = kind == IL_OPTIM_ADAM || kind == IL_OPTIM_ADAMW ? 1e-3 : 1e-2;
    o.lr = l_optnum(L, idx, "lr", o.lr);
    o.momentum = l_optnum(L, idx, "momentum", o.momentum);
    o.eps = l_optnum(L, idx, "eps", o.eps);
    o.alpha = l_optnum(L, idx, "alpha", o.alpha);
    o.clip_norm = l_optnum(L, idx, "clip_norm", o.clip_norm);
    if (lua_isnoneornil(L, idx)) return o;
    if (lua_getfield(L, idx, "weight_decay") != LUA_TNIL) o.set_wd = 1;
    lua_pop(L, 1);
    o.weight_decay = l_optnum(L, idx, "weight_decay", o.weight_decay);
    if (lua_getfield(L, idx, "nesterov") != LUA_TNIL) o.nesterov = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "betas") != LUA_TNIL) {
        int ok = lua_type(L, -1) == LUA_TTABLE;
        if (ok) {
            ok = lua_rawgeti(L, -1, 1) == LUA_TNUMBER && lua_rawgeti(L, -2, 2) == LUA_TNUMBER;
            o.beta1 = (double)lua_tonumber(L, -2);
            o.beta2 = (double)lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
        if (!ok) luaL_error(L, "option 'betas' must be a table of two numbers");
    }
    lua_pop(L, 1);
    return o;
}

/* il.optim.sgd/adam/adamw/rmsprop(net, opts) (kind in upvalue 2) [-0, +1, e] */
static int optim_new(lua_State *L) {
    il_optim_kind kind = (il_optim_kind)lua_tointeger(L, lua_upvalueindex(2));
    l_net *n = l_checknet(L, 1);
    il_optim_opts opts = optopts(L, 2, kind);
    l_optim *o = (l_optim *)lua_newuserdatauv(L, sizeof *o, 2);
    o->opt = NULL;
    o->kind = kind;
    o->sched = NULL;
    luaL_setmetatable(L, L_OPTIM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    il_optim *opt = NULL;
    il_status s = il_optim_new(n->net, kind, &opts, &opt);
    if (s != IL_OK) return l_fail(L, s);
    o->opt = opt;
    l_gcdebt(L, (size_t)il_net_num_params(n->net) * 16);
    return 1;
}

static int optim_gc(lua_State *L) {
    l_optim *o = (l_optim *)luaL_checkudata(L, 1, L_OPTIM_MT);
    il_optim_free(o->opt);
    o->opt = NULL;
    return 0;
}

/* opt.lr, opt.steps, opt.kind, opt.net [-0, +1, e] */
static int optim_index(lua_State *L) {
    l_optim *o = (l_optim *)luaL_checkudata(L, 1, L_OPTIM_MT);
    const char *k = lua_tostring(L, 2);
    il_optim *opt = l_checkoptim(L, 1);
    if (k != NULL && strcmp(k, "lr") == 0)
        /* With a schedule: the rate of the next update. */
        lua_pushnumber(L, o->sched != NULL ? l_schedlr(L, o->sched, il_optim_steps(opt))
                                           : il_optim_lr(opt));
    else if (k != NULL && strcmp(k, "steps") == 0)
        lua_pushinteger(L, (lua_Integer)il_optim_steps(opt));
    else if (k != NULL && strcmp(k, "kind") == 0)
        lua_pushstring(L, optim_names[o->kind]);
    else if (k != NULL && strcmp(k, "net") == 0)
        lua_getiuservalue(L, 1, 1);
    else if (k != NULL && strcmp(k, "schedule") == 0)
        lua_pushvalue(L, lua_upvalueindex(2));
    else
        lua_pushnil(L);
    return 1;
}

/* opt.lr = x (the only writable field) [-0, +0, e] */
static int optim_newindex(lua_State *L) {
    il_optim *opt = l_checkoptim(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k == NULL || strcmp(k, "lr") != 0)
        return luaL_error(L, "optimizer field '%s' is read-only or unknown", k ? k : "?");
    if (((l_optim *)lua_touserdata(L, 1))->sched != NULL)
        return luaL_error(L, "opt.lr is set by the optimizer's schedule; detach it first "
                             "(opt:schedule(nil))");
    il_status s = il_optim_set_lr(opt, (double)luaL_checknumber(L, 3));
    if (s != IL_OK) return l_fail(L, s);
    return 0;
}

static int optim_tostring(lua_State *L) {
    l_optim *o = (l_optim *)luaL_checkudata(L, 1, L_OPTIM_MT);
    if (o->opt == NULL)
        lua_pushliteral(L, "il.Optim (freed)");
    else
        lua_pushfstring(L, "il.Optim (%s, lr=%f, steps=%I)", optim_names[o->kind],
                        il_optim_lr(o->opt), (lua_Integer)il_optim_steps(o->opt));
    return 1;
}

/* ---- schedules ----------------------------------------------------------------------------- */

l_sched *l_optim_sched(lua_State *L, int idx) {
    l_checkoptim(L, idx);
    return ((l_optim *)lua_touserdata(L, idx))->sched;
}

double l_optim_prestep(lua_State *L, int idx) {
    il_optim *opt = l_checkoptim(L, idx);
    l_optim *o = (l_optim *)lua_touserdata(L, idx);
    double lr = 0;
    if (o->sched == NULL) return il_optim_lr(opt);
    il_status s = il_schedule_apply(o->sched->s, opt, L, &lr);
    if (s != IL_OK) l_fail(L, s);
    return lr;
}

void l_optim_attach(lua_State *L, int idx, int sidx) {
    idx = lua_absindex(L, idx);
    sidx = lua_absindex(L, sidx);
    l_checkoptim(L, idx);
    l_optim *o = (l_optim *)lua_touserdata(L, idx);
    l_sched *ls = lua_isnil(L, sidx) ? NULL : l_checksched(L, sidx);
    lua_pushvalue(L, sidx);
    lua_setiuservalue(L, idx, 2);
    o->sched = ls;
    /* The optimizer's rate is the schedule's from now on, before any step. */
    if (ls != NULL) l_optim_prestep(L, idx);
}

/* opt:schedule(s) -> opt: attaches s (nil or false: detaches, leaving the rate as it is);
 * opt:schedule() -> the attached schedule or nil. [-0, +1, e] */
static int optim_schedule(lua_State *L) {
    l_checkoptim(L, 1);
    if (lua_isnone(L, 2)) {
        lua_getiuservalue(L, 1, 2);
        return 1;
    }
    if (lua_type(L, 2) == LUA_TBOOLEAN && !lua_toboolean(L, 2)) {
        lua_pushnil(L);
        lua_replace(L, 2);
    }
    if (!lua_isnil(L, 2) && luaL_testudata(L, 2, L_SCHED_MT) == NULL)
        return luaL_typeerror(L, 2, "schedule (il.schedule.*) or nil");
    l_optim_attach(L, 1, 2);
    lua_settop(L, 1);
    return 1;
}

/* ---- gradcheck --------------------------------------------------------------------------- */

/* il.gradcheck(net_or_layer, x[, {eps=}]) -> the largest relative error. x is a tensor, or a
 * table of tensors for several inputs; a layer is checked in a one-layer f64 network whose
 * input widths are those of x. [-0, +1, e] */
static int l_gradcheck(lua_State *L) {
    static l_optkeys keys = {"eps", NULL};
    double eps = 1e-6, err = 0;
    l_checkopts(L, 3, keys);
    eps = l_optnum(L, 3, "eps", eps);
    lua_settop(L, 3);
    if (luaL_testudata(L, 1, L_LAYER_MT) != NULL) {
        int64_t w[L_MAXIN];
        int nin = lua_type(L, 2) == LUA_TTABLE ? (int)lua_rawlen(L, 2) : 1;
        if (nin < 1 || nin > L_MAXIN) return luaL_error(L, "gradcheck: 1 to %d inputs", L_MAXIN);
        for (int i = 0; i < nin; i++) {
            if (lua_type(L, 2) == LUA_TTABLE)
                lua_rawgeti(L, 2, i + 1);
            else
                lua_pushvalue(L, 2);
            il_tensor *t = l_totensor(L, -1);
            if (t == NULL || il_tensor_ndim(t) != 2)
                return luaL_error(L, "gradcheck: input %d must be a 2-d tensor (batch, features)",
                                  i + 1);
            w[i] = il_tensor_shape(t)[1];
            lua_pop(L, 1);
        }
        l_layernet(L, 1, nin, w, IL_DTYPE_F64);
        lua_replace(L, 1);
    }
    l_net *n = l_checknet(L, 1);
    const il_tensor *x[L_MAXIN];
    int nin = l_netinputs(L, n, 2, 2, x, "gradcheck");
    l_enter(L, n);
    il_status s = il_net_gradcheck(n->net, nin, x, eps, &err);
    l_leave(n);
    if (s != IL_OK) return l_fail(L, s);
    lua_pushnumber(L, (lua_Number)err);
    return 1;
}

/* ---- registration ------------------------------------------------------------------------ */

void l_open_train(lua_State *L) {
    int mod = lua_gettop(L);
    luaL_newmetatable(L, L_LOSS_MT);
    l_setfuncs(L, (const luaL_Reg[]){{"__call", loss_call}, {NULL, NULL}});
    lua_pushcfunction(L, loss_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, loss_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, L_LOSS_MT);
    lua_setfield(L, -2, "__metatable");
    lua_createtable(L, 0, IL_LOSS_COUNT); /* il.loss */
    for (int k = 0; k < IL_LOSS_COUNT; k++) {
        pushloss(L, (il_loss){(il_loss_kind)k, 0});
        lua_setfield(L, -2, loss_names[k]);
    }
    lua_setfield(L, mod, "loss");
    lua_settop(L, mod);

    luaL_newmetatable(L, L_OPTIM_MT);
    l_setfuncs(L, (const luaL_Reg[]){{"__gc", optim_gc},
                                     {"__newindex", optim_newindex},
                                     {"__tostring", optim_tostring},
                                     {NULL, NULL}});
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY); /* __index: upvalue 2 is opt:schedule */
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushcclosure(L, optim_schedule, 1);
    lua_pushcclosure(L, optim_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, L_OPTIM_MT);
    lua_setfield(L, -2, "__metatable");
    lua_createtable(L, 0, IL_OPTIM_COUNT); /* il.optim */
    for (int k = 0; k < IL_OPTIM_COUNT; k++) {
        lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
        lua_pushinteger(L, k);
        lua_pushcclosure(L, optim_new, 2);
        lua_setfield(L, -2, optim_names[k]);
    }
    lua_setfield(L, mod, "optim");
    lua_settop(L, mod);
    l_setfuncs(L, (const luaL_Reg[]){{"gradcheck", l_gradcheck}, {NULL, NULL}});
}
