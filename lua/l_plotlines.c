/*
 * l_plotlines.c: il.plot.lines, written in Lua (lua/il/plot_lines.lua, embedded at build time as
 * l_plot_lines_lua.h) for the reason il.plot.scatter is: it only writes gnuplot scripts and runs
 * gnuplot. Opened after il.plot (l_plot.c), whose table it extends; it makes the table itself
 * when il.plot is absent.
 */
#include "l_impl.h"

#include "l_plot_lines_lua.h"

void l_open_plotlines(lua_State *L) {
    int mod = lua_gettop(L);
    if (luaL_loadbufferx(L, l_plot_lines_lua, sizeof l_plot_lines_lua - 1, "=il/plot_lines.lua",
                         "t") != LUA_OK)
        lua_error(L);
    lua_pushvalue(L, mod);
    if (lua_getfield(L, mod, "plot") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_call(L, 2, 1);
    lua_setfield(L, mod, "plot");
}
