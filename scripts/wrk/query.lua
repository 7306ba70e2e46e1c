-- GET /v1/query with a lens for a random stored subject of the bench data set
-- (subjects drug:0000000 .. drug:N/10, predicates effect0..2).
local subjects = tonumber(os.getenv("SUBJECTS") or "100000")
local lenses = {"consensus", "recency", "authority", "skeptic", "layered", "confidence"}
request = function()
  local s = math.random(0, subjects - 1)
  local path = string.format("/v1/query?subject=drug:%07d&predicate=effect%d&lens=%s",
    s, math.random(0, 2), lenses[math.random(1, #lenses)])
  return wrk.format("GET", path)
end
