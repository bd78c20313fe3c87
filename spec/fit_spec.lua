-- net:fit with schedules, progress and training logs: opt.lr follows the schedule through fit,
-- a plateau observes each epoch's loss, progress=false (and a non-terminal stderr) print
-- nothing, and the CSV / JSON-lines logs hold every step, appended and flushed as training goes.
local il = require "il"
local U = require "spec_util"

local function problem(seed)
  il.seed(seed or 5)
  local net = il.nn.sequential { il.nn.linear(1, 8), il.nn.tanh(), il.nn.linear(8, 1) }
  local xs, ys = {}, {}
  for i = 1, 32 do
    xs[i] = { i / 16 - 1 }
    ys[i] = { math.sin(3 * xs[i][1]) }
  end
  return net, il.tensor(xs), il.tensor(ys)
end

local function readlines(name)
  local lines = {}
  for l in io.lines(name) do lines[#lines + 1] = l end
  return lines
end

local function split(line)
  local t = {}
  for v in line:gmatch("[^,]+") do t[#t + 1] = tonumber(v) or v end
  return t
end

describe("fit{schedule=}", function()
  it("sets the rate from the schedule before every update and leaves it attached", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 1 })
    local s = il.schedule.cosine { lr = 0.2, min_lr = 0.01, steps = 40 }
    local rates = {}
    net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 6, batch = 8, schedule = s,
              on_epoch = function() rates[#rates + 1] = opt.lr end }
    assert.equal(24, opt.steps)
    for e = 1, 6 do assert.equal(s:lr(4 * e), rates[e]) end
    assert.equal(s, opt:schedule())
    assert.equal(s:lr(24), opt.lr)
  end)

  it("trains exactly as a manual loop of net:step with opt:schedule", function()
    local function run(manual)
      local net, x, y = problem(11)
      local opt = il.optim.adam(net, { lr = 1 })
      local s = il.schedule.warmup { steps = 5, after = il.schedule.exponential { lr = 0.05,
                                                                                 gamma = 0.9 } }
      if manual then
        opt:schedule(s)
        for _ = 1, 20 do net:step(x, y, "mse", opt) end
      else
        net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 20, schedule = s }
      end
      return net:parameters()[1]:totable()
    end
    assert.same(run(true), run(false))
  end)

  it("observes each epoch's mean loss on a plateau schedule", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 1 })
    -- a 99% relative threshold: no epoch counts as an improvement after the first
    local s = il.schedule.plateau { lr = 1e-3, patience = 1, threshold = 0.99 }
    net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 5, schedule = s }
    local st = s:state().state
    assert.equal(5, st.observed)
    assert.near(1e-5, s:lr(0), 1e-18)
    assert.near(1e-5, opt.lr, 1e-18)
  end)

  it("rejects a schedule that is not one", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 1 })
    local ok, msg = pcall(net.fit, net, { x = x, y = y, loss = "mse", optim = opt, schedule = 1 })
    assert.is_false(ok)
    assert.truthy(msg:find("fit: option 'schedule' must be a schedule", 1, true))
  end)
end)

describe("fit{log=}", function()
  it("writes a CSV line per step: step, epoch, loss, lr, elapsed", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 1 })
    local s = il.schedule.step { lr = 0.1, every = 5, gamma = 0.5 }
    local name = os.tmpname() .. ".csv"
    local means = {}
    net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 3, batch = 8, schedule = s,
              log = name, on_epoch = function(_, l) means[#means + 1] = l end }
    local lines = readlines(name)
    assert.equal("step,epoch,loss,lr,elapsed", lines[1])
    assert.equal(13, #lines)
    local last, sum = -1, { 0, 0, 0 }
    for i = 2, 13 do
      local r = split(lines[i])
      assert.equal(i - 2, r[1])
      assert.equal((i - 2) // 4 + 1, r[2])
      assert.near(s:lr(r[1]), r[4], 1e-9)
      assert.is_true(r[5] >= last)
      last = r[5]
      sum[r[2]] = sum[r[2]] + r[3]
    end
    for e = 1, 3 do assert.near(means[e], sum[e] / 4, 1e-6) end
    -- a second fit appends, without a second header
    net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 1, batch = 8, log = name,
              log_every = 3 }
    lines = readlines(name)
    assert.equal(15, #lines)
    assert.equal(12, split(lines[14])[1])
    assert.equal(15, split(lines[15])[1])
    os.remove(name)
  end)

  it("writes JSON lines for a .jsonl name", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 0.1 })
    local name = os.tmpname() .. ".jsonl"
    net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = 2, log = name }
    local lines = readlines(name)
    assert.equal(2, #lines)
    for i, l in ipairs(lines) do
      local step, epoch, loss, lr, el = l:match(
        '^{"step":(%d+),"epoch":(%d+),"loss":([-%d.e+]+),"lr":([-%d.e+]+),"elapsed":([%d.]+)}$')
      assert.truthy(step, l)
      assert.equal(i - 1, tonumber(step))
      assert.equal(i, tonumber(epoch))
      assert.is_true(tonumber(loss) > 0)
      assert.equal(0.1, tonumber(lr))
      assert.is_true(tonumber(el) >= 0)
    end
    os.remove(name)
  end)

  it("keeps what was logged when training fails, and closes the file", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 0.1 })
    local name = os.tmpname() .. ".csv"
    local ok, msg = pcall(net.fit, net, { x = x, y = y, loss = "mse", optim = opt, epochs = 5,
      batch = 16, log = name, on_epoch = function(e) if e == 2 then error("stop here") end end })
    assert.is_false(ok)
    assert.truthy(msg:find("stop here", 1, true))
    assert.equal(5, #readlines(name))
    os.remove(name)
  end)

  it("refuses other extensions and unwritable paths", function()
    local net, x, y = problem()
    local opt = il.optim.sgd(net, { lr = 0.1 })
    local function err(pattern, log)
      local ok, msg = pcall(net.fit, net, { x = x, y = y, loss = "mse", optim = opt, log = log })
      assert.is_false(ok)
      assert.truthy(msg:find(pattern, 1, true), msg)
    end
    err("fit: option 'log' must name a .csv or .jsonl file, got 'run.txt'", "run.txt")
    err("fit: cannot open log '/nonexistent/dir/run.csv'", "/nonexistent/dir/run.csv")
    err("fit: option 'log' must be a file name", 3)
    assert.equal(0, opt.steps)
  end)
end)

describe("fit{progress=}", function()
  local script = [[
    il.seed(1)
    local net = il.nn.sequential { il.nn.linear(1, 4), il.nn.tanh(), il.nn.linear(4, 1) }
    local x, y = il.rand { 16, 1 }, il.rand { 16, 1 }
    net:fit { x = x, y = y, loss = "mse", optim = il.optim.sgd(net, { lr = 0.1 }),
              epochs = 20, batch = 4, %s }
    io.write("end")
  ]]
  local function run(opt)
    return U.run(U.q(U.ilua) .. " -e " .. U.q(script:format(opt)))
  end

  it("prints nothing with progress=false, nor by default off a terminal", function()
    assert.equal("end", run("progress = false"))
    assert.equal("end", run("shuffle = false"))
  end)

  it("prints plain lines to stderr with progress=true", function()
    local out = run("progress = true")
    local n = 0
    for l in out:gmatch("fit [^\n]*\n") do
      n = n + 1
      assert.truthy(l:find("^fit %d+/80 "), l)
      assert.truthy(l:find(" loss [%d.e-]+ lr 0.1\n$"), l)
    end
    assert.equal(9 + 1, n)
    assert.truthy(out:find("fit 80/80 100%% .* in %d%d:%d%d"))
  end)

  it("takes il.progress options", function()
    local name = os.tmpname()
    local out = run("progress = { every = 40, label = 'xy', out = io.open(" ..
      ("%q"):format(name) .. ", 'w') }")
    assert.equal("end", out)
    local lines = readlines(name)
    assert.equal(2, #lines)
    assert.truthy(lines[1]:find("^xy 40/80"))
    os.remove(name)
  end)
end)
