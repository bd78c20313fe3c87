-- Shared helpers for the busted specs: locating the binaries, running shell commands, and
-- comparing numbers and nested tables with a tolerance.
local M = {}

M.ilua = os.getenv("IL_ILUA") or "ilua"
M.lua = os.getenv("IL_LUA54") or "lua5.4"
M.luadir = os.getenv("IL_LUA_DIR") or "."

-- Quotes s for /bin/sh.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command (stdout and stderr merged unless the command redirects them) and returns
-- its output and exit status.
function M.run(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1; echo \"@exit:$?\""))
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.*)@exit:(%d+)\n?$")
  return body, tonumber(code)
end

-- Writes text to a new temporary file and returns its name.
function M.tmpfile(text, suffix)
  local name = os.tmpname() .. (suffix or ".lua")
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
  return name
end

-- Environment for a stock lua5.4 that must load the built il.so: LUA_CPATH (plus the system
-- modules) and, in a sanitizer build, the ASan runtime that must come first.
function M.cpath_env()
  local env = "LUA_CPATH=" .. M.q(M.luadir .. "/?.so;;")
  local asan = os.getenv("IL_ASAN_PRELOAD")
  if asan and asan ~= "" then
    env = env .. " LD_PRELOAD=" .. M.q(asan) .. " ASAN_OPTIONS=detect_leaks=0"
  end
  return env
end

local function near(a, b, tol)
  if type(a) == "table" and type(b) == "table" then
    if #a ~= #b then return false end
    for i = 1, #a do
      if not near(a[i], b[i], tol) then return false end
    end
    return true
  end
  if type(a) ~= "number" or type(b) ~= "number" then return false end
  if a ~= a and b ~= b then return true end -- both NaN
  if a == b then return true end
  return math.abs(a - b) <= tol * (1 + math.abs(b))
end

-- True when nested tables (or numbers) a and b agree to within tol (relative and absolute).
function M.near(a, b, tol)
  return near(a, b, tol or 1e-5)
end

-- Calls f(...), asserting that it raises an error; returns the message as a string.
function M.errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(msg)
end

-- Asserts that f(...) raises an error whose message contains the plain text s (no pattern).
function M.err(s, f, ...)
  local ok, msg = pcall(f, ...)
  assert(not ok, "expected an error")
  assert(tostring(msg):find(s, 1, true), "message was: " .. tostring(msg))
end

-- Applies f to every number of a nested table.
function M.map(t, f)
  if type(t) ~= "table" then return f(t) end
  local r = {}
  for i = 1, #t do r[i] = M.map(t[i], f) end
  return r
end

-- Builds a nested table of the given shape with f(i1, i2, ...) (1-based indices).
function M.build(shape, f, idx)
  idx = idx or {}
  local d = #idx + 1
  local r = {}
  for i = 1, shape[d] do
    idx[d] = i
    if d == #shape then r[i] = f(table.unpack(idx)) else r[i] = M.build(shape, f, idx) end
  end
  idx[d] = nil
  return r
end

return M
