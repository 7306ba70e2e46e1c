#!/usr/bin/env bash
# Issue 13: three nodes vs one node per CPU. One node, then the three-node devcluster
# (scripts/devcluster.sh: factor 2, write_ack 2), both on the SAME cores of this machine,
# each loaded at full rate by the same tool (stemedb-bench cluster-load, single durable
# writes, round-robin over the nodes' APIs). With the same CPU for both, the ratio of
# acknowledged writes/s is the per-CPU ratio. Loopback only; bounded runs.
#   scripts/bench-cluster-cpu.sh [--rounds R] [--seconds S] [--threads T]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3 SECS=10 THREADS=32
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--seconds S] [--threads T]" >&2; exit 2 ;;
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
load() { # urls -> writes/s
  "$rel/stemedb-bench" cluster-load --urls "$1" --seconds "$SECS" --threads "$THREADS" \
    >"$work/load.out" 2>&1
  sed -n 's/.*achieved \([0-9]*\) acknowledged writes\/s.*/\1/p' "$work/load.out" | head -1
}

STEMEDB_STORAGE_DATA_DIR="$work/one" STEMEDB_API_BIND_ADDR=127.0.0.1:18197 STEMEDB_LOG=warn \
  "$rel/stemedb-api" >"$work/one.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18197/v1/health >/dev/null && break; sleep 0.1; done
one=()
for _ in $(seq 1 "$ROUNDS"); do one+=("$(load http://127.0.0.1:18197)"); done
kill "$server"; wait "$server" 2>/dev/null || true; server=""

DEVCLUSTER_DIR="$work/devcluster" STEMEDB_BIN="$rel/stemedb-api" scripts/devcluster.sh start >/dev/null
three=()
for _ in $(seq 1 "$ROUNDS"); do
  three+=("$(load http://127.0.0.1:18180,http://127.0.0.2:18180,http://127.0.0.3:18180)")
done
echo "one node (writes/s):    ${one[*]}"
echo "three nodes (writes/s): ${three[*]}"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(median "${one[@]}") m3=$(median "${three[@]}")
awk -v a="$m3" -v b="$m1" -v c="$(nproc)" \
  'BEGIN { printf "per-CPU ratio (median three nodes / median one node, same %d cores): %.2f\n", c, a / b }'
