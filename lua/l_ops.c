/*
 * l_ops.c: tensor operations for Lua: arithmetic metamethods (+ - * / ^ unary -) with tensors
 * and numbers on either side, maximum/minimum, elementwise maps, clamp, reductions (1-based axes,
 * 1-based argmax), matmul, and views (reshape, t, transpose, narrow, expand).
 *
 * Families of ops share one C function, told apart by upvalue 2 (the il_op); upvalue 1 is the
 * context box as everywhere in the binding. Each function checks its arguments, pushes the
 * result userdata, and only then calls C, raising after C has cleaned up.
 */
#include "l_impl.h"

#include <math.h>

/* The op of the running closure. [-0, +0, -] */
static il_op upop(lua_State *L) { return (il_op)lua_tointeger(L, lua_upvalueindex(2)); }

/* Checks that the operand at idx is a tensor or a number; returns the tensor or NULL. */
static il_tensor *operand(lua_State *L, int idx, il_op op) {
    il_tensor *t = l_totensor(L, idx);
    if (t == NULL && lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "bad operand to '%s' (tensor or number expected, got %s)", il_op_name(op),
                   luaL_typename(L, idx));
    return t;
}

/* a op b for tensors or numbers on either side (at least one tensor), broadcasting.
 * Serves __add, __sub, __mul, __div, __pow, t:maximum(u), t:minimum(u). [-0, +1, e] */
static int binary(lua_State *L) {
    il_op op = upop(L);
    il_tensor *a = operand(L, 1, op), *b = operand(L, 2, op), *out = NULL;
    il_ctx *ctx = l_ctx(L);
    il_status s;
    if (a == NULL && b == NULL) /* only from a method called on a non-tensor: t.maximum(1, 2) */
        return luaL_typeerror(L, 1, L_TENSOR_MT);
    il_tensor **slot = l_newslot(L);
    if (a != NULL && b != NULL)
        s = il_tensor_binary(ctx, op, a, b, &out);
    else if (a != NULL)
        s = il_tensor_binary_scalar(ctx, op, a, (double)lua_tonumber(L, 2), 0, &out);
    else
        s = il_tensor_binary_scalar(ctx, op, b, (double)lua_tonumber(L, 1), 1, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* -t and t:exp(), t:log(), ... (also serves __unm, which Lua calls as (t, t)). [-0, +1, e] */
static int unary(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_unary(l_ctx(L), upop(L), a, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* t:clamp(lo, hi); a nil bound means no bound on that side. [-0, +1, e] */
static int t_clamp(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    double lo = (double)luaL_optnumber(L, 2, -HUGE_VAL);
    double hi = (double)luaL_optnumber(L, 3, HUGE_VAL);
    luaL_argcheck(L, lo <= hi, 3, "upper bound below lower bound");
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_clamp(l_ctx(L), a, lo, hi, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* t:sum/mean/max/min/argmax([axis[, keepdim]]): over all elements (a 0-d result) when axis is
 * nil. argmax's 0-based C indices become 1-based (flat 1-based index over all elements).
 * [-0, +1, e] */
static int reduce(lua_State *L) {
    il_op op = upop(L);
    il_ctx *ctx = l_ctx(L);
    il_tensor *a = l_checktensor(L, 1), *out = NULL, *idx0 = NULL;
    int axis = lua_isnoneornil(L, 2) ? IL_AXIS_ALL : l_checkaxis(L, a, 2);
    int keepdim = lua_toboolean(L, 3);
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_reduce(ctx, op, a, axis, keepdim, op == IL_OP_ARGMAX ? &idx0 : &out);
    if (s == IL_OK && op == IL_OP_ARGMAX) {
        s = il_tensor_binary_scalar(ctx, IL_OP_ADD, idx0, 1.0, 0, &out);
        il_tensor_free(idx0);
    }
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* t:matmul(u) [-0, +1, e] */
static int t_matmul(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2), *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_matmul(l_ctx(L), a, b, &out);
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, il_tensor_storage_bytes(out));
    return 1;
}

/* ---- views ------------------------------------------------------------------------------- */

/* Finishes a view: stores it and pins the base userdata (at 1). may_copy says C may have
 * copied (reshape of a non-contiguous tensor), so its storage counts as new. [-0, +0, e] */
static int pushview(lua_State *L, il_status s, il_tensor **slot, int may_copy, il_tensor *out) {
    if (s != IL_OK) return l_fail(L, s);
    l_settensor(L, slot, out, may_copy ? il_tensor_storage_bytes(out) : 0);
    l_keepbase(L, -1, 1);
    return 1;
}

/* t:reshape(shape) or t:reshape(d1, d2, ...); one size may be -1. [-0, +1, e] */
static int t_reshape(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    int64_t shape[IL_MAX_DIMS];
    int nd = l_checkshape(L, 2, lua_gettop(L), shape, 1), ninfer = 0;
    for (int i = 0; i < nd; i++) ninfer += shape[i] == -1;
    if (ninfer > 1) return luaL_error(L, "reshape: only one size may be -1");
    il_tensor **slot = l_newslot(L);
    int may_copy = !il_tensor_is_contiguous(a);
    il_status s = il_tensor_reshape(l_ctx(L), a, nd, shape, &out);
    return pushview(L, s, slot, may_copy, out);
}

/* t:expand(shape) or t:expand(d1, d2, ...): a broadcast view. [-0, +1, e] */
static int t_expand(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    int64_t shape[IL_MAX_DIMS];
    int nd = l_checkshape(L, 2, lua_gettop(L), shape, 1);
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_expand(l_ctx(L), a, nd, shape, &out);
    return pushview(L, s, slot, 0, out);
}

/* t:transpose(a, b) swaps two (1-based) axes. [-0, +1, e] */
static int t_transpose(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    int x = l_checkaxis(L, a, 2), y = l_checkaxis(L, a, 3);
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_transpose(l_ctx(L), a, x, y, &out);
    return pushview(L, s, slot, 0, out);
}

/* t:t(): the transpose of a 2-d tensor. [-0, +1, e] */
static int t_t(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    if (il_tensor_ndim(a) != 2)
        return luaL_error(L, "t() needs a 2-d tensor, got a %d-d tensor", il_tensor_ndim(a));
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_transpose(l_ctx(L), a, 0, 1, &out);
    return pushview(L, s, slot, 0, out);
}

/* t:narrow(axis, start, len): elements start..start+len-1 (1-based) along axis. [-0, +1, e] */
static int t_narrow(lua_State *L) {
    il_tensor *a = l_checktensor(L, 1), *out = NULL;
    int axis = l_checkaxis(L, a, 2);
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    lua_Integer size = (lua_Integer)il_tensor_shape(a)[axis];
    if (start < 1 || len < 0 || start - 1 > size - len)
        return luaL_error(L, "narrow: elements %I..%I out of range for axis %I of size %I",
                          start, start + len - 1, (lua_Integer)lua_tointeger(L, 2), size);
    il_tensor **slot = l_newslot(L);
    il_status s = il_tensor_narrow(l_ctx(L), a, axis, (int64_t)(start - 1), (int64_t)len, &out);
    return pushview(L, s, slot, 0, out);
}

/* ---- registration ------------------------------------------------------------------------ */

typedef struct opreg {
    const char *name;
    lua_CFunction fn;
    il_op op;
} opreg;

static const opreg meta_ops[] = {
    {"__add", binary, IL_OP_ADD}, {"__sub", binary, IL_OP_SUB}, {"__mul", binary, IL_OP_MUL},
    {"__div", binary, IL_OP_DIV}, {"__pow", binary, IL_OP_POW}, {"__unm", unary, IL_OP_NEG},
    {NULL, NULL, IL_OP_COUNT},
};

static const opreg method_ops[] = {
    {"maximum", binary, IL_OP_MAXIMUM}, {"minimum", binary, IL_OP_MINIMUM},
    {"exp", unary, IL_OP_EXP},          {"log", unary, IL_OP_LOG},
    {"tanh", unary, IL_OP_TANH},        {"sigmoid", unary, IL_OP_SIGMOID},
    {"relu", unary, IL_OP_RELU},        {"sin", unary, IL_OP_SIN},
    {"cos", unary, IL_OP_COS},          {"abs", unary, IL_OP_ABS},
    {"sqrt", unary, IL_OP_SQRT},        {"neg", unary, IL_OP_NEG},
    {"sum", reduce, IL_OP_SUM},         {"mean", reduce, IL_OP_MEAN},
    {"max", reduce, IL_OP_MAX},         {"min", reduce, IL_OP_MIN},
    {"argmax", reduce, IL_OP_ARGMAX},   {NULL, NULL, IL_OP_COUNT},
};

static const luaL_Reg methods[] = {
    {"clamp", t_clamp},   {"matmul", t_matmul},       {"reshape", t_reshape},
    {"expand", t_expand}, {"transpose", t_transpose}, {"t", t_t},
    {"narrow", t_narrow}, {NULL, NULL},
};

/* Sets each entry of regs into the table at t as a closure over (context box, op).
 * [-0, +0, m] */
static void setops(lua_State *L, int t, const opreg *regs) {
    for (; regs->name != NULL; regs++) {
        lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
        lua_pushinteger(L, regs->op);
        lua_pushcclosure(L, regs->fn, 2);
        lua_setfield(L, t, regs->name);
    }
}

void l_open_ops(lua_State *L, int mt, int methods_t) {
    setops(L, mt, meta_ops);
    setops(L, methods_t, method_ops);
    lua_pushvalue(L, methods_t);
    l_setfuncs(L, methods);
    lua_pop(L, 1);
}
