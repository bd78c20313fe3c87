-- lr_schedules.lua: one small problem, one seed, six learning-rate schedules.
--
--   ilua examples/lr_schedules.lua [outdir]
--
-- Fits y = sin(3x) + 0.3 cos(9x) on [-1, 1] with a 1-32-32-1 tanh network and Adam, once per
-- schedule, every run starting from the same weights (il.seed before building the network).
-- Prints, per schedule, the final loss and the steps it took to first reach a target loss, and
-- writes two charts through gnuplot: the rates (lr_schedules_rates.png) and the loss curves
-- (lr_schedules_loss.png, log scale) into outdir (default: the current directory).
local il = rawget(_G, "il") or require "il"

local outdir = arg and arg[1] or "."
local EPOCHS, BATCH, N, TARGET = 500, 32, 256, 5e-4
local STEPS = EPOCHS * (N // BATCH)
local S = il.schedule

local function data()
  local xs, ys = {}, {}
  for i = 1, N do
    local x = -1 + 2 * (i - 1) / (N - 1)
    xs[i], ys[i] = { x }, { math.sin(3 * x) + 0.3 * math.cos(9 * x) }
  end
  return il.tensor(xs), il.tensor(ys)
end

-- Each entry: a name and a function making a fresh schedule (plateau has state).
local schedules = {
  { "constant", function() return S.constant { lr = 0.01 } end },
  { "cosine", function() return S.cosine { lr = 0.01, min_lr = 1e-4, steps = STEPS } end },
  { "warmup+cosine", function()
    return S.warmup { steps = 200, after = S.cosine { lr = 0.01, min_lr = 1e-4, steps = STEPS - 200 } }
  end },
  { "onecycle", function() return S.onecycle { lr = 0.02, steps = STEPS } end },
  { "wsd", function()
    return S.wsd { lr = 0.01, min_lr = 1e-4, steps = STEPS, warmup = 200, decay = STEPS // 5 }
  end },
  { "plateau", function() return S.plateau { lr = 0.01, patience = 10, factor = 0.5 } end },
}

local x, y = data()
local steps_per_epoch = N // BATCH
local results, rate_series, loss_series = {}, {}, {}
local t0 = os.clock()

for _, entry in ipairs(schedules) do
  local name, make = entry[1], entry[2]
  il.seed(7)
  local net = il.nn.sequential { il.nn.linear(1, 32), il.nn.tanh(), il.nn.linear(32, 32),
                                 il.nn.tanh(), il.nn.linear(32, 1) }
  local opt = il.optim.adam(net, { lr = 0.01 })
  local steps, lrs, losses, reached = {}, {}, {}, nil
  lrs[1], steps[1] = make():lr(0), 0
  net:fit { x = x, y = y, loss = "mse", optim = opt, epochs = EPOCHS, batch = BATCH,
            shuffle = true, schedule = make(), progress = false,
            on_epoch = function(e, loss)
              steps[#steps + 1] = e * steps_per_epoch
              lrs[#lrs + 1] = opt.lr
              losses[#losses + 1] = loss
              if not reached and loss < TARGET then reached = e * steps_per_epoch end
            end }
  local loss_steps = { table.unpack(steps, 2) }
  results[#results + 1] = { name, il.loss.mse(net:forward(x), y):item(), reached }
  rate_series[#rate_series + 1] = { x = steps, y = lrs, label = name }
  loss_series[#loss_series + 1] = { x = loss_steps, y = losses, label = name }
end

print(("%d steps per run (%d epochs of %d batches), target loss %g\n"):format(STEPS, EPOCHS,
  steps_per_epoch, TARGET))
print(("%-14s %12s %16s"):format("schedule", "final loss", "steps to target"))
for _, r in ipairs(results) do
  print(("%-14s %12.3e %16s"):format(r[1], r[2], r[3] and tostring(r[3]) or "-"))
end

local ok, err = pcall(function()
  il.plot.lines { path = outdir .. "/lr_schedules_rates.png", title = "learning rate",
                  xlabel = "optimizer step", ylabel = "lr", series = rate_series }
  il.plot.lines { path = outdir .. "/lr_schedules_loss.png", title = "training loss (epoch mean)",
                  xlabel = "optimizer step", ylabel = "mse", log = "y", series = loss_series }
end)
if ok then
  print(("\nwrote %s/lr_schedules_rates.png and %s/lr_schedules_loss.png"):format(outdir, outdir))
else
  print("\nno plots: " .. tostring(err))
end
print(("%.1f s of CPU time"):format(os.clock() - t0))
