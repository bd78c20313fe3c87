/*
 * l_progress.c: il.progress(total, {label=, every=, out=, enabled=}), a progress display for
 * long work, used by net:fit. p:update(n[, {loss=, lr=}]) reports n units done so far (an
 * absolute count, not an increment); p:done() (also `local p <close>`) ends it.
 *
 * On a terminal it redraws one line in place (at most ten times a second): label, bar,
 * step/total, percentage, rate, ETA, loss and rate. On anything else (a file, a pipe, a CI log)
 * redrawing would pile up, so it writes a plain line each time n passes a multiple of `every`
 * (default: a tenth of total) and a last line at done. Every write is flushed, so a log that is
 * tailed or a crash shows the latest line.
 *
 * The output is a Lua file handle (io.stderr by default) kept in user value 1 and looked up at
 * each write, so a handle the script closed is an error, never a stale FILE*.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty, clock_gettime */
#include "l_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_S 0.1

typedef struct l_progress {
    int64_t total, n, every;
    int64_t lines; /* plain lines written: the next is due when n reaches (lines + 1) * every */
    int enabled, tty, finished;
    double t0, last_draw;
    double loss, lr; /* NaN: not reported */
    char label[64];
} l_progress;

double l_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int l_isatty(lua_State *L, int idx) {
    if (idx == 0 || lua_isnoneornil(L, idx)) return isatty(fileno(stderr));
    luaL_Stream *st = (luaL_Stream *)luaL_checkudata(L, idx, LUA_FILEHANDLE);
    return st->closef != NULL && st->f != NULL && isatty(fileno(st->f));
}

/* The output of the progress display at idx (its handle, or the C stderr). [-0, +0, e] */
static FILE *outfile(lua_State *L, int idx) {
    FILE *f = stderr;
    if (lua_getiuservalue(L, idx, 1) != LUA_TNIL) {
        luaL_Stream *st = (luaL_Stream *)lua_touserdata(L, -1);
        if (st->closef == NULL) luaL_error(L, "progress: its output file is closed");
        f = st->f;
    }
    lua_pop(L, 1);
    return f;
}

/* "mm:ss" or "h:mm:ss"; "?" for what cannot be known. */
static void fmttime(char *b, size_t size, double s) {
    if (!(s >= 0 && s < 1e8)) {
        snprintf(b, size, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(b, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, size, "%02ld:%02ld", t / 60, t % 60);
}

/* Appends printf output to buf (of size) at *len, truncating safely. */
static void add(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    if (*len >= size - 1) return;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (k > 0) *len += (size_t)k < size - *len ? (size_t)k : size - *len - 1;
}

/* The status line for now (t), with a bar on a terminal. */
static void compose(const l_progress *p, double t, char *buf, size_t size) {
    size_t len = 0;
    double el = t - p->t0, rate = el > 0 ? (double)p->n / el : NAN;
    double frac = p->total > 0 ? (double)p->n / (double)p->total : 0;
    char tb[32];
    buf[0] = '\0';
    if (p->label[0] != '\0') add(buf, size, &len, "%s ", p->label);
    if (p->tty) {
        int fill = (int)(frac * BAR_WIDTH);
        add(buf, size, &len, "[");
        for (int i = 0; i < BAR_WIDTH; i++)
            add(buf, size, &len, i < fill ? "#" : ".");
        add(buf, size, &len, "] ");
    }
    add(buf, size, &len, "%lld/%lld %3d%%", (long long)p->n, (long long)p->total,
        (int)(frac * 100));
    if (rate >= 100)
        add(buf, size, &len, " %.0f it/s", rate);
    else if (rate > 0)
        add(buf, size, &len, " %.3g it/s", rate);
    if (p->finished) {
        fmttime(tb, sizeof tb, el);
        add(buf, size, &len, " in %s", tb);
    } else {
        fmttime(tb, sizeof tb, rate > 0 ? (double)(p->total - p->n) / rate : NAN);
        add(buf, size, &len, " ETA %s", tb);
    }
    if (!isnan(p->loss)) add(buf, size, &len, " loss %.6g", p->loss);
    if (!isnan(p->lr)) add(buf, size, &len, " lr %.4g", p->lr);
}

/* Writes the status line: redrawn in place on a terminal, a new line otherwise. */
static void draw(lua_State *L, int idx, l_progress *p, double t) {
    char buf[256];
    FILE *f = outfile(L, idx);
    compose(p, t, buf, sizeof buf);
    if (p->tty)
        fprintf(f, "\r%s\033[K%s", buf, p->finished ? "\n" : "");
    else
        fprintf(f, "%s\n", buf);
    fflush(f);
    p->last_draw = t;
}

static l_progress *checkprogress(lua_State *L, int idx) {
    return (l_progress *)luaL_checkudata(L, idx, L_PROGRESS_MT);
}

void l_progress_update(lua_State *L, int idx, int64_t n, double loss, double lr) {
    l_progress *p = checkprogress(L, idx);
    p->n = n < 0 ? 0 : n > p->total ? p->total : n;
    p->loss = loss;
    p->lr = lr;
    if (!p->enabled || p->finished) return;
    double t = l_now();
    if (p->tty) {
        if (t - p->last_draw >= REDRAW_S || p->n == p->total) draw(L, idx, p, t);
    } else if (p->n >= (p->lines + 1) * p->every && p->n < p->total) {
        /* The line for n == total is done's, which also gives the time taken. */
        p->lines = p->n / p->every;
        draw(L, idx, p, t);
    }
}

void l_progress_done(lua_State *L, int idx) {
    l_progress *p = checkprogress(L, idx);
    if (p->finished) return;
    p->finished = 1;
    if (p->enabled) draw(L, idx, p, l_now());
}

/* Reads the options at opts into p, the userdata at ud. [-0, +0, e] */
static void readopts(lua_State *L, l_progress *p, int ud, int opts) {
    static l_optkeys keys = {"label", "every", "out", "enabled", NULL};
    if (!l_checkopts(L, opts, keys)) return;
    if (lua_getfield(L, opts, "label") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "progress: option 'label' must be a string");
        strncpy(p->label, lua_tostring(L, -1), sizeof p->label - 1);
    }
    if (lua_getfield(L, opts, "every") != LUA_TNIL) {
        int ok = 0;
        lua_Integer e = lua_tointegerx(L, -1, &ok);
        if (!ok || e < 1) luaL_error(L, "progress: option 'every' must be an integer >= 1");
        p->every = (int64_t)e;
    }
    if (lua_getfield(L, opts, "enabled") != LUA_TNIL) p->enabled = lua_toboolean(L, -1);
    if (lua_getfield(L, opts, "out") != LUA_TNIL) {
        if (luaL_testudata(L, -1, LUA_FILEHANDLE) == NULL)
            luaL_error(L, "progress: option 'out' must be a file (io.stderr, io.open(...))");
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, ud, 1);
    }
    lua_pop(L, 4);
}

void l_newprogress(lua_State *L, int64_t total, int opts) {
    opts = lua_absindex(L, opts);
    if (total < 1) luaL_error(L, "progress: total must be an integer >= 1");
    l_progress *p = (l_progress *)lua_newuserdatauv(L, sizeof *p, 1);
    memset(p, 0, sizeof *p);
    luaL_setmetatable(L, L_PROGRESS_MT);
    int ud = lua_gettop(L);
    p->total = total;
    p->every = total / 10 > 1 ? total / 10 : 1;
    p->enabled = 1;
    p->loss = p->lr = NAN;
    /* io.stderr when the io library is loaded; the C stderr otherwise. */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "io") == LUA_TTABLE) {
        lua_getfield(L, -1, "stderr");
        if (luaL_testudata(L, -1, LUA_FILEHANDLE) != NULL) lua_setiuservalue(L, ud, 1);
    }
    lua_settop(L, ud);
    readopts(L, p, ud, opts);
    lua_getiuservalue(L, ud, 1);
    p->tty = l_isatty(L, -1);
    lua_pop(L, 1);
    p->t0 = p->last_draw = l_now();
    p->last_draw -= REDRAW_S; /* the first update draws */
}

/* ---- Lua interface ------------------------------------------------------------------------- */

/* il.progress(total[, opts]) [-0, +1, e] */
static int progress_new(lua_State *L) {
    int ok = 0;
    lua_Integer total = lua_tointegerx(L, 1, &ok);
    if (!ok || total < 1) return luaL_argerror(L, 1, "total must be an integer >= 1");
    l_newprogress(L, (int64_t)total, 2);
    return 1;
}

/* opts[key] as a number (a 0-d tensor's item too), or NaN when absent. [-0, +0, e] */
static double optvalue(lua_State *L, int opts, const char *key) {
    double v = NAN;
    if (lua_isnoneornil(L, opts)) return v;
    lua_getfield(L, opts, key);
    il_tensor *t = l_totensor(L, -1);
    if (t != NULL) {
        il_status s = il_tensor_item(l_ctx(L), t, &v);
        if (s != IL_OK) l_fail(L, s);
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
        v = (double)lua_tonumber(L, -1);
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "progress: option '%s' must be a number or a 0-d tensor", key);
    }
    lua_pop(L, 1);
    return v;
}

/* p:update(n[, {loss=, lr=}]) -> p [-0, +1, e] */
static int progress_update(lua_State *L) {
    static l_optkeys keys = {"loss", "lr", NULL};
    checkprogress(L, 1);
    int ok = 0;
    lua_Integer n = lua_tointegerx(L, 2, &ok);
    if (!ok) return luaL_argerror(L, 2, "n (units done so far) must be an integer");
    l_checkopts(L, 3, keys);
    l_progress_update(L, 1, (int64_t)n, optvalue(L, 3, "loss"), optvalue(L, 3, "lr"));
    lua_settop(L, 1);
    return 1;
}

/* p:done() (and __close) [-0, +0, e] */
static int progress_done(lua_State *L) {
    l_progress_done(L, 1);
    return 0;
}

/* p.n, p.total, p.tty, p.enabled, else a method [-0, +1, e] */
static int progress_index(lua_State *L) {
    l_progress *p = checkprogress(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k != NULL && strcmp(k, "n") == 0)
        lua_pushinteger(L, (lua_Integer)p->n);
    else if (k != NULL && strcmp(k, "total") == 0)
        lua_pushinteger(L, (lua_Integer)p->total);
    else if (k != NULL && strcmp(k, "tty") == 0)
        lua_pushboolean(L, p->tty);
    else if (k != NULL && strcmp(k, "enabled") == 0)
        lua_pushboolean(L, p->enabled);
    else {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(2));
    }
    return 1;
}

void l_open_progress(lua_State *L) {
    int mod = lua_gettop(L);
    luaL_newmetatable(L, L_PROGRESS_MT);
    l_setfuncs(L, (const luaL_Reg[]){{"__close", progress_done}, {NULL, NULL}});
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_createtable(L, 0, 2);
    l_setfuncs(
        L, (const luaL_Reg[]){{"update", progress_update}, {"done", progress_done}, {NULL, NULL}});
    lua_pushcclosure(L, progress_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, L_PROGRESS_MT);
    lua_setfield(L, -2, "__metatable");
    lua_settop(L, mod);
    l_setfuncs(L, (const luaL_Reg[]){{"progress", progress_new}, {NULL, NULL}});
}
