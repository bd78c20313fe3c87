-- il/checkpoint.lua: checkpoints (issue 7; format and guarantees in docs/checkpoints.md).
--
--   il.save(path, {net=, optim=, schedule=, step=, epoch=, extra=})
--   il.load(path) -> {net=, optim=, schedule=, step=, epoch=, extra=}
--   net:save(path), il.nn.load(path) -> net
--   net:fit{..., checkpoint={path=, every=1, keep=3}, resume=path}
--
-- Embedded into il.so and ilua (lua/embed.cmake) and run once per require with the module
-- table, the C pieces of l_ckpt.c and the network methods table. A file is safetensors: the
-- parameters under their names, the optimizer's state as optim.<param>.<slot>, and one
-- metadata value "iron-learn" holding a JSON document with everything else.
local il, C, methods = ...

local FORMAT = 1 -- bump when a reader of the old version could misread the new one

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0) -- messages name the file; no Lua position needed
end

-- Calls a C piece; its errors come back without this file's position, which would only
-- point users at the library instead of at their call.
local function cc(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    local e = r[2]
    if type(e) == "string" then e = e:gsub("^il/checkpoint%.lua:%d+: ", "") end
    error(e, 0)
  end
  return table.unpack(r, 2, r.n)
end

-- ---- JSON (the metadata document) ------------------------------------------------------------

-- Numbers keep their Lua subtype: integers as digits, floats always with a '.' or exponent and
-- 17 significant digits (exact round trip); non-finite floats as {"$num": "inf"}.
local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      if n ~= #v then fail("save: extra: a table is either an array or has string keys only") end
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
      return
    end
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" then fail("save: extra: keys must be strings (got a %s)", type(k)) end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      encode(k, out)
      out[#out + 1] = ":"
      encode(v[k], out)
    end
    out[#out + 1] = "}"
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif math.type(v) == "integer" then
    out[#out + 1] = string.format("%d", v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = string.format('{"$num":"%s"}', v ~= v and "nan" or v > 0 and "inf" or "-inf")
    else
      local s = string.format("%.17g", v)
      if not s:find("[%.eEn]") then s = s .. ".0" end
      out[#out + 1] = s
    end
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  else
    fail("save: cannot store a %s (numbers, strings, booleans and tables of them)", t)
  end
end

local function tojson(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

local specials = {nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge}

-- Parses s (a JSON document written by encode, or tampered with): returns the value or raises
-- "bad JSON at byte n". Objects {"$num": ...} come back as numbers.
local function decode(s)
  local pos = 1
  local function err() error({json = pos}) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local e = pos + 1
    local parts = {}
    while true do
      local c = s:sub(e, e)
      if c == "" then err() end
      if c == '"' then break end
      if c == "\\" then
        local n = s:sub(e + 1, e + 1)
        local map = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                     r = "\r", t = "\t"}
        if n == "u" then
          local h = s:match("^%x%x%x%x", e + 2)
          if not h then pos = e; err() end
          parts[#parts + 1] = utf8.char(tonumber(h, 16))
          e = e + 6
        elseif map[n] then
          parts[#parts + 1] = map[n]
          e = e + 2
        else
          pos = e; err()
        end
      else
        local run = s:match('^[^"\\]+', e)
        parts[#parts + 1] = run
        e = e + #run
      end
    end
    pos = e + 1
    return table.concat(parts)
  end
  function value(depth)
    if depth > 64 then err() end
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then err() end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then err() end
        pos = pos + 1
        t[k] = value(depth + 1)
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then break elseif d ~= "," then pos = pos - 1; err() end
      end
      if t["$num"] ~= nil and specials[t["$num"]] then return specials[t["$num"]] end
      return t
    elseif c == "[" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value(depth + 1)
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then break elseif d ~= "," then pos = pos - 1; err() end
      end
      return t
    elseif c == '"' then
      return str()
    end
    for lit, v in pairs({["true"] = true, ["false"] = false}) do
      if s:sub(pos, pos + #lit - 1) == lit then pos = pos + #lit; return v end
    end
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" then err() end
    pos = pos + #num
    local v = math.tointeger(tonumber(num)) or tonumber(num)
    if num:find("[%.eE]") then v = tonumber(num) + 0.0 end
    if v == nil then err() end
    return v
  end
  local ok, v = pcall(function()
    local r = value(0)
    ws()
    if pos <= #s then err() end
    return r
  end)
  if ok then return v end
  if type(v) == "table" and v.json then return nil, v.json end
  error(v, 0)
end

-- ---- saving ------------------------------------------------------------------------------------

local save_keys = {net = true, optim = true, schedule = true, step = true, epoch = true,
                   extra = true}

-- The schedule to save: the given one, else the optimizer's attached one.
local function schedule_of(t)
  if t.schedule ~= nil then return t.schedule end
  if t.optim ~= nil then return t.optim:schedule() end
  return nil
end

local function collect(t)
  local names, tensors = {}, {}
  local ps, pn = t.net:parameters()
  for i = 1, #ps do names[i], tensors[i] = pn[i], ps[i] end
  local bs, bn = t.net:buffers() -- fixed tensors (a fourier layer's B): not trained, but saved
  for i = 1, #bs do names[#names + 1], tensors[#tensors + 1] = bn[i], bs[i] end
  if t.optim ~= nil then
    local on, ov = cc(C.optim_views, t.optim, t.net)
    for i = 1, #on do
      names[#names + 1], tensors[#tensors + 1] = on[i], ov[i]
    end
  end
  return names, tensors
end

-- The metadata document; the graph is C's JSON spliced in as it is.
local function document(t)
  local parts = {'{"format":', tostring(FORMAT), ',"library":', tojson(il.version),
                 ',"graph":', cc(C.netspec, t.net)}
  local function add(k, v)
    if v ~= nil then parts[#parts + 1] = ',"' .. k .. '":' .. tojson(v) end
  end
  if t.optim ~= nil then
    local kind, opts = C.optim_info(t.optim)
    add("optim", {kind = kind, options = opts, steps = t.optim.steps})
  end
  local s = schedule_of(t)
  if s ~= nil then
    local ok, st = pcall(s.state, s)
    if not ok then fail("save: schedule: %s", (tostring(st):gsub("^il/checkpoint%.lua:%d+: ", ""))) end
    add("schedule", st)
  end
  add("step", t.step)
  add("epoch", t.epoch)
  add("extra", t.extra)
  add("rng", C.rng())
  add("dropout", C.dropout(t.net))
  parts[#parts + 1] = "}"
  return table.concat(parts)
end

function il.save(path, t)
  if type(path) ~= "string" then fail("save: path must be a string, got %s", type(path)) end
  if type(t) ~= "table" then fail("save: expected a table {net=, ...}, got %s", type(t)) end
  for k in pairs(t) do
    if not save_keys[k] then fail("save: unknown field '%s'", tostring(k)) end
  end
  if t.net == nil then fail("save: net is required") end
  if not pcall(C.netcheck, t.net) then fail("save: net must be a network (il.nn.*)") end
  if t.optim ~= nil and (not pcall(C.optimcheck, t.optim) or t.optim.net ~= t.net) then
    fail("save: optim must be the optimizer of net")
  end
  for _, k in ipairs({"step", "epoch"}) do
    if t[k] ~= nil and math.type(t[k]) ~= "integer" then
      fail("save: %s must be an integer", k)
    end
  end
  local doc = document(t)
  local names, tensors = collect(t)
  cc(C.write, path, names, tensors, doc)
end

function methods.save(net, path)
  il.save(path, {net = net})
end

-- ---- loading -----------------------------------------------------------------------------------

local inits = {"xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "normal", "uniform",
               "zeros"}

-- A layer descriptor for a node of the graph spec.
local function descriptor(path, n)
  local o = {name = n.name}
  local k = n.kind
  if k == "linear" then
    return il.nn.linear(n.in_features, n.features,
                        {name = n.name, bias = n.bias, init = inits[(n.init or 0) + 1]})
  elseif k == "leaky_relu" then return il.nn.leaky_relu(n.alpha, o)
  elseif k == "sine" then return il.nn.sine(n.omega, o)
  elseif k == "dropout" then return il.nn.dropout(n.p, o)
  elseif k == "fourier" then -- B is drawn anew here, then overwritten by the saved one
    return il.nn.fourier(n.in_features, {features = n.features // 2, sigma = n.sigma,
                                         name = n.name})
  elseif k ~= "input" and k ~= "layer" and type(il.nn[k]) == "function" then
    return il.nn[k](o)
  end
  fail("%s: graph: unknown layer kind '%s'", path, tostring(k))
end

-- Builds a network from the spec: inputs in order, every layer named as it was, through
-- il.nn.graph so net:to and the rest work on it as on any network.
local function rebuild(path, g)
  if type(g) ~= "table" or type(g.nodes) ~= "table" then fail("%s: graph: missing", path) end
  local built, inputs = {}, {}
  for i, n in ipairs(g.nodes) do
    if type(n) ~= "table" then fail("%s: graph: node %d is not an object", path, i - 1) end
    local ok, node = pcall(function()
      if n.kind == "input" then return il.nn.input(n.features) end
      local args = {}
      for j, id in ipairs(n["in"] or {}) do
        args[j] = built[id + 1]
        if args[j] == nil then error("input " .. tostring(id) .. " is not an earlier node", 0) end
      end
      return descriptor(path, n)(table.unpack(args))
    end)
    if not ok then fail("%s: graph: node %d ('%s'): %s", path, i - 1, tostring(n.name), node) end
    built[i] = node
    if n.kind == "input" then inputs[#inputs + 1] = node end
  end
  local out = math.type(g.output) == "integer" and built[g.output + 1]
  if not out then fail("%s: graph: bad output node", path) end
  return il.nn.graph(inputs, out, {dtype = g.dtype})
end

-- Copies the file's tensors into the network's parameters (and the optimizer's state): every
-- name must match both ways, and every shape.
local function restore(path, tensors, net, opt)
  local seen = {}
  local function fill(names, dsts)
    for i, name in ipairs(names) do
      local src = tensors[name]
      if src == nil then
        fail("%s: tensor '%s' is missing (the architecture has it)", path, name)
      end
      cc(C.copy, dsts[i], src, path .. ": tensor '" .. name .. "'")
      seen[name] = true
    end
  end
  local ps, pn = net:parameters()
  fill(pn, ps)
  local bs, bn = net:buffers()
  fill(bn, bs)
  if opt ~= nil then
    local on, ov = cc(C.optim_views, opt, net)
    fill(on, ov)
  end
  for name in pairs(tensors) do
    if not seen[name] then
      fail("%s: tensor '%s' does not belong to the architecture%s", path, name,
           name:find("^optim%.") and opt == nil and " (optimizer state, but no optimizer)" or "")
    end
  end
end

-- Reads and checks the file: returns the tensors and the decoded document.
local function readfile(path)
  if type(path) ~= "string" then fail("load: path must be a string, got %s", type(path)) end
  local tensors, _, meta = cc(C.read, path)
  local text = meta["iron-learn"]
  if text == nil then fail("%s: not an iron-learn checkpoint (no 'iron-learn' metadata)", path) end
  local doc, at = decode(text)
  if type(doc) ~= "table" then
    fail("%s: the iron-learn metadata is not valid JSON (near byte %s)", path, tostring(at))
  end
  if doc.format ~= FORMAT then
    fail("%s: checkpoint format %s is not supported (this build reads %d)", path,
         tostring(doc.format), FORMAT)
  end
  return tensors, doc
end

-- Puts the generators back, after anything that draws from them (building, initialising).
local function restore_rng(path, doc, net)
  local ok, e = pcall(function()
    if doc.rng ~= nil then cc(C.setrng, doc.rng) end
    if doc.dropout ~= nil then cc(C.setdropout, net, doc.dropout) end
  end)
  if not ok then fail("%s: %s", path, e) end
end

local function new_optim(path, net, o)
  local make = type(o) == "table" and type(o.kind) == "string" and il.optim[o.kind]
  if not make then fail("%s: optim: unknown kind '%s'", path, tostring(o and o.kind)) end
  -- A schedule may have left the rate at 0, which a new optimizer refuses but opt.lr takes.
  local opts = type(o.options) == "table" and o.options or {}
  local lr = opts.lr
  if lr == 0 then opts.lr = 1 end
  local ok, r = pcall(make, net, opts)
  if ok and lr == 0 then ok, r = pcall(function() r.lr = 0; return r end) end
  if not ok then fail("%s: optim: %s", path, r) end
  return r
end

function il.load(path)
  local tensors, doc = readfile(path)
  local net = rebuild(path, doc.graph)
  local opt, sched, state
  if doc.optim ~= nil then opt = new_optim(path, net, doc.optim) end
  restore(path, tensors, net, opt)
  if opt ~= nil then cc(C.set_steps, opt, doc.optim.steps or 0) end
  if doc.schedule ~= nil then
    local ok, r = pcall(il.schedule.restore, doc.schedule)
    if ok then
      sched = r
    elseif not tostring(r):find("an fn schedule", 1, true) then
      fail("%s: schedule: %s", path, r)
    end
    -- A tree holding an fn schedule has no saved function: the caller rebuilds it and loads
    -- schedule_state with s:set_state (fit{resume=} does this with fit's schedule).
    state = not ok and doc.schedule or nil
    if opt ~= nil then opt:schedule(sched) end
  end
  restore_rng(path, doc, net)
  return {net = net, optim = opt, schedule = sched, schedule_state = state, step = doc.step,
          epoch = doc.epoch, extra = doc.extra}
end

function il.nn.load(path)
  local tensors, doc = readfile(path)
  local net = rebuild(path, doc.graph)
  local only = {}
  for name, t in pairs(tensors) do
    if not name:find("^optim%.") then only[name] = t end
  end
  restore(path, only, net, nil)
  return net
end

-- ---- net:fit{checkpoint=, resume=} ------------------------------------------------------------

local cfit = methods.fit

-- "run.safetensors", 100 -> "run-000100.safetensors"
local function stepped(path, step)
  local stem, ext = path:match("^(.-)(%.[^./]*)$")
  if not stem then stem, ext = path, "" end
  return string.format("%s-%06d%s", stem, step, ext)
end
il.checkpoint_path = stepped

-- Loads a fit checkpoint into the given network and optimizer (their own objects, which the
-- caller holds); returns the epochs already done.
local function resume(path, net, opt)
  local tensors, doc = readfile(path)
  if opt == nil or doc.optim == nil then fail("%s: resume needs an optimizer in the file and in fit", path) end
  if doc.optim.kind ~= opt.kind then
    fail("%s: the file holds %s state, fit's optimizer is %s", path, doc.optim.kind, opt.kind)
  end
  restore(path, tensors, net, opt)
  cc(C.set_steps, opt, doc.optim.steps or 0)
  local s = opt:schedule()
  if s ~= nil and doc.schedule ~= nil then s:set_state(doc.schedule) end
  restore_rng(path, doc, net)
  return doc.epoch or 0
end

function methods.fit(net, o)
  if type(o) ~= "table" or (o.checkpoint == nil and o.resume == nil) then return cfit(net, o) end
  local opts = {}
  for k, v in pairs(o) do opts[k] = v end
  local ck, from = opts.checkpoint, opts.resume
  opts.checkpoint, opts.resume = nil, nil
  if ck ~= nil and (type(ck) ~= "table" or type(ck.path) ~= "string") then
    fail("fit: checkpoint must be a table {path=, every=, keep=}")
  end
  if ck ~= nil and opts.optim == nil then fail("fit: checkpoint needs optim=") end
  local every = ck and ck.every or 1
  local keep = ck and ck.keep or 3
  if math.type(every) ~= "integer" or every < 1 then fail("fit: checkpoint.every must be an integer >= 1") end
  if math.type(keep) ~= "integer" or keep < 1 then fail("fit: checkpoint.keep must be an integer >= 1") end
  if opts.schedule ~= nil and opts.optim ~= nil then
    opts.optim:schedule(opts.schedule) -- attached before the resume, so its state is restored
  end
  local done = 0
  if from ~= nil then done = resume(from, net, opts.optim) end
  local total = opts.epochs or 1
  if done >= total then return nil, done end
  opts.epochs = total - done
  local user, written = opts.on_epoch, {}
  opts.on_epoch = function(e, loss)
    local r = true
    if user ~= nil then r = user(e + done, loss) end
    if ck ~= nil and ((e + done) % every == 0 or r == false or e + done == total) then
      local p = stepped(ck.path, opts.optim.steps)
      il.save(p, {net = net, optim = opts.optim, step = opts.optim.steps, epoch = e + done})
      if written[#written] ~= p then written[#written + 1] = p end
      while #written > keep do os.remove(table.remove(written, 1)) end
    end
    return r
  end
  local loss, n = cc(cfit, net, opts)
  return loss, n + done
end
