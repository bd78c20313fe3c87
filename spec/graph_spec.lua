-- CUDA graphs of training steps from Lua (issue 9): net:compile{graph=}, net:step with
-- {read = false}, net:loss() and net:graphed(). On the CPU steps are always eager; the CUDA
-- side is tested in C (tests/test_cuda_graph.c), where a GPU exists.
local il = require "il"

local X = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }
local Y = { { 0 }, { 1 }, { 1 }, { 0 } }

local function setup()
  il.seed(7)
  local net = il.nn.sequential { il.nn.linear(2, 4), il.nn.tanh(), il.nn.linear(4, 1) }
  return net, il.tensor(X), il.tensor(Y), il.optim.sgd(net, { lr = 0.1 })
end

describe("net:compile", function()
  it("switches graphs off and on and returns the net", function()
    local net = setup()
    assert.are.equal(net, net:compile { graph = false })
    assert.are.equal(net, net:compile { graph = true })
    assert.are.equal(net, net:compile {})
  end)
  it("sets the forward chunk; forward results do not change", function()
    local net, x = setup()
    local whole = net:forward(x):totable()
    assert.are.equal(net, net:compile { chunk = 1 })
    assert.are.same(whole, net:forward(x):totable())
    assert.are.equal(net, net:compile { chunk = 0 })
    assert.has_error(function() net:compile { chunk = -1 } end)
  end)
  it("rejects unknown options and non-boolean graph", function()
    local net = setup()
    assert.has_error(function() net:compile { grpah = true } end)
    assert.has_error(function() net:compile { graph = 1 } end,
      "option 'graph' must be a boolean, got number")
    assert.has_error(function() net:compile() end)
  end)
end)

describe("net:step without a read back", function()
  it("returns nothing; net:loss() then reads the same loss a reading step returns", function()
    local a, x, y, oa = setup()
    local b, _, _, ob = setup()
    for _ = 1, 5 do
      local la = a:step(x, y, il.loss.mse, oa):item()
      assert.is_nil(b:step(x, y, il.loss.mse, ob, { read = false }))
      assert.are.equal(la, b:loss())
      assert.are.equal(la, a:loss())
    end
    assert.are.same(a:forward(x):totable(), b:forward(x):totable())
  end)
  it("is eager on the CPU", function()
    local net, x, y, opt = setup()
    for _ = 1, 3 do net:step(x, y, il.loss.mse, opt, { read = false }) end
    assert.are.equal("eager", net:graphed())
  end)
  it("net:loss() before any step is an error", function()
    local net = setup()
    assert.has_error(function() net:loss() end, "last_loss: the network has not taken a step")
  end)
  it("rejects unknown step options", function()
    local net, x, y, opt = setup()
    assert.has_error(function() net:step(x, y, il.loss.mse, opt, { raed = false }) end)
  end)
  it("reports a NaN loss on the reading call, parameters unchanged", function()
    local net, x, _, opt = setup()
    local before = net:forward(x):totable()
    local bad = il.tensor { { 0 }, { 0 / 0 }, { 1 }, { 0 } }
    assert.has_error(function() net:step(x, bad, il.loss.mse, opt, { read = false }) end,
      "loss is nan at step 1")
    assert.are.same(before, net:forward(x):totable())
    assert.has_error(function() net:loss() end, "loss is nan at step 1")
  end)
end)
