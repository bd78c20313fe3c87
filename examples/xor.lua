-- xor.lua: the XOR problem as tensors.
--
-- Run with `ilua examples/xor.lua`. Training arrives with the layer graph (issue #3); until
-- then this example shows the data and one untrained forward pass of a 2-4-1 tanh network
-- written with plain tensor ops, so every piece it uses is real.
il.seed(42)

local x = il.tensor({{0, 0}, {0, 1}, {1, 0}, {1, 1}})
local y = il.tensor({{0}, {1}, {1}, {0}})

print(string.format("iron-learn %s | mode: CPU | threads: %d", il.version, il.threads()))
print("inputs  x = " .. tostring(x))
print("targets y = " .. tostring(y))

-- An untrained 2-4-1 network: h = tanh(x W1 + b1), p = sigmoid(h W2 + b2).
local w1, b1 = il.randn({2, 4}) * 0.5, il.zeros({4})
local w2, b2 = il.randn({4, 1}) * 0.5, il.zeros({1})
local h = (x:matmul(w1) + b1):tanh()
local p = (h:matmul(w2) + b2):sigmoid()
local mse = ((p - y) ^ 2):mean():item()

print("untrained predictions = " .. tostring(p))
print(string.format("untrained MSE = %.4f (training: il.nn, issue #3)", mse))
