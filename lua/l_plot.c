/*
 * l_plot.c: il.plot, written in Lua (lua/il/plot.lua, embedded at build time as l_plot_lua.h)
 * because it only builds gnuplot scripts and runs gnuplot. luaopen_il runs the chunk with the
 * module table as its argument and stores what it returns as il.plot.
 */
#include "l_impl.h"

#include "l_plot_lua.h"

void l_open_plot(lua_State *L) {
    if (luaL_loadbufferx(L, l_plot_lua, sizeof l_plot_lua - 1, "=il/plot.lua", "t") != LUA_OK)
        lua_error(L);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    lua_setfield(L, -2, "plot");
}
