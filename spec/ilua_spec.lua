-- ilua's command line, checked against what the stock lua5.4 does: options, the arg table,
-- error reports and exit statuses, LUA_INIT, stdin and the REPL.
local U = require "spec_util"

local ilua = U.q(U.ilua)
local function run(args, input)
  local cmd = ilua .. " " .. args
  if input then cmd = "printf '%s' " .. U.q(input) .. " | " .. cmd end
  return U.run(cmd)
end

local tmp = {}
local function script(text)
  local name = U.tmpfile(text)
  tmp[#tmp + 1] = name
  return name
end

teardown(function()
  for _, f in ipairs(tmp) do os.remove(f) end
end)

describe("ilua", function()
  it("-e runs a statement with il preloaded", function()
    local out, code = run([[-e 'print(il.version)']])
    assert.equal(0, code)
    assert.equal(require("il").version .. "\n", out)
  end)

  it("-e can be repeated and attached", function()
    local out, code = run([[-e 'x = 2' '-eprint(x * 21)']])
    assert.equal(0, code)
    assert.equal("42\n", out)
  end)

  it("passes script arguments in arg and as ...", function()
    local f = script("print(arg[0], arg[1], arg[2], select('#', ...), ...)\n")
    local out, code = run(U.q(f) .. " a b")
    assert.equal(0, code)
    assert.equal(f .. "\ta\tb\t2\ta\tb\n", out)
  end)

  it("puts interpreter arguments at negative indices", function()
    local f = script("print(arg[-1], arg[-2], arg[-3] ~= nil, arg[-4])\n")
    local out = run("-e 'y=1' " .. U.q(f))
    assert.equal("y=1\t-e\ttrue\tnil\n", out)
  end)

  it("reports a syntax error like lua and exits 1", function()
    local f = script("x = = 1\n")
    local out, code = run(U.q(f))
    assert.equal(1, code)
    assert.equal("ilua: " .. f .. ":1: unexpected symbol near '='\n", out)
    local ref = U.run(U.q(U.lua) .. " " .. U.q(f))
    assert.equal(ref:gsub("^[^:]*: ", "ilua: "), out)
  end)

  it("reports a runtime error with a traceback on stderr and exits 1", function()
    local f = script("local function f() error('boom') end\nf()\n")
    local out, code = U.run(ilua .. " " .. U.q(f) .. " 2>&1 >/dev/null")
    assert.equal(1, code)
    assert.equal("ilua: " .. f .. ":1: boom\n", out:match("^[^\n]*\n"))
    assert.matches("stack traceback:", out)
  end)

  it("reports il errors as Lua errors", function()
    local out, code = run([[-e 'local t = il.zeros({2, 3}) + il.zeros({4})']])
    assert.equal(1, code)
    assert.matches("^ilua: %(command line%):1: add: shapes", out)
  end)

  it("reports non-string error objects", function()
    local out, code = run([[-e 'error({})']])
    assert.equal(1, code)
    assert.matches("^ilua: %(error object is a table value%)", out)
  end)

  it("exits with os.exit's status", function()
    local _, code = run([[-e 'os.exit(3)']])
    assert.equal(3, code)
  end)

  it("-l requires a module into a global, -l g=mod under another name", function()
    local dir = os.tmpname()
    os.remove(dir)
    local mod = dir .. "_ilmod.lua"
    local f = assert(io.open(mod, "w"))
    f:write("return { answer = 42 }\n")
    f:close()
    tmp[#tmp + 1] = mod
    local name = mod:match("([^/]+)%.lua$")
    local env = "LUA_PATH=" .. U.q(mod:gsub("[^/]+%.lua$", "?.lua") .. ";;") .. " "
    local out, code = U.run(env .. ilua .. " -l " .. name .. " -e 'print(" .. name .. ".answer)'")
    assert.equal(0, code, out)
    assert.equal("42\n", out)
    out, code = U.run(env .. ilua .. " -l m=" .. name .. " -e 'print(m.answer)'")
    assert.equal(0, code, out)
    assert.equal("42\n", out)
    out, code = run("-l no_such_module_xyz")
    assert.equal(1, code)
    assert.matches("^ilua: module 'no_such_module_xyz' not found", out)
  end)

  it("-v prints Lua's and iron-learn's versions", function()
    local out, code = run("-v")
    assert.equal(0, code)
    assert.matches("^Lua 5%.4", out)
    assert.matches("iron%-learn " .. require("il").version:gsub("%.", "%%."), out)
  end)

  it("- runs stdin, and so does a piped stdin without arguments", function()
    local out, code = run("-", "print(1 + 1)\n")
    assert.equal(0, code)
    assert.equal("2\n", out)
    out = run("- x y", "print(...)\n")
    assert.equal("x\ty\n", out)
    out, code = run("", "print(il ~= nil)\n")
    assert.equal(0, code)
    assert.equal("true\n", out)
  end)

  it("-- ends the options", function()
    local f = script("print(arg[1])\n")
    local out = run("-- " .. U.q(f) .. " -v")
    assert.equal("-v\n", out)
  end)

  it("refuses unknown options with the usage", function()
    local out, code = run("-x")
    assert.equal(1, code)
    assert.matches("^ilua: unrecognized option '%-x'\nusage: ilua", out)
    out, code = run("-e")
    assert.equal(1, code)
    assert.matches("^ilua: '%-e' needs argument", out)
  end)

  it("runs LUA_INIT_5_4 (or LUA_INIT) first, unless -E", function()
    local out = U.run("LUA_INIT='print(\"init\")' " .. ilua .. " -e 'print(\"main\")'")
    assert.equal("init\nmain\n", out)
    out = U.run("LUA_INIT='print(1)' LUA_INIT_5_4='print(54)' " .. ilua .. " -e ''")
    assert.equal("54\n", out)
    local f = script("print('from file')\n")
    out = U.run("LUA_INIT=@" .. U.q(f) .. " " .. ilua .. " -e ''")
    assert.equal("from file\n", out)
    out = U.run("LUA_INIT='print(\"init\")' " .. ilua .. " -E -e 'print(\"main\")'")
    assert.equal("main\n", out)
  end)

  it("-W turns warnings on", function()
    local out = run([[-W -e 'warn("careful")']])
    assert.equal("Lua warning: careful\n", out)
    out = run([[-e 'warn("quiet")']])
    assert.equal("", out)
  end)

  it("-i runs a REPL that prints expressions and continues statements", function()
    local out, code = run("-i", "x = 20\nx + 1\nfor i = 1, 2 do\nprint(i * 10)\nend\n=x\n")
    assert.equal(0, code)
    assert.matches("^Lua 5%.4", out)
    assert.matches("> 21\n", out, 1, true)
    assert.matches(">> >> 10\n20\n", out, 1, true)
    assert.matches("> 20\n", out, 1, true)
  end)

  it("the REPL reports errors and goes on", function()
    local out, code = run("-i", "error('oops')\nprint('after')\n")
    assert.equal(0, code)
    assert.matches("stdin:1: oops", out, 1, true)
    assert.matches("after\n", out, 1, true)
  end)

  it("the REPL prints tensors with tostring", function()
    local out = run("-i", "il.ones({2})\n")
    assert.matches("tensor([1., 1.]", out, 1, true)
  end)
end)
