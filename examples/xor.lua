-- xor.lua: trains a 2-4-1 network (tanh hidden layer, sigmoid output, MSE, plain SGD) on XOR
-- read from the seed project's JSON format, then prints one line per test sample.
--
--   ilua examples/xor.lua [data.json] [--device cpu|cuda]
--
-- The data file holds one object with m, n, flat row-major x (m*n) and y (m), and optionally
-- m_test, x_test, y_test (see examples/data/README.md), read by il.data.load_json (the training
-- set stands in for a missing test set).
-- Output depends only on the seed: two runs print the same text.

local SEED, LR, EPOCHS, HIDDEN = 42, 0.5, 5000, 4

-- ---- training -------------------------------------------------------------------------------

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local path, device = dir .. "/data/neural_net.json", "cpu"
local i = 1
while arg and arg[i] do
  if arg[i] == "--device" then
    device, i = arg[i + 1], i + 2
    if device ~= "cpu" and device ~= "cuda" then
      io.stderr:write("xor.lua: --device takes cpu or cuda\n")
      os.exit(2)
    end
  else
    path, i = arg[i], i + 1
  end
end

print(string.format("iron-learn %s | mode: %s | lr: %g | epochs: %d | data: %s",
  il.version, device:upper(), LR, EPOCHS, path))

il.seed(SEED)
local x, y, x_test, y_test = il.data.load_json(path)
local net = il.nn.sequential {
  il.nn.linear(x.shape[2], HIDDEN), il.nn.tanh(),
  il.nn.linear(HIDDEN, 1), il.nn.sigmoid(),
}
if device ~= "cpu" then
  net, x, y, x_test, y_test = net:to(device), x:to(device), y:to(device), x_test:to(device),
                              y_test:to(device)
end
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
