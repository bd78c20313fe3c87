-- LuaRocks package of the il module: `luarocks make` (from a source checkout) builds il.so with
-- the project's CMake build against the rock tree's Lua 5.4 and installs it into LIBDIR.
-- The rock is CPU-only: the CUDA backend takes minutes to compile; build it with CMake
-- (-DIL_CUDA=ON) and install il.so from there instead. System packages needed (Debian):
-- cmake pkg-config liblua5.4-dev libcjson-dev libstb-dev.
rockspec_format = "3.0"
package = "ironlearn"
version = "0.1.0-1"
source = {
  url = "git+file://.", -- no public repository yet: build from a checkout with `luarocks make`
}
description = {
  summary = "Neural network training in C11 with a Lua 5.4 front end (require \"il\")",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    IL_LUA_CMOD_DIR = "$(LIBDIR)",
    IL_CUDA = "OFF",
    IL_BUILD_TESTS = "OFF",
    IL_BUILD_EXAMPLES = "OFF",
    IL_INSTALL_LUA_MODULE_ONLY = "ON",
  },
}
