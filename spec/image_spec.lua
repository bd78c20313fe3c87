-- il.image: loading (gray, threshold, size) and atomic PNG saving.
local il = require "il"
local util = require "spec_util"

local DATA = (os.getenv("IL_SPEC_DIR") or "spec") .. "/../examples/data/"

describe("il.image", function()
  it("loads RGBA and gray, resized and thresholded", function()
    assert.same({ 328, 400, 4 }, il.image.load(DATA .. "horse.png").shape)
    local g = il.image.load(DATA .. "horse.png", { gray = true })
    assert.same({ 328, 400 }, g.shape)
    assert.is_true(g:min():item() >= 0 and g:max():item() <= 1)
    local small = il.image.load(DATA .. "horse.png", { gray = true, size = { 40, 30 }, threshold = 0.5 })
    assert.same({ 30, 40 }, small.shape)
    for _, row in ipairs(small:totable()) do
      for _, v in ipairs(row) do assert.is_true(v == 0 or v == 1) end
    end
    assert.has_error(function() il.image.load(DATA .. "horse.png", { size = { 0, 3 } }) end,
      "option 'size' must be {width, height} with sizes in 1..65536")
    assert.has_error(function() il.image.load(DATA .. "horse.png", { grey = true }) end,
      "unknown option 'grey'")
  end)

  it("saves PNG that loads back, clamping values", function()
    local path = os.tmpname() .. ".png"
    il.image.save(path, il.tensor({ { 0, 0.5, 2 }, { -1, 1, 0.25 } }))
    local back = il.image.load(path)
    assert.same({ 2, 3 }, back.shape)
    assert.is_true(util.near(back:totable(), { { 0, 128 / 255, 1 }, { 0, 1, 64 / 255 } }, 1e-6))
    il.image.save(path, il.rand({ 4, 5, 3 }))
    assert.same({ 4, 5, 3 }, il.image.load(path).shape)
    os.remove(path)
  end)

  it("reports truncated files and never destroys an existing file", function()
    local path = os.tmpname() .. ".png"
    il.image.save(path, il.ones({ 8, 8 }))
    local f = assert(io.open(path, "rb"))
    local bytes = f:read("a")
    f:close()
    f = assert(io.open(path, "wb"))
    f:write(bytes:sub(1, 40))
    f:close()
    local ok, msg = pcall(il.image.load, path)
    assert.is_false(ok)
    assert.truthy(msg:find(path:match("[^/]*$") .. ": truncated or not an image (stb: ", 1, true))
    -- A save that fails (bad shape, or an unwritable place) leaves the old file as it was.
    assert.has_error(function() il.image.save(path, il.ones({ 2, 2, 2, 2 })) end)
    assert.has_error(function() il.image.save("/nonexistent/dir/x.png", il.ones({ 2, 2 })) end)
    f = assert(io.open(path, "rb"))
    assert.equal(bytes:sub(1, 40), f:read("a"))
    f:close()
    os.remove(path)
  end)
end)
