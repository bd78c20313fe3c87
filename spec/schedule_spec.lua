-- Learning-rate schedules: every kind's rates against formulas written here from their
-- definitions (step 0, the last step, past the end, restarts), composition, the plateau's
-- patience, fn, bad input, state/restore, and optimizers driven by a schedule (opt:schedule).
local il = require "il"
local U = require "spec_util"
local S = il.schedule
local pi, cos = math.pi, math.cos

local function near(a, b)
  return math.abs(a - b) <= 1e-15 + 1e-12 * math.abs(b)
end

-- Asserts s:lr(i) == want(i) for each listed step.
local function check(s, want, steps)
  for _, i in ipairs(steps) do
    local got, w = s:lr(i), want(i)
    assert(near(got, w), ("step %d: got %.17g, want %.17g"):format(i, got, w))
  end
end

describe("schedule rates", function()
  it("constant, step, multistep, exponential, inverse_time", function()
    check(S.constant { lr = 0.3 }, function() return 0.3 end, { 0, 1, 10 ^ 9 })
    check(S.step { lr = 0.5, every = 3 }, function(i) return 0.5 * 0.1 ^ (i // 3) end,
      { 0, 2, 3, 5, 6, 100 })
    check(S.multistep { lr = 1, milestones = { 2, 5 }, gamma = 0.5 },
      function(i) return i < 2 and 1 or i < 5 and 0.5 or 0.25 end, { 0, 1, 2, 4, 5, 99 })
    check(S.exponential { lr = 0.2, gamma = 0.9 }, function(i) return 0.2 * 0.9 ^ i end,
      { 0, 1, 50 })
    check(S.inverse_time { lr = 0.3, gamma = 0.5, every = 4 },
      function(i) return 0.3 / (1 + 0.5 * i / 4) end, { 0, 3, 4, 1000 })
  end)

  it("cosine is the seed's formula, constant at min_lr past the end", function()
    local s = S.cosine { lr = 0.1, min_lr = 0.001, steps = 100 }
    check(s, function(i)
      if i > 100 then return 0.001 end
      return 0.001 + (0.1 - 0.001) * 0.5 * (1 + cos(pi * i / 100))
    end, { 0, 1, 33, 50, 99, 100, 101, 5000 })
    assert.equal(0.1, s:lr(0))
    assert.equal(0.001, s:lr(100))
    assert.equal(0, S.cosine { lr = 1, steps = 10 }:lr(10))
  end)

  it("polynomial", function()
    check(S.polynomial { lr = 1, min_lr = 0.1, steps = 10, power = 2 },
      function(i) return 0.1 + 0.9 * (1 - math.min(i, 10) / 10) ^ 2 end, { 0, 4, 9, 10, 11 })
  end)

  it("sgdr restarts at lr, its periods growing by mult", function()
    -- periods [0, 4), [4, 12), [12, 28), [28, 60)
    local function want(i)
      local start, period = 0, 4
      while i - start >= period do start, period = start + period, period * 2 end
      return 0.01 + (1 - 0.01) * 0.5 * (1 + cos(pi * (i - start) / period))
    end
    local s = S.sgdr { lr = 1, min_lr = 0.01, steps = 4, mult = 2 }
    check(s, want, { 0, 3, 4, 11, 12, 27, 28, 59, 60 })
    for _, r in ipairs { 0, 4, 12, 28, 60 } do assert.equal(1, s:lr(r)) end
    check(S.sgdr { lr = 1, steps = 5 }, function(i) return 0.5 * (1 + cos(pi * (i % 5) / 5)) end,
      { 0, 4, 5, 9, 10, 1001 })
  end)

  it("warmup ramps linearly, then runs its schedule from step 0", function()
    local c = S.cosine { lr = 0.1, steps = 10 }
    local w = S.warmup { steps = 4, after = c }
    check(w, function(i)
      if i < 4 then return 0.1 * i / 4 end
      return c:lr(i - 4)
    end, { 0, 1, 3, 4, 5, 13, 14, 15 })
    check(S.warmup { steps = 5, lr = 2, start = 0.1 },
      function(i) return i < 5 and 2 * (0.1 + 0.9 * i / 5) or 2 end, { 0, 2, 4, 5, 6 })
  end)

  it("onecycle follows torch's OneCycleLR", function()
    local max, n, init = 0.5, 50, 0.5 / 25
    local fin, e1, e2 = init / 1e4, 0.3 * 50 - 1, 49
    local function want(i)
      if i >= e2 then return fin end
      if i <= e1 then return max + (init - max) / 2 * (cos(pi * i / e1) + 1) end
      return fin + (max - fin) / 2 * (cos(pi * (i - e1) / (e2 - e1)) + 1)
    end
    check(S.onecycle { lr = max, steps = n }, want, { 0, 7, 14, 15, 30, 48, 49, 50, 1000 })
    check(S.onecycle { lr = 1, steps = 10, pct = 0.5, div = 10, final_div = 100, anneal = "linear" },
      function(i)
        if i <= 4 then return 0.1 + 0.9 * i / 4 end
        return i >= 9 and 0.001 or 1 + (0.001 - 1) * (i - 4) / 5
      end, { 0, 2, 4, 5, 8, 9, 10 })
  end)

  it("wsd: warmup, stable, decay", function()
    local function want(i)
      if i < 4 then return i / 4 end
      if i < 15 then return 1 end
      if i >= 20 then return 0.1 end
      return 0.1 + 0.9 * (1 - (i - 15) / 5)
    end
    check(S.wsd { lr = 1, min_lr = 0.1, steps = 20, warmup = 4, decay = 5 }, want,
      { 0, 2, 4, 14, 15, 17, 19, 20, 21 })
    check(S.wsd { lr = 1, steps = 20, shape = "sqrt" }, -- decay defaults to steps / 5
      function(i) return i < 16 and 1 or i >= 20 and 0 or 1 - math.sqrt((i - 16) / 4) end,
      { 0, 15, 16, 17, 19, 20 })
  end)

  it("sequence hands over at the given steps, each part counting from 0", function()
    local a, b = S.constant { lr = 3 }, S.exponential { lr = 1, gamma = 0.5 }
    local s = S.sequence { a, b, a, at = { 3, 10 } }
    check(s, function(i) return (i < 3 or i >= 10) and 3 or 0.5 ^ (i - 3) end,
      { 0, 2, 3, 4, 9, 10, 11, 100 })
  end)

  it("lr is pure: the same step, the same rate, in any order", function()
    local s = S.warmup { steps = 10, after = S.sgdr { lr = 1, steps = 7, mult = 3 } }
    local first = {}
    for i = 0, 200 do first[i] = s:lr(i) end
    for i = 200, 0, -1 do assert.equal(first[i], s:lr(i)) end
  end)
end)

describe("plateau", function()
  it("reduces exactly when patience runs out, and not before", function()
    local s = S.plateau { lr = 1, patience = 3, factor = 0.5, min_lr = 0.2 }
    assert.is_false(s:observe(10))
    for _ = 1, 3 do assert.is_false(s:observe(10)) end
    assert.equal(1, s:lr(0))
    assert.is_true(s:observe(10))
    assert.equal(0.5, s:lr(0))
    assert.equal(0.5, s:lr(999)) -- the current rate whatever the step
    assert.is_false(s:observe(9.9995)) -- within threshold (rel 1e-4): not an improvement
    assert.is_false(s:observe(5))
    for _ = 1, 3 do assert.is_false(s:observe(6)) end
    assert.is_true(s:observe(6))
    assert.equal(0.25, s:lr(0))
    for _ = 1, 3 do assert.is_false(s:observe(6)) end
    assert.is_true(s:observe(6)) -- 0.125 is below min_lr
    assert.equal(0.2, s:lr(0))
    for _ = 1, 10 do assert.is_false(s:observe(6)) end
  end)

  it("cooldown, max mode and absolute threshold", function()
    local s = S.plateau { lr = 1, patience = 0, cooldown = 2, factor = 0.5 }
    local got = {}
    for i = 1, 6 do got[i] = s:observe(1) end
    assert.same({ false, true, false, false, true, false }, got)
    local m = S.plateau { lr = 1, patience = 0, mode = "max", threshold_mode = "abs",
                          threshold = 0.5 }
    assert.is_false(m:observe(1))
    assert.is_false(m:observe(1.6))
    assert.is_true(m:observe(2))
    assert.near(0.1, m:lr(0), 1e-15)
  end)

  it("observe reaches a plateau inside a composite; other schedules refuse it", function()
    local p = S.plateau { lr = 1, patience = 0 }
    local s = S.sequence { S.constant { lr = 5 }, p, at = { 2 } }
    s:observe(1)
    assert.is_true(s:observe(1))
    assert.near(0.1, s:lr(2), 1e-15)
    U.err("schedule cosine: observe needs a plateau schedule", function()
      S.cosine { lr = 1, steps = 3 }:observe(1)
    end)
  end)
end)

describe("fn", function()
  it("runs a Lua function of the step", function()
    local s = S.fn(function(i) return 0.1 / (1 + i) end)
    assert.equal(0.1, s:lr(0))
    assert.equal(0.025, s:lr(3))
    assert.equal("fn", s.kind)
  end)

  it("names the schedule and the step on a bad result or an error", function()
    U.err("schedule fn: rate NaN at step 3", function()
      S.fn(function(i) return i == 3 and 0 / 0 or 1 end):lr(3)
    end)
    U.err("schedule decay at step 2: the function returned a string value, not a number",
      function() S.fn(function() return "x" end, { name = "decay" }):lr(2) end)
    U.err("schedule fn at step 0: ", function() S.fn(function() error("boom") end):lr(0) end)
    U.err("schedule fn: rate -1 at step 1", function() S.fn(function() return -1 end):lr(1) end)
    U.err("schedule fn: rate inf at step 0", function() S.fn(function() return 1 / 0 end):lr(0) end)
    U.err("schedule fn: unknown option 'nme'", S.fn, print, { nme = "x" })
  end)
end)

describe("bad input", function()
  it("gives clear errors", function()
    U.err("schedule cosine: option 'steps' must be an integer >= 1 (got 0)", S.cosine,
      { lr = 1, steps = 0 })
    U.err("schedule cosine: option 'steps' must be an integer >= 1 (got -5)", S.cosine,
      { lr = 1, steps = -5 })
    U.err("schedule cosine: option 'steps' must be an integer, got a fraction", S.cosine,
      { lr = 1, steps = 2.5 })
    U.err("schedule cosine: min_lr (0.5) is above lr (0.1)", S.cosine,
      { lr = 0.1, min_lr = 0.5, steps = 10 })
    U.err("schedule cosine: unknown option 'stpes'", S.cosine, { lr = 1, stpes = 10 })
    U.err("schedule cosine: option 'steps' is required", S.cosine, { lr = 1 })
    U.err("schedule step: option 'every' must be an integer >= 1 (got -1)", S.step,
      { lr = 1, every = -1 })
    U.err("schedule warmup: option 'steps' must be an integer >= 1 (got 0)", S.warmup,
      { steps = 0, lr = 1 })
    U.err("schedule warmup: give exactly one of 'after'", S.warmup, { steps = 3 })
    U.err("schedule multistep: milestones must be strictly increasing", S.multistep,
      { lr = 1, milestones = { 5, 2 } })
    U.err("schedule plateau: option 'mode' must be one of min, max", S.plateau,
      { lr = 1, mode = "up" })
    U.err("schedule plateau: option 'factor' must be in (0, 1)", S.plateau, { lr = 1, factor = 2 })
    U.err("schedule wsd: warmup (8) + decay (4) exceed steps (10)", S.wsd,
      { lr = 1, steps = 10, warmup = 8, decay = 4 })
    U.err("schedule sequence: option 'at' must list 1 step(s)", S.sequence,
      { S.constant { lr = 1 }, S.constant { lr = 2 } })
    U.err("schedule sequence: item 2 must be a schedule", S.sequence, { S.constant { lr = 1 }, 3,
      at = { 2 } })
    U.err("step must be >= 0", function() S.constant { lr = 1 }:lr(-1) end)
    U.err("step must be an integer", function() S.constant { lr = 1 }:lr(0.5) end)
  end)
end)

describe("state", function()
  it("restores every kind exactly, plateau state included", function()
    local p = S.plateau { lr = 1, patience = 1 }
    for _, v in ipairs { 3, 3, 3, 2 } do p:observe(v) end
    local all = S.sequence {
      S.warmup { steps = 3, after = S.cosine { lr = 0.5, steps = 7, min_lr = 0.01 } },
      S.multistep { lr = 0.1, milestones = { 2, 4 } }, S.sgdr { lr = 0.2, steps = 3, mult = 2 },
      S.onecycle { lr = 1, steps = 20, anneal = "linear" }, S.wsd { lr = 1, steps = 10 }, p,
      at = { 10, 20, 40, 60, 80 } }
    local st = all:state()
    assert.equal("sequence", st.kind)
    assert.equal("plateau", st[6].kind)
    assert.same({ lr = 0.1, best = 2, bad_epochs = 0, cooldown_left = 0, observed = 4 },
      st[6].state)
    assert.equal(2, st[5].decay) -- defaults resolved
    local r = S.restore(st)
    for i = 0, 100 do assert.equal(all:lr(i), r:lr(i)) end
    assert.same(st, r:state())
    -- the restored plateau carries on as the original does
    for _, v in ipairs { 5, 5, 5 } do assert.equal(all:observe(v), r:observe(v)) end
    assert.equal(all:lr(90), r:lr(90))
  end)

  it("set_state loads a plateau's state into a tree holding fn", function()
    local function build()
      return S.sequence { S.fn(function(i) return 1 / (i + 1) end),
                          S.plateau { lr = 1, patience = 0 }, at = { 5 } }
    end
    local a, b = build(), build()
    a:observe(1)
    a:observe(1)
    U.err("il.schedule.restore: an fn schedule's Lua function cannot be restored",
      S.restore, a:state())
    b:set_state(a:state())
    assert.equal(a:lr(7), b:lr(7))
    local c = S.sequence { S.fn(print), S.plateau { lr = 2, patience = 0 }, at = { 5 } }
    U.err("schedule plateau: option 'lr' differs from the state's", c.set_state, c, a:state())
    U.err("schedule cosine: the state is of a plateau schedule", function()
      S.cosine { lr = 1, steps = 2 }:set_state { kind = "plateau" }
    end)
  end)
end)

describe("optimizers", function()
  local function net()
    il.seed(3)
    return il.nn.sequential { il.nn.linear(2, 3), il.nn.tanh(), il.nn.linear(3, 1) }
  end

  it("opt:schedule sets the rate from opt.steps before each update", function()
    local n = net()
    local opt = il.optim.sgd(n, { lr = 1 })
    local s = S.cosine { lr = 0.4, steps = 4 }
    assert.equal(opt, opt:schedule(s))
    assert.equal(s, opt:schedule())
    assert.equal(0.4, opt.lr) -- s:lr(0), before any step
    local x, y = il.rand { 4, 2 }, il.rand { 4, 1 }
    for i = 0, 5 do
      assert.equal(i, opt.steps)
      assert.equal(s:lr(i), opt.lr) -- the rate of the next update: s:lr(opt.steps)
      n:step(x, y, "mse", opt)
    end
    assert.equal(0, opt.lr) -- a schedule may reach exactly 0
    U.err("opt.lr is set by the optimizer's schedule", function() opt.lr = 0.1 end)
    opt:schedule(nil)
    assert.is_nil(opt:schedule())
    opt.lr = 0.1
    assert.equal(0.1, opt.lr)
    U.err("bad argument #2", opt.schedule, opt, 5)
  end)

  it("a zero rate leaves the parameters unchanged", function()
    local n = net()
    local opt = il.optim.sgd(n, { lr = 1 }):schedule(S.warmup { steps = 2, lr = 0.1 })
    local before = n:parameters()[1]:totable()
    n:step(il.rand { 4, 2 }, il.rand { 4, 1 }, "mse", opt)
    assert.same(before, n:parameters()[1]:totable())
  end)

  it("an fn error during net:step names the step", function()
    local n = net()
    local opt = il.optim.adam(n, { lr = 1 })
    opt:schedule(S.fn(function(i) if i == 2 then return nil end return 0.01 end))
    local x, y = il.rand { 4, 2 }, il.rand { 4, 1 }
    n:step(x, y, "mse", opt)
    n:step(x, y, "mse", opt)
    U.err("schedule fn at step 2: the function returned a nil value", n.step, n, x, y, "mse", opt)
    assert.equal(2, opt.steps)
  end)
end)
