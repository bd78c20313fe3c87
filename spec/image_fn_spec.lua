-- Images as functions of coordinates: il.nn.siren and il.nn.fourier (shapes, gradients,
-- determinism, errors) and examples/image_reconstruct.lua on tiny images (its output line,
-- files and error messages). Fast: no long training here; docs/images.md has the real runs.
local il = require "il"
local U = require "spec_util"

local DIR = (os.getenv("IL_SPEC_DIR") or "spec") .. "/.."
local DATA = DIR .. "/examples/data/"

describe("il.nn.siren", function()
  it("is a linear layer plus a sine, or the linear head alone with last=true", function()
    local net = il.nn.sequential { il.nn.siren(2, 8, { first = true }), il.nn.siren(8, 8),
      il.nn.siren(8, 1, { last = true }) }
    assert.equal(2 * 8 + 8 + 8 * 8 + 8 + 8 + 1, net.num_params)
    local s = tostring(net)
    local _, sines = s:gsub("\n%S+%s+sine%s", "")
    assert.equal(2, sines)
    assert.same({ 5, 1 }, net:forward(il.rand { 5, 2 }).shape)
    assert.equal("il.Layer (siren(2, 8))", tostring(il.nn.siren(2, 8)))
  end)

  it("draws weights in the SIREN ranges", function()
    il.seed(3)
    local params = il.nn.sequential { il.nn.siren(4, 64, { first = true }),
      il.nn.siren(64, 64, { omega = 10 }) }:parameters()
    assert.is_true(params[1]:abs():max():item() <= 1 / 4)
    assert.is_true(params[3]:abs():max():item() <= math.sqrt(6 / 64) / 10 + 1e-7)
    assert.is_true(params[3]:abs():max():item() > 0.8 * math.sqrt(6 / 64) / 10)
  end)

  it("passes a gradient check", function()
    il.seed(4)
    local net = il.nn.sequential { il.nn.siren(2, 6, { first = true }), il.nn.siren(6, 6),
      il.nn.siren(6, 1, { last = true }), dtype = "f64" }
    assert.is_true(il.gradcheck(net, il.rand({ 4, 2 }, { dtype = "f64" }) * 2 - 1) < 1e-6)
  end)

  it("refuses bad options", function()
    assert.has_error(function() il.nn.siren(2, 3, { omega = 0 }) end, "siren: omega must be > 0")
    assert.has_error(function() il.nn.siren(2, 3, { omgea = 1 }) end, "unknown option 'omgea'")
    assert.has_error(function() il.nn.siren(0, 3) end)
  end)
end)

describe("il.nn.fourier", function()
  local function net(seed)
    return il.nn.sequential { il.nn.fourier(2, { features = 5, sigma = 2, seed = seed }) }
  end

  it("is 2 * features wide, has no parameters, and a seed fixes it", function()
    local x = il.rand { 3, 2 }
    local a, b = net(7), net(7)
    assert.equal(0, a.num_params)
    local ya = a:forward(x)
    assert.same({ 3, 10 }, ya.shape)
    assert.same(ya:totable(), b:forward(x):totable())
    assert.are_not.same(ya:totable(), net(8):forward(x):totable())
    -- sin^2 + cos^2 = 1 for each frequency
    local s, c = ya:narrow(2, 1, 5), ya:narrow(2, 6, 5)
    assert.is_true(((s * s + c * c) - 1):abs():max():item() < 1e-5)
  end)

  it("shows B through net:buffers, and net:to keeps it", function()
    il.seed(6)
    local a = il.nn.sequential { il.nn.fourier(2, { features = 3, name = "ff" }),
      il.nn.linear(6, 1) }
    local bufs, names = a:buffers()
    assert.same({ "ff.B" }, names)
    assert.same({ 2, 3 }, bufs[1].shape)
    local b = a:to("f64")
    assert.is_true(U.near(bufs[1]:totable(), b:buffers()[1]:totable(), 1e-6))
    local x = il.rand { 4, 2 }
    assert.is_true(U.near(a:forward(x):totable(), b:forward(x:to("f64")):totable(), 1e-5))
  end)

  it("passes a gradient check in front of an MLP", function()
    il.seed(5)
    local m = il.nn.sequential { il.nn.fourier(2, { features = 4, sigma = 1, seed = 3 }),
      il.nn.linear(8, 4), il.nn.tanh(), il.nn.linear(4, 1), dtype = "f64" }
    assert.is_true(il.gradcheck(m, il.rand({ 4, 2 }, { dtype = "f64" })) < 1e-6)
  end)

  it("refuses bad options", function()
    assert.has_error(function() il.nn.fourier(2, {}) end,
      "fourier: features must be an integer >= 1")
    assert.has_error(function() il.nn.fourier(2, { features = 3, sigma = -1 }) end,
      "fourier: sigma must be > 0")
    assert.has_error(function() il.nn.fourier(2, { features = 3, seed = 1.5 }) end,
      "fourier: seed must be an integer in [1, 2^53)")
    assert.has_error(function()
      il.nn.sequential { il.nn.linear(2, 3), il.nn.fourier(2, { features = 3 }) }
    end, "fourier(2, 3) (layer 2): expected 2 input features, got 3")
  end)
end)

describe("examples/image_reconstruct.lua", function()
  local example = DIR .. "/examples/image_reconstruct.lua"

  local function run(args)
    return U.run(U.q(U.ilua) .. " " .. U.q(example) .. " " .. args)
  end

  it("redraws a small image and writes the renders", function()
    local out_dir = os.tmpname() .. "_d"
    local out, code = run(U.q(DATA .. "horse.png") ..
      " --size 24 --steps 40 --batch 576 --render 8,30 --quiet --out " .. U.q(out_dir))
    assert.equal(0, code, out)
    local acc, iou, psnr = out:match("pixel accuracy: ([%d.]+)%%  IoU: ([%d.]+)  PSNR: ([%d.-]+) dB")
    assert.truthy(acc, out)
    assert.is_true(tonumber(acc) > 80 and tonumber(iou) > 0.3 and tonumber(psnr) > 5, out)
    assert.same({ 8, 8 }, il.image.load(out_dir .. "/recon_8.png").shape)
    assert.same({ 30, 30 }, il.image.load(out_dir .. "/recon_30.png").shape)
    assert.same({ 24, 48 }, il.image.load(out_dir .. "/side_by_side.png").shape)
    os.execute("rm -rf " .. U.q(out_dir))
  end)

  it("resumes from a checkpoint exactly where the run was", function()
    local out_dir = os.tmpname() .. "_d"
    local args = U.q(DATA .. "horse.png") .. " --model mlp --size 16 --steps 12 --batch 64 " ..
      "--render 4 --quiet --out " .. U.q(out_dir)
    local full, code = run(args .. " --checkpoint 1")
    assert.equal(0, code, full)
    local resumed
    resumed, code = run(args .. " --resume " .. U.q(out_dir .. "/ckpt-000008.safetensors"))
    assert.equal(0, code, resumed)
    local line = "steps: 12  final loss: [%d.e-]+"
    assert.truthy(full:match(line), full)
    assert.equal(full:match(line), resumed:match(line))
    assert.equal(full:match("pixel accuracy: [^\n]+"), resumed:match("pixel accuracy: [^\n]+"))
    os.execute("rm -rf " .. U.q(out_dir))
  end)

  it("says when it converts a colour or alpha image", function()
    local out, code = run(U.q(DATA .. "horse.png") .. " --size 8 --steps 1 --render 4 --out " ..
      U.q(os.tmpname() .. "_d"))
    assert.equal(0, code, out)
    assert.truthy(out:find("400x328 RGBA, converted to gray", 1, true), out)
  end)

  it("gives clear errors", function()
    local out, code = run(U.q(DATA .. "nothere.png"))
    assert.equal(1, code)
    assert.truthy(out:find("cannot read image: .*nothere.png"), out)
    out, code = run(U.q(DATA .. "README.md"))
    assert.equal(1, code)
    assert.truthy(out:find("cannot read image:", 1, true), out)
    out, code = run(U.q(DATA .. "horse.png") .. " --size 0")
    assert.equal(2, code)
    assert.truthy(out:find("--size must be an integer in 2..2048, not '0'", 1, true), out)
    out, code = run(U.q(DATA .. "horse.png") .. " --size 100000")
    assert.truthy(out:find("--size must be an integer in 2..2048", 1, true), out)
    out, code = run(U.q(DATA .. "horse.png") .. " --model cnn")
    assert.truthy(out:find("--model must be fourier, mlp or siren, not 'cnn'", 1, true), out)
    out, code = run("")
    assert.truthy(out:find("no IMAGE given", 1, true), out)
  end)
end)

describe("examples/siren.lua", function()
  local example = DIR .. "/examples/siren.lua"

  it("fits a tiny image and reports PSNR as it goes", function()
    local png = os.tmpname() .. ".png"
    local out, code = U.run(U.q(U.ilua) .. " " .. U.q(example) .. " " ..
      U.q(DATA .. "camera.png") .. " --size 12 --steps 4 --every 2 --out " .. U.q(png))
    assert.equal(0, code, out)
    assert.truthy(out:find("step    2  loss [%d.e+-]+  PSNR [%d.-]+ dB"), out)
    assert.truthy(out:find("final PSNR: [%d.-]+ dB after 4 steps"), out)
    assert.same({ 12, 12 }, il.image.load(png).shape)
    os.remove(png)
    out, code = U.run(U.q(U.ilua) .. " " .. U.q(example) .. " " .. U.q(DATA .. "nothere.png"))
    assert.equal(1, code)
    assert.truthy(out:find("siren.lua: cannot read image: ", 1, true), out)
  end)
end)
