-- function_approx.lua: the seed's dice experiment. Rolls a function of x from a bowl of chits
-- (or takes one), samples 25 training and 6 test points around its curve labelled 1 when they
-- lie between the x axis and the curve, trains a small network to tell them apart, prints one
-- line per test point and draws the curve and the points.
--
--   ilua examples/function_approx.lua [--expr "x^2/4 - 3"] [--data file.json] [--seed n]
--                                     [--plot out.png | --no-plot]
--
-- --data reads points in the seed's JSON format instead of sampling them (examples/data/
-- neural_net_2.json holds the seed's own 25 + 6 points around a(x)); --expr then only names the
-- curve drawn (default: the seed's a(x)). Output depends only on the seed.

local LR, EPOCHS, HIDDEN = 0.02, 1500, 16
local SEED_EXPR = "((x^(2)+x^(3)+x^(4)+x^(6))/(x^(5)))"

local function usage(msg)
  io.stderr:write("function_approx.lua: ", msg, "\n",
    "usage: ilua function_approx.lua [--expr src] [--data file.json] [--seed n] [--plot out.png | --no-plot]\n")
  os.exit(2)
end

local function parse_args(argv)
  local o = { seed = 1, plot = "function_approx.png" }
  local i = 1
  while i <= #argv do
    local a, v = argv[i], argv[i + 1]
    if a == "--no-plot" then
      o.plot, i = nil, i + 1
    elseif a == "--expr" or a == "--data" or a == "--seed" or a == "--plot" then
      if v == nil then usage(a .. " needs a value") end
      o[a:sub(3)], i = v, i + 2
    else
      usage("unknown argument '" .. a .. "'")
    end
  end
  o.seed = math.tointeger(tonumber(o.seed)) or usage("--seed needs an integer")
  return o
end

local opts = parse_args(arg or {})

-- The function and the points: from a file, or rolled (or given) and sampled.
local f, chits, x, y, x_test, y_test
if opts.data then
  f = il.expr.parse(opts.expr or SEED_EXPR)
  x, y, x_test, y_test = il.data.load_json(opts.data)
elseif opts.expr then
  f = il.expr.parse(opts.expr)
else
  f, chits = il.expr.roll { draws = 15, seed = opts.seed }
end
if not x then
  -- The seed's window: both coordinates in -12..12 (a rolled f often shoots far outside it).
  x, y, x_test, y_test = il.expr.sample(f, { n = 25, test = 6, x = { -12, 12 }, y = { -12, 12 },
    seed = opts.seed, balance = true })
end

print(string.format("iron-learn %s | mode: CPU | lr: %g | epochs: %d | f(x) = %s | data: %s",
  il.version, LR, EPOCHS, tostring(f), opts.data or ("sampled, seed " .. opts.seed)))
if chits then print("chits: " .. table.concat(chits, " ")) end

-- Inputs are standardised with the training set's statistics: the raw coordinates span about
-- -12..12, where tanh units would saturate.
local mu = x:mean(1, true)
local sd = ((x - mu) ^ 2):mean(1, true):sqrt() + 1e-6
local function norm(t) return (t - mu) / sd end

il.seed(opts.seed)
local net = il.nn.sequential {
  il.nn.linear(2, HIDDEN), il.nn.tanh(),
  il.nn.linear(HIDDEN, HIDDEN), il.nn.tanh(),
  il.nn.linear(HIDDEN, 1), il.nn.sigmoid(),
}
local opt = il.optim.adam(net, { lr = LR })
local xn = norm(x)
for epoch = 1, EPOCHS do -- full batch: 25 points
  local loss = net:step(xn, y, il.loss.bce, opt)
  if epoch % 500 == 0 then print(string.format("epoch %4d | loss %.6f", epoch, loss:item())) end
end

net:eval()
local pred = net:forward(norm(x_test)):totable()
local actual, pts = y_test:totable(), x_test:totable()
local right = 0
for i = 1, #pred do
  local p, a = pred[i][1], actual[i][1]
  local ok = (p >= 0.5) == (a >= 0.5)
  right = right + (ok and 1 or 0)
  print(string.format("(%g, %g) Predicted: %.4f, Actual: %.4f, %s", pts[i][1], pts[i][2], p, a,
    ok and "✓" or "✗"))
end
print(string.format("test accuracy: %d/%d", right, #pred))

-- The plot: training points by label, test points, and the curve over the points' x range.
if opts.plot then
  local function split_by_label(xs, ys, want)
    local px, py, rows, labels = {}, {}, xs:totable(), ys:totable()
    for i = 1, #rows do
      if (labels[i][1] >= 0.5) == want then
        px[#px + 1], py[#py + 1] = rows[i][1], rows[i][2]
      end
    end
    return px, py
  end
  local x1, y1 = split_by_label(x, y, true)
  local x0, y0 = split_by_label(x, y, false)
  local xt1, yt1 = split_by_label(x_test, y_test, true)
  local xt0, yt0 = split_by_label(x_test, y_test, false)
  local lo, hi = x:narrow(2, 1, 1):min():item(), x:narrow(2, 1, 1):max():item()
  local ok, err = pcall(il.plot.scatter, {
    path = opts.plot, title = "f(x) = " .. tostring(f), xlabel = "x", ylabel = "y",
    series = {
      { x = x1, y = y1, label = "train: between axis and curve", color = "#1a9850" },
      { x = x0, y = y0, label = "train: outside", color = "#d73027" },
      { x = xt1, y = yt1, label = "test: between", color = "#1a9850", hollow = true },
      { x = xt0, y = yt0, label = "test: outside", color = "#d73027", hollow = true },
    },
    curve = { f = f, x = { lo - 1, hi + 1 }, label = "f(x)", color = "#333333" },
  })
  print(ok and ("plot: " .. opts.plot) or ("plot skipped: " .. tostring(err)))
end
