-- il/plot.lua: il.plot, drawing PNG charts through gnuplot. Embedded into il.so and ilua at
-- build time (lua/embed.cmake); run once per require with the module table as its argument and
-- returns the il.plot table.
--
--   il.plot.scatter{path = "out.png", title =, xlabel =, ylabel =, width = 800, height = 600,
--     series = {{x =, y =, label =, color =, hollow =}, ...},  -- points; x, y: tensors/tables
--     curve = {f =, x = {lo, hi}, label =, n = 400},  -- optional; f: il.Expr or function
--     xrange = {lo, hi}, yrange = {lo, hi}}
local il = ...
local M = { gnuplot = "gnuplot" }

local function q(s) -- single-quoted for /bin/sh
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function gq(s) -- single-quoted for gnuplot, where '' stands for one quote
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end

local function checkkeys(t, keys, what)
  for k in pairs(t) do
    if not keys[k] then error(string.format("%s: unknown option '%s'", what, tostring(k)), 3) end
  end
end

-- The numbers of a tensor (any shape) or a flat table.
local function numbers(v, what)
  if il.is_tensor(v) then
    local flat = v:reshape({ v:numel() }):totable()
    return flat
  end
  if type(v) == "table" then return v end
  error(string.format("plot: %s must be a tensor or a table of numbers", what), 3)
end

local function range(r, what)
  if r == nil then return nil end
  if type(r) ~= "table" or type(r[1]) ~= "number" or type(r[2]) ~= "number" or r[1] >= r[2] then
    error(string.format("plot: %s must be {lo, hi} with lo < hi", what), 3)
  end
  return r
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- The y range of the points, widened by a tenth (nil without points).
local function pointsrange(sets)
  local lo, hi
  for _, s in ipairs(sets) do
    for _, y in ipairs(s.y) do
      if finite(y) then
        lo, hi = math.min(lo or y, y), math.max(hi or y, y)
      end
    end
  end
  if not lo then return nil end
  local pad = hi > lo and (hi - lo) / 10 or 1
  return { lo - pad, hi + pad }
end

local series_keys = { x = true, y = true, label = true, color = true, hollow = true }
local curve_keys = { f = true, x = true, label = true, n = true, color = true }

-- Writes the data blocks (one per series, then the curve) and returns the plot clauses.
local function writedata(f, data, sets, curve, yr)
  local clauses = {}
  for i, s in ipairs(sets) do
    for j = 1, #s.x do f:write(string.format("%.17g %.17g\n", s.x[j], s.y[j])) end
    f:write("\n\n")
    local color = s.color and (" lc rgb " .. gq(s.color)) or ""
    clauses[#clauses + 1] = string.format("%s index %d with points pt %d ps 1.5%s title %s",
      gq(data), i - 1, s.hollow and 6 or 7, color, gq(s.label or ("series " .. i)))
  end
  if curve then
    local lo, hi, n = curve.x[1], curve.x[2], curve.n or 400
    local span = yr and (yr[2] - yr[1]) or math.huge
    for k = 0, n - 1 do
      local x = lo + (hi - lo) * k / (n - 1)
      local y = curve.f(x)
      -- Undefined points and poles far outside the view become gaps, not vertical lines.
      local ok = type(y) == "number" and finite(y) and (not yr or math.abs(y) < 1e3 * span + math.abs(yr[1]))
      f:write(ok and string.format("%.17g %.17g\n", x, y) or string.format("%.17g NaN\n", x))
    end
    local color = curve.color and (" lc rgb " .. gq(curve.color)) or ""
    clauses[#clauses + 1] = string.format("%s index %d with lines lw 2%s title %s", gq(data),
      #sets, color, gq(curve.label or "f(x)"))
  end
  return clauses
end

local function checkcurve(c)
  if c == nil then return nil end
  if type(c) ~= "table" then error("plot: curve must be a table", 3) end
  checkkeys(c, curve_keys, "plot curve")
  local ok = type(c.f) == "function" or (getmetatable(c.f) or {}).__call ~= nil
  if not ok then error("plot: curve.f must be a function or an il.Expr", 3) end
  return { f = c.f, x = range(c.x, "curve.x") or { -10, 10 }, label = c.label, n = c.n, color = c.color }
end

local function gnuplot_found()
  if M.gnuplot:find("/") then return io.open(M.gnuplot, "r") ~= nil end
  return os.execute("command -v " .. q(M.gnuplot) .. " >/dev/null 2>&1") == true
end

-- Runs gnuplot on the script text; raises with gnuplot's own words on failure.
local function run(script)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(script)
  f:close()
  local p = io.popen(q(M.gnuplot) .. " " .. q(name) .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  os.remove(name)
  if not ok then error("plot: gnuplot failed: " .. out, 3) end
end

local scatter_keys = { path = true, title = true, xlabel = true, ylabel = true, width = true,
  height = true, series = true, curve = true, xrange = true, yrange = true }

function M.scatter(o)
  if type(o) ~= "table" then error("plot.scatter: expected a table of options", 2) end
  checkkeys(o, scatter_keys, "plot.scatter")
  if type(o.path) ~= "string" then error("plot.scatter: option 'path' (a .png file) is required", 2) end
  local sets = {}
  for i, s in ipairs(o.series or {}) do
    checkkeys(s, series_keys, "plot series")
    local x, y = numbers(s.x, "series x"), numbers(s.y, "series y")
    if #x ~= #y then error(string.format("plot: series %d has %d x and %d y values", i, #x, #y), 2) end
    sets[i] = { x = x, y = y, label = s.label, color = s.color, hollow = s.hollow }
  end
  local curve = checkcurve(o.curve)
  if #sets == 0 and not curve then error("plot.scatter: nothing to plot (no series, no curve)", 2) end
  local xr, yr = range(o.xrange, "xrange"), range(o.yrange, "yrange") or (curve and pointsrange(sets))
  if not gnuplot_found() then error("gnuplot not found", 2) end
  local data = os.tmpname()
  local f = assert(io.open(data, "w"))
  local ok, clauses = pcall(writedata, f, data, sets, curve, yr)
  f:close()
  if not ok then
    os.remove(data)
    error(clauses, 2)
  end
  local lines = {
    -- noenhanced: titles show ^ and _ as typed (expressions are full of them).
    string.format("set terminal pngcairo noenhanced size %d,%d", o.width or 800, o.height or 600),
    "set output " .. gq(o.path),
    "set title " .. gq(o.title or ""),
    "set xlabel " .. gq(o.xlabel or "x"),
    "set ylabel " .. gq(o.ylabel or "y"),
    "set grid", "set key below",
    xr and string.format("set xrange [%.17g:%.17g]", xr[1], xr[2]) or "",
    yr and string.format("set yrange [%.17g:%.17g]", yr[1], yr[2]) or "",
    "plot " .. table.concat(clauses, ", "),
  }
  local rok, err = pcall(run, table.concat(lines, "\n") .. "\n")
  os.remove(data)
  if not rok then error(err, 2) end
  return o.path
end

return M
