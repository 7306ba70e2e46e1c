-- POST /v1/assert with a unique assertion per request (thread id + counter),
-- so every request is a real durable write, not an `exists` no-op. The
-- thread id joins the start time (seconds) and the thread's number: every
-- thread of every run writes its own subjects (math.random is unseeded, so
-- every run would draw the same numbers, and a second run against the same
-- data dir would only find its records already there).
-- With a non-empty TOKEN in the environment, every request carries it as a
-- bearer key.
local counter = 0
local headers = {["Content-Type"] = "application/json"}
local token = os.getenv("TOKEN")
if token and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", os.time() * 1000 + threads)
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"subject":"bench:%d:%d","predicate":"p%d","object":{"type":"text","value":"v%d"},"agent":"wrk","timestamp":%d}',
    tid, counter, counter % 5, counter % 7, 1700000000000 + counter)
  return wrk.format("POST", "/v1/assert", headers, body)
end
