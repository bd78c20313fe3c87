-- busted helper (--helper=spec/helper.lua): puts spec/ on package.path so specs can
-- require "spec_util". The build passes its directories through the environment.
local dir = os.getenv("IL_SPEC_DIR") or "spec"
package.path = dir .. "/?.lua;" .. package.path
