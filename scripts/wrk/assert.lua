-- POST /v1/assert with a unique assertion per request (thread id + counter),
-- so every request is a real durable write, not an `exists` no-op.
-- With TOKEN set in the environment, every request carries it as a bearer key.
local counter = 0
local headers = {["Content-Type"] = "application/json"}
if os.getenv("TOKEN") then
  headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end
function setup(thread)
  thread:set("tid", math.random(1, 1e9))
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"subject":"bench:%d:%d","predicate":"p%d","object":{"type":"text","value":"v%d"},"agent":"wrk","timestamp":%d}',
    tid, counter, counter % 5, counter % 7, 1700000000000 + counter)
  return wrk.format("POST", "/v1/assert", headers, body)
end
