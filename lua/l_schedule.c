/*
 * l_schedule.c: il.schedule.* ("il.Schedule" userdata over the C schedules of
 * ironlearn/schedule.h): s:lr(step), s:observe(v), s:state(), s:set_state(t),
 * il.schedule.restore(t).
 *
 * A schedule userdata keeps what its C schedule borrows alive through user value 1, a table
 * holding its parts (warmup's `after`, a sequence's schedules) and, for fn, the Lua function.
 * The function is also reachable from C through a weak-valued registry table keyed by the
 * userdata's address, so the C callback (which gets the running lua_State as its call argument)
 * can find it without a strong reference that would keep the schedule alive forever.
 *
 * The rates live in C so C hosts get the same schedules; the binding only reads options,
 * keeps parts alive, and turns C statuses into Lua errors.
 */
#include "l_impl.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define L_FNREG "il.schedule.fn" /* registry: address of an fn schedule -> its function */

/* ---- option descriptors ------------------------------------------------------------------- */

static const char *const anneal_names[] = {"cos", "linear", NULL};
static const char *const shape_names[] = {"cos", "linear", "sqrt", NULL};
static const char *const mode_names[] = {"min", "max", NULL};
static const char *const thr_names[] = {"rel", "abs", NULL};

#define OFF(f) offsetof(il_schedule_opts, f)
static const l_schedfield fields[] = {
    {"lr", L_F_NUM, OFF(lr), NULL},
    {"min_lr", L_F_NUM, OFF(min_lr), NULL},
    {"steps", L_F_INT, OFF(steps), NULL},
    {"every", L_F_INT, OFF(every), NULL},
    {"gamma", L_F_NUM, OFF(gamma), NULL},
    {"power", L_F_NUM, OFF(power), NULL},
    {"milestones", L_F_LIST, 0, NULL},
    {"mult", L_F_INT, OFF(mult), NULL},
    {"pct", L_F_NUM, OFF(pct), NULL},
    {"div", L_F_NUM, OFF(div), NULL},
    {"final_div", L_F_NUM, OFF(final_div), NULL},
    {"anneal", L_F_ENUM, OFF(anneal), anneal_names},
    {"warmup", L_F_INT, OFF(warmup), NULL},
    {"decay", L_F_INT, OFF(decay), NULL},
    {"shape", L_F_ENUM, OFF(anneal), shape_names},
    {"mode", L_F_ENUM, OFF(mode_max), mode_names},
    {"threshold_mode", L_F_ENUM, OFF(threshold_abs), thr_names},
    {"factor", L_F_NUM, OFF(factor), NULL},
    {"patience", L_F_INT, OFF(patience), NULL},
    {"threshold", L_F_NUM, OFF(threshold), NULL},
    {"cooldown", L_F_INT, OFF(cooldown), NULL},
    {"eps", L_F_NUM, OFF(eps), NULL},
    {NULL, 0, 0, NULL},
};

/* Options of each kind built from a table (WARMUP, SEQUENCE and FN are built apart). The
 * first `nreq` keys are required. */
typedef struct kinddesc {
    int nreq;
    const char *keys[10];
} kinddesc;

static const kinddesc kinds[IL_SCHEDULE_COUNT] = {
    [IL_SCHEDULE_CONSTANT] = {1, {"lr"}},
    [IL_SCHEDULE_STEP] = {2, {"lr", "every", "gamma"}},
    [IL_SCHEDULE_MULTISTEP] = {2, {"lr", "milestones", "gamma"}},
    [IL_SCHEDULE_EXPONENTIAL] = {2, {"lr", "gamma"}},
    [IL_SCHEDULE_INVERSE_TIME] = {2, {"lr", "gamma", "every"}},
    [IL_SCHEDULE_POLYNOMIAL] = {2, {"lr", "steps", "min_lr", "power"}},
    [IL_SCHEDULE_COSINE] = {2, {"lr", "steps", "min_lr"}},
    [IL_SCHEDULE_SGDR] = {2, {"lr", "steps", "min_lr", "mult"}},
    [IL_SCHEDULE_WARMUP] = {1, {"steps", "after", "lr", "start"}},
    [IL_SCHEDULE_ONECYCLE] = {2, {"lr", "steps", "pct", "div", "final_div", "anneal"}},
    [IL_SCHEDULE_WSD] = {2, {"lr", "steps", "min_lr", "warmup", "decay", "shape"}},
    [IL_SCHEDULE_PLATEAU] = {1,
                             {"lr", "min_lr", "mode", "factor", "patience", "threshold",
                              "threshold_mode", "cooldown", "eps"}},
    [IL_SCHEDULE_SEQUENCE] = {0, {"at"}},
    [IL_SCHEDULE_FN] = {0, {"name"}},
};

const l_schedfield *l_schedfield_find(const char *key) {
    for (const l_schedfield *f = fields; f->key != NULL; f++)
        if (strcmp(f->key, key) == 0) return f;
    return NULL;
}

const char *const *l_schedkeys(il_schedule_kind kind) {
    return kinds[kind].keys;
}

/* ---- the userdata -------------------------------------------------------------------------- */

/* Raises unless every string key of the table at idx is one of kind's; integer keys are
 * allowed only for sequence (its parts). [-0, +0, e] */
static void checkkeys(lua_State *L, int idx, il_schedule_kind kind) {
    const char *name = il_schedule_kind_name(kind);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER && kind == IL_SCHEDULE_SEQUENCE) continue;
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "schedule %s: unknown option (a %s key)", name, luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        int known = 0;
        for (int i = 0; kinds[kind].keys[i] != NULL && !known; i++)
            known = strcmp(k, kinds[kind].keys[i]) == 0;
        if (!known) luaL_error(L, "schedule %s: unknown option '%s'", name, k);
    }
    for (int i = 0; i < kinds[kind].nreq; i++)
        if (lua_getfield(L, idx, kinds[kind].keys[i]) == LUA_TNIL)
            luaL_error(L, "schedule %s: option '%s' is required", name, kinds[kind].keys[i]);
    lua_settop(L, idx);
}

/* An integer from the value on top, or raises naming the option. [-0, +0, e] */
static int64_t toint(lua_State *L, const char *kind, const char *key) {
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "schedule %s: option '%s' must be an integer, got %s", kind, key,
                   lua_type(L, -1) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1));
    return (int64_t)v;
}

/* Reads the milestones array at the top into a userdata left on the stack. [-0, +1, e] */
static void readlist(lua_State *L, const char *kind, il_schedule_opts *o) {
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "schedule %s: option 'milestones' must be a table of integers", kind);
    int n = (int)luaL_len(L, -1), top = lua_gettop(L);
    int64_t *ms = (int64_t *)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *ms, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, top, i + 1);
        ms[i] = toint(L, kind, "milestones");
        lua_pop(L, 1);
    }
    o->milestones = ms;
    o->nmilestones = n;
}

/* Reads option f of the value on top into o. [-0, +0|1, e] (L_F_LIST leaves its array) */
static void readfield(lua_State *L, const char *kind, const l_schedfield *f, il_schedule_opts *o) {
    char *p = (char *)o + f->off;
    if (f->type == L_F_LIST) {
        readlist(L, kind, o);
    } else if (f->type == L_F_INT) {
        *(int64_t *)(void *)p = toint(L, kind, f->key);
    } else if (f->type == L_F_NUM) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "schedule %s: option '%s' must be a number, got %s", kind, f->key,
                       luaL_typename(L, -1));
        *(double *)(void *)p = (double)lua_tonumber(L, -1);
    } else {
        const char *s = lua_tostring(L, -1);
        int v = 0;
        while (f->names[v] != NULL && (s == NULL || strcmp(s, f->names[v]) != 0))
            v++;
        if (f->names[v] == NULL || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "schedule %s: option '%s' must be one of %s, %s%s%s", kind, f->key,
                       f->names[0], f->names[1], f->names[2] ? ", " : "",
                       f->names[2] ? f->names[2] : "");
        if (f->off == OFF(anneal))
            *(il_anneal *)(void *)p = (il_anneal)v;
        else
            *(int *)(void *)p = v;
    }
}

/* Pushes a new schedule userdata holding NULL (metatable and an empty parts table set) whose C
 * schedule the caller makes next. [-0, +1, m] */
static l_sched *newsched(lua_State *L) {
    l_sched *ls = (l_sched *)lua_newuserdatauv(L, sizeof *ls, 1);
    memset(ls, 0, sizeof *ls);
    luaL_setmetatable(L, L_SCHED_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    return ls;
}

l_sched *l_checksched(lua_State *L, int idx) {
    l_sched *ls = (l_sched *)luaL_checkudata(L, idx, L_SCHED_MT);
    if (ls->s == NULL) luaL_error(L, "attempt to use a freed schedule");
    return ls;
}

/* Stores part (a schedule at idx) in the parts table of the schedule at sidx, under key.
 * [-0, +0, m] */
static void keeppart(lua_State *L, int sidx, int idx, const char *key, int i) {
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, sidx, 1);
    lua_pushvalue(L, idx);
    if (key != NULL)
        lua_setfield(L, -2, key);
    else
        lua_rawseti(L, -2, i);
    lua_pop(L, 1);
}

/* il.schedule.<kind>(opts) for the table-built kinds (kind in upvalue 2). [-0, +1, e] */
static int sched_new(lua_State *L) {
    il_schedule_kind kind = (il_schedule_kind)lua_tointeger(L, lua_upvalueindex(2));
    const char *name = il_schedule_kind_name(kind);
    il_schedule_opts o;
    il_schedule_opts_init(kind, &o);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    checkkeys(L, 1, kind);
    for (int i = 0; kinds[kind].keys[i] != NULL; i++) {
        const l_schedfield *f = l_schedfield_find(kinds[kind].keys[i]);
        if (lua_getfield(L, 1, f->key) == LUA_TNIL) continue;
        readfield(L, name, f, &o); /* a milestones array stays on the stack until we are done */
    }
    l_sched *ls = newsched(L);
    ls->ctx = l_ctx(L);
    il_status s = il_schedule_new(ls->ctx, kind, &o, &ls->s);
    if (s != IL_OK) return l_fail(L, s);
    ls->plateau = kind == IL_SCHEDULE_PLATEAU;
    return 1;
}

/* The schedule in option key of the table at 1, or NULL when absent. [-0, +1, e] */
static l_sched *partopt(lua_State *L, const char *kind, const char *key) {
    if (lua_getfield(L, 1, key) == LUA_TNIL) return NULL;
    if (luaL_testudata(L, -1, L_SCHED_MT) == NULL)
        luaL_error(L, "schedule %s: option '%s' must be a schedule (il.schedule.*)", kind, key);
    return l_checksched(L, -1);
}

/* il.schedule.warmup{steps=, after= | lr=, start=0} [-0, +1, e] */
static int sched_warmup(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    checkkeys(L, 1, IL_SCHEDULE_WARMUP);
    lua_getfield(L, 1, "steps");
    int64_t steps = toint(L, "warmup", "steps");
    double start = 0;
    if (lua_getfield(L, 1, "start") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            return luaL_error(L, "schedule warmup: option 'start' must be a number");
        start = (double)lua_tonumber(L, -1);
    }
    l_sched *after = partopt(L, "warmup", "after"); /* index 4; lr: 5 */
    lua_getfield(L, 1, "lr");
    if ((after == NULL) == lua_isnil(L, -1))
        return luaL_error(L, "schedule warmup: give exactly one of 'after' (a schedule) or 'lr'");
    if (after == NULL) { /* lr=x is after=constant{lr=x} */
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 5);
        lua_setfield(L, -2, "lr");
        lua_call(L, 1, 1);
        lua_replace(L, 4);
        after = l_checksched(L, 4);
    }
    l_sched *ls = newsched(L);
    ls->ctx = l_ctx(L);
    keeppart(L, -1, 4, "after", 0);
    il_status s = il_schedule_warmup(ls->ctx, steps, start, after->s, &ls->s);
    if (s != IL_OK) return l_fail(L, s);
    ls->plateau = after->plateau;
    return 1;
}

/* il.schedule.sequence{s1, s2, ..., at={i1, i2, ...}} [-0, +1, e] */
static int sched_sequence(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    checkkeys(L, 1, IL_SCHEDULE_SEQUENCE);
    int n = (int)luaL_len(L, 1);
    if (n < 1) return luaL_error(L, "schedule sequence: needs at least one schedule");
    lua_getfield(L, 1, "at");
    if (n > 1 && (!lua_istable(L, 2) || (int)luaL_len(L, 2) != n - 1))
        return luaL_error(L,
                          "schedule sequence: option 'at' must list %d step(s), one per "
                          "schedule after the first",
                          n - 1);
    il_schedule **parts = (il_schedule **)lua_newuserdatauv(L, (size_t)n * sizeof *parts, 0);
    int64_t *at = (int64_t *)lua_newuserdatauv(L, (size_t)n * sizeof *at, 0);
    l_sched *ls = newsched(L); /* index 5 */
    ls->ctx = l_ctx(L);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        if (luaL_testudata(L, -1, L_SCHED_MT) == NULL)
            return luaL_error(L, "schedule sequence: item %d must be a schedule", i + 1);
        l_sched *p = l_checksched(L, -1);
        parts[i] = p->s;
        ls->plateau |= p->plateau;
        keeppart(L, 5, -1, NULL, i + 1);
        lua_pop(L, 1);
        if (i == n - 1) break;
        lua_rawgeti(L, 2, i + 1);
        at[i] = toint(L, "sequence", "at");
        lua_pop(L, 1);
    }
    il_status s = il_schedule_sequence(ls->ctx, n, parts, at, &ls->s);
    if (s != IL_OK) return l_fail(L, s);
    return 1;
}

/* ---- fn ------------------------------------------------------------------------------------ */

/* Protected body of fn_cb: calls the function of the schedule at address 1 with step 2 and
 * checks that it returned a number. [-0, +1, e] */
static int fn_call(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, L_FNREG);
    lua_rawgetp(L, -1, lua_touserdata(L, 1));
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "the function returned a %s value, not a number",
                          luaL_typename(L, -1));
    return 1;
}

/* C callback of an fn schedule: arg is the lua_State running the call. */
static il_status fn_cb(void *ud, void *arg, int64_t step, double *lr) {
    l_sched *ls = (l_sched *)ud;
    lua_State *L = (lua_State *)arg;
    if (L == NULL)
        return il_ctx_error(ls->ctx, IL_E_ARG, "schedule %s: only callable from Lua", ls->name);
    lua_pushcfunction(L, fn_call);
    lua_pushlightuserdata(L, ud);
    lua_pushinteger(L, (lua_Integer)step);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        il_status s = il_ctx_error(ls->ctx, IL_E_ARG, "schedule %s at step %lld: %s", ls->name,
                                   (long long)step, msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
        return s;
    }
    *lr = (double)lua_tonumber(L, -1); /* NaN and negatives are refused by the core */
    lua_pop(L, 1);
    return IL_OK;
}

/* il.schedule.fn(f[, {name=}]) [-0, +1, e] */
static int sched_fn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        checkkeys(L, 2, IL_SCHEDULE_FN);
    }
    const char *name = "fn";
    if (!lua_isnil(L, 2) && lua_getfield(L, 2, "name") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "schedule fn: option 'name' must be a string");
        name = lua_tostring(L, -1);
    }
    l_sched *ls = newsched(L);
    ls->ctx = l_ctx(L);
    strncpy(ls->name, name, sizeof ls->name - 1);
    keeppart(L, -1, 1, "fn", 0);
    lua_getfield(L, LUA_REGISTRYINDEX, L_FNREG);
    lua_pushvalue(L, 1);
    lua_rawsetp(L, -2, ls);
    lua_pop(L, 1);
    il_status s = il_schedule_fn(ls->ctx, name, fn_cb, ls, &ls->s);
    if (s != IL_OK) return l_fail(L, s);
    return 1;
}

/* ---- methods ------------------------------------------------------------------------------- */

double l_schedlr(lua_State *L, l_sched *ls, int64_t step) {
    double lr = 0;
    il_status s = il_schedule_lr_arg(ls->s, step, L, &lr);
    if (s != IL_OK) l_fail(L, s);
    return lr;
}

/* s:lr(step) -> rate [-0, +1, e] */
static int sched_lr(lua_State *L) {
    l_sched *ls = l_checksched(L, 1);
    int ok = 0;
    lua_Integer step = lua_tointegerx(L, 2, &ok);
    if (!ok) return luaL_argerror(L, 2, "step must be an integer");
    if (step < 0) return luaL_argerror(L, 2, "step must be >= 0");
    lua_pushnumber(L, (lua_Number)l_schedlr(L, ls, (int64_t)step));
    return 1;
}

/* s:observe(v) -> true when a rate was reduced [-0, +1, e] */
static int sched_observe(lua_State *L) {
    l_sched *ls = l_checksched(L, 1);
    int reduced = 0;
    il_status s = il_schedule_observe(ls->s, (double)luaL_checknumber(L, 2), &reduced);
    if (s != IL_OK) return l_fail(L, s);
    lua_pushboolean(L, reduced);
    return 1;
}

static int sched_gc(lua_State *L) {
    l_sched *ls = (l_sched *)luaL_checkudata(L, 1, L_SCHED_MT);
    if (ls->s != NULL && il_schedule_kind_of(ls->s) == IL_SCHEDULE_FN &&
        lua_getfield(L, LUA_REGISTRYINDEX, L_FNREG) == LUA_TTABLE) {
        lua_pushnil(L);
        lua_rawsetp(L, -2, ls);
    }
    il_schedule_free(ls->s);
    ls->s = NULL;
    return 0;
}

static int sched_tostring(lua_State *L) {
    l_sched *ls = (l_sched *)luaL_checkudata(L, 1, L_SCHED_MT);
    if (ls->s == NULL)
        lua_pushliteral(L, "il.Schedule (freed)");
    else
        lua_pushfstring(L, "il.Schedule (%s)", il_schedule_kind_name(il_schedule_kind_of(ls->s)));
    return 1;
}

/* s.kind, else a method [-0, +1, e] */
static int sched_index(lua_State *L) {
    l_sched *ls = l_checksched(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k != NULL && strcmp(k, "kind") == 0) {
        lua_pushstring(L, il_schedule_kind_name(il_schedule_kind_of(ls->s)));
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(2));
    return 1;
}

void l_open_schedule(lua_State *L) {
    int mod = lua_gettop(L);
    luaL_newmetatable(L, L_SCHED_MT); /* mod + 1 */
    l_setfuncs(
        L, (const luaL_Reg[]){{"__gc", sched_gc}, {"__tostring", sched_tostring}, {NULL, NULL}});
    lua_createtable(L, 0, 6); /* methods: mod + 2 */
    l_setfuncs(L, (const luaL_Reg[]){{"lr", sched_lr}, {"observe", sched_observe}, {NULL, NULL}});
    l_open_schedstate(L);
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushvalue(L, mod + 2);
    lua_pushcclosure(L, sched_index, 2);
    lua_setfield(L, mod + 1, "__index");
    lua_pushliteral(L, L_SCHED_MT);
    lua_setfield(L, mod + 1, "__metatable");
    lua_settop(L, mod);
    lua_newtable(L); /* the fn registry, weak-valued: see the file's comment */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, L_FNREG);
    lua_createtable(L, 0, IL_SCHEDULE_COUNT); /* il.schedule: mod + 1 */
    for (int k = 0; k < IL_SCHEDULE_COUNT; k++) {
        lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
        lua_pushinteger(L, k);
        lua_pushcclosure(L, sched_new, 2);
        lua_setfield(L, mod + 1, il_schedule_kind_name((il_schedule_kind)k));
    }
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_getfield(L, mod + 1, "constant"); /* warmup{lr=} builds a constant */
    lua_pushcclosure(L, sched_warmup, 2);
    lua_setfield(L, mod + 1, "warmup");
    l_setfuncs(L, (const luaL_Reg[]){{"sequence", sched_sequence}, {"fn", sched_fn}, {NULL, NULL}});
    l_open_schedrestore(L);
    lua_setfield(L, mod, "schedule");
}
