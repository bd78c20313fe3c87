-- Networks from Lua: building (sequential, graphs with skip connections and concat, custom Lua
-- layers), forward values against plain Lua, summaries, train/eval, parameters, gradient checks
-- of every layer kind, and the error messages of bad input.
local il = require "il"
local U = require "spec_util"

local F64 = { dtype = "f64" }

-- Plain-Lua helpers on nested tables.
local function matmul(a, w, b)
  local r = {}
  for i = 1, #a do
    r[i] = {}
    for j = 1, #w[1] do
      local s = b and b[j] or 0
      for k = 1, #w do s = s + a[i][k] * w[k][j] end
      r[i][j] = s
    end
  end
  return r
end

local function params(net)
  local p, names = net:parameters()
  local t = {}
  for i = 1, #p do t[names[i]] = p[i]:totable() end
  return t, names
end

describe("il.nn.sequential", function()
  it("builds and computes what plain Lua computes", function()
    il.seed(1)
    local net = il.nn.sequential { il.nn.linear(2, 3), il.nn.tanh(), il.nn.linear(3, 2),
                                   il.nn.sigmoid(), dtype = "f64" }
    assert.equal("f64", net.dtype)
    assert.equal(1, net.num_inputs)
    assert.equal(2 * 3 + 3 + 3 * 2 + 2, net.num_params)
    assert.equal(2, net.out_features)
    local p, names = params(net)
    assert.same({ "linear1.weight", "linear1.bias", "linear3.weight", "linear3.bias" }, names)
    local x = { { 0.5, -1 }, { 2, 0.25 }, { -0.3, 0.7 } }
    local h = U.map(matmul(x, p["linear1.weight"], p["linear1.bias"]), math.tanh)
    local y = U.map(matmul(h, p["linear3.weight"], p["linear3.bias"]),
      function(v) return 1 / (1 + math.exp(-v)) end)
    assert.is_true(U.near(y, net:forward(il.tensor(x, F64)):totable(), 1e-12))
  end)

  it("accepts il.nn.input(n) first, and names given to layers", function()
    local net = il.nn.sequential { il.nn.input(3), il.nn.relu(), il.nn.linear(3, 1, { name = "head" }) }
    local _, names = net:parameters()
    assert.same({ "head.weight", "head.bias" }, names)
    assert.same({ 5, 1 }, net:forward(il.ones({ 5, 3 })).shape)
  end)

  it("linear options: bias=false and inits", function()
    local net = il.nn.sequential { il.nn.linear(4, 2, { bias = false, init = "zeros" }) }
    assert.equal(8, net.num_params)
    assert.same({ { 0, 0 } }, net:forward(il.ones({ 1, 4 })):totable())
    for _, init in ipairs { "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
                            "kaiming_uniform", "kaiming_normal", "normal", "uniform", "zeros" } do
      local n = il.nn.sequential { il.nn.linear(4, 2, { init = init }) }
      assert.equal(10, n.num_params, init)
    end
  end)

  it("same seed, same parameters", function()
    il.seed(7)
    local a = il.nn.sequential { il.nn.linear(3, 4) }
    il.seed(7)
    local b = il.nn.sequential { il.nn.linear(3, 4) }
    assert.same(a:parameters()[1]:totable(), b:parameters()[1]:totable())
  end)

  it("parameters are views of the network's buffer", function()
    il.seed(6)
    local net = il.nn.sequential { il.nn.linear(2, 1) }
    local p = net:parameters()
    assert.same({ 2, 1 }, p[1].shape)
    assert.same({ 1 }, p[2].shape)
    local before = p[1]:totable()
    local opt = il.optim.sgd(net, { lr = 0.1 })
    net:step(il.ones({ 3, 2 }), il.full({ 3, 1 }, 5), il.loss.mse, opt)
    assert.are_not.same(before, p[1]:totable())
    assert.same(net:parameters()[1]:totable(), p[1]:totable())
  end)

  it("summary lists layers, shapes and parameter counts", function()
    local net = il.nn.sequential { il.nn.linear(2, 8), il.nn.tanh(), il.nn.linear(8, 1) }
    local s = tostring(net)
    assert.truthy(s:find("linear1", 1, true))
    assert.truthy(s:find("tanh2", 1, true))
    assert.truthy(s:find("24", 1, true))
    assert.truthy(s:find("9", 1, true))
    assert.truthy(s:find("total params: 33", 1, true))
  end)

  it("dropout is active in train mode only", function()
    il.seed(3)
    local net = il.nn.sequential { il.nn.input(64), il.nn.dropout(0.5) }
    assert.is_true(net.training)
    local y = net:forward(il.ones({ 4, 64 })):totable()
    local zeros, twos = 0, 0
    for _, row in ipairs(y) do
      for _, v in ipairs(row) do
        if v == 0 then zeros = zeros + 1 elseif v == 2 then twos = twos + 1 end
      end
    end
    assert.equal(256, zeros + twos)
    assert.is_true(zeros > 64 and twos > 64)
    assert.equal(net, net:eval())
    assert.is_false(net.training)
    assert.same(il.ones({ 4, 64 }):totable(), net:forward(il.ones({ 4, 64 })):totable())
    net:train()
    assert.is_true(net.training)
  end)

  it("net:to converts dtype into a new network with the same values", function()
    il.seed(2)
    local net = il.nn.sequential { il.nn.linear(2, 3), il.nn.gelu() }
    assert.equal(net, net:to("cpu"))
    assert.equal(net, net:to("f32"))
    local n64 = net:to("f64")
    assert.equal("f64", n64.dtype)
    local x = il.tensor({ { 1, 2 }, { -1, 0.5 } })
    assert.is_true(U.near(net:forward(x):totable(), n64:forward(x:to("f64")):totable(), 1e-6))
  end)
end)

describe("il.nn.graph", function()
  it("skip connection and concat match plain Lua", function()
    il.seed(4)
    local x = il.nn.input(2)
    local h = il.nn.tanh()(il.nn.linear(2, 3, { name = "a" })(x))
    local s = il.nn.add()(h, il.nn.linear(2, 3, { name = "skip" })(x))
    local c = il.nn.concat()(s, x)
    local out = il.nn.linear(5, 1, { name = "out" })(c)
    assert.equal(5, c.features)
    local net = il.nn.graph({ x }, { out }, F64)
    local p = params(net)
    local xs = { { 0.1, 0.2 }, { -1, 3 } }
    local a = U.map(matmul(xs, p["a.weight"], p["a.bias"]), math.tanh)
    local k = matmul(xs, p["skip.weight"], p["skip.bias"])
    local cat = {}
    for i = 1, 2 do cat[i] = { a[i][1] + k[i][1], a[i][2] + k[i][2], a[i][3] + k[i][3],
                               xs[i][1], xs[i][2] } end
    local want = matmul(cat, p["out.weight"], p["out.bias"])
    assert.is_true(U.near(want, net:forward(il.tensor(xs, F64)):totable(), 1e-12))
    assert.is_true(il.gradcheck(net, il.tensor(xs, F64)) < 1e-6)
  end)

  it("takes several inputs in the listed order, and single nodes", function()
    local a, b = il.nn.input(2), il.nn.input(3)
    local net = il.nn.graph({ a, b }, il.nn.concat()(b, a))
    assert.equal(2, net.num_inputs)
    local y = net:forward(il.tensor({ { 1, 2 } }), il.tensor({ { 3, 4, 5 } }))
    assert.same({ { 3, 4, 5, 1, 2 } }, y:totable())
    assert.same(y:totable(), net:forward({ il.tensor({ { 1, 2 } }), il.tensor({ { 3, 4, 5 } }) }):totable())
    local single = il.nn.graph(a, il.nn.relu()(a))
    assert.same({ { 0, 2 } }, single:forward(il.tensor({ { -1, 2 } })):totable())
  end)
end)

describe("custom Lua layers", function()
  local function square(name)
    return il.nn.layer {
      name = name,
      forward = function(x) return x * x end,
      backward = function(x, y, dy) return dy * x * 2 end,
    }
  end

  it("sit in sequential and graphs beside built-in layers", function()
    local net = il.nn.sequential { il.nn.linear(2, 3, { init = "zeros" }), square("sq") }
    assert.same({ 4, 3 }, net:forward(il.ones({ 4, 2 })).shape)
    assert.truthy(tostring(net):find("sq", 1, true))
    local x = il.nn.input(2)
    local g = il.nn.graph(x, il.nn.add()(square()(x), x))
    assert.same({ { 6, 12 } }, g:forward(il.tensor({ { 2, 3 } })):totable())
  end)

  it("pass gradient checks, with an out function and several inputs", function()
    assert.is_true(il.gradcheck(square(), il.randn({ 4, 3 }, F64)) < 1e-6)
    local mulcat = il.nn.layer {
      forward = function(a, b) return (a * b):reshape(-1, 2) end,
      backward = function(a, b, y, dy) return dy * b, dy * a end,
      out = function(wa, wb) return wa end,
    }
    local a, b = il.nn.input(2), il.nn.input(2)
    local net = il.nn.graph({ a, b }, il.nn.linear(2, 2)(mulcat(a, b)), F64)
    assert.is_true(il.gradcheck(net, { il.randn({ 3, 2 }, F64), il.randn({ 3, 2 }, F64) }) < 1e-6)
  end)

  it("train inside net:step", function()
    il.seed(5)
    local net = il.nn.sequential { il.nn.linear(1, 4), square(), il.nn.linear(4, 1) }
    local opt = il.optim.adam(net, { lr = 0.05 })
    local x = il.tensor({ { -1 }, { 0 }, { 1 }, { 2 } })
    local y = x * x
    local first = net:step(x, y, il.loss.mse, opt):item()
    local last
    for _ = 1, 200 do last = net:step(x, y, il.loss.mse, opt):item() end
    assert.is_true(last < first / 10)
  end)

  it("report errors from their functions after C has cleaned up", function()
    local boom = il.nn.layer {
      name = "boom",
      forward = function() error("kaput") end,
      backward = function(x, y, dy) return dy end,
    }
    local net = il.nn.sequential { il.nn.input(2), boom }
    local ok, msg = pcall(net.forward, net, il.ones({ 1, 2 }))
    assert.is_false(ok)
    assert.truthy(msg:find("layer 'boom': forward: .*kaput"))
    local shape = il.nn.layer { forward = function() return il.ones({ 1 }) end,
                                backward = function(x, y, dy) return dy end }
    assert.has_error(function() il.nn.sequential { il.nn.input(2), shape }:forward(il.ones({ 4, 2 })) end,
      "layer: forward returned shape (1), expected (4, 2)")
    local none = il.nn.layer { forward = function() end, backward = function(x, y, dy) return dy end }
    assert.has_error(function() il.nn.sequential { il.nn.input(2), none }:forward(il.ones({ 4, 2 })) end,
      "layer: forward must return a tensor, got nil")
    local re
    local reenter = il.nn.layer { forward = function(x) return re:forward(x) end,
                                  backward = function(x, y, dy) return dy end }
    re = il.nn.sequential { il.nn.input(2), reenter }
    local ok2, msg2 = pcall(re.forward, re, il.ones({ 1, 2 }))
    assert.is_false(ok2)
    assert.truthy(msg2:find("network is busy", 1, true))
    -- neither network is left busy: the same errors come again
    assert.truthy(select(2, pcall(net.forward, net, il.ones({ 1, 2 }))):find("kaput", 1, true))
    assert.truthy(select(2, pcall(re.forward, re, il.ones({ 1, 2 }))):find("busy", 1, true))
  end)
end)

describe("life cycle", function()
  it("offers the contract's names", function()
    for _, k in ipairs { "sequential", "linear", "tanh", "sigmoid", "relu", "leaky_relu", "gelu",
                         "softplus", "sine", "softmax", "dropout", "add", "concat", "input",
                         "graph", "layer" } do
      assert.is_function(il.nn[k], k)
    end
    for _, k in ipairs { "sgd", "adam", "adamw", "rmsprop" } do assert.is_function(il.optim[k], k) end
    assert.is_function(il.gradcheck)
    local net = il.nn.sequential { il.nn.linear(1, 1) }
    for _, k in ipairs { "forward", "step", "fit", "parameters", "train", "eval", "to" } do
      assert.is_function(net[k], k)
    end
    assert.equal("il.Net", getmetatable(net))
    assert.equal("il.Optim", getmetatable(il.optim.sgd(net)))
    assert.equal("il.Node", getmetatable(il.nn.input(1)))
    assert.equal("il.Layer", getmetatable(il.nn.tanh()))
    assert.equal("il.Loss", getmetatable(il.loss.mse))
  end)

  it("networks made in a loop are collected", function()
    -- one network first: kernels keep grow-only workspaces in the context
    il.nn.sequential { il.nn.linear(64, 64), il.nn.tanh(), il.nn.linear(64, 1) }
      :forward(il.ones({ 8, 64 }))
    collectgarbage()
    collectgarbage()
    local before = il.memory().bytes_in_use
    for _ = 1, 300 do
      local net = il.nn.sequential { il.nn.linear(64, 64), il.nn.tanh(), il.nn.linear(64, 1) }
      il.optim.adam(net)
      net:forward(il.ones({ 8, 64 }))
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(il.memory().bytes_in_use <= before + 4096)
  end)

  it("custom layers run on the calling coroutine", function()
    local co_seen
    local probe = il.nn.layer {
      forward = function(x)
        co_seen = coroutine.running()
        return x
      end,
      backward = function(x, y, dy) return dy end,
    }
    local net = il.nn.sequential { il.nn.input(2), probe }
    local co = coroutine.create(function()
      net:forward(il.ones({ 1, 2 }))
      return coroutine.running()
    end)
    local ok, me = coroutine.resume(co)
    assert.is_true(ok, me)
    assert.equal(me, co_seen)
  end)
end)

describe("il.gradcheck", function()
  it("passes for every layer kind in float64", function()
    il.seed(11)
    local x = il.randn({ 5, 4 }, F64)
    local layers = { il.nn.linear(4, 3), il.nn.linear(4, 3, { bias = false }), il.nn.tanh(),
                     il.nn.sigmoid(), il.nn.relu(), il.nn.leaky_relu(0.1), il.nn.gelu(),
                     il.nn.softplus(), il.nn.sine { omega = 2 }, il.nn.softmax(),
                     il.nn.dropout(0.3) }
    for _, layer in ipairs(layers) do
      local err = il.gradcheck(layer, x)
      assert.is_true(err < 1e-6, tostring(layer) .. ": " .. err)
    end
    assert.is_true(il.gradcheck(il.nn.add(), { x, il.randn({ 5, 4 }, F64) }) < 1e-6)
    assert.is_true(il.gradcheck(il.nn.concat(), { x, il.randn({ 5, 2 }, F64) }) < 1e-6)
  end)

  it("checks whole networks, f32 ones on an f64 copy", function()
    local net = il.nn.sequential { il.nn.linear(3, 5), il.nn.tanh(), il.nn.linear(5, 2), il.nn.softmax() }
    assert.is_true(il.gradcheck(net, il.randn({ 4, 3 })) < 1e-6)
  end)
end)

describe("network errors", function()
  it("a width mismatch names the layer, expected and got", function()
    assert.has_error(function()
      il.nn.sequential { il.nn.linear(2, 8), il.nn.tanh(), il.nn.linear(4, 1) }
    end, "linear(4, 1) (layer 3): expected 4 input features, got 8")
    assert.has_error(function() il.nn.linear(3, 8, { name = "fc" })(il.nn.input(2)) end,
      "linear 'fc': expected 3 input features, got 2")
    assert.has_error(function() il.nn.add()(il.nn.input(2), il.nn.input(3)) end,
      "add: input widths differ (2 and 3)")
    assert.has_error(function() il.gradcheck(il.nn.linear(3, 2), il.ones({ 2, 2 })) end,
      "linear(3, 2): expected 3 input features, got 2")
    local net = il.nn.sequential { il.nn.linear(2, 1) }
    local ok, msg = pcall(net.forward, net, il.ones({ 4, 3 }))
    assert.is_false(ok)
    assert.truthy(msg:find("expected (batch, 2), got (4, 3)", 1, true), msg)
  end)

  it("bad structure", function()
    assert.has_error(function() il.nn.sequential {} end, "sequential: no layers")
    assert.has_error(function() il.nn.sequential { il.nn.tanh() } end,
      "sequential: the first layer must be linear(i, o), siren(i, o), fourier(i, {...}) or "
        .. "il.nn.input(n), got tanh")
    assert.has_error(function() il.nn.sequential { il.nn.linear(2, 2), il.nn.add() } end,
      "sequential: add (layer 2) joins nodes; use il.nn.graph")
    assert.has_error(function() il.nn.sequential { il.nn.linear(2, 2), 5 } end,
      "sequential: element 2 is a number, expected a layer")
    assert.has_error(function() il.nn.graph(il.nn.input(2), il.nn.tanh()(il.nn.input(2))) end,
      "graph: the outputs depend on an input node not among the graph's inputs")
    assert.has_error(function() il.nn.tanh()(il.nn.input(2), il.nn.input(2)) end,
      "tanh: takes 1 node, got 2")
    assert.has_error(function() il.nn.concat()(il.nn.input(2)) end,
      "concat: a join takes 2 to 16 nodes, got 1")
    local net = il.nn.sequential { il.nn.linear(2, 1) }
    assert.has_error(function() net:forward(il.ones({ 1, 2 }), il.ones({ 1, 2 })) end,
      "forward: the network takes 1 input, got 2")
  end)

  it("options: unknown keys, bad init, bad values", function()
    assert.has_error(function() il.nn.linear(2, 3, { inti = "zeros" }) end, "unknown option 'inti'")
    assert.has_error(function() il.nn.linear(2, 3, { init = "bogus" }) end, "unknown init 'bogus'")
    assert.has_error(function() il.nn.sequential { il.nn.linear(2, 3), dtpye = "f64" } end,
      "unknown option 'dtpye'")
    assert.has_error(function() il.nn.graph(il.nn.input(1), il.nn.input(1), { dtpye = "f64" }) end,
      "unknown option 'dtpye'")
    assert.has_error(function() il.nn.sine { omgea = 3 } end, "unknown option 'omgea'")
    assert.has_error(function() il.nn.dropout(1) end,
      "bad argument #1 to 'dropout' (dropout probability must be in [0, 1))")
    assert.has_error(function() il.nn.linear(0, 3) end,
      "bad argument #1 to 'linear' (input features must be >= 1)")
    assert.has_error(function() il.nn.layer { forward = function() end } end,
      "layer: option 'backward' (a function) is required")
    assert.has_error(function() il.nn.layer { forward = print, backward = print, bogus = 1 } end,
      "unknown option 'bogus'")
    if not il.cuda.available() then
      local ok, e = pcall(function() return il.nn.sequential { il.nn.linear(2, 3) }:to("cuda") end)
      assert.is_false(ok)
      assert.matches("cuda device not available", e, 1, true)
    end
  end)
end)
