-- The module's surface: require "il" adds no global in a stock lua5.4, returns the same table
-- each time, and ilua has il preloaded. Spawns interpreters, so it needs IL_LUA_DIR and
-- IL_ILUA (set by the build).
local il = require "il"
local U = require "spec_util"

describe("require 'il'", function()
  it("adds no global in a stock lua5.4", function()
    local script = U.tmpfile([[
      local before = {}
      for k in pairs(_G) do before[k] = true end
      local il = require "il"
      local il2 = require "il"
      local t = il.ones({ 2 }) + 1
      for k in pairs(_G) do if not before[k] then print("new global: " .. tostring(k)) end end
      print(type(il), il == il2, il.version, t:sum():item())
    ]])
    local out, code = U.run(U.cpath_env() .. " " .. U.q(U.lua) .. " " .. U.q(script))
    os.remove(script)
    assert.equal(0, code, out)
    assert.equal("table\ttrue\t" .. il.version .. "\t4.0\n", out)
  end)

  it("returns the same table each time", function()
    assert.equal(il, require "il")
    assert.equal(il, package.loaded.il)
  end)

  it("offers the contract's names", function()
    for _, k in ipairs { "seed", "threads", "memory", "tensor", "zeros", "ones", "full", "rand",
                         "randn", "arange", "linspace" } do
      assert.is_function(il[k], k)
    end
    assert.is_string(il.version)
    assert.is_function(il.cuda.available)
    assert.is_function(il.cuda.memory)
    local t = il.ones({ 2, 2 })
    for _, k in ipairs { "numel", "matmul", "sum", "mean", "max", "min", "argmax", "exp", "log",
                         "tanh", "sigmoid", "relu", "sin", "cos", "abs", "sqrt", "clamp",
                         "reshape", "t", "transpose", "narrow", "expand", "contiguous", "clone",
                         "to", "item", "totable", "free", "size", "maximum", "minimum" } do
      assert.is_function(t[k], k)
    end
    local mt = getmetatable(t)
    assert.equal("il.Tensor", mt) -- the metatable is protected
  end)
end)

describe("ilua", function()
  it("has il preloaded as a global and in package.loaded", function()
    local out, code = U.run(U.q(U.ilua) ..
      [[ -e 'print(rawget(_G, "il") ~= nil, il == require "il", il.version)']])
    assert.equal(0, code, out)
    assert.equal("true\ttrue\t" .. il.version .. "\n", out)
  end)
end)
