-- il/plot_lines.lua: il.plot.lines, line charts (learning rates, loss curves) as PNG or SVG
-- through gnuplot. Embedded into il.so and ilua at build time (lua/embed.cmake); run once per
-- require with the module table and the il.plot table (il/plot.lua's, with scatter) as
-- arguments; adds `lines` to the latter.
--
--   il.plot.lines{path = "out.png" | "out.svg", title =, xlabel =, ylabel =, width = 800,
--     height = 600, log = "x" | "y" | "xy", xrange = {lo, hi}, yrange = {lo, hi},
--     series = {{y =, x =, label =, color =, width = 2}, ...}}  -- x defaults to 0, 1, 2, ...
--
-- It shares il.plot.gnuplot (the gnuplot command) with scatter. The few shell helpers below
-- repeat il/plot.lua's private ones; merging them is a to-do for whoever next touches both.
local il, M = ...

local function q(s) -- single-quoted for /bin/sh
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function gq(s) -- single-quoted for gnuplot, where '' stands for one quote
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end

local function fail(fmt, ...)
  error(string.format("plot.lines: " .. fmt, ...), 0) -- no position: the message says it all
end

local function checkkeys(t, keys, what)
  for k in pairs(t) do
    if not keys[k] then fail("unknown %soption '%s'", what, tostring(k)) end
  end
end

-- The numbers of a tensor (any shape) or a table of numbers.
local function numbers(v, what)
  if il.is_tensor(v) then return v:reshape({ v:numel() }):totable() end
  if type(v) ~= "table" then fail("%s must be a tensor or a table of numbers", what) end
  for i = 1, #v do
    if type(v[i]) ~= "number" then fail("%s[%d] is not a number", what, i) end
  end
  return v
end

local function range(r, what)
  if r == nil then return nil end
  if type(r) ~= "table" or type(r[1]) ~= "number" or type(r[2]) ~= "number" or r[1] >= r[2] then
    fail("%s must be {lo, hi} with lo < hi", what)
  end
  return r
end

local function gnuplot_found()
  local g = M.gnuplot or "gnuplot"
  if g:find("/") then
    local f = io.open(g, "r")
    if f then f:close() end
    return f ~= nil
  end
  return os.execute("command -v " .. q(g) .. " >/dev/null 2>&1") == true
end

-- Runs gnuplot on the script text; raises with gnuplot's own words on failure.
local function run(script)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(script)
  f:close()
  local p = io.popen(q(M.gnuplot or "gnuplot") .. " " .. q(name) .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  os.remove(name)
  if not ok then fail("gnuplot failed: %s", out) end
end

local series_keys = { x = true, y = true, label = true, color = true, width = true }

-- Checked series: {x =, y =, label =, color =, width =}.
local function readseries(list)
  if type(list) ~= "table" or #list == 0 then fail("option 'series' must list at least one") end
  local sets = {}
  for i, s in ipairs(list) do
    if type(s) ~= "table" then fail("series %d must be a table", i) end
    checkkeys(s, series_keys, "series ")
    local y = numbers(s.y, ("series %d y"):format(i))
    local x = s.x and numbers(s.x, ("series %d x"):format(i))
    if not x then
      x = {}
      for j = 1, #y do x[j] = j - 1 end
    end
    if #x ~= #y then fail("series %d has %d x and %d y values", i, #x, #y) end
    sets[i] = { x = x, y = y, label = s.label or ("series " .. i), color = s.color,
                width = s.width or 2 }
  end
  return sets
end

-- Writes one data block per series; values a log axis cannot show become gaps.
local function writedata(f, sets, logx, logy)
  for _, s in ipairs(sets) do
    for j = 1, #s.x do
      local x, y = s.x[j], s.y[j]
      local bad = y ~= y or (logy and y <= 0) or (logx and x <= 0)
      f:write(bad and string.format("%.17g NaN\n", x) or string.format("%.17g %.17g\n", x, y))
    end
    f:write("\n\n")
  end
end

-- The gnuplot script drawing sets (whose data are in the file named data) per the options o.
local function script(o, sets, data, term)
  local log = o.log or ""
  local clauses = {}
  for i, s in ipairs(sets) do
    local color = s.color and (" lc rgb " .. gq(s.color)) or ""
    clauses[i] = string.format("%s index %d with lines lw %g%s title %s", gq(data), i - 1,
      s.width, color, gq(s.label))
  end
  local xr, yr = o.xrange, o.yrange
  return table.concat({
    string.format("set terminal %s noenhanced size %d,%d", term, o.width or 800, o.height or 600),
    "set output " .. gq(o.path),
    "set title " .. gq(o.title or ""),
    "set xlabel " .. gq(o.xlabel or "x"),
    "set ylabel " .. gq(o.ylabel or "y"),
    "set grid", "set key top right",
    log:find("x") and "set logscale x\nset format x '%g'" or "",
    log:find("y") and "set logscale y\nset format y '%g'" or "",
    xr and string.format("set xrange [%.17g:%.17g]", xr[1], xr[2]) or "",
    yr and string.format("set yrange [%.17g:%.17g]", yr[1], yr[2]) or "",
    "plot " .. table.concat(clauses, ", "),
  }, "\n") .. "\n"
end

local lines_keys = { path = true, title = true, xlabel = true, ylabel = true, width = true,
  height = true, series = true, log = true, xrange = true, yrange = true }

-- il.plot.lines{...} -> path
function M.lines(o)
  if type(o) ~= "table" then fail("expected a table of options") end
  checkkeys(o, lines_keys, "")
  if type(o.path) ~= "string" then fail("option 'path' (a .png or .svg file) is required") end
  local term = o.path:lower():match("%.svg$") and "svg" or o.path:lower():match("%.png$")
    and "pngcairo"
  if not term then fail("option 'path' must end in .png or .svg, got '%s'", o.path) end
  if o.log ~= nil and not (o.log == "x" or o.log == "y" or o.log == "xy") then
    fail("option 'log' must be \"x\", \"y\" or \"xy\"")
  end
  range(o.xrange, "xrange")
  range(o.yrange, "yrange")
  local sets = readseries(o.series)
  if not gnuplot_found() then
    fail("gnuplot not found (install it, e.g. apt-get install gnuplot-nox, or set il.plot.gnuplot)")
  end
  local data = os.tmpname()
  local f = assert(io.open(data, "w"))
  local log = o.log or ""
  local ok, err = pcall(writedata, f, sets, log:find("x"), log:find("y"))
  f:close()
  if ok then ok, err = pcall(run, script(o, sets, data, term)) end
  os.remove(data)
  if not ok then error(err, 0) end
  return o.path
end

return M
