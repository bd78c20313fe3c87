-- Arithmetic, broadcasting, maps, reductions, matmul and views, checked against plain Lua.
local il = require "il"
local U = require "spec_util"

local function check(expected, t, tol)
  local got = t:totable()
  assert(U.near(got, expected, tol or 1e-5),
    "expected " .. require("pl.pretty").write(expected, "") ..
    ", got " .. require("pl.pretty").write(got, ""))
end

local av, bv = { 1, 2, 3, 4 }, { 0.5, -1, 2, 8 }
local function zip(f)
  local r = {}
  for i = 1, #av do r[i] = f(av[i], bv[i]) end
  return r
end
local function each(v, f) return U.map(v, f) end

describe("arithmetic", function()
  local a, b = il.tensor(av, { dtype = "f64" }), il.tensor(bv, { dtype = "f64" })

  it("works elementwise between tensors", function()
    check(zip(function(x, y) return x + y end), a + b)
    check(zip(function(x, y) return x - y end), a - b)
    check(zip(function(x, y) return x * y end), a * b)
    check(zip(function(x, y) return x / y end), a / b)
    check(zip(function(x, y) return x ^ y end), a ^ b)
    check(each(av, function(x) return -x end), -a)
  end)

  it("takes numbers on either side", function()
    check(each(av, function(x) return x + 1 end), a + 1)
    check(each(av, function(x) return 1 + x end), 1 + a)
    check(each(av, function(x) return 10 - x end), 10 - a)
    check(each(av, function(x) return x - 10 end), a - 10)
    check(each(av, function(x) return 3 * x end), 3 * a)
    check(each(av, function(x) return 2 / x end), 2 / a)
    check(each(av, function(x) return x / 2 end), a / 2)
    check(each(av, function(x) return x ^ 2 end), a ^ 2)
    check(each(av, function(x) return 2 ^ x end), 2 ^ a)
  end)

  it("maximum and minimum take tensors and numbers", function()
    check(zip(math.max), a:maximum(b))
    check(zip(math.min), a:minimum(b))
    check(each(av, function(x) return math.max(x, 2.5) end), a:maximum(2.5))
    check(each(av, function(x) return math.min(x, 2.5) end), a:minimum(2.5))
  end)

  it("f32 arithmetic agrees to single precision", function()
    local x = il.tensor({ 0.1, 0.2, 0.3 })
    check({ 0.3, 0.6, 0.9 }, x * 3, 1e-6)
    assert.equal("f32", (x * 3).dtype)
  end)

  it("promotes mixed dtypes", function()
    assert.equal("f64", (il.ones(2) + il.ones(2, { dtype = "f64" })).dtype)
    assert.equal("f32", (il.ones(2) + il.ones(2, { dtype = "i64" })).dtype)
    assert.same({ 3, 4 }, (il.tensor({ 1, 2 }, { dtype = "i64" }) + 2):totable())
  end)
end)

describe("broadcasting", function()
  it("(3,1) + (1,4) gives (3,4)", function()
    local c = il.tensor({ { 10 }, { 20 }, { 30 } }) + il.tensor({ { 1, 2, 3, 4 } })
    assert.same({ 3, 4 }, c.shape)
    check(U.build({ 3, 4 }, function(i, j) return 10 * i + j end), c)
  end)

  it("(2,3,4) * (4) scales the last axis", function()
    local x = U.build({ 2, 3, 4 }, function(i, j, k) return i + j + k end)
    local s = { 1, 10, 100, 1000 }
    local r = il.tensor(x) * il.tensor(s)
    assert.same({ 2, 3, 4 }, r.shape)
    check(U.build({ 2, 3, 4 }, function(i, j, k) return (i + j + k) * s[k] end), r)
  end)

  it("a 0-d tensor broadcasts against anything", function()
    check({ { 3, 4 } }, il.tensor({ { 1, 2 } }) + il.tensor(2))
  end)
end)

describe("elementwise maps", function()
  local v = { 0.25, 0.5, 1, 2 }
  local x = il.tensor(v, { dtype = "f64" })
  local maps = {
    exp = math.exp, log = math.log, sin = math.sin, cos = math.cos, abs = math.abs,
    sqrt = math.sqrt,
    tanh = function(y) return (math.exp(y) - math.exp(-y)) / (math.exp(y) + math.exp(-y)) end,
    sigmoid = function(y) return 1 / (1 + math.exp(-y)) end,
  }
  for name, f in pairs(maps) do
    it(name, function() check(each(v, f), x[name](x), 1e-12) end)
  end

  it("relu and abs handle negatives", function()
    local n = il.tensor({ -2, -0.5, 0, 3 })
    check({ 0, 0, 0, 3 }, n:relu())
    check({ 2, 0.5, 0, 3 }, n:abs())
  end)

  it("clamp bounds both sides, or one when the other is nil", function()
    local n = il.tensor({ -2, -0.5, 0, 3 })
    check({ -1, -0.5, 0, 1 }, n:clamp(-1, 1))
    check({ 0, 0, 0, 3 }, n:clamp(0))
    check({ -2, -0.5, 0, 0 }, n:clamp(nil, 0))
  end)
end)

describe("reductions", function()
  local m = { { 1, 5, 3 }, { 4, 2, 6 } }
  local t = il.tensor(m, { dtype = "f64" })

  it("over all elements give 0-d tensors", function()
    local s = t:sum()
    assert.same({}, s.shape)
    assert.equal(21, s:item())
    assert.equal(3.5, t:mean():item())
    assert.equal(6, t:max():item())
    assert.equal(1, t:min():item())
  end)

  it("over an axis, counted from 1 or from the end", function()
    check({ 5, 7, 9 }, t:sum(1))
    check({ 9, 12 }, t:sum(2))
    check({ 9, 12 }, t:sum(-1))
    check({ 2.5, 3.5, 4.5 }, t:mean(1))
    check({ 4, 5, 6 }, t:max(1))
    check({ 1, 2 }, t:min(2))
  end)

  it("keepdim keeps the reduced axis as size 1", function()
    assert.same({ 2, 1 }, t:sum(2, true).shape)
    assert.same({ 1, 3 }, t:max(1, true).shape)
    check({ { 9 }, { 12 } }, t:sum(2, true))
    assert.same({ 1, 1 }, t:sum(nil, true).shape)
  end)

  it("argmax gives 1-based indices", function()
    local am = t:argmax(2)
    assert.equal("i64", am.dtype)
    assert.same({ 2, 3 }, am:totable())
    assert.same({ 2, 1, 2 }, t:argmax(1):totable())
    assert.same({ { 2 }, { 3 } }, t:argmax(2, true):totable())
    local flat = t:argmax()
    assert.same({}, flat.shape)
    assert.equal(6, flat:item()) -- element 6 (value 6) in row-major order
    assert.equal(1, il.tensor({ 9, 9, 1 }):argmax():item()) -- the first maximum wins
  end)
end)

describe("matmul", function()
  it("multiplies matrices", function()
    local a = il.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    local b = il.tensor({ { 7, 8 }, { 9, 10 }, { 11, 12 } })
    local c = a:matmul(b)
    assert.same({ 2, 2 }, c.shape)
    check({ { 58, 64 }, { 139, 154 } }, c)
  end)

  it("multiplies a matrix and a vector, and transposes", function()
    local a = il.tensor({ { 1, 2 }, { 3, 4 } })
    check({ 5, 11 }, a:matmul(il.tensor({ 1, 2 })))
    check({ { 5, 11 }, { 11, 25 } }, a:matmul(a:t()))
  end)

  it("agrees with a plain Lua product on random matrices", function()
    il.seed(3)
    local a, b = il.randn({ 17, 9 }, { dtype = "f64" }), il.randn({ 9, 13 }, { dtype = "f64" })
    local A, B = a:totable(), b:totable()
    local C = U.build({ 17, 13 }, function(i, j)
      local s = 0
      for k = 1, 9 do s = s + A[i][k] * B[k][j] end
      return s
    end)
    check(C, a:matmul(b), 1e-10)
  end)
end)

describe("views", function()
  local function grow() return il.memory().bytes_in_use end

  it("reshape takes a table or sizes, with one -1", function()
    local t = il.arange(0, 6)
    check({ { 0, 1, 2 }, { 3, 4, 5 } }, t:reshape({ 2, 3 }))
    check({ { 0, 1 }, { 2, 3 }, { 4, 5 } }, t:reshape(3, 2))
    assert.same({ 2, 3 }, t:reshape(-1, 3).shape)
  end)

  it("transpose, t, narrow and expand give the right values", function()
    local m = il.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    check({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, m:t())
    check({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, m:transpose(1, 2))
    check({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, m:transpose(-1, -2))
    check({ { 2, 3 }, { 5, 6 } }, m:narrow(2, 2, 2))
    check({ { 4, 5, 6 } }, m:narrow(1, 2, 1))
    check({ { 1, 2, 3 }, { 1, 2, 3 } }, il.tensor({ 1, 2, 3 }):expand({ 2, 3 }))
    check({ { 7, 7 }, { 8, 8 } }, il.tensor({ { 7 }, { 8 } }):expand(2, 2))
  end)

  it("share storage instead of copying", function()
    local t = il.zeros({ 1024, 256 }) -- 1 MB
    collectgarbage()
    local before = grow()
    local v1, v2, v3, v4 = t:reshape(256, 1024), t:t(), t:narrow(1, 1, 512), t:transpose(1, 2)
    local v5 = il.zeros({ 1, 256 }):expand(1024, 256)
    assert.is_true(grow() - before < 100000, "views allocated " .. (grow() - before))
    assert.same({ 256, 1024 }, v2.shape)
    assert.same({ 512, 256 }, v3.shape)
    assert.same({ 1024, 256 }, v5.shape)
    assert.is_truthy(v1 and v4)
  end)

  it("contiguous and clone copy a transposed view in row-major order", function()
    local m = il.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }):t()
    check({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, m:contiguous())
    check({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, m:clone())
    check({ 1, 4, 2, 5, 3, 6 }, m:contiguous():reshape(6))
    check({ 1, 4, 2, 5, 3, 6 }, m:reshape(6)) -- reshape copies when it must
  end)

  it("a view keeps working after its base is freed or collected", function()
    local base = il.arange(0, 6)
    local v = base:reshape(2, 3)
    base:free()
    check({ { 0, 1, 2 }, { 3, 4, 5 } }, v)
    local w = il.arange(0, 4):reshape(2, 2):t()
    collectgarbage()
    collectgarbage()
    check({ { 0, 2 }, { 1, 3 } }, w)
  end)
end)
