-- il.expr: parsing and printing, evaluation on numbers and tensors, dice rolls and sampling.
local il = require "il"

local SEED_EXPR = "((x^(2)+x^(3)+x^(4)+x^(6))/(x^(5)))"

local function same(a, b)
  return a == b or (a ~= a and b ~= b)
end

describe("il.expr.parse", function()
  it("evaluates numbers and prints with minimal parentheses", function()
    local f = il.expr.parse(SEED_EXPR)
    assert.equal("(x^2 + x^3 + x^4 + x^6)/x^5", tostring(f))
    assert.equal(tostring(f), f.src)
    assert.equal(92 / 32, f(2))
    assert.equal(-9, il.expr.parse("-x^2")(3))
    assert.equal(0.5, il.expr.parse("2^-1")(0))
    assert.equal(256, il.expr.parse("x^2^3")(2))
    assert.equal("x - (x - 1)", tostring(il.expr.parse("x-(x-1)")))
  end)

  it("gives the column and what was expected", function()
    assert.has_error(function() il.expr.parse("x^^2") end,
      "x^^2: expected a number, x, ( or function at column 3")
    assert.has_error(function() il.expr.parse("(x") end, "(x: expected ) at column 3")
    assert.has_error(function() il.expr.parse("sin x") end, "sin x: expected ( after sin at column 5")
  end)

  it("evaluates a tensor like it evaluates each point", function()
    local f = il.expr.parse("sin(x)*x^2 - exp(-x)/3 + tan(x/4)")
    local xs = il.linspace(-3, 3, 25, { dtype = "f64" })
    local ys = f(xs):totable()
    for i, x in ipairs(xs:totable()) do
      assert.is_true(math.abs(ys[i] - f(x)) <= 1e-12 * (1 + math.abs(f(x))))
    end
    assert.same({ 2, 3 }, f(il.zeros({ 2, 3 })).shape)
    assert.same({ { 5, 5 } }, il.expr.parse("2 + 3")(il.zeros({ 1, 2 })):totable())
  end)

  it("round-trips the seed's expression and 1,000 rolled ones", function()
    local exprs = { il.expr.parse(SEED_EXPR) }
    for seed = 1, 1000 do exprs[#exprs + 1] = (il.expr.roll { draws = 15, seed = seed }) end
    for _, f in ipairs(exprs) do
      local g = il.expr.parse(tostring(f))
      assert.equal(tostring(f), tostring(g))
      for k = 1, 10 do
        local x = -5 + k * 0.937
        if not same(f(x), g(x)) then error(tostring(f) .. " differs at " .. x) end
      end
    end
  end)
end)

describe("il.expr.roll", function()
  it("same seed, same chits and function; every chit once per 15 draws", function()
    local f1, c1 = il.expr.roll { draws = 15, seed = 3 }
    local f2, c2 = il.expr.roll { draws = 15, seed = 3 }
    assert.same(c1, c2)
    assert.equal(tostring(f1), tostring(f2))
    local seen = {}
    for _, c in ipairs(c1) do seen[c] = (seen[c] or 0) + 1 end
    for k = 1, 10 do assert.equal(1, seen[k]) end
    for _, op in ipairs({ "+", "-", "*", "/", "^" }) do assert.equal(1, seen[op]) end
    assert.has_error(function() il.expr.roll { draws = 0 } end, "option 'draws' must be an integer >= 1")
  end)
end)

describe("il.expr.sample", function()
  it("labels points by the rule and redraws undefined ones", function()
    local f = il.expr.parse(SEED_EXPR)
    local x, y, xt, yt = il.expr.sample(f, { n = 25, test = 6, x = { -12, 12 }, y = { -12, 12 }, seed = 1 })
    assert.same({ 25, 2 }, x.shape)
    assert.same({ 25, 1 }, y.shape)
    assert.same({ 6, 2 }, xt.shape)
    assert.same({ 6, 1 }, yt.shape)
    local pts, labels = x:totable(), y:totable()
    for i = 1, 25 do
      local fx, py = f(pts[i][1]), pts[i][2]
      local between = (fx >= 0 and py >= 0 and py <= fx) or (fx < 0 and py <= 0 and py >= fx)
      assert.equal(between and 1 or 0, labels[i][1])
    end
    local a = il.expr.sample("x", { n = 10, test = 0, seed = 2, rule = function(px, py) return py > px end })
    for _, p in ipairs(a:totable()) do assert.is_true(p[1] == p[1]) end
    local _, bal = il.expr.sample(f, { n = 10, test = 2, seed = 3, balance = true, rule = "above" })
    assert.equal(5, bal:sum():item())
    assert.has_error(function() il.expr.sample("log(-1-x^2)", { seed = 1 }) end)
    assert.has_error(function() il.expr.sample("x", { rule = "left" }) end,
      "option 'rule' must be \"between\", \"above\", \"below\" or a function")
    local ok, msg = pcall(il.expr.sample, "x", { rule = function() error("no way") end })
    assert.is_false(ok)
    assert.truthy(msg:find("no way", 1, true))
  end)
end)

describe("examples/function_approx.lua", function()
  local U = require "spec_util"
  local example = (os.getenv("IL_SPEC_DIR") or "spec") .. "/../examples/function_approx.lua"
  local data = (os.getenv("IL_SPEC_DIR") or "spec") .. "/../examples/data/neural_net_2.json"
  local sanitized = (os.getenv("IL_ASAN_PRELOAD") or "") ~= ""

  local function run(args)
    local t0 = os.clock()
    local out, code = U.run(U.q(U.ilua) .. " " .. U.q(example) .. " --no-plot " .. args)
    assert.equal(0, code, out)
    local right, total = out:match("test accuracy: (%d+)/(%d+)")
    assert.truthy(right, out)
    return tonumber(right), tonumber(total), out, os.clock() - t0
  end

  it("classifies the seed's test points with at most one error, in under 2 s", function()
    local t0 = os.time()
    local right, total, out = run("--data " .. U.q(data))
    assert.equal(6, total)
    assert.is_true(right >= 5, out)
    assert.truthy(out:find("iron-learn " .. il.version .. " | mode: CPU", 1, true))
    assert.truthy(out:find("Predicted: %d%.%d+, Actual: %d%.%d+, [✓✗]"))
    if not sanitized then assert.is_true(os.time() - t0 <= 2) end
  end)

  it("classifies freshly sampled points around a rolled and a given function", function()
    local right, total = run("--seed 1")
    assert.equal(6, total)
    assert.equal(6, right)
    right = run("--seed 2 --expr " .. U.q("x^2/4 - 3"))
    assert.is_true(right >= 5)
  end)
end)
