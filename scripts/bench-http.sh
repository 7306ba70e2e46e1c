#!/usr/bin/env bash
# HTTP benchmarks against the real release server on this machine (server and
# load generator share the cores). Needs `wrk` (apt-get install wrk).
#   scripts/bench-http.sh [N]     N = assertions loaded for the query test (default 1,000,000)
# Prints one line per measurement, including the server's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PORT=${PORT:-18190}
URL=http://127.0.0.1:$PORT
cargo build -q --release --bin stemedb-api --bin stemedb-bench
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
data=$(mktemp -d)
STEMEDB_STORAGE_DATA_DIR="$data/db" STEMEDB_API_BIND_ADDR=127.0.0.1:$PORT STEMEDB_LOG=warn \
  "$rel/stemedb-api" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -sf $URL/v1/health >/dev/null && break; sleep 0.1; done
rss() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$server/status; }
script() { cat "scripts/wrk/$1.lua" scripts/wrk/report.lua > "$data/$1.lua"; echo "$data/$1.lua"; }

echo "single POST /v1/assert, 64 connections, 20 s:"
wrk -t2 -c64 -d20s --latency -s "$(script assert)" $URL | grep RESULT
echo "  server peak RSS so far: $(rss)"

echo "batch ingest of $N:"
THREADS=4 "$rel/stemedb-bench" http-ingest "$N" $URL
echo "  server peak RSS so far: $(rss)"

echo "GET /v1/query with a lens on the $N-assertion store, 64 connections, 20 s:"
SUBJECTS=$((N / 10)) wrk -t2 -c64 -d20s --latency -s "$(script query)" $URL | grep RESULT
echo "  server peak RSS: $(rss)"
