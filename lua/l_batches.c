/*
 * l_batches.c: il.data.batches(x, y, {size=, shuffle=, seed=, drop_last=}), an iterator for a
 * generic for: `for bx, by in il.data.batches(x, y, {size = 32}) do ... end`.
 *
 * One call to batches is one pass (an epoch) over the rows. The order is fixed when the iterator
 * is made: in row order, or a random permutation (from a private generator seeded by seed=, or
 * from the context's). In row order a batch is a view of the data (keeping it alive through its
 * user value); shuffled, a batch is a gathered copy. The last partial batch is kept unless
 * drop_last is set. y may be nil: then each step yields bx only.
 *
 * Shuffled data on CUDA: the permutation is uploaded once when the iterator is made (an i64
 * tensor held as upvalue 5), and each batch is gathered on the device by a narrowed view of it
 * (il_data_take_rows_into, unchecked: the permutation is valid by construction), so an epoch
 * copies nothing between host and device after that upload.
 */
#include "l_impl.h"

#include <string.h>

/* Iterator state; perm holds n entries when shuffled (the userdata is sized for them). */
typedef struct batches {
    int64_t n, size, pos;
    int shuffled, drop_last;
    int64_t perm[1];
} batches;

/* Gathers rows perm[pos, pos + len) of t on the device from dperm (the permutation there) into
 * a new tensor. */
static il_status devicebatch(il_ctx *ctx, const il_tensor *t, const il_tensor *dperm, int64_t pos,
                             int64_t len, il_tensor **out) {
    il_tensor *idx = NULL, *r = NULL;
    int64_t shape[IL_MAX_DIMS];
    int nd = il_tensor_ndim(t);
    memcpy(shape, il_tensor_shape(t), sizeof(int64_t) * (size_t)nd);
    shape[0] = len;
    il_status s = il_tensor_narrow(ctx, dperm, 0, pos, len, &idx);
    if (s == IL_OK)
        s = il_tensor_empty(ctx, nd, shape, il_tensor_dtype(t), il_tensor_device(t), &r);
    if (s == IL_OK) s = il_data_take_rows_into(ctx, t, idx, 0, r);
    il_tensor_free(idx);
    if (s != IL_OK) il_tensor_free(r);
    else *out = r;
    return s;
}

/* Pushes the batch of rows [b->pos, b->pos + len) of the tensor at idx. [-0, +1, e] */
static void pushbatch(lua_State *L, batches *b, int idx, int64_t len) {
    il_ctx *ctx = l_ctx(L);
    il_tensor *t = l_checktensor(L, idx), *out = NULL;
    il_tensor **slot = l_newslot(L);
    il_status s;
    if (!b->shuffled) s = il_tensor_narrow(ctx, t, 0, b->pos, len, &out);
    else if (il_tensor_device(t) != IL_DEVICE_CPU)
        s = devicebatch(ctx, t, l_checktensor(L, lua_upvalueindex(5)), b->pos, len, &out);
    else s = il_data_take_rows(ctx, t, b->perm + b->pos, len, &out);
    if (s != IL_OK) l_fail(L, s);
    l_settensor(L, slot, out, b->shuffled ? il_tensor_storage_bytes(out) : 0);
    if (!b->shuffled) l_keepbase(L, -1, idx);
}

/* The iterator: upvalues 1 context box, 2 x, 3 y (or nil), 4 state, 5 the permutation on the
 * device (or nil). -> bx[, by] or nil
 * [-0, +1|2, e] */
static int next_batch(lua_State *L) {
    batches *b = (batches *)lua_touserdata(L, lua_upvalueindex(4));
    int64_t left = b->n - b->pos, len = left < b->size ? left : b->size;
    if (len <= 0 || (b->drop_last && len < b->size)) {
        lua_pushnil(L);
        return 1;
    }
    int hasy = !lua_isnil(L, lua_upvalueindex(3));
    lua_settop(L, 0);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(3));
    pushbatch(L, b, 1, len);
    if (hasy) pushbatch(L, b, 2, len);
    b->pos += len;
    return hasy ? 2 : 1;
}

/* Checks that the tensor at idx has rows, and returns their count. [-0, +0, e] */
static int64_t rows(lua_State *L, int idx) {
    il_tensor *t = l_checktensor(L, idx);
    if (il_tensor_ndim(t) == 0) luaL_argerror(L, idx, "a 0-d tensor has no rows");
    return il_tensor_shape(t)[0];
}

/* Pushes the permutation as an i64 tensor on CUDA when shuffling data there (x at 1, y at 2),
 * else nil. [-0, +1, e] */
static void pushdeviceperm(lua_State *L, const batches *b) {
    il_tensor *x = l_checktensor(L, 1), *y = lua_isnil(L, 2) ? NULL : l_checktensor(L, 2);
    int dev = il_tensor_device(x) != IL_DEVICE_CPU || (y && il_tensor_device(y) != IL_DEVICE_CPU);
    if (!b->shuffled || !dev || b->n == 0) {
        lua_pushnil(L);
        return;
    }
    il_tensor **slot = l_newslot(L), *p = NULL;
    il_status s = il_tensor_from_data(l_ctx(L), 1, &b->n, IL_DTYPE_I64, IL_DEVICE_CUDA, b->perm,
                                      IL_DTYPE_I64, &p);
    if (s != IL_OK) l_fail(L, s);
    l_settensor(L, slot, p, il_tensor_storage_bytes(p));
}

/* il.data.batches(x, y, opts) -> iterator [-0, +1, e] */
int l_batches(lua_State *L) {
    static l_optkeys keys = {"size", "shuffle", "seed", "drop_last", NULL};
    int64_t n = rows(L, 1);
    if (!lua_isnoneornil(L, 2) && rows(L, 2) != n)
        return luaL_error(L, "batches: x has %I rows but y has %I", (lua_Integer)n,
                          (lua_Integer)rows(L, 2));
    l_checkopts(L, 3, keys);
    int64_t size = (int64_t)l_optint(L, 3, "size", 32, 1);
    int shuffled = l_optbool(L, 3, "shuffle", 0), drop_last = l_optbool(L, 3, "drop_last", 0);
    uint64_t seedbuf;
    const uint64_t *seed = l_optseed(L, 3, &seedbuf);
    size_t bytes = sizeof(batches) + (shuffled && n > 0 ? (size_t)n * sizeof(int64_t) : 0);
    lua_settop(L, 2);
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    batches *b = (batches *)lua_newuserdatauv(L, bytes, 0);
    memset(b, 0, bytes);
    b->n = n;
    b->size = size;
    b->shuffled = shuffled;
    b->drop_last = drop_last;
    if (shuffled) {
        il_status s = il_data_permutation(l_ctx(L), n, seed, b->perm);
        if (s != IL_OK) return l_fail(L, s);
    }
    pushdeviceperm(L, b);
    lua_pushcclosure(L, next_batch, 5);
    return 1;
}
