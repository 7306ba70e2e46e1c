#!/usr/bin/env bash
# Issue 13: StemeDB alone, batch ingest rate and settled bytes per claim, for A/B runs of
# two server builds on the same generated claims (the peers workload, without PostgreSQL).
#   scripts/bench-ingest-bytes.sh [--claims N] [--bin PATH]...
# For each --bin (default: this tree's release stemedb-api), in the order given: a fresh
# data dir, `stemedb-bench peers-ingest N` (4 connections, 1,000 claims per request,
# durable), stop, start again and wait until the index journal is folded (one journal
# left), stop, `du -sb` of the data dir and of log/ and index/; also the server's CPU
# seconds per thread name and peak RSS during the ingest. Settings come from the environment
# (e.g. STEMEDB_STORAGE_INDEX_WORKERS=2). Loopback only; bounded.
# Give the same --bin twice, alternating with another, to see the machine's noise.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000000 BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --claims) N=$2; shift 2 ;;
    --bin) BINS+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--claims N] [--bin PATH]..." >&2; exit 2 ;;
  esac
done
cargo build -q --release --bin stemedb-api --bin stemedb-bench
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
[ ${#BINS[@]} -eq 0 ] && BINS=("$rel/stemedb-api")
PORT=${PORT:-18193}
URL=http://127.0.0.1:$PORT
work=$(mktemp -d /tmp/bench-ingest-bytes.XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
start() { # bin
  STEMEDB_STORAGE_DATA_DIR="$work/db" STEMEDB_API_BIND_ADDR=127.0.0.1:$PORT STEMEDB_LOG=warn \
    "$1" >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do curl -sf $URL/v1/health >/dev/null && return; sleep 0.1; done
  echo "server did not become ready (see $work/server.log)" >&2; exit 1
}
thread_cpu() { # pid: CPU seconds per thread name (numbered names folded), busiest first
  local tck; tck=$(getconf CLK_TCK)
  for t in /proc/"$1"/task/*; do
    echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done | awk -v tck="$tck" '{sub(/-?[0-9]+$/, "", $1); cpu[$1] += $2}
    END {for (k in cpu) if (cpu[k] > 0) printf "%s %.1f s\n", k, cpu[k] / tck}' | sort -k2 -nr | paste -sd, - | sed "s/,/, /g"
}
stop() { kill "$server" && wait "$server" 2>/dev/null || true; server=""; }
for bin in "${BINS[@]}"; do
  rm -rf "$work/db"
  start "$bin"
  rate=$(THREADS=4 "$rel/stemedb-bench" peers-ingest "$N" $URL | sed -n 's/.*: \([0-9]*\) assertions\/s.*/\1/p')
  threads=$(thread_cpu "$server")
  peak=$(awk '/^VmHWM:/ {printf "%d MiB", $2 / 1024}' /proc/"$server"/status)
  stop
  start "$bin"
  for _ in $(seq 1 120); do
    [ "$(find "$work/db/index" -maxdepth 1 -name '*.jnl' | wc -l)" -le 1 ] && break
    sleep 0.5
  done
  stop
  total=$(du -sb "$work/db" | cut -f1)
  log=$(du -sb "$work/db/log" | cut -f1)
  index=$(du -sb "$work/db/index" | cut -f1)
  echo "$bin: ingest $rate claims/s; settled $((total / N)) B/claim (log $((log / N)), index $((index / N)))"
  echo "  server CPU during the ingest by thread: $threads; peak RSS $peak"
done
