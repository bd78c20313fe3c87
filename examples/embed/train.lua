-- train.lua: run by examples/embed/host.c. The host passes two (n, 1) f32 tensors that wrap
-- its own buffers (no copy): x and y = 2x + 1. The script fits y = w x + b and returns w and b
-- as tensors, which the host reads back into its own memory.
local x, y = ...
assert(x and y, "run me from examples/embed/host, which passes x and y")
il.seed(7)
local net = il.nn.sequential { il.nn.linear(1, 1) }
local opt = il.optim.adam(net, { lr = 0.05 })
net:fit { x = x, y = y, loss = il.loss.mse, optim = opt, epochs = 600 }
local params, names = net:parameters()
local w, b
for i, name in ipairs(names) do
  if name:match("weight$") then w = params[i] elseif name:match("bias$") then b = params[i] end
end
print(string.format("train.lua: fitted on %d host samples, w = %.4f, b = %.4f",
  x:size(1), w:item(), b:item()))
return w, b
