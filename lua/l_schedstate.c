/*
 * l_schedstate.c: a schedule's state as plain Lua data, for checkpoints (issue 7).
 *
 *   s:state()            -> a table of numbers, strings and nested tables: kind, every option
 *                           (defaults resolved), parts (warmup's `after`, a sequence's items) and,
 *                           for plateau, `state` = {lr=, best=, bad_epochs=, cooldown_left=,
 *                           observed=}
 *   il.schedule.restore(t) -> a new schedule equal to the one t came from, state included
 *   s:set_state(t)       -> loads the plateau states of t into an existing schedule built the
 *                           same way (the way to restore a tree holding an fn schedule, whose
 *                           Lua function cannot be saved); options must match.
 *
 * Restoring re-runs the constructors, so a restored schedule is validated like a new one.
 * best may be +-inf (a plateau that has observed nothing): a JSON writer must encode it.
 */
#include "l_impl.h"

#include <string.h>

static const char *kindname(const l_sched *ls) {
    return il_schedule_kind_name(il_schedule_kind_of(ls->s));
}

/* Pushes option f of o as Lua data. [-0, +1, m] */
static void pushfield(lua_State *L, const l_schedfield *f, const il_schedule_opts *o) {
    const char *p = (const char *)o + f->off;
    if (f->type == L_F_NUM) {
        lua_pushnumber(L, (lua_Number) * (const double *)(const void *)p);
    } else if (f->type == L_F_INT) {
        lua_pushinteger(L, (lua_Integer) * (const int64_t *)(const void *)p);
    } else if (f->type == L_F_ENUM) {
        /* il_anneal and int fields alike: both are int-sized enums/ints. */
        lua_pushstring(L, f->names[*(const int *)(const void *)p]);
    } else {
        lua_createtable(L, o->nmilestones, 0);
        for (int i = 0; i < o->nmilestones; i++) {
            lua_pushinteger(L, (lua_Integer)o->milestones[i]);
            lua_rawseti(L, -2, i + 1);
        }
    }
}

/* Sets t[key] = v for the table on top. */
static void setnum(lua_State *L, const char *key, lua_Number v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

static void setint(lua_State *L, const char *key, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, key);
}

/* Pushes the plateau state of ls as a table. [-0, +1, m] */
static void pushplateau(lua_State *L, const l_sched *ls) {
    il_schedule_state st;
    il_schedule_get_state(ls->s, &st);
    lua_createtable(L, 0, 5);
    setnum(L, "lr", st.lr);
    setnum(L, "best", st.best);
    setint(L, "bad_epochs", st.bad_epochs);
    setint(L, "cooldown_left", st.cooldown_left);
    setint(L, "observed", st.observed);
}

static void pushstate(lua_State *L, int idx);

/* Adds the parts of the composite schedule at idx to the state table on top. [-0, +0, e] */
static void partstates(lua_State *L, int idx, il_schedule_kind k, const il_schedule_opts *o) {
    lua_getiuservalue(L, idx, 1);
    int parts = lua_gettop(L);
    if (k == IL_SCHEDULE_WARMUP) {
        lua_getfield(L, parts, "after");
        pushstate(L, -1);
        lua_setfield(L, parts - 1, "after");
    } else {
        for (int i = 0; i <= o->nmilestones; i++) {
            lua_rawgeti(L, parts, i + 1);
            pushstate(L, -1);
            lua_rawseti(L, parts - 1, i + 1);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, parts - 1);
}

/* Pushes the state table of the schedule at idx. [-0, +1, e] */
static void pushstate(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    l_sched *ls = l_checksched(L, idx);
    il_schedule_kind k = il_schedule_kind_of(ls->s);
    il_schedule_opts o;
    il_schedule_options(ls->s, &o);
    luaL_checkstack(L, 8, "schedule nested too deeply");
    lua_newtable(L);
    lua_pushstring(L, kindname(ls));
    lua_setfield(L, -2, "kind");
    if (k == IL_SCHEDULE_FN) {
        lua_pushstring(L, ls->name);
        lua_setfield(L, -2, "name");
    } else if (k == IL_SCHEDULE_WARMUP || k == IL_SCHEDULE_SEQUENCE) {
        if (k == IL_SCHEDULE_WARMUP) {
            setint(L, "steps", o.steps);
            setnum(L, "start", o.pct); /* the core keeps warmup's start factor in pct */
        } else {
            pushfield(L, l_schedfield_find("milestones"), &o);
            lua_setfield(L, -2, "at");
        }
        partstates(L, idx, k, &o);
    } else {
        for (const char *const *key = l_schedkeys(k); *key != NULL; key++) {
            pushfield(L, l_schedfield_find(*key), &o);
            lua_setfield(L, -2, *key);
        }
        if (k == IL_SCHEDULE_PLATEAU) {
            pushplateau(L, ls);
            lua_setfield(L, -2, "state");
        }
    }
}

/* s:state() [-0, +1, e] */
static int sched_state(lua_State *L) {
    pushstate(L, 1);
    return 1;
}

/* ---- set_state ----------------------------------------------------------------------------- */

/* t.key of the table at t as a number, or raises. [-0, +0, e] */
static double getnum(lua_State *L, int t, const char *key) {
    lua_getfield(L, t, key);
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "schedule plateau: state field '%s' must be a number", key);
    double v = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static void setplateau(lua_State *L, l_sched *ls, int t) {
    il_schedule_state st;
    if (lua_getfield(L, t, "state") != LUA_TTABLE)
        luaL_error(L, "schedule plateau: the state table has no 'state'");
    int s = lua_gettop(L);
    st.lr = getnum(L, s, "lr");
    st.best = getnum(L, s, "best");
    st.bad_epochs = (int64_t)getnum(L, s, "bad_epochs");
    st.cooldown_left = (int64_t)getnum(L, s, "cooldown_left");
    st.observed = (int64_t)getnum(L, s, "observed");
    lua_pop(L, 1);
    il_status r = il_schedule_set_state(ls->s, &st);
    if (r != IL_OK) l_fail(L, r);
}

/* Raises unless the options recorded in the state table t equal those of ls. [-0, +0, e] */
static void sameopts(lua_State *L, l_sched *ls, int t) {
    il_schedule_opts o;
    il_schedule_options(ls->s, &o);
    for (const char *const *key = l_schedkeys(il_schedule_kind_of(ls->s)); *key != NULL; key++) {
        const l_schedfield *f = l_schedfield_find(*key);
        if (lua_getfield(L, t, *key) == LUA_TNIL || f->type == L_F_LIST) {
            lua_pop(L, 1);
            continue;
        }
        pushfield(L, f, &o);
        if (!lua_rawequal(L, -1, -2))
            luaL_error(L, "schedule %s: option '%s' differs from the state's", kindname(ls), *key);
        lua_pop(L, 2);
    }
}

/* Loads the state table at t into the schedule at idx. [-0, +0, e] */
static void setstate(lua_State *L, int idx, int t) {
    idx = lua_absindex(L, idx);
    t = lua_absindex(L, t);
    l_sched *ls = l_checksched(L, idx);
    il_schedule_kind k = il_schedule_kind_of(ls->s);
    luaL_checkstack(L, 8, "schedule nested too deeply");
    if (!lua_istable(L, t)) luaL_error(L, "schedule %s: a state must be a table", kindname(ls));
    lua_getfield(L, t, "kind");
    const char *tk = lua_tostring(L, -1);
    if (tk == NULL || strcmp(tk, kindname(ls)) != 0)
        luaL_error(L, "schedule %s: the state is of a %s schedule", kindname(ls),
                   tk ? tk : "(kindless)");
    lua_pop(L, 1);
    if (k == IL_SCHEDULE_WARMUP || k == IL_SCHEDULE_SEQUENCE) {
        il_schedule_opts o;
        il_schedule_options(ls->s, &o);
        int n = k == IL_SCHEDULE_WARMUP ? 1 : o.nmilestones + 1;
        lua_getiuservalue(L, idx, 1);
        for (int i = 1; i <= n; i++) {
            if (k == IL_SCHEDULE_WARMUP) {
                lua_getfield(L, -1, "after");
                lua_getfield(L, t, "after");
            } else {
                lua_rawgeti(L, -1, i);
                lua_rawgeti(L, t, i);
            }
            setstate(L, -2, -1);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
        return;
    }
    if (k != IL_SCHEDULE_FN) sameopts(L, ls, t);
    if (k == IL_SCHEDULE_PLATEAU) setplateau(L, ls, t);
}

/* s:set_state(t) -> s [-0, +1, e] */
static int sched_set_state(lua_State *L) {
    l_checksched(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    setstate(L, 1, 2);
    lua_settop(L, 1);
    return 1;
}

/* ---- restore ------------------------------------------------------------------------------- */

static void restore(lua_State *L, int t);

/* Pushes constructor option tables for a composite state t (parts restored). [-0, +1, e] */
static void compositeopts(lua_State *L, int t, const char *kind) {
    lua_newtable(L);
    if (strcmp(kind, "warmup") == 0) {
        lua_getfield(L, t, "steps");
        lua_setfield(L, -2, "steps");
        lua_getfield(L, t, "start");
        lua_setfield(L, -2, "start");
        lua_getfield(L, t, "after");
        restore(L, lua_gettop(L));
        lua_setfield(L, -3, "after");
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, t, "at");
    lua_setfield(L, -2, "at");
    for (lua_Integer i = 1; lua_rawgeti(L, t, i) != LUA_TNIL; i++) {
        restore(L, lua_gettop(L));
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Pushes a schedule rebuilt from the state table at t (upvalue 2: il.schedule). [-0, +1, e] */
static void restore(lua_State *L, int t) {
    luaL_checkstack(L, 8, "schedule nested too deeply");
    if (!lua_istable(L, t)) luaL_error(L, "il.schedule.restore: a state must be a table");
    lua_getfield(L, t, "kind");
    const char *kind = lua_tostring(L, -1);
    if (kind == NULL || strcmp(kind, "restore") == 0 ||
        lua_getfield(L, lua_upvalueindex(2), kind) != LUA_TFUNCTION)
        luaL_error(L, "il.schedule.restore: unknown schedule kind '%s'", kind ? kind : "?");
    if (strcmp(kind, "fn") == 0)
        luaL_error(L, "il.schedule.restore: an fn schedule's Lua function cannot be restored; "
                      "build the schedule again and call s:set_state(t)");
    if (strcmp(kind, "warmup") == 0 || strcmp(kind, "sequence") == 0) {
        compositeopts(L, t, kind);
        lua_call(L, 1, 1);
    } else {
        lua_newtable(L); /* t without kind and state */
        lua_pushnil(L);
        while (lua_next(L, t) != 0) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (strcmp(k, "kind") == 0 || strcmp(k, "state") == 0) {
                lua_pop(L, 1);
                continue;
            }
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_settable(L, -4);
        }
        lua_call(L, 1, 1);
        if (strcmp(kind, "plateau") == 0) setplateau(L, l_checksched(L, -1), t);
    }
    lua_remove(L, -2); /* the kind */
}

/* il.schedule.restore(t) [-0, +1, e] */
static int sched_restore(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    restore(L, 1);
    return 1;
}

void l_open_schedstate(lua_State *L) {
    l_setfuncs(L, (const luaL_Reg[]){
                      {"state", sched_state}, {"set_state", sched_set_state}, {NULL, NULL}});
}

void l_open_schedrestore(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, L_CTX_KEY);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, sched_restore, 2);
    lua_setfield(L, -2, "restore");
}
