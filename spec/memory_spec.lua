-- Tensor life cycle: free, <close>, use after free, views keeping their base, and the
-- collector being told about tensor memory so that loops do not balloon.
local il = require "il"

local function live() return il.memory().live_tensors end
local function inuse() return il.memory().bytes_in_use end
local function fullgc() collectgarbage(); collectgarbage() end

describe("free", function()
  it("releases at once and is harmless twice", function()
    fullgc()
    local n, b = live(), inuse()
    local t = il.zeros({ 1000 })
    assert.equal(n + 1, live())
    t:free()
    assert.equal(n, live())
    assert.equal(b, inuse())
    t:free()
    assert.equal(n, live())
  end)

  it("leaves an inert tensor that refuses use but prints", function()
    local t = il.ones({ 2, 2 })
    t:free()
    assert.has_error(function() t:numel() end, "attempt to use a freed tensor")
    assert.has_error(function() return t.dtype end, "attempt to use a freed tensor")
    assert.has_error(function() return #t end, "attempt to use a freed tensor")
    assert.has_error(function() t:totable() end, "attempt to use a freed tensor")
    assert.has_error(function() t:reshape(4) end, "attempt to use a freed tensor")
    assert.equal("il.Tensor (freed)", tostring(t))
    assert.is_true(il.is_tensor(t))
  end)
end)

describe("<close>", function()
  it("frees a tensor when its scope ends", function()
    fullgc()
    local n, b = live(), inuse()
    local escaped
    do
      local t <close> = il.zeros({ 4096 })
      escaped = t
      assert.equal(n + 1, live())
    end
    assert.equal(n, live())
    assert.equal(b, inuse())
    assert.has_error(function() escaped:sum() end, "attempt to use a freed tensor")
  end)

  it("frees on an error leaving the scope too", function()
    fullgc()
    local n = live()
    pcall(function()
      local t <close> = il.zeros({ 16 })
      error("boom")
    end)
    assert.equal(n, live())
  end)
end)

describe("the collector", function()
  it("collects unreachable tensors", function()
    fullgc()
    local n = live()
    for _ = 1, 100 do local _ = il.zeros({ 10 }) + 1 end
    fullgc()
    assert.equal(n, live())
  end)

  for _, mode in ipairs { "incremental", "generational" } do
    it("keeps a loop of 2000 1 MB tensors well under 300 MB (" .. mode .. ")", function()
      local old = collectgarbage(mode)
      fullgc()
      local peak0 = inuse()
      local highest = 0
      for i = 1, 2000 do
        local _ = il.zeros({ 262144 }) -- 1 MB of f32
        if i % 50 == 0 then highest = math.max(highest, inuse() - peak0) end
      end
      collectgarbage(old)
      fullgc()
      assert.is_true(highest < 300 * 2 ^ 20,
        string.format("%.0f MB in use during the loop", highest / 2 ^ 20))
    end)
  end

  it("keeps a loop of arithmetic results bounded", function()
    fullgc()
    local x = il.ones({ 512, 512 }) -- 1 MB
    local base, highest = inuse(), 0
    for i = 1, 1000 do
      local y = (x + i) * 2
      if i % 50 == 0 then highest = math.max(highest, inuse() - base) end
      assert.truthy(y)
    end
    assert.is_true(highest < 300 * 2 ^ 20,
      string.format("%.0f MB in use during the loop", highest / 2 ^ 20))
  end)

  it("does not run while the user stopped it", function()
    fullgc()
    local n = live()
    collectgarbage("stop")
    for _ = 1, 100 do local _ = il.zeros({ 65536 }) end
    local during = live()
    collectgarbage("restart")
    fullgc()
    assert.equal(n + 100, during)
    assert.equal(n, live())
  end)
end)

describe("views", function()
  it("keep their base alive through the collector", function()
    local v = il.arange(0, 6):reshape(2, 3)
    fullgc()
    assert.same({ { 0, 1, 2 }, { 3, 4, 5 } }, v:totable())
  end)

  it("chains of views do not pile up", function()
    fullgc()
    local n = live()
    local x = il.zeros({ 4, 4 })
    for _ = 1, 1000 do x = x:t() end
    fullgc()
    assert.is_true(live() <= n + 2)
  end)

  it("the storage lives until the last handle goes", function()
    fullgc()
    local b = inuse()
    local base = il.zeros({ 1 << 16 })
    local v = base:narrow(1, 1, 10)
    base:free()
    assert.is_true(inuse() - b >= 4 * (1 << 16)) -- the view still holds the storage
    v:free()
    assert.equal(b, inuse())
  end)
end)

describe("errors", function()
  it("leave no tensors behind", function()
    fullgc()
    local n, b = live(), inuse()
    local a, c = il.zeros({ 2, 3 }), il.zeros({ 4 })
    for _ = 1, 100 do
      pcall(function() return a + c end)
      pcall(function() return a:matmul(c) end)
      pcall(function() return il.tensor({ { 1 }, { 2, 3 } }) end)
      pcall(function() return il.zeros({ 2 }, { dtype = "bad" }) end)
      pcall(function() return a:reshape(5) end)
    end
    a:free()
    c:free()
    fullgc()
    assert.equal(n, live())
    assert.equal(b, inuse())
  end)
end)
