-- Checkpoints (issue 7): il.save / il.load, net:save / il.nn.load, fit{checkpoint=, resume=}.
-- The resume tests train in one process, save, and continue in a NEW process (ilua spawned
-- through io.popen), then compare every parameter bit for bit (printed as %a hex floats) with
-- an uninterrupted run. Malformed files are made here byte by byte (string.pack).
local il = require "il"
local U = require "spec_util"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. U.q(dir)))

local function path(name) return dir .. "/" .. name end

-- The script every process runs: data from a formula (not the generator), Adam with a cosine
-- schedule, shuffled mini-batches of 8; mode "full" trains 6 epochs, "first" 3 then saves,
-- "rest" loads and trains 3 more; "fitfirst"/"fitrest" do the same through fit's options.
local script = [[
local il = require "il"
local mode, dtype, file = ...
local function params(net)
  local out = {}
  for _, t in ipairs((net:parameters())) do
    local function walk(v)
      if type(v) == "table" then for _, x in ipairs(v) do walk(x) end
      else out[#out + 1] = string.format("%a", v) end
    end
    walk(t:totable())
  end
  return table.concat(out, " ")
end
local xs, ys = {}, {}
for i = 1, 40 do xs[i] = {i / 20 - 1, math.cos(i)}; ys[i] = {math.sin(3 * xs[i][1]) + xs[i][2]} end
local x, y = il.tensor(xs, {dtype = dtype}), il.tensor(ys, {dtype = dtype})
local function setup(seed)
  il.seed(seed)
  local net = il.nn.sequential{il.nn.linear(2, 16), il.nn.tanh(), il.nn.linear(16, 8), il.nn.gelu(),
                         il.nn.linear(8, 1), dtype = dtype}
  local opt = il.optim.adam(net, {lr = 0.02})
  opt:schedule(il.schedule.cosine{lr = 0.02, steps = 30, min_lr = 0.001})
  return net, opt
end
local function fit(net, opt, epochs, extra)
  local o = {x = x, y = y, loss = "mse", optim = opt, epochs = epochs, batch = 8, shuffle = true,
             progress = false}
  for k, v in pairs(extra or {}) do o[k] = v end
  return net:fit(o)
end
if mode == "full" then
  local net, opt = setup(7)
  fit(net, opt, 6)
  print(params(net))
elseif mode == "first" then
  local net, opt = setup(7)
  fit(net, opt, 3)
  il.save(file, {net = net, optim = opt, step = opt.steps, epoch = 3, extra = {note = "half"}})
elseif mode == "rest" then
  local t = il.load(file)
  assert(t.extra.note == "half" and t.epoch == 3 and t.step == t.optim.steps)
  fit(t.net, t.optim, 3)
  print(params(t.net))
elseif mode == "fitfirst" then
  local net, opt = setup(7)
  fit(net, opt, 3, {checkpoint = {path = file, every = 1, keep = 2}})
elseif mode == "fitrest" then
  local net, opt = setup(99) -- other weights and generator: all overwritten by the resume
  local _, n = fit(net, opt, 6, {resume = file})
  assert(n == 6, n)
  print(params(net))
end
]]

local scriptfile = U.tmpfile(script)

local function run(mode, dtype, file)
  local out, code = U.run(U.q(U.ilua) .. " " .. U.q(scriptfile) .. " " .. mode .. " " .. dtype ..
                          " " .. U.q(file or "-"))
  assert.are.equal(0, code, out)
  return out
end

describe("resume in a new process", function()
  for _, dtype in ipairs({"f32", "f64"}) do
    it("il.save / il.load is bit-identical to an uninterrupted run (" .. dtype .. ")", function()
      local f = path("half-" .. dtype .. ".safetensors")
      local full = run("full", dtype)
      run("first", dtype, f)
      local resumed = run("rest", dtype, f)
      assert.is_true(#full > 100)
      assert.are.equal(full, resumed)
    end)
    it("fit{checkpoint=} then fit{resume=} is bit-identical (" .. dtype .. ")", function()
      local f = path("fit-" .. dtype .. ".safetensors")
      local full = run("full", dtype)
      run("fitfirst", dtype, f)
      -- 40 rows in batches of 8: 5 steps an epoch; keep=2 leaves the last two epochs' files
      assert.is_nil(io.open(il.checkpoint_path(f, 5)))
      assert.is_not_nil(io.open(il.checkpoint_path(f, 10)))
      local last = il.checkpoint_path(f, 15)
      assert.are.equal(path("fit-" .. dtype .. "-000015.safetensors"), last)
      assert.are.equal(full, run("fitrest", dtype, last))
    end)
  end
end)

local function smallnet()
  il.seed(3)
  return il.nn.sequential{il.nn.linear(3, 4), il.nn.relu(), il.nn.linear(4, 2, {name = "head"})}
end

describe("il.save / il.load", function()
  it("round-trips the architecture, weights, optimizer, schedule and extra", function()
    local net = smallnet()
    local opt = il.optim.sgd(net, {lr = 0.1, momentum = 0.9})
    local s = il.schedule.step{lr = 0.1, every = 2, gamma = 0.5}
    opt:schedule(s)
    local x, y = il.randn{5, 3}, il.randn{5, 2}
    for _ = 1, 3 do net:step(x, y, "mse", opt) end
    local f = path("rt.safetensors")
    il.save(f, {net = net, optim = opt, step = 3, epoch = 1,
                extra = {name = "x\"y", n = 2.5, big = 2 ^ 60, list = {1, 2, {deep = true}}}})
    local t = il.load(f)
    assert.are.same((net:forward(x)):totable(), (t.net:forward(x)):totable())
    assert.are.equal("sgd", t.optim.kind)
    assert.are.equal(3, t.optim.steps)
    assert.are.equal(opt.lr, t.optim.lr)
    assert.are.same(s:state(), t.schedule:state())
    assert.are.same({name = "x\"y", n = 2.5, big = 2 ^ 60, list = {1, 2, {deep = true}}}, t.extra)
    local _, names = t.net:parameters()
    assert.are.same({"linear1.weight", "linear1.bias", "head.weight", "head.bias"}, names)
    -- the same next update on both
    net:step(x, y, "mse", opt)
    t.net:step(x, y, "mse", t.optim)
    assert.are.same((net:forward(x)):totable(), (t.net:forward(x)):totable())
  end)

  it("net:save / il.nn.load keep a bare model", function()
    local net = smallnet()
    local f = path("bare.safetensors")
    net:save(f)
    local x = il.randn{2, 3}
    assert.are.same(net:forward(x):totable(), il.nn.load(f):forward(x):totable())
    assert.is_nil(il.load(f).optim)
  end)

  it("keeps a fourier layer's fixed B, so the loaded net computes the same", function()
    il.seed(4)
    local net = il.nn.sequential { il.nn.fourier(2, { features = 6, sigma = 3, name = "ff" }),
                                   il.nn.linear(12, 1) }
    local x = il.rand({ 5, 2 })
    local f = path("fourier.safetensors")
    net:save(f)
    il.seed(99) -- a rebuilt layer would draw another B
    local back = il.nn.load(f)
    assert.same(net:forward(x):totable(), back:forward(x):totable())
    local b0, names = net:buffers()
    assert.equal("ff.B", names[1])
    assert.same(b0[1]:totable(), (back:buffers())[1]:totable())
  end)

  it("restores the generator", function()
    local net = smallnet()
    local f = path("rng.safetensors")
    il.save(f, {net = net})
    local a = il.rand{4}:totable()
    il.seed(12345)
    il.load(f)
    assert.are.same(a, il.rand{4}:totable())
  end)

  it("saves an fn schedule's state, to be set on a rebuilt one", function()
    local net = smallnet()
    local opt = il.optim.sgd(net, {lr = 0.1})
    local s = il.schedule.warmup{steps = 2, after = il.schedule.fn(function(i) return 0.1 / (i + 1) end)}
    opt:schedule(s)
    il.save(path("fn.safetensors"), {net = net, optim = opt})
    local t = il.load(path("fn.safetensors"))
    assert.is_nil(t.schedule)
    assert.are.same(s:state(), t.schedule_state)
  end)

  it("refuses a custom Lua layer, naming it", function()
    local lay = il.nn.layer{forward = function(x) return x end, backward = function(_, _, dy) return dy end,
                            name = "mine"}
    local net = il.nn.sequential{il.nn.linear(2, 2), lay}
    assert.has_error(function() il.save(path("c.safetensors"), {net = net}) end)
    local ok, e = pcall(il.save, path("c.safetensors"), {net = net})
    assert.is_false(ok)
    assert.matches("cannot save layer 'mine", e)
  end)

  it("checks its arguments", function()
    assert.has_error(function() il.save(path("x"), {net = smallnet(), bogus = 1}) end,
                     "save: unknown field 'bogus'")
    assert.has_error(function() il.save(path("x"), {}) end, "save: net is required")
    assert.has_error(function() il.save(path("x"), {net = smallnet(), extra = {f = print}}) end)
    assert.has_error(function() il.save(path("x"), {net = 5}) end,
                     "save: net must be a network (il.nn.*)")
    local other = smallnet()
    assert.has_error(function()
      il.save(path("x"), {net = smallnet(), optim = il.optim.sgd(other, {lr = 0.1})})
    end, "save: optim must be the optimizer of net")
  end)
end)

-- A safetensors file from a header table (JSON text) and data bytes.
local function stfile(name, header, data, hlen)
  local f = assert(io.open(path(name), "wb"))
  f:write(string.pack("<I8", hlen or #header), header, data or "")
  f:close()
  return path(name)
end

local function loaderr(file)
  local ok, e = pcall(il.load, file)
  assert.is_false(ok)
  return e
end

describe("a bad file", function()
  local good
  setup(function()
    good = path("good.safetensors")
    smallnet():save(good)
  end)

  local function bytes(file)
    local f = assert(io.open(file, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end

  it("truncated", function()
    local s = bytes(good)
    local f = stfile("trunc.safetensors", s:sub(9, #s - 10), "", #s - 8)
    local e = loaderr(f)
    assert.matches("trunc.safetensors: header length too big", e, 1, true)
    assert.matches("tiny.safetensors: bad header length: 0 bytes",
                   loaderr(stfile("tiny.safetensors", "", "", 0)), 1, true)
  end)

  it("too short for the length field", function()
    local f = assert(io.open(path("short.safetensors"), "wb"))
    f:write("abc")
    f:close()
    assert.matches("file too short", loaderr(path("short.safetensors")), 1, true)
  end)

  it("an oversized header length", function()
    local e = loaderr(stfile("huge.safetensors", "{}", "", 1 << 62))
    assert.matches("header length too big", e, 1, true)
  end)

  it("bad JSON", function()
    assert.matches("not valid JSON", loaderr(stfile("bad.safetensors", "{\"a\": [1, }   ")), 1, true)
  end)

  it("offsets outside the data, overlapping, wrong byte count, unknown dtype", function()
    local d = string.rep("\0", 16)
    local function h(body) return "{" .. body .. "}" end
    assert.matches("past the data section", loaderr(stfile("o1.safetensors",
      h('"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}'), d)), 1, true)
    assert.matches("tensors 'a' and 'b' overlap", loaderr(stfile("o2.safetensors",
      h('"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' ..
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}'), d)), 1, true)
    assert.matches("tensor 'a': 12 bytes for its shape, but data_offsets span 16",
      loaderr(stfile("o3.safetensors", h('"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}'),
                     d)), 1, true)
    assert.matches("unsupported dtype 'BF16'", loaderr(stfile("o4.safetensors",
      h('"a":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]}'), d)), 1, true)
  end)

  it("a bit flipped in the header", function()
    local s = bytes(good)
    local n = string.unpack("<I8", s)
    for _, at in ipairs({9, 20, 8 + n // 2, 8 + n - 3}) do
      local b = s:byte(at) ~ 0x20
      local f = assert(io.open(path("flip.safetensors"), "wb"))
      f:write(s:sub(1, at - 1), string.char(b), s:sub(at + 1))
      f:close()
      local ok, e = pcall(il.load, path("flip.safetensors"))
      assert.is_true(ok or type(e) == "string")
    end
  end)

  it("names that do not match the architecture", function()
    local s = bytes(good)
    local renamed = s:gsub("head%.bias", "hexd.bias", 1)
    local f = assert(io.open(path("names.safetensors"), "wb"))
    f:write(renamed)
    f:close()
    local e = loaderr(path("names.safetensors"))
    assert.matches("names.safetensors: tensor 'head.bias' is missing", e, 1, true)
  end)

  it("a tensor the architecture does not have", function()
    local net = smallnet()
    local f = path("opt.safetensors")
    il.save(f, {net = net, optim = il.optim.adam(net, {lr = 0.1})})
    local ok, e = pcall(il.load, f) -- fine with its optimizer
    assert.is_true(ok, e)
    -- the document loses its optimizer (same length, so the file stays well-formed)
    local s, n = bytes(f):gsub('\\"optim\\":{', '\\"optix\\":{', 1)
    assert.are.equal(1, n)
    local g = assert(io.open(path("noopt.safetensors"), "wb"))
    g:write(s)
    g:close()
    assert.matches("does not belong to the architecture (optimizer state, but no optimizer)",
                   loaderr(path("noopt.safetensors")), 1, true)
  end)

  it("not an iron-learn file", function()
    local f = stfile("plain.safetensors", '{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}',
                     string.rep("\0", 8))
    assert.matches("not an iron-learn checkpoint", loaderr(f), 1, true)
  end)
end)

describe("fit{checkpoint=, resume=}", function()
  local function data()
    local xs, ys = {}, {}
    for i = 1, 12 do xs[i] = {i / 12, 1 - i / 12, 0.5}; ys[i] = {i % 3 - 1, 0.25} end
    return il.tensor(xs), il.tensor(ys)
  end

  it("checks its options", function()
    local net = smallnet()
    local x, y = data()
    local opt = il.optim.sgd(net, {lr = 0.1})
    assert.has_error(function()
      net:fit{x = x, y = y, loss = "mse", optim = opt, checkpoint = {path = path("p"), every = 0}}
    end, "fit: checkpoint.every must be an integer >= 1")
    assert.has_error(function()
      net:fit{x = x, y = y, loss = "mse", optim = opt, checkpoint = "p"}
    end, "fit: checkpoint must be a table {path=, every=, keep=}")
  end)

  it("refuses a checkpoint of another optimizer kind or architecture", function()
    local net = smallnet()
    local x, y = data()
    local opt = il.optim.sgd(net, {lr = 0.1})
    local f = path("sgd.safetensors")
    net:fit{x = x, y = y, loss = "mse", optim = opt, epochs = 2,
            checkpoint = {path = f, every = 1, keep = 1}}
    local last = il.checkpoint_path(f, 2)
    assert.is_nil(io.open(il.checkpoint_path(f, 1)))
    local adam = il.optim.adam(net, {lr = 0.1})
    local ok, e = pcall(net.fit, net, {x = x, y = y, loss = "mse", optim = adam, epochs = 3,
                                       resume = last})
    assert.is_false(ok)
    assert.matches("holds sgd state, fit's optimizer is adam", e, 1, true)
    local other = il.nn.sequential{il.nn.linear(3, 5), il.nn.relu(), il.nn.linear(5, 2, {name = "head"})}
    ok, e = pcall(other.fit, other, {x = x, y = y, loss = "mse", epochs = 3, resume = last,
                                     optim = il.optim.sgd(other, {lr = 0.1})})
    assert.is_false(ok)
    assert.matches("tensor 'linear1.weight': shape (3, 4) in the file, (3, 5) expected", e, 1, true)
    -- a finished run: nothing more to do
    local _, n = net:fit{x = x, y = y, loss = "mse", optim = opt, epochs = 2, resume = last}
    assert.are.equal(2, n)
  end)
end)

describe("killed while saving", function()
  it("never leaves a truncated file under the checkpoint's name", function()
    local f = path("killed.safetensors")
    local saver = U.tmpfile(string.format([[
      local il = require "il"
      local net = il.nn.sequential{il.nn.linear(64, 256), il.nn.tanh(), il.nn.linear(256, 64)}
      local opt = il.optim.adam(net, {lr = 0.01})
      il.save(%q, {net = net, optim = opt})
      io.stdout:write("ready\n"); io.stdout:flush()
      local i = 0
      while true do i = i + 1; il.save(%q, {net = net, optim = opt, step = i}) end
    ]], f, f))
    for k = 1, 3 do
      -- kill -9 at a few moments after the first save
      U.run(string.format("timeout -s KILL %.2f %s %s", 0.3 + 0.15 * k, U.q(U.ilua), U.q(saver)))
      local t = il.load(f)
      assert.is_not_nil(t.optim)
    end
    U.run("rm -f " .. U.q(f) .. ".tmp.*")
  end)
end)
