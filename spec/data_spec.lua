-- il.data: the seed's JSON datasets, CSV files, the image CSV, grids, pixels, batches and splits.
local il = require "il"
local util = require "spec_util"

local DATA = (os.getenv("IL_SPEC_DIR") or "spec") .. "/../examples/data/"

describe("il.data.load_json", function()
  it("loads the seed's three files with the right shapes and values", function()
    local x, y, xt, yt = il.data.load_json(DATA .. "neural_net.json")
    assert.same({ 4, 2 }, x.shape)
    assert.same({ 4, 1 }, y.shape)
    assert.same({ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }, x:totable())
    assert.same({ { 0 }, { 1 }, { 1 }, { 0 } }, yt:totable())
    x, y, xt, yt = il.data.load_json(DATA .. "neural_net_2.json")
    assert.same({ 25, 2 }, x.shape)
    assert.same({ 25, 1 }, y.shape)
    assert.same({ 6, 2 }, xt.shape)
    assert.same({ { 3, 6 }, { 2, 2 }, { 11, 8 }, { 11, 11 }, { -4, -6 }, { -10, 5 } }, xt:totable())
    assert.same({ { 0 }, { 1 }, { 1 }, { 0 }, { 0 }, { 0 } }, yt:totable())
    assert.is_true(util.near(x:totable()[1], { 3.0, 0.5 }))
    x, y, xt, yt = il.data.load_json(DATA .. "logistic_2.json", { dtype = "f64" })
    assert.same({ 90, 2 }, x.shape)
    assert.same({ 10, 1 }, yt.shape)
    assert.equal("f64", x.dtype)
  end)

  it("names the file and field of malformed input", function()
    local bad = util.tmpfile('{"m": 4, "n": 2, "x": [1,2,3,4,5,6,7], "y": [1,2,3,4]}', ".json")
    local name = bad:match("[^/]*$")
    assert.has_error(function() il.data.load_json(bad) end,
      name .. ": field 'x' has 7 numbers, expected m*n = 8")
    os.remove(bad)
    bad = util.tmpfile('{"n": 2}', ".json")
    assert.truthy(util.errmsg(function() il.data.load_json(bad) end):find("missing field 'm'", 1, true))
    os.remove(bad)
    bad = util.tmpfile('{"m": 1, "n": 1, "x": ["a"], "y": [1]}', ".json")
    assert.truthy(util.errmsg(function() il.data.load_json(bad) end)
      :find("field 'x': element 1 is a string, expected a number", 1, true))
    os.remove(bad)
    assert.truthy(util.errmsg(function() il.data.load_json(DATA .. "nope.json") end):find("cannot open"))
  end)

  it("picks a named dataset from the older nested form", function()
    local f = util.tmpfile('{"a": {"m": 1, "n": 1, "x": [5], "y": [1]}, "b": {"m": 2, "n": 1, '
      .. '"x": [1, 2], "y": [0, 1]}}', ".json")
    local x = il.data.load_json(f, "b")
    assert.same({ { 1 }, { 2 } }, x:totable())
    assert.truthy(util.errmsg(function() il.data.load_json(f) end):find("several datasets (a, b)", 1, true))
    assert.truthy(util.errmsg(function() il.data.load_json(f, "c") end):find("no dataset 'c'", 1, true))
    os.remove(f)
  end)
end)

describe("il.data.load_csv", function()
  it("reads numbers with or without a header", function()
    local f = util.tmpfile("x,y,pixel_value\n0,0,1\n1,0,0\n0,1,0\n1,1,1\n", ".csv")
    local t, names = il.data.load_csv(f)
    assert.same({ "x", "y", "pixel_value" }, names)
    assert.same({ 4, 3 }, t.shape)
    local img = il.data.image_from_csv(f)
    assert.same({ { 1, 0 }, { 0, 1 } }, img:totable())
    assert.same(img:totable(), il.data.image_from_csv(t):totable())
    os.remove(f)
    f = util.tmpfile("1;2\n3;4\n", ".csv")
    t, names = il.data.load_csv(f, { delimiter = ";", header = false, dtype = "f64" })
    assert.is_nil(names)
    assert.same({ { 1, 2 }, { 3, 4 } }, t:totable())
    os.remove(f)
  end)

  it("reports ragged rows and bad numbers with file and line", function()
    local f = util.tmpfile("a,b,c\n1,2,3\n4,5\n", ".csv")
    local name = f:match("[^/]*$")
    assert.has_error(function() il.data.load_csv(f) end, name .. ":3: row has 2 columns, expected 3")
    os.remove(f)
    f = util.tmpfile("1,2\n3,x\n", ".csv")
    assert.has_error(function() il.data.load_csv(f) end,
      f:match("[^/]*$") .. ":2: column 2 ('x') is not a number")
    os.remove(f)
    assert.has_error(function() il.data.load_csv("x.csv", { headr = true }) end, "unknown option 'headr'")
  end)
end)

describe("grids, pixels, batches and splits", function()
  it("grid is row-major (x, y) in [-1, 1]", function()
    assert.same({ { -1, -1 }, { 0, -1 }, { 1, -1 }, { -1, 1 }, { 0, 1 }, { 1, 1 } },
      il.data.grid(3, 2):totable())
    assert.has_error(function() il.data.grid(0, 2) end)
  end)

  it("pixels gives coordinates and values", function()
    local c, v = il.data.pixels(il.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }))
    assert.same({ 6, 2 }, c.shape)
    assert.same({ { 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 6 } }, v:totable())
  end)

  it("batches cover every row once, keeping the last partial batch", function()
    local x, y = il.arange(0, 10):reshape({ 10, 1 }), il.arange(0, 10):reshape({ 10, 1 }) * 2
    local sizes, seen = {}, {}
    for bx, by in il.data.batches(x, y, { size = 4, shuffle = true, seed = 1 }) do
      sizes[#sizes + 1] = #bx
      local a, b = bx:totable(), by:totable()
      for i = 1, #a do
        assert.equal(a[i][1] * 2, b[i][1]) -- rows stay paired
        seen[a[i][1]] = (seen[a[i][1]] or 0) + 1
      end
    end
    assert.same({ 4, 4, 2 }, sizes)
    for i = 0, 9 do assert.equal(1, seen[i]) end
    sizes = {}
    for bx in il.data.batches(x, nil, { size = 4, drop_last = true }) do sizes[#sizes + 1] = #bx end
    assert.same({ 4, 4 }, sizes)
    local order = {}
    for bx in il.data.batches(x, nil, { size = 3 }) do order[#order + 1] = bx:totable()[1][1] end
    assert.same({ 0, 3, 6, 9 }, order)
    assert.has_error(function() il.data.batches(x, y, { size = 0 }) end,
      "option 'size' must be an integer >= 1")
  end)

  it("split keeps rows paired and is repeatable with a seed", function()
    local x, y = il.arange(0, 10):reshape({ 10, 1 }), il.arange(0, 10):reshape({ 10, 1 })
    local a, b, c, d = il.data.split(x, y, { test = 0.3, seed = 4 })
    assert.same({ 7, 1 }, a.shape)
    assert.same({ 3, 1 }, c.shape)
    assert.same(c:totable(), d:totable())
    local _, _, c2 = il.data.split(x, y, { test = 3, seed = 4 })
    assert.same(c:totable(), c2:totable())
    local _, _, c3 = il.data.split(x, y, { test = 2, shuffle = false })
    assert.same({ { 8 }, { 9 } }, c3:totable())
  end)

  it("seeded draws leave il.seed's stream alone", function()
    il.seed(5)
    local r1 = il.rand({ 3 }):totable()
    il.seed(5)
    il.data.split(il.zeros({ 4, 1 }), il.zeros({ 4, 1 }), { seed = 9 })
    assert.same(r1, il.rand({ 3 }):totable())
  end)
end)
