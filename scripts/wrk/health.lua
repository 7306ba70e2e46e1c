-- GET /v1/health: the HTTP round trip with no store work, the floor under every
-- query (scripts/bench-peers.sh compares it with PostgreSQL's `SELECT 1`).
request = function()
  return wrk.format("GET", "/v1/health")
end
