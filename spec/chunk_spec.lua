-- Chunked inference (issue 9): net:forward over a batch whose one-pass activations would pass
-- 256 MiB runs in chunks of rows by itself, with the result of one pass and the memory of a
-- chunk. (Chunk sizes are set from C, il_net_set_forward_chunk; tests/test_forward_chunk.c
-- checks every layer kind, dropout included, bit for bit.)
local il = require "il"

describe("net:forward on a large batch", function()
  it("runs in chunks within the budget, with the one-pass result", function()
    il.seed(3)
    -- 4096 features: about 5 x 4096 f64 values of activations and gradients per row, 164 KiB;
    -- 2000 rows would need 328 MiB in one pass.
    local net = il.nn.sequential { il.nn.fourier(2, { features = 2048, seed = 1 }),
                                   il.nn.linear(4096, 1), dtype = "f64" }
    local x = il.rand({ 2000, 2 }, { dtype = "f64" })
    collectgarbage()
    local before = il.memory().bytes_in_use
    local y = net:forward(x)
    local peak = il.memory().peak
    assert.same({ 2000, 1 }, y.shape)
    assert.is_true(peak - before < 250 * 2 ^ 20)
    -- each half alone fits the budget, so it runs in one pass: the same numbers
    local a, b = net:forward(x:narrow(1, 1, 1000)), net:forward(x:narrow(1, 1001, 1000))
    local ya, yb = y:totable(), a:totable()
    for i = 1, 1000 do assert.equal(yb[i][1], ya[i][1]) end
    yb = b:totable()
    for i = 1, 1000 do assert.equal(yb[i][1], ya[1000 + i][1]) end
  end)
end)
