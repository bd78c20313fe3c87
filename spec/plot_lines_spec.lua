-- il.plot.lines: PNG and SVG through gnuplot (skipped when gnuplot is not installed), the
-- options' errors, and a clear error when gnuplot is missing.
local il = require "il"

local has_gnuplot = os.execute("command -v gnuplot >/dev/null 2>&1")
local with_gnuplot = has_gnuplot and it or pending

local function err(pattern, o)
  local ok, msg = pcall(il.plot.lines, o)
  assert.is_false(ok)
  assert.truthy(tostring(msg):find(pattern, 1, true), "message was: " .. tostring(msg))
end

local function slurp(name)
  local f = assert(io.open(name, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(name)
  return s
end

describe("il.plot.lines", function()
  with_gnuplot("writes a PNG with a log scale, tensors and tables alike", function()
    local name = os.tmpname() .. ".png"
    local rates = {}
    local s = il.schedule.cosine { lr = 0.1, steps = 50 }
    for i = 0, 60 do rates[#rates + 1] = s:lr(i) end -- zeros past the end: gaps on a log axis
    assert.equal(name, il.plot.lines { path = name, title = "it's a title", xlabel = "step",
      ylabel = "lr", log = "y", series = { { y = rates, label = "cosine" },
      { x = il.arange(0, 61), y = il.full({ 61 }, 0.05), label = "flat", color = "#ff0000" } } })
    assert.equal("\137PNG", slurp(name):sub(1, 4))
  end)

  with_gnuplot("writes an SVG", function()
    local name = os.tmpname() .. ".svg"
    il.plot.lines { path = name, series = { { y = { 3, 1, 2 } } } }
    assert.truthy(slurp(name):find("<svg", 1, true))
  end)

  with_gnuplot("reports gnuplot's own failure", function()
    err("plot.lines: gnuplot failed", { path = "/nonexistent/dir/x.png", series = { { y = { 1, 2 } } } })
  end)

  it("checks its options", function()
    err("plot.lines: option 'path' (a .png or .svg file) is required", { series = {} })
    err("plot.lines: option 'path' must end in .png or .svg, got 'a.gif'", { path = "a.gif" })
    err("plot.lines: unknown option 'titel'", { path = "a.png", titel = "x" })
    err("plot.lines: option 'series' must list at least one", { path = "a.png", series = {} })
    err("plot.lines: series 1 has 2 x and 3 y values",
      { path = "a.png", series = { { x = { 1, 2 }, y = { 1, 2, 3 } } } })
    err("plot.lines: series 1 y[2] is not a number", { path = "a.png", series = { { y = { 1, "a" } } } })
    err("plot.lines: unknown series option 'colour'",
      { path = "a.png", series = { { y = { 1 }, colour = "red" } } })
    err("plot.lines: option 'log' must be", { path = "a.png", log = "z", series = { { y = { 1 } } } })
    err("plot.lines: xrange must be {lo, hi} with lo < hi",
      { path = "a.png", xrange = { 2, 1 }, series = { { y = { 1 } } } })
  end)

  it("says so when gnuplot is missing", function()
    local saved = il.plot.gnuplot
    il.plot.gnuplot = "/nonexistent/gnuplot"
    local ok, msg = pcall(il.plot.lines, { path = "a.png", series = { { y = { 1 } } } })
    il.plot.gnuplot = saved
    assert.is_false(ok)
    assert.truthy(msg:find("plot.lines: gnuplot not found", 1, true))
  end)
end)

describe("examples/lr_schedules.lua", function()
  local U = require "spec_util"
  with_gnuplot("prints the table and writes the two charts, quickly", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. U.q(dir)))
    local example = (os.getenv("IL_SPEC_DIR") or "spec") .. "/../examples/lr_schedules.lua"
    local t0 = os.time()
    local out, code = U.run(U.q(U.ilua) .. " " .. U.q(example) .. " " .. U.q(dir))
    assert.equal(0, code, out)
    -- The issue's 20 s is for a plain build; sanitizers make everything several times slower.
    if (os.getenv("IL_ASAN_PRELOAD") or "") == "" then assert.is_true(os.time() - t0 < 20) end
    for _, name in ipairs { "constant", "cosine", "warmup+cosine", "onecycle", "wsd", "plateau" } do
      assert.truthy(out:find("\n" .. name:gsub("%p", "%%%0") .. " +%d%.%d+e[-+]%d+ +[%d-]+\n"), out)
    end
    for _, png in ipairs { "lr_schedules_rates.png", "lr_schedules_loss.png" } do
      assert.equal("\137PNG", slurp(dir .. "/" .. png):sub(1, 4))
    end
    os.remove(dir)
  end)
end)
