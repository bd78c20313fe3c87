#!/usr/bin/env bash
# Builds the LuaRocks package (ironlearn-0.1.0-1.rockspec) into a temporary rock tree with
# Debian's luarocks and checks that stock lua5.4 loads the installed il module.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree" build.luarocks' EXIT
# luarocks drives `cmake --build` itself; this lets that build use every core.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
luarocks --lua-version 5.4 --tree "$tree" make ironlearn-0.1.0-1.rockspec >"$tree/log" 2>&1 ||
    { cat "$tree/log"; exit 1; }
eval "$(luarocks --lua-version 5.4 --tree "$tree" path)"
lua5.4 -e 'local il = require "il"; assert(il.version);
  local x = il.tensor{1, 2, 3}; assert(x:sum():item() == 6)
  print("rock_check: lua5.4 loads il " .. il.version .. " from the rock tree")'
