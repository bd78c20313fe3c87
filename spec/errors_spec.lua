-- Every bad input gets an error that names the problem. Messages made by the binding are
-- checked exactly (busted strips the "file:line: " prefix); messages from the C core, which
-- may be reworded there, are matched on the facts they must name.
local il = require "il"
local U = require "spec_util"

describe("constructor errors", function()
  it("ragged nested tables name the row and both lengths", function()
    assert.has_error(function() il.tensor({ { 1, 2 }, { 3, 4, 5 } }) end,
      "ragged nested table: row 2 has length 3, expected 2")
    assert.has_error(function() il.tensor({ { { 1 }, { 2 } }, { { 3 }, { 4, 5 } } }) end,
      "ragged nested table: row 2,2 has length 2, expected 1")
    assert.has_error(function() il.tensor({ 1, { 2 } }) end,
      "ragged nested table: element 2 is a table, expected a number")
    assert.has_error(function() il.tensor({ { 1 }, 2 }) end,
      "ragged nested table: element 2 is a number, expected a table")
  end)

  it("non-number elements name their position and type", function()
    assert.has_error(function() il.tensor({ 1, "x" }) end,
      "element 2 is a string, expected a number")
    assert.has_error(function() il.tensor({ { 1, 2 }, { 3, true } }) end,
      "element 2,2 is a boolean, expected a number")
  end)

  it("bad first arguments", function()
    assert.has_error(function() il.tensor("abc") end,
      "bad argument #1 to 'tensor' (number, table or tensor expected, got string)")
    assert.has_error(function() il.zeros("x") end,
      "bad argument #1 to 'zeros' (table or integer expected, got string)")
    assert.has_error(function() il.zeros({ 2, -1 }) end,
      "bad argument #1 to 'zeros' (size 2 must be a non-negative integer, got -1)")
    assert.has_error(function() il.ones({ 2.5 }) end,
      "bad argument #1 to 'ones' (size 1 must be a non-negative integer, got number)")
    assert.has_error(function() il.zeros({ 1, 1, 1, 1, 1, 1, 1, 1, 1 }) end,
      "bad argument #1 to 'zeros' (too many dimensions (more than 8))")
    assert.has_error(function() il.arange(0, 1, 0) end,
      "bad argument #3 to 'arange' (step must not be zero)")
    assert.has_error(function() il.linspace(0, 1, 0) end,
      "bad argument #3 to 'linspace' (need at least one point)")
    assert.has_error(function() il.threads(0) end,
      "bad argument #1 to 'threads' (thread count must be in 1..256)")
  end)
end)

describe("option errors", function()
  it("an unknown option key is named", function()
    assert.has_error(function() il.zeros({ 2 }, { dtpye = "f64" }) end, "unknown option 'dtpye'")
    assert.has_error(function() il.tensor({ 1 }, { devcie = "cpu" }) end, "unknown option 'devcie'")
    assert.has_error(function() il.arange(0, 3, { dtpye = "f64" }) end, "unknown option 'dtpye'")
    assert.has_error(function() il.zeros({ 2 }, { "f64" }) end, "unknown option (a number key)")
  end)

  it("unknown dtypes and devices are named", function()
    assert.has_error(function() il.zeros({ 2 }, { dtype = "f16" }) end, "unknown dtype 'f16'")
    assert.has_error(function() il.tensor({ 1 }, { device = "tpu" }) end, "unknown device 'tpu'")
    assert.has_error(function() il.ones(2):to("xyz") end, "unknown dtype or device 'xyz'")
    assert.has_error(function() il.zeros({ 2 }, { dtype = 32 }) end,
      "option 'dtype' must be a string, got number")
  end)

  it("options must be a table", function()
    assert.has_error(function() il.zeros({ 2 }, "f64") end,
      "bad argument #2 to 'zeros' (table expected, got string)")
  end)
end)

describe("shape errors from the core", function()
  it("shapes that do not broadcast are both named", function()
    local msg = U.errmsg(function() return il.zeros({ 2, 3 }) + il.zeros({ 4 }) end)
    assert.matches("%(2, 3%)", msg)
    assert.matches("%(4%)", msg)
    assert.matches("broadcast", msg)
  end)

  it("a matmul inner-size mismatch names both shapes", function()
    local msg = U.errmsg(function() return il.zeros({ 2, 3 }):matmul(il.zeros({ 4, 5 })) end)
    assert.matches("matmul", msg)
    assert.matches("%(2, 3%)", msg)
    assert.matches("%(4, 5%)", msg)
  end)

  it("reshape to a different element count is refused", function()
    local msg = U.errmsg(function() return il.zeros({ 2, 3 }):reshape(4, 2) end)
    assert.matches("%(2, 3%)", msg)
    assert.matches("%(4, 2%)", msg)
    assert.has_error(function() il.zeros(6):reshape(-1, -1) end, "reshape: only one size may be -1")
  end)

  it("an op that does not support a dtype says so", function()
    assert.matches("i64", U.errmsg(function() return il.zeros({ 2 }, { dtype = "i64" }):exp() end))
  end)

  it("CUDA tensors fail with the reason when CUDA is unavailable", function()
    local ok, why = il.cuda.available()
    if not ok then
      assert.has_error(function() il.zeros({ 2 }, { device = "cuda" }) end, why)
      assert.has_error(function() il.zeros({ 2 }):to("cuda") end, why)
    end
  end)
end)

describe("axis and index errors", function()
  local t = il.zeros({ 2, 3, 4 })

  it("reductions name the user's axis", function()
    assert.has_error(function() t:sum(4) end, "axis 4 out of range for a 3-d tensor")
    assert.has_error(function() t:mean(0) end, "axis 0 out of range for a 3-d tensor")
    assert.has_error(function() t:max(-4) end, "axis -4 out of range for a 3-d tensor")
    assert.has_error(function() il.tensor(1):sum(1) end, "axis 1 out of range for a 0-d tensor")
  end)

  it("views check their axes and ranges", function()
    assert.has_error(function() t:transpose(1, 5) end, "axis 5 out of range for a 3-d tensor")
    assert.has_error(function() t:size(9) end, "axis 9 out of range for a 3-d tensor")
    assert.has_error(function() t:narrow(2, 3, 2) end,
      "narrow: elements 3..4 out of range for axis 2 of size 3")
    assert.has_error(function() t:narrow(1, 0, 1) end,
      "narrow: elements 0..0 out of range for axis 1 of size 2")
    assert.has_error(function() t:t() end, "t() needs a 2-d tensor, got a 3-d tensor")
  end)

  it("item and # refuse the wrong sizes", function()
    assert.has_error(function() il.zeros({ 2, 3 }):item() end,
      "item() needs a tensor with one element, got 6 elements")
    assert.has_error(function() return #il.tensor(1) end, "attempt to get length of a 0-d tensor")
  end)

  it("clamp bounds must be ordered", function()
    assert.has_error(function() t:clamp(2, 1) end,
      "bad argument #2 to 'clamp' (upper bound below lower bound)")
  end)
end)

describe("operand errors", function()
  local t = il.ones(2)
  it("arithmetic with a non-number names the type", function()
    assert.has_error(function() return t + "x" end,
      "bad operand to 'add' (tensor or number expected, got string)")
    assert.has_error(function() return {} * t end,
      "bad operand to 'mul' (tensor or number expected, got table)")
  end)

  it("methods called on a non-tensor say what they got", function()
    assert.has_error(function() il.Tensor.sum(5) end,
      "bad argument #1 to 'sum' (il.Tensor expected, got number)")
    assert.has_error(function() t:matmul(3) end,
      "bad argument #1 to 'matmul' (il.Tensor expected, got number)")
  end)

  it("use after free is refused", function()
    local u = il.ones(2)
    u:free()
    assert.has_error(function() u:sum() end, "attempt to use a freed tensor")
    assert.has_error(function() return u.shape end, "attempt to use a freed tensor")
    assert.has_error(function() return u + 1 end, "attempt to use a freed tensor")
    assert.has_error(function() return t + u end, "attempt to use a freed tensor")
  end)
end)
