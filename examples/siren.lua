-- siren.lua: fits the gray "camera" photograph with a SIREN (Sitzmann et al. 2020): sine
-- layers with their special initialisation (il.nn.siren) and a linear head, trained full-batch
-- with Adam on every pixel, printing PSNR as it goes. The published recipe (3 hidden layers
-- of 256, omega 30, lr 1e-4, 256x256) reaches about 33 dB after 500 steps.
-- --device cuda trains on the GPU (the network and pixels moved once; results read back).
--
--   ilua examples/siren.lua [IMAGE] [--size N] [--steps K] [--lr R] [--every E] [--out FILE]
--                           [--device cpu|cuda]
--
-- IMAGE defaults to examples/data/camera.png; values are scaled to [-1, 1] as in the paper,
-- and PSNR is that of the [0, 1] image: 10 log10(1 / mse) = 10 log10(4 / mse on [-1, 1]).

local DEFAULTS = { size = 256, steps = 500, lr = 1e-4, every = 25, out = "siren.png", seed = 1,
  device = "cpu" }

local function usage(msg)
  io.stderr:write("siren.lua: ", msg, "\n",
    "usage: ilua siren.lua [IMAGE] [--size N] [--steps K] [--lr R] [--every E] [--out FILE]",
    " [--device cpu|cuda]\n")
  os.exit(2)
end

local function parse_args(argv)
  local o = {}
  for k, v in pairs(DEFAULTS) do o[k] = v end
  local i = 1
  while i <= #argv do
    local a, v = argv[i], argv[i + 1]
    if a:sub(1, 2) == "--" then
      if DEFAULTS[a:sub(3)] == nil then usage("unknown option '" .. a .. "'") end
      if v == nil then usage(a .. " needs a value") end
      o[a:sub(3)], i = v, i + 2
    elseif o.image == nil then
      o.image, i = a, i + 1
    else
      usage("unexpected argument '" .. a .. "'")
    end
  end
  for _, k in ipairs { "size", "steps", "every", "seed" } do
    o[k] = math.tointeger(tonumber(o[k]))
    if o[k] == nil or o[k] < (k == "seed" and 0 or 1) then usage("--" .. k .. " needs an integer >= 1") end
  end
  if o.size < 2 or o.size > 2048 then usage("--size must be in 2..2048") end
  o.lr = tonumber(o.lr)
  if not (o.lr and o.lr > 0) then usage("--lr must be a number > 0") end
  if o.device ~= "cpu" and o.device ~= "cuda" then usage("--device takes cpu or cuda") end
  o.image = o.image or "examples/data/camera.png"
  return o
end

-- Wall-clock seconds (os.clock would add up the CPU time of every worker thread).
local function now()
  local f = io.popen("date +%s.%N")
  local t = f and tonumber(f:read("l"))
  if f then f:close() end
  return t or os.time()
end

local function psnr(mse_pm1) return 10 * math.log(4 / mse_pm1, 10) end

local function main()
  local o = parse_args(arg or {})
  il.seed(o.seed)
  local ok, img = pcall(il.image.load, o.image, { gray = true, size = { o.size, o.size } })
  if not ok then
    io.stderr:write("siren.lua: cannot read image: ", tostring(img), "\n")
    os.exit(1)
  end
  local x, y = il.data.pixels(img)
  y = y * 2 - 1
  if o.device == "cuda" then
    local avail, why = il.cuda.available()
    if not avail then
      io.stderr:write("siren.lua: cannot use CUDA: ", tostring(why), "\n")
      os.exit(1)
    end
  end
  local nn = il.nn
  local net = nn.sequential { nn.siren(2, 256, { first = true }), nn.siren(256, 256),
    nn.siren(256, 256), nn.siren(256, 256), nn.siren(256, 1, { last = true }) }
  print(string.format("SIREN 2-256x4-1 (omega 30), %d parameters, %dx%d = %d pixels, full batch,"
    .. " %s", net.num_params, o.size, o.size, x:size(1), o.device:upper()))
  local xd, yd = x, y -- the training copies, on the device
  if o.device ~= "cpu" then
    net, xd, yd = net:to(o.device), x:to(o.device), y:to(o.device)
  end
  local opt = il.optim.adam(net, { lr = o.lr })
  local t0 = now()
  local best = 0
  net:fit { x = xd, y = yd, loss = "mse", optim = opt, epochs = o.steps, progress = false,
    on_epoch = function(epoch, loss)
      best = math.max(best, psnr(loss))
      if epoch % o.every == 0 or epoch == o.steps then
        print(string.format("step %4d  loss %.3e  PSNR %.2f dB  %.1f s", epoch, loss, psnr(loss),
          now() - t0))
        io.stdout:flush()
      end
    end }
  local out = net:eval():forward(xd)
  if o.device ~= "cpu" then out = out:to("cpu") end
  local mse = ((out - y) ^ 2):mean():item()
  print(string.format("final PSNR: %.2f dB after %d steps in %.1f s (%.2f s/step)", psnr(mse),
    opt.steps, now() - t0, (now() - t0) / opt.steps))
  il.image.save(o.out, ((out + 1) / 2):clamp(0, 1):reshape(o.size, o.size))
end

main()
