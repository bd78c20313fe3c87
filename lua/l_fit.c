/*
 * l_fit.c: net:fit{x=, y=, loss=, optim=, epochs=, batch=, shuffle=, on_epoch=, schedule=,
 * progress=, log=, log_every=}, the common training loop, in C: per epoch, optionally shuffle
 * the rows (with the context's generator, so il.seed makes it repeatable), run one net:step per
 * batch (the optimizer's schedule setting its rate first), and report the epoch's mean batch
 * loss to on_epoch, which may stop training by returning false.
 *
 * Batches are views made once (of the data, or of shuffled copies refilled each epoch) and held
 * by a "fit state" userdata, also holding the log file, which is a to-be-closed variable of the
 * call: nothing is stranded and the log is closed when a step fails or on_epoch raises.
 *
 * Data on CUDA never passes through the host: the shuffled copies are refilled on the device
 * (the epoch's permutation uploaded once, one row gather per tensor), and with more than one
 * batch each batch is copied into staging tensors made once per call (full batch size; the
 * partial last batch a narrowed view of them), on which the steps run: every step then sees the
 * same memory, so il_net_step can replay a captured CUDA graph. On the CPU the steps run on the
 * batch views themselves.
 *
 * The log gets one line per logged step, flushed at once (appended as training goes, so a
 * crash keeps everything logged so far): step (the optimizer's step count before the update,
 * the one its schedule was asked for), epoch, loss (before the update), lr, elapsed seconds.
 */
#include "l_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define L_FIT_MT "il.FitState"

/* Tensors per batch: the inputs, then the target (nt of them); views[b * nt + i]. */
typedef struct fitstate {
    int nt, nb;
    FILE *log;                    /* or NULL */
    int jsonl;                    /* the log's format: JSON lines, else CSV */
    il_tensor *shuf[L_MAXIN + 1]; /* shuffled copies of the data, or NULL */
    il_tensor *stage[L_MAXIN + 1]; /* CUDA data: staging for a batch (full size), or NULL */
    il_tensor *stagelast[L_MAXIN + 1]; /* and its view for a shorter last batch, or NULL */
    il_tensor *views[1];          /* nb * nt entries (the userdata is sized for them) */
} fitstate;

static int fit_gc(lua_State *L) {
    fitstate *f = (fitstate *)luaL_checkudata(L, 1, L_FIT_MT);
    if (f->log != NULL) fclose(f->log);
    f->log = NULL;
    for (int i = 0; i < f->nt; i++) {
        il_tensor_free(f->shuf[i]);
        il_tensor_free(f->stage[i]);
        il_tensor_free(f->stagelast[i]);
        f->shuf[i] = f->stage[i] = f->stagelast[i] = NULL;
    }
    for (int i = 0; i < f->nt * f->nb; i++) {
        il_tensor_free(f->views[i]);
        f->views[i] = NULL;
    }
    return 0;
}

/* Pushes a fit state for nt tensors in nb batches, every handle NULL, as a to-be-closed slot.
 * [-0, +1, m] */
static fitstate *newstate(lua_State *L, int nt, int nb) {
    size_t n = (size_t)nt * (size_t)nb;
    fitstate *f = (fitstate *)lua_newuserdatauv(L, sizeof *f + n * sizeof(il_tensor *), 0);
    memset(f, 0, sizeof *f + n * sizeof(il_tensor *));
    if (luaL_newmetatable(L, L_FIT_MT)) {
        lua_pushcfunction(L, fit_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, fit_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    lua_toclose(L, -1);
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

/* A new tensor shaped like t with `rows` rows, on t's device. */
static il_status likerows(il_ctx *ctx, const il_tensor *t, int64_t rows, il_tensor **out) {
    int64_t shape[IL_MAX_DIMS];
    int nd = il_tensor_ndim(t);
    memcpy(shape, il_tensor_shape(t), sizeof(int64_t) * (size_t)nd);
    shape[0] = rows;
    return il_tensor_empty(ctx, nd, shape, il_tensor_dtype(t), il_tensor_device(t), out);
}

/* Makes the shuffled copies (on the data's devices) and their batch views. */
static il_status makeshuffled(il_ctx *ctx, fitstate *f, const il_tensor *const *data, int64_t rows,
                              int64_t batch) {
    il_status s = IL_OK;
    for (int i = 0; i < f->nt && s == IL_OK; i++) s = likerows(ctx, data[i], rows, &f->shuf[i]);
    if (s == IL_OK) s = makeviews(ctx, f, (const il_tensor *const *)f->shuf, rows, batch);
    return s;
}

/* Makes the staging tensors of the data on CUDA when there is more than one batch: one of
 * batch rows per such tensor, and a view of its first rows for a shorter last batch. */
static il_status makestaging(il_ctx *ctx, fitstate *f, const il_tensor *const *data, int64_t rows,
                             int64_t batch) {
    int64_t last = rows - (int64_t)(f->nb - 1) * batch;
    il_status s = IL_OK;
    for (int i = 0; i < f->nt && s == IL_OK && f->nb > 1; i++) {
        if (il_tensor_device(data[i]) == IL_DEVICE_CPU) continue;
        s = likerows(ctx, data[i], batch, &f->stage[i]);
        if (s == IL_OK && last < batch)
            s = il_tensor_narrow(ctx, f->stage[i], 0, 0, last, &f->stagelast[i]);
    }
    return s;
}

/* The epoch's permutation (perm, rows entries) from the context's generator: u has room for
 * rows doubles. */
static il_status drawperm(il_ctx *ctx, int64_t rows, int64_t *perm, double *u) {
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
    return IL_OK;
}

/* Refills the shuffled copies with the rows of the data in a new random order: from src (host
 * copies, one per CPU tensor) on the host, and on the device for data elsewhere, by the
 * permutation uploaded once. perm and u have room for rows entries. */
static il_status shuffle(il_ctx *ctx, fitstate *f, const il_tensor *const *data, void *const *src,
                         int64_t rows, int64_t *perm, double *u) {
    il_tensor *dperm = NULL;
    il_status s = drawperm(ctx, rows, perm, u);
    for (int k = 0; k < f->nt && s == IL_OK; k++) {
        il_tensor *t = f->shuf[k];
        if (il_tensor_device(t) != IL_DEVICE_CPU) {
            if (dperm == NULL)
                s = il_tensor_from_data(ctx, 1, &rows, IL_DTYPE_I64, il_tensor_device(t), perm,
                                        IL_DTYPE_I64, &dperm);
            if (s == IL_OK) s = il_data_take_rows_into(ctx, data[k], dperm, 0, t);
            continue;
        }
        size_t row = (size_t)(il_tensor_numel(t) / rows) * il_dtype_size(il_tensor_dtype(t));
        char *dst = (char *)il_tensor_data(t);
        const char *from = (const char *)src[k];
        for (int64_t i = 0; i < rows; i++)
            memcpy(dst + (size_t)i * row, from + (size_t)perm[i] * row, row);
    }
    il_tensor_free(dperm);
    return s;
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

/* Host copies of the CPU tensors of data[0..nt-1] in their own dtypes, each a userdata kept on
 * the stack (src[i] NULL for data on a device, which is shuffled there). [-0, +nt, e] */
static void hostcopies(lua_State *L, const il_tensor *const *data, int nt, void **src) {
    for (int i = 0; i < nt; i++) {
        const il_tensor *t = data[i];
        int64_t n = il_tensor_numel(t);
        src[i] = NULL;
        if (il_tensor_device(t) != IL_DEVICE_CPU) {
            lua_pushnil(L);
            continue;
        }
        src[i] =
            lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * il_dtype_size(il_tensor_dtype(t)), 0);
        il_status s = il_tensor_read(l_ctx(L), t, src[i], il_tensor_dtype(t), n);
        if (s != IL_OK) l_fail(L, s);
    }
}

/* ---- schedule, progress and log ----------------------------------------------------------- */

/* What one fit call works with; *i fields are stack slots of l_fit. */
typedef struct fitrun {
    l_net *n;
    il_optim *opt;
    il_loss loss;
    fitstate *f;
    int nin, oi, cb, pi; /* pi: the progress display, or 0 */
    l_sched *sched;      /* fit's own schedule: observed at epoch ends when it holds a plateau */
    int64_t epochs, log_every, done;
    const char *logpath;
    double t0;
} fitrun;

static int endswith(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Opens the log at path for appending, writing the CSV header into a new or empty file.
 * [-0, +0, e] */
static void openlog(lua_State *L, fitstate *f, const char *path) {
    f->jsonl = endswith(path, ".jsonl");
    if (!f->jsonl && !endswith(path, ".csv"))
        luaL_error(L, "fit: option 'log' must name a .csv or .jsonl file, got '%s'", path);
    f->log = fopen(path, "a");
    if (f->log == NULL) luaL_error(L, "fit: cannot open log '%s': %s", path, strerror(errno));
    if (!f->jsonl && fseek(f->log, 0, SEEK_END) == 0 && ftell(f->log) == 0)
        fputs("step,epoch,loss,lr,elapsed\n", f->log);
}

/* Appends one line to the log and flushes it. [-0, +0, e] */
static void logline(lua_State *L, fitrun *r, int64_t step, int64_t epoch, double loss, double lr) {
    FILE *f = r->f->log;
    double el = l_now() - r->t0;
    int k;
    if (r->f->jsonl)
        k = fprintf(f,
                    "{\"step\":%lld,\"epoch\":%lld,\"loss\":%.9g,\"lr\":%.9g,\"elapsed\":%.6f}\n",
                    (long long)step, (long long)epoch, loss, lr, el);
    else
        k = fprintf(f, "%lld,%lld,%.9g,%.9g,%.6f\n", (long long)step, (long long)epoch, loss, lr,
                    el);
    if (k < 0 || fflush(f) != 0)
        luaL_error(L, "fit: cannot write log '%s': %s", r->logpath, strerror(errno));
}

/* Reads option 'progress' and pushes a display over total steps when one is wanted (then
 * r->pi is its slot). Default: shown when stderr is a terminal. [-0, +0|1, e] */
static void setupprogress(lua_State *L, fitrun *r, int64_t total) {
    int t = lua_getfield(L, 2, "progress"), pi = lua_gettop(L);
    r->pi = 0;
    if (t == LUA_TBOOLEAN ? !lua_toboolean(L, pi) : t == LUA_TNIL ? !l_isatty(L, 0) : 0) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TTABLE && t != LUA_TBOOLEAN && t != LUA_TNIL)
        luaL_error(L, "fit: option 'progress' must be a boolean or a table of il.progress options");
    if (t != LUA_TTABLE) {
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "fit");
        lua_setfield(L, -2, "label");
        lua_replace(L, pi);
    }
    l_newprogress(L, total, pi);
    lua_replace(L, pi);
    r->pi = pi;
}

/* Reads 'schedule' (attaching it to the optimizer) and 'log'. [-0, +0, e] */
static void setupsched(lua_State *L, fitrun *r) {
    r->sched = NULL;
    if (lua_getfield(L, 2, "schedule") != LUA_TNIL) {
        if (luaL_testudata(L, -1, L_SCHED_MT) == NULL)
            luaL_error(L, "fit: option 'schedule' must be a schedule (il.schedule.*)");
        r->sched = l_checksched(L, -1);
        l_optim_attach(L, r->oi, -1);
    }
    lua_pop(L, 1);
    r->logpath = NULL;
    if (lua_getfield(L, 2, "log") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "fit: option 'log' must be a file name");
        r->logpath = lua_tostring(L, -1); /* kept alive by the options table */
    }
    lua_pop(L, 1);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* The tensors batch b steps on (bt, nt of them): its views, or for staged data the staging
 * (a view of it for a shorter last batch) after one device copy into it. */
static il_status stagebatch(lua_State *L, fitstate *f, int b, il_tensor **bt) {
    il_status s = IL_OK;
    for (int i = 0; i < f->nt && s == IL_OK; i++) {
        il_tensor *v = f->views[b * f->nt + i];
        bt[i] = v;
        if (f->stage[i] == NULL) continue;
        int64_t len = il_tensor_shape(v)[0];
        bt[i] = len < il_tensor_shape(f->stage[i])[0] ? f->stagelast[i] : f->stage[i];
        s = il_tensor_copy_(l_ctx(L), bt[i], v);
    }
    return s;
}

/* One update on batch b of epoch e; returns its loss. [-0, +0, e] */
static double onestep(lua_State *L, fitrun *r, int b, int64_t e) {
    double v = 0, lr = l_optim_prestep(L, r->oi);
    int64_t step = il_optim_steps(r->opt);
    il_tensor *bt[L_MAXIN + 1];
    il_status s = stagebatch(L, r->f, b, bt);
    if (s != IL_OK) l_fail(L, s);
    l_enter(L, r->n);
    s = il_net_step(r->n->net, r->nin, (const il_tensor *const *)bt, bt[r->nin], &r->loss, r->opt,
                    &v);
    l_leave(r->n);
    if (s != IL_OK) l_fail(L, s);
    if (r->f->log != NULL && step % r->log_every == 0) logline(L, r, step, e, v, lr);
    r->done++;
    if (r->pi != 0) l_progress_update(L, r->pi, r->done, v, lr);
    return v;
}

/* The end of epoch e with mean loss: the plateau, then on_epoch. Returns 0 to stop. */
static int epochend(lua_State *L, fitrun *r, int64_t e, double mean) {
    if (r->sched != NULL && r->sched->plateau) {
        il_status s = il_schedule_observe(r->sched->s, mean, NULL);
        if (s != IL_OK) l_fail(L, s);
    }
    if (lua_isnil(L, r->cb)) return 1;
    lua_pushvalue(L, r->cb);
    lua_pushinteger(L, (lua_Integer)e);
    lua_pushnumber(L, (lua_Number)mean);
    lua_call(L, 2, 1);
    int stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return !stop;
}

/* Reads x, y, loss, optim and on_epoch into r and data; returns the row count. [-0, +6, e] */
static int64_t readdata(lua_State *L, fitrun *r, const il_tensor **data) {
    int xi = field(L, "x", 1), yi = field(L, "y", 1);
    r->nin = l_netinputs(L, r->n, xi, xi, data, "fit: x");
    if (l_totensor(L, yi) == NULL) luaL_error(L, "fit: option 'y' must be a tensor");
    int li = field(L, "loss", 1);
    if (lua_type(L, li) != LUA_TSTRING && luaL_testudata(L, li, L_LOSS_MT) == NULL)
        luaL_error(L, "fit: option 'loss' must be a loss (il.loss.*) or its name");
    r->loss = l_checkloss(L, li);
    r->oi = field(L, "optim", 1);
    if (luaL_testudata(L, r->oi, L_OPTIM_MT) == NULL)
        luaL_error(L, "fit: option 'optim' must be an optimizer (il.optim.*)");
    r->opt = l_checkoptim(L, r->oi);
    r->cb = field(L, "on_epoch", 0);
    if (!lua_isnil(L, r->cb) && !lua_isfunction(L, r->cb))
        luaL_error(L, "fit: option 'on_epoch' must be a function");
    data[r->nin] = l_losstarget(L, &r->loss, yi);
    int nin = r->nin;
    int64_t rows = il_tensor_ndim(data[0]) > 0 ? il_tensor_shape(data[0])[0] : 0;
    for (int i = 0; i <= nin; i++) {
        int64_t n = il_tensor_ndim(data[i]) > 0 ? il_tensor_shape(data[i])[0] : 0;
        if (n < 1) luaL_error(L, "fit: %s has no rows", i == nin ? "y" : "x");
        if (n != rows)
            luaL_error(L, "fit: x has %I rows but %s has %I", (lua_Integer)rows,
                       i == nin ? "y" : "another input", (lua_Integer)n);
    }
    return rows;
}

/* Makes the batches (shuffled copies when asked) into a new fit state. [-0, +1|4, e] */
static void makebatches(lua_State *L, fitrun *r, const il_tensor **data, int64_t rows,
                        int64_t batch, int shuf, void **src, int64_t **perm, double **u) {
    int nt = r->nin + 1, nb = (int)((rows + batch - 1) / batch);
    if (shuf) {
        hostcopies(L, data, nt, src);
        *perm = (int64_t *)lua_newuserdatauv(L, (size_t)rows * sizeof **perm, 0);
        *u = (double *)lua_newuserdatauv(L, (size_t)rows * sizeof **u, 0);
    }
    r->f = newstate(L, nt, nb);
    il_ctx *ctx = l_ctx(L);
    il_status s =
        shuf ? makeshuffled(ctx, r->f, data, rows, batch) : makeviews(ctx, r->f, data, rows, batch);
    if (s == IL_OK) s = makestaging(ctx, r->f, data, rows, batch);
    if (s != IL_OK) l_fail(L, s);
}

/* net:fit{...} -> the last epoch's mean batch loss, and the number of epochs run. [-0, +2, e] */
int l_fit(lua_State *L) {
    static l_optkeys keys = {"x",     "y",         "loss",     "optim",    "epochs",
                             "batch", "shuffle",   "on_epoch", "schedule", "progress",
                             "log",   "log_every", NULL};
    fitrun r;
    memset(&r, 0, sizeof r);
    r.n = l_checknet(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    l_checkopts(L, 2, keys);
    lua_settop(L, 2);
    const il_tensor *data[L_MAXIN + 1];
    int64_t rows = readdata(L, &r, data);
    lua_getfield(L, 2, "shuffle");
    int shuf = lua_toboolean(L, -1);
    r.epochs = posint(L, "epochs", 1);
    r.log_every = posint(L, "log_every", 1);
    int64_t batch = posint(L, "batch", rows);
    if (batch > rows) batch = rows;
    setupsched(L, &r);
    void *src[L_MAXIN + 1];
    int64_t *perm = NULL;
    double *u = NULL;
    makebatches(L, &r, data, rows, batch, shuf, src, &perm, &u);
    if (r.logpath != NULL) openlog(L, r.f, r.logpath);
    setupprogress(L, &r, r.epochs * r.f->nb);
    r.t0 = l_now();
    double mean = 0;
    int64_t e;
    for (e = 1; e <= r.epochs; e++) {
        double total = 0;
        il_status s = shuf ? shuffle(l_ctx(L), r.f, data, src, rows, perm, u) : IL_OK;
        if (s != IL_OK) return l_fail(L, s);
        for (int b = 0; b < r.f->nb; b++)
            total += onestep(L, &r, b, e);
        mean = total / r.f->nb;
        if (!epochend(L, &r, e, mean)) break;
    }
    if (r.pi != 0) l_progress_done(L, r.pi);
    lua_pushnumber(L, (lua_Number)mean);
    lua_pushinteger(L, (lua_Integer)(e > r.epochs ? r.epochs : e));
    return 2;
}
