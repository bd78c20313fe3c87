/*
 * l_fit.c: net:fit{x=, y=, loss=, optim=, epochs=, batch=, shuffle=, on_epoch=}, the common
 * training loop, in C: per epoch, optionally shuffle the rows (with the context's generator,
 * so il.seed makes it repeatable), run one net:step per batch, and report the epoch's mean
 * batch loss to on_epoch, which may stop training by returning false.
 *
 * Batches are views made once (of the data, or of shuffled copies refilled each epoch) and held
 * by a "fit state" userdata whose __gc frees them, so nothing is stranded when a step fails or
 * on_epoch raises.
 */
#include "l_impl.h"

#include <string.h>

#define L_FIT_MT "il.FitState"

/* Tensors per batch: the inputs, then the target (nt of them); views[b * nt + i]. */
typedef struct fitstate {
    int nt, nb;
    il_tensor *shuf[L_MAXIN + 1]; /* shuffled copies of the data, or NULL */
    il_tensor *views[1];          /* nb * nt entries (the userdata is sized for them) */
} fitstate;

static int fit_gc(lua_State *L) {
    fitstate *f = (fitstate *)luaL_checkudata(L, 1, L_FIT_MT);
    for (int i = 0; i < f->nt; i++) {
        il_tensor_free(f->shuf[i]);
        f->shuf[i] = NULL;
    }
    for (int i = 0; i < f->nt * f->nb; i++) {
        il_tensor_free(f->views[i]);
        f->views[i] = NULL;
    }
    return 0;
}

/* Pushes a fit state for nt tensors in nb batches, every handle NULL. [-0, +1, m] */
static fitstate *newstate(lua_State *L, int nt, int nb) {
    size_t n = (size_t)nt * (size_t)nb;
    fitstate *f = (fitstate *)lua_newuserdatauv(L, sizeof *f + n * sizeof(il_tensor *), 0);
    memset(f, 0, sizeof *f + n * sizeof(il_tensor *));
    if (luaL_newmetatable(L, L_FIT_MT)) {
        lua_pushcfunction(L, fit_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    f->nt = nt;
    f->nb = nb;
    return f;
}

/* Makes the batch views of base[0..nt-1] (rows split by batch). */
static il_status makeviews(il_ctx *ctx, fitstate *f, const il_tensor *const *base, int64_t rows,
                           int64_t batch) {
    il_status s = IL_OK;
    for (int b = 0; b < f->nb && s == IL_OK; b++) {
        int64_t start = (int64_t)b * batch, len = rows - start < batch ? rows - start : batch;
        for (int i = 0; i < f->nt && s == IL_OK; i++)
            s = il_tensor_narrow(ctx, base[i], 0, start, len, &f->views[b * f->nt + i]);
    }
    return s;
}

/* Makes the shuffled copies (CPU tensors like the data) and their batch views. */
static il_status makeshuffled(il_ctx *ctx, fitstate *f, const il_tensor *const *data, int64_t rows,
                              int64_t batch) {
    il_status s = IL_OK;
    for (int i = 0; i < f->nt && s == IL_OK; i++) {
        const il_tensor *t = data[i];
        if (il_tensor_device(t) != IL_DEVICE_CPU)
            return il_ctx_error(ctx, IL_E_UNSUPPORTED, "fit: shuffle needs CPU tensors for now");
        s = il_tensor_empty(ctx, il_tensor_ndim(t), il_tensor_shape(t), il_tensor_dtype(t),
                            IL_DEVICE_CPU, &f->shuf[i]);
    }
    if (s == IL_OK) s = makeviews(ctx, f, (const il_tensor *const *)f->shuf, rows, batch);
    (void)rows;
    return s;
}

/* Refills the shuffled copies with the rows of src (host copies of the data, one per tensor)
 * in a new random order; perm and u have room for rows entries. */
static il_status shuffle(il_ctx *ctx, fitstate *f, void *const *src, int64_t rows, int64_t *perm,
                         double *u) {
    il_tensor *r = NULL;
    il_status s = il_tensor_rand(ctx, 1, &rows, IL_DTYPE_F64, IL_DEVICE_CPU, &r);
    if (s == IL_OK) s = il_tensor_read(ctx, r, u, IL_DTYPE_F64, rows);
    il_tensor_free(r);
    if (s != IL_OK) return s;
    for (int64_t i = 0; i < rows; i++)
        perm[i] = i;
    for (int64_t i = rows - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)(u[i] * (double)(i + 1));
        if (j > i) j = i;
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int k = 0; k < f->nt; k++) {
        il_tensor *t = f->shuf[k];
        size_t row = (size_t)(il_tensor_numel(t) / rows) * il_dtype_size(il_tensor_dtype(t));
        char *dst = (char *)il_tensor_data(t);
        const char *from = (const char *)src[k];
        for (int64_t i = 0; i < rows; i++)
            memcpy(dst + (size_t)i * row, from + (size_t)perm[i] * row, row);
    }
    return IL_OK;
}

/* Reads opts field key to the top of the stack, raising when required and missing.
 * [-0, +1, e] */
static int field(lua_State *L, const char *key, int required) {
    int t = lua_getfield(L, 2, key);
    if (t == LUA_TNIL && required) luaL_error(L, "fit: option '%s' is required", key);
    return lua_gettop(L);
}

/* Reads an integer option >= 1, or dflt. [-0, +0, e] */
static int64_t posint(lua_State *L, const char *key, int64_t dflt) {
    int isint = 0;
    lua_getfield(L, 2, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1) luaL_error(L, "fit: option '%s' must be an integer >= 1", key);
    lua_pop(L, 1);
    return (int64_t)v;
}

/* Host copies of data[0..nt-1] in their own dtypes, each a userdata kept on the stack.
 * [-0, +nt, e] */
static void hostcopies(lua_State *L, const il_tensor *const *data, int nt, void **src) {
    for (int i = 0; i < nt; i++) {
        const il_tensor *t = data[i];
        int64_t n = il_tensor_numel(t);
        src[i] =
            lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * il_dtype_size(il_tensor_dtype(t)), 0);
        il_status s = il_tensor_read(l_ctx(L), t, src[i], il_tensor_dtype(t), n);
        if (s != IL_OK) l_fail(L, s);
    }
}

/* net:fit{...} -> the last epoch's mean batch loss, and the number of epochs run. [-0, +2, e] */
int l_fit(lua_State *L) {
    static l_optkeys keys = {"x",     "y",       "loss",     "optim", "epochs",
                             "batch", "shuffle", "on_epoch", NULL};
    l_net *n = l_checknet(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_checkopts(L, 2, keys);
    lua_settop(L, 2);
    il_ctx *ctx = l_ctx(L);
    const il_tensor *data[L_MAXIN + 1];
    int xi = field(L, "x", 1), yi = field(L, "y", 1);
    int nin = l_netinputs(L, n, xi, xi, data, "fit: x");
    if (l_totensor(L, yi) == NULL) return luaL_error(L, "fit: option 'y' must be a tensor");
    int li = field(L, "loss", 1);
    if (lua_type(L, li) != LUA_TSTRING && luaL_testudata(L, li, L_LOSS_MT) == NULL)
        return luaL_error(L, "fit: option 'loss' must be a loss (il.loss.*) or its name");
    il_loss loss = l_checkloss(L, li);
    int oi = field(L, "optim", 1);
    if (luaL_testudata(L, oi, L_OPTIM_MT) == NULL)
        return luaL_error(L, "fit: option 'optim' must be an optimizer (il.optim.*)");
    il_optim *opt = l_checkoptim(L, oi);
    int cb = field(L, "on_epoch", 0);
    if (!lua_isnil(L, cb) && !lua_isfunction(L, cb))
        return luaL_error(L, "fit: option 'on_epoch' must be a function");
    lua_getfield(L, 2, "shuffle");
    int shuf = lua_toboolean(L, -1);
    data[nin] = l_losstarget(L, &loss, yi);
    int nt = nin + 1;
    int64_t rows = il_tensor_ndim(data[0]) > 0 ? il_tensor_shape(data[0])[0] : 0;
    for (int i = 0; i < nt; i++) {
        int64_t r = il_tensor_ndim(data[i]) > 0 ? il_tensor_shape(data[i])[0] : 0;
        if (r < 1) return luaL_error(L, "fit: %s has no rows", i == nin ? "y" : "x");
        if (r != rows)
            return luaL_error(L, "fit: x has %I rows but %s has %I", (lua_Integer)rows,
                              i == nin ? "y" : "another input", (lua_Integer)r);
    }
    int64_t epochs = posint(L, "epochs", 1), batch = posint(L, "batch", rows);
    if (batch > rows) batch = rows;
    int nb = (int)((rows + batch - 1) / batch);
    void *src[L_MAXIN + 1];
    int64_t *perm = NULL;
    double *u = NULL;
    if (shuf) {
        hostcopies(L, data, nt, src);
        perm = (int64_t *)lua_newuserdatauv(L, (size_t)rows * sizeof *perm, 0);
        u = (double *)lua_newuserdatauv(L, (size_t)rows * sizeof *u, 0);
    }
    fitstate *f = newstate(L, nt, nb);
    il_status s =
        shuf ? makeshuffled(ctx, f, data, rows, batch) : makeviews(ctx, f, data, rows, batch);
    if (s != IL_OK) return l_fail(L, s);
    double mean = 0;
    int64_t e;
    for (e = 1; e <= epochs; e++) {
        double total = 0;
        if (shuf && (s = shuffle(ctx, f, src, rows, perm, u)) != IL_OK) return l_fail(L, s);
        for (int b = 0; b < nb; b++) {
            double v = 0;
            il_tensor *const *bt = &f->views[b * nt];
            n->L = L;
            n->busy = 1;
            s = il_net_step(n->net, nin, (const il_tensor *const *)bt, bt[nin], &loss, opt, &v);
            n->busy = 0;
            if (s != IL_OK) return l_fail(L, s);
            total += v;
        }
        mean = total / nb;
        if (lua_isnil(L, cb)) continue;
        lua_pushvalue(L, cb);
        lua_pushinteger(L, (lua_Integer)e);
        lua_pushnumber(L, (lua_Number)mean);
        lua_call(L, 2, 1);
        int stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (stop) break;
    }
    lua_pushnumber(L, (lua_Number)mean);
    lua_pushinteger(L, (lua_Integer)(e > epochs ? epochs : e));
    return 2;
}
