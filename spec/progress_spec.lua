-- il.progress: plain lines at intervals on a non-terminal (a file here), nothing when disabled,
-- a redrawn bar on a terminal (run under script(1) when it is installed), and bad input.
local il = require "il"
local U = require "spec_util"

-- Runs f(p) on a progress display writing to a temporary file; returns the file's lines.
local function capture(total, opts, f)
  local name = os.tmpname()
  local out = assert(io.open(name, "w"))
  opts.out = out
  local p = il.progress(total, opts)
  f(p)
  out:close()
  local lines = {}
  for l in io.lines(name) do lines[#lines + 1] = l end
  os.remove(name)
  return lines, p
end

describe("il.progress on a file", function()
  it("writes a plain line each `every` units and one at done", function()
    local lines, p = capture(10, { label = "work", every = 3 }, function(p)
      assert.is_false(p.tty)
      for i = 1, 10 do p:update(i, { loss = 0.5 / i, lr = 0.01 }) end
      p:done()
      p:done() -- a second done does nothing
    end)
    assert.equal(4, #lines)
    assert.truthy(lines[1]:find("^work 3/10  30%%"))
    assert.truthy(lines[2]:find("^work 6/10  60%%"))
    assert.truthy(lines[3]:find("^work 9/10  90%%"))
    assert.truthy(lines[1]:find("ETA %d%d:%d%d"))
    assert.truthy(lines[1]:find("loss 0.166667 lr 0.01$"))
    assert.truthy(lines[4]:find("^work 10/10 100%% .* in 00:00 loss 0.05 lr 0.01$"))
    assert.falsy(lines[4]:find("%[")) -- no bar off a terminal
    assert.equal(10, p.n)
    assert.equal(10, p.total)
  end)

  it("defaults to a line per tenth of the total, and takes 0-d tensors", function()
    local lines = capture(100, {}, function(p)
      for i = 1, 100 do p:update(i, { loss = il.tensor(0.25) }) end
      p:done()
    end)
    assert.equal(10, #lines)
    assert.truthy(lines[1]:find("^10/100  10%% .* loss 0.25$"))
  end)

  it("skips lines when updates jump, and ends with <close>", function()
    local lines = capture(20, { every = 2 }, function(p)
      local q <close> = p
      q:update(7)
      q:update(8)
      q:update(50) -- clamped to the total
    end)
    assert.equal(3, #lines)
    assert.truthy(lines[1]:find("^7/20"))
    assert.truthy(lines[2]:find("^8/20"))
    assert.truthy(lines[3]:find("^20/20 100%%"))
  end)

  it("prints nothing when disabled", function()
    local lines = capture(5, { enabled = false }, function(p)
      for i = 1, 5 do p:update(i) end
      p:done()
      assert.is_false(p.enabled)
    end)
    assert.same({}, lines)
  end)
end)

describe("il.progress errors", function()
  it("checks its arguments", function()
    U.err("total must be an integer >= 1", il.progress, 0)
    U.err("unknown option 'evry'", il.progress, 5, { evry = 1 })
    U.err("progress: option 'every' must be an integer >= 1", il.progress, 5, { every = 0 })
    U.err("progress: option 'out' must be a file", il.progress, 5, { out = "x" })
    local p = il.progress(5, { enabled = false })
    U.err("n (units done so far) must be an integer", p.update, p, "x")
    U.err("progress: option 'loss' must be a number", p.update, p, 1, { loss = "x" })
    local f = io.tmpfile()
    local q = il.progress(5, { out = f, every = 1 })
    f:close()
    U.err("progress: its output file is closed", q.update, q, 1)
  end)
end)

describe("il.progress on a terminal", function()
  local has_script = os.execute("command -v script >/dev/null 2>&1")
  local run = has_script and it or pending
  run("redraws a bar in place", function()
    local code = "local p = il.progress(4, {label='t'}) for i = 1, 4 do p:update(i, {loss=1}) end "
      .. "p:done()"
    local out = U.run("script -qec " .. U.q(U.ilua .. " -e " .. U.q(code)) .. " /dev/null")
    assert.truthy(out:find("\rt %[" .. ("#"):rep(24) .. "%] 4/4 100%%"), out)
    assert.truthy(out:find("\27%[K"), out)
  end)
end)
