-- xor.lua: trains a 2-4-1 network (tanh hidden layer, sigmoid output, MSE, plain SGD) on XOR
-- read from the seed project's JSON format, then prints one line per test sample.
--
--   ilua examples/xor.lua [data.json]
--
-- The data file holds one object with m, n, flat row-major x (m*n) and y (m), and optionally
-- m_test, x_test, y_test (see examples/data/README.md). il.data.load_json arrives later, so the
-- small JSON reader below parses the file (numbers, strings, arrays, objects, literals).
-- Output depends only on the seed: two runs print the same text.

local SEED, LR, EPOCHS, HIDDEN = 42, 0.5, 5000, 4

-- ---- a minimal JSON reader ------------------------------------------------------------------

local json_null = setmetatable({}, { __name = "null" }) -- stands for JSON null

local function json_decode(text)
  local pos = 1
  local function fail(what)
    error(string.format("JSON: %s at byte %d", what, pos), 0)
  end
  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end
  local value
  local escapes = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = text:sub(i, i)
      if c == "" then fail("unterminated string") end
      if c == '"' then break end
      if c == "\\" then
        local e = text:sub(i + 1, i + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(text:sub(i + 2, i + 5), 16) or fail("bad \\u escape"))
          i = i + 6
        else
          out[#out + 1] = escapes[e] or e
          i = i + 2
        end
      else
        out[#out + 1] = c
        i = i + 1
      end
    end
    pos = i + 1
    return table.concat(out)
  end
  local function list(close, item)
    local t = {}
    pos = pos + 1
    skip()
    if text:sub(pos, pos) == close then
      pos = pos + 1
      return t
    end
    while true do
      item(t)
      skip()
      local c = text:sub(pos, pos)
      pos = pos + 1
      if c == close then return t end
      if c ~= "," then fail("expected ',' or '" .. close .. "'") end
    end
  end
  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      return list("}", function(t)
        skip()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        t[k] = value()
      end)
    elseif c == "[" then
      return list("]", function(t) t[#t + 1] = value() end)
    elseif c == '"' then
      return str()
    end
    for word, v in pairs { ["true"] = true, ["false"] = false, ["null"] = json_null } do
      if text:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        return v
      end
    end
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if num == nil or tonumber(num) == nil then fail("unexpected character") end
    pos = pos + #num
    return tonumber(num)
  end
  local v = value()
  skip()
  if pos <= #text then fail("trailing characters") end
  return v
end

-- Reads the dataset at path: returns x (m, n), y (m, 1), x_test, y_test (the training data
-- when the file has no test set).
local function load_dataset(path)
  local f = assert(io.open(path, "r"))
  local d = json_decode(f:read("a"))
  f:close()
  local function matrix(flat, rows, cols)
    assert(type(flat) == "table" and #flat == rows * cols,
      string.format("%s: expected %d values", path, rows * cols))
    local t = {}
    for i = 1, rows do
      t[i] = {}
      for j = 1, cols do t[i][j] = flat[(i - 1) * cols + j] end
    end
    return il.tensor(t)
  end
  local x, y = matrix(d.x, d.m, d.n), matrix(d.y, d.m, 1)
  if d.x_test and d.m_test then
    return x, y, matrix(d.x_test, d.m_test, d.n), matrix(d.y_test, d.m_test, 1)
  end
  return x, y, x, y
end

-- ---- training -------------------------------------------------------------------------------

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local path = arg and arg[1] or dir .. "/data/neural_net.json"

print(string.format("iron-learn %s | mode: CPU | lr: %g | epochs: %d | data: %s",
  il.version, LR, EPOCHS, path))

il.seed(SEED)
local x, y, x_test, y_test = load_dataset(path)
local net = il.nn.sequential {
  il.nn.linear(x.shape[2], HIDDEN), il.nn.tanh(),
  il.nn.linear(HIDDEN, 1), il.nn.sigmoid(),
}
local opt = il.optim.sgd(net, { lr = LR })
net:fit {
  x = x, y = y, loss = il.loss.mse, optim = opt, epochs = EPOCHS,
  on_epoch = function(epoch, loss)
    if epoch % 1000 == 0 then print(string.format("epoch %4d | loss %.6f", epoch, loss)) end
  end,
}

net:eval()
local pred = net:forward(x_test):totable()
local actual = y_test:totable()
for i = 1, #pred do
  local p, a = pred[i][1], actual[i][1]
  local ok = (p >= 0.5) == (a >= 0.5)
  print(string.format("Predicted: %.4f, Actual: %.4f, %s", p, a, ok and "✓" or "✗"))
end
print(string.format("MSE: %.6f", il.loss.mse(net:forward(x_test), y_test):item()))
