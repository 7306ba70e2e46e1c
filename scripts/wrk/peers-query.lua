-- GET /v1/query for a random (subject, effect) pair of the issue-13 peer data set
-- (scripts/bench-peers.sh): SUBJECTS pairs drug:0000000.., lens LENS, and
-- EXTRA appended to the query string (e.g. "&candidates=false").
local subjects = tonumber(os.getenv("SUBJECTS") or "100000")
local lens = os.getenv("LENS") or "recency"
local extra = os.getenv("EXTRA") or ""
request = function()
  local path = string.format("/v1/query?subject=drug:%07d&predicate=effect&lens=%s%s",
    math.random(0, subjects - 1), lens, extra)
  return wrk.format("GET", path)
end
