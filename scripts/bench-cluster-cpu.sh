#!/usr/bin/env bash
# Issue 13: three nodes vs one node per CPU. One node, then the three-node devcluster
# (scripts/devcluster.sh: factor 2, write_ack 2), both on the SAME cores of this machine,
# each loaded at full rate by the same tool (stemedb-bench cluster-load, single durable
# writes, round-robin over the nodes' APIs). With the same CPU for both, the ratio of
# acknowledged writes/s is the per-CPU ratio. Each configuration is measured at every
# client concurrency in --threads (closed-loop writers) and rated by its best median: a
# write in the cluster waits for two group commits (its coordinator's, then a
# replica's) where one node waits for one, so at a fixed low concurrency the cluster
# is bound by latency, not CPU, and needs more writers in flight to fill the cores.
# Loopback only; bounded runs.
#   scripts/bench-cluster-cpu.sh [--rounds R] [--seconds S] [--threads T[,T...]]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3 SECS=10 THREADS=32,128,512
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--seconds S] [--threads T[,T...]]" >&2; exit 2 ;;
  esac
done
cargo build -q --release --bin stemedb-api --bin stemedb-bench
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
work=$(mktemp -d /tmp/bench-cluster-cpu.XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  DEVCLUSTER_DIR="$work/devcluster" scripts/devcluster.sh clean >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
load() { # urls threads -> writes/s
  "$rel/stemedb-bench" cluster-load --urls "$1" --seconds "$SECS" --threads "$2" \
    >"$work/load.out" 2>&1
  r=$(sed -n 's/.*achieved \([0-9]*\) acknowledged writes\/s.*/\1/p' "$work/load.out" | head -1)
  echo "${r:-0}"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
IFS=, read -r -a counts <<<"$THREADS"
sweep() { # name urls -> prints one line per thread count; sets best
  best=0
  for t in "${counts[@]}"; do
    runs=()
    for _ in $(seq 1 "$ROUNDS"); do runs+=("$(load "$2" "$t")"); done
    m=$(median "${runs[@]}")
    printf '%-12s %4s writers: %s (median %s)\n' "$1" "$t" "${runs[*]}" "$m"
    [ "$m" -gt "$best" ] && best=$m
  done
  return 0
}

STEMEDB_STORAGE_DATA_DIR="$work/one" STEMEDB_API_BIND_ADDR=127.0.0.1:18197 STEMEDB_LOG=warn \
  "$rel/stemedb-api" >"$work/one.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18197/v1/health >/dev/null && break; sleep 0.1; done
sweep "one node" http://127.0.0.1:18197
m1=$best
kill "$server"; wait "$server" 2>/dev/null || true; server=""

DEVCLUSTER_DIR="$work/devcluster" STEMEDB_BIN="$rel/stemedb-api" scripts/devcluster.sh start >/dev/null
sweep "three nodes" http://127.0.0.1:18180,http://127.0.0.2:18180,http://127.0.0.3:18180
m3=$best
awk -v a="$m3" -v b="$m1" -v c="$(nproc)" \
  'BEGIN { printf "per-CPU ratio (best median three nodes %d / best median one node %d writes/s, same %d cores): %.2f\n", a, b, c, a / b }'
