-- Training from Lua: net:step, net:fit (batches, shuffle, on_epoch), losses, optimizers,
-- determinism under il.seed, a float64 reference of 20 SGD steps written by hand, and
-- examples/xor.lua's output.
local il = require "il"
local U = require "spec_util"

local F64 = { dtype = "f64" }
local X = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }
local Y = { { 0 }, { 1 }, { 1 }, { 0 } }

local function xor_net(seed, dtype)
  il.seed(seed)
  return il.nn.sequential { il.nn.linear(2, 4), il.nn.tanh(), il.nn.linear(4, 1), il.nn.sigmoid(),
                            dtype = dtype }
end

local function all_right(net, x)
  local p = net:forward(x):totable()
  for i = 1, 4 do
    if (p[i][1] >= 0.5) ~= (Y[i][1] == 1) then return false end
  end
  return true
end

describe("xor", function()
  it("converges with net:fit", function()
    local net = xor_net(42)
    local x, y = il.tensor(X), il.tensor(Y)
    local opt = il.optim.sgd(net, { lr = 0.5 })
    local loss, epochs = net:fit { x = x, y = y, loss = il.loss.mse, optim = opt, epochs = 5000 }
    assert.equal(5000, epochs)
    assert.equal(5000, opt.steps)
    assert.is_true(loss < 0.01)
    assert.is_true(all_right(net, x))
    assert.is_true(il.loss.mse(net:forward(x), y):item() < 0.01)
  end)

  it("converges with a manual net:step loop, whose losses are 0-d tensors", function()
    local net = xor_net(42, "f64")
    local x, y = il.tensor(X, F64), il.tensor(Y, F64)
    local opt = il.optim.adam(net, { lr = 0.05 })
    local loss
    for _ = 1, 1000 do loss = net:step(x, y, "mse", opt) end
    assert.is_true(il.is_tensor(loss))
    assert.same({}, loss.shape)
    assert.equal("f64", loss.dtype)
    assert.is_true(loss:item() < 0.01)
    assert.is_true(all_right(net, x))
    local f32 = xor_net(1)
    local l32 = f32:step(il.tensor(X), il.tensor(Y), il.loss.mse, il.optim.sgd(f32))
    assert.same({}, l32.shape)
    assert.equal("f32", l32.dtype)
  end)

  it("same seed, same losses", function()
    local function run()
      local net = xor_net(9)
      local losses = {}
      net:fit { x = il.tensor(X), y = il.tensor(Y), loss = "mse", epochs = 50, batch = 2,
                shuffle = true, optim = il.optim.sgd(net, { lr = 0.5, momentum = 0.9 }),
                on_epoch = function(_, l) losses[#losses + 1] = l end }
      return losses
    end
    local a, b = run(), run()
    assert.equal(50, #a)
    assert.same(a, b)
  end)
end)

describe("net:fit", function()
  -- y = 2x - 1 on 10 points
  local function line()
    local xs, ys = {}, {}
    for i = 1, 10 do
      xs[i] = { i / 10 }
      ys[i] = { 2 * i / 10 - 1 }
    end
    return il.tensor(xs), il.tensor(ys)
  end

  it("runs mini-batches (the last one smaller) with and without shuffle", function()
    local x, y = line()
    for _, shuffle in ipairs { false, true } do
      il.seed(3)
      local net = il.nn.sequential { il.nn.linear(1, 1) }
      local opt = il.optim.sgd(net, { lr = 0.1 })
      local loss = net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 300, batch = 4,
                             shuffle = shuffle }
      assert.equal(900, opt.steps) -- 3 batches per epoch
      assert.is_true(loss < 1e-3, tostring(loss))
    end
  end)

  it("stops when on_epoch returns false, and reports epoch numbers and mean losses", function()
    local x, y = line()
    local net = il.nn.sequential { il.nn.linear(1, 1) }
    local seen = {}
    local loss, epochs = net:fit { x = x, y = y, loss = "mse", epochs = 100,
      optim = il.optim.sgd(net, { lr = 0.1 }),
      on_epoch = function(e, l)
        seen[#seen + 1] = e
        assert.is_number(l)
        if e == 7 then return false end
      end }
    assert.equal(7, epochs)
    assert.same({ 1, 2, 3, 4, 5, 6, 7 }, seen)
    assert.is_number(loss)
  end)

  it("errors name the problem", function()
    local x, y = line()
    local net = il.nn.sequential { il.nn.linear(1, 1) }
    local opt = il.optim.sgd(net)
    assert.has_error(function() net:fit { x = x, y = y, loss = "mse", optim = opt, epoch = 3 } end,
      "unknown option 'epoch'")
    assert.has_error(function() net:fit { x = x, y = y, loss = "mse" } end,
      "fit: option 'optim' is required")
    assert.has_error(function() net:fit { x = x, y = y:narrow(1, 1, 5), loss = "mse", optim = opt } end,
      "fit: x has 10 rows but y has 5")
    assert.has_error(function() net:fit { x = x, y = y, loss = 3, optim = opt } end,
      "fit: option 'loss' must be a loss (il.loss.*) or its name")
    assert.has_error(function() net:fit { x = x, y = y, loss = "mse", optim = opt, batch = 0 } end,
      "fit: option 'batch' must be an integer >= 1")
    assert.has_error(function() net:fit { x = x, y = y, loss = "mse", optim = opt, on_epoch = 1 } end,
      "fit: option 'on_epoch' must be a function")
  end)
end)

describe("a float64 reference", function()
  local function tr(a)
    local r = {}
    for j = 1, #a[1] do
      r[j] = {}
      for i = 1, #a do r[j][i] = a[i][j] end
    end
    return r
  end
  local function mm(a, b)
    local r = {}
    for i = 1, #a do
      r[i] = {}
      for j = 1, #b[1] do
        local s = 0
        for k = 1, #b do s = s + a[i][k] * b[k][j] end
        r[i][j] = s
      end
    end
    return r
  end
  local function addrow(a, b)
    return U.build({ #a, #a[1] }, function(i, j) return a[i][j] + b[j] end)
  end
  local function zip(a, b, f)
    return U.build({ #a, #a[1] }, function(i, j) return f(a[i][j], b[i][j]) end)
  end
  local function colsum(a)
    local r = {}
    for j = 1, #a[1] do
      r[j] = 0
      for i = 1, #a do r[j] = r[j] + a[i][j] end
    end
    return r
  end

  it("20 SGD steps of a 3-layer tanh network match a hand-written one to 1e-10", function()
    il.seed(2024)
    local net = il.nn.sequential { il.nn.linear(2, 4), il.nn.tanh(), il.nn.linear(4, 3),
                                   il.nn.tanh(), il.nn.linear(3, 1), dtype = "f64" }
    local p = net:parameters()
    local W, B = {}, {}
    for i = 1, 3 do
      W[i] = p[2 * i - 1]:totable()
      B[i] = p[2 * i]:totable()
    end
    local xs = { { 0.5, -1 }, { 1.5, 0.25 }, { -0.7, 0.3 }, { 0.1, 0.9 }, { -1.2, -0.4 } }
    local ys = { { 0.3 }, { -0.5 }, { 0.8 }, { 0.1 }, { -0.2 } }
    local x, y = il.tensor(xs, F64), il.tensor(ys, F64)
    local lr = 0.1
    local opt = il.optim.sgd(net, { lr = lr })
    for step = 1, 20 do
      -- forward
      local a = { xs }
      for l = 1, 3 do
        local z = addrow(mm(a[l], W[l]), B[l])
        a[l + 1] = l < 3 and U.map(z, math.tanh) or z
      end
      local n, loss = #xs, 0
      for i = 1, n do loss = loss + (a[4][i][1] - ys[i][1]) ^ 2 end
      loss = loss / n
      -- backward
      local dz = zip(a[4], ys, function(p_, t) return 2 * (p_ - t) / n end)
      for l = 3, 1, -1 do
        local dW, dB = mm(tr(a[l]), dz), colsum(dz)
        if l > 1 then
          local da = mm(dz, tr(W[l]))
          dz = zip(da, a[l], function(g, h) return g * (1 - h * h) end)
        end
        W[l] = zip(W[l], dW, function(w, g) return w - lr * g end)
        for j = 1, #B[l] do B[l][j] = B[l][j] - lr * dB[j] end
      end
      local got = net:step(x, y, il.loss.mse, opt):item()
      assert.is_true(U.near(loss, got, 1e-10), "step " .. step .. ": " .. loss .. " vs " .. got)
    end
    local q = net:parameters()
    for l = 1, 3 do
      assert.is_true(U.near(W[l], q[2 * l - 1]:totable(), 1e-10), "weight " .. l)
      assert.is_true(U.near(B[l], q[2 * l]:totable(), 1e-10), "bias " .. l)
    end
  end)
end)

describe("losses", function()
  it("are objects, callable on tensors and with options", function()
    local p, t = il.tensor({ { 0.5, 2 } }), il.tensor({ { 1, 0 } })
    assert.is_true(U.near(((0.25 + 4) / 2), il.loss.mse(p, t):item(), 1e-6))
    assert.is_true(U.near(((0.5 + 2) / 2), il.loss.l1(p, t):item(), 1e-6))
    local h = il.loss.huber { delta = 0.5 }
    assert.equal("huber", h.kind)
    assert.equal(0.5, h.delta)
    assert.equal("il.Loss (mse)", tostring(il.loss.mse))
    -- huber, delta 0.5: 0.5*0.5^2 = 0.125 for |d| = 0.5; 0.5*(2 - 0.25) = 0.875 for |d| = 2
    assert.is_true(U.near((0.125 + 0.875) / 2, h(p, t):item(), 1e-6))
    for _, name in ipairs { "mse", "bce", "bce_logits", "cross_entropy", "l1", "huber" } do
      assert.equal(name, il.loss[name].kind)
    end
    assert.has_error(function() il.loss.huber { delta = 0.5, d = 1 } end, "unknown option 'd'")
    assert.has_error(function() il.loss.mse { delta = 1 } end, "unknown option 'delta'")
  end)

  it("cross_entropy takes 1-based class indices or one-hot rows", function()
    local logits = il.tensor({ { 2, 0, -1 }, { 0.5, 1, 3 } })
    local a = il.loss.cross_entropy(logits, il.tensor({ 1, 3 })):item()
    local b = il.loss.cross_entropy(logits, il.tensor({ { 1, 0, 0 }, { 0, 0, 1 } })):item()
    local c = il.loss.cross_entropy(logits, il.tensor({ 1, 3 }, { dtype = "i64" })):item()
    assert.is_true(U.near(a, b, 1e-6))
    assert.is_true(U.near(a, c, 1e-6))
  end)
end)

describe("optimizers", function()
  it("each kind trains, with readable and writable lr and a step count", function()
    local x, y = il.tensor(X), il.tensor(Y)
    local kinds = { sgd = { lr = 0.5, momentum = 0.9, nesterov = true, weight_decay = 1e-4 },
                    adam = { lr = 0.05, betas = { 0.9, 0.99 }, eps = 1e-8, clip_norm = 1 },
                    adamw = { lr = 0.05, weight_decay = 0.01 },
                    rmsprop = { lr = 0.01, alpha = 0.9, momentum = 0.5 } }
    for kind, opts in pairs(kinds) do
      local net = xor_net(5)
      local opt = il.optim[kind](net, opts)
      assert.equal(kind, opt.kind)
      assert.equal(net, opt.net)
      assert.equal(opts.lr, opt.lr)
      local first = net:step(x, y, "mse", opt):item()
      local last = net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 300 }
      assert.is_true(last < first, kind)
      assert.equal(301, opt.steps)
      opt.lr = 0.001
      assert.equal(0.001, opt.lr)
    end
  end)

  it("errors: another network, NaN loss, label shapes, options", function()
    local x, y = il.tensor(X), il.tensor(Y)
    local a, b = xor_net(1), xor_net(2)
    local opt = il.optim.sgd(b, { lr = 0.1 })
    assert.has_error(function() a:step(x, y, "mse", opt) end,
      "optimizer was built for another network")
    opt = il.optim.sgd(a, { lr = 0.1 })
    a:step(x, y, "mse", opt)
    local ok, msg = pcall(a.step, a, x, il.full({ 4, 1 }, 0 / 0), "mse", opt)
    assert.is_false(ok)
    assert.truthy(msg:find("step 2", 1, true), msg)
    ok, msg = pcall(a.step, a, x, il.ones({ 4, 2 }), "mse", opt)
    assert.is_false(ok)
    assert.truthy(msg:find("(4, 2)", 1, true) and msg:find("(4, 1)", 1, true), msg)
    assert.has_error(function() il.optim.sgd(a, { lr = 0.1, momentun = 0.9 }) end,
      "unknown option 'momentun'")
    assert.has_error(function() il.optim.adam(a, { betas = 0.9 }) end,
      "option 'betas' must be a table of two numbers")
    assert.has_error(function() a:step(x, y, "mae", opt) end, "unknown loss 'mae'")
    assert.has_error(function() opt.steps = 1 end, "optimizer field 'steps' is read-only or unknown")
  end)

  it("keeps its network alive", function()
    local opt = il.optim.sgd(xor_net(1), { lr = 0.1 })
    collectgarbage()
    collectgarbage()
    local net = opt.net
    assert.is_number(net:step(il.tensor(X), il.tensor(Y), "mse", opt):item())
  end)
end)

describe("examples/xor.lua", function()
  local dir = (os.getenv("IL_SPEC_DIR") or "spec") .. "/.."

  it("prints the banner, one line per sample and converges, the same twice", function()
    local cmd = U.q(U.ilua) .. " " .. U.q(dir .. "/examples/xor.lua")
    local out, code = U.run(cmd)
    assert.equal(0, code, out)
    local banner = out:match("^[^\n]*")
    assert.truthy(banner:match("^iron%-learn " .. il.version:gsub("%.", "%%.") ..
      " | mode: CPU | lr: 0%.5 | epochs: 5000 | data: .*neural_net%.json$"), banner)
    local lines = 0
    for p, a, mark in out:gmatch("Predicted: (%d%.%d%d%d%d), Actual: (%d%.%d%d%d%d), (\226\156[\147\151])") do
      lines = lines + 1
      assert.equal("✓", mark)
      assert.is_true(math.abs(tonumber(p) - tonumber(a)) < 0.5)
    end
    assert.equal(4, lines)
    local mse = tonumber(out:match("MSE: ([%d%.]+)"))
    assert.is_true(mse < 0.01)
    local again = U.run(cmd)
    assert.equal(out, again)
  end)
end)
