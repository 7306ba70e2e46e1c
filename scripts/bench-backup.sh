#!/usr/bin/env bash
# Issue 12: backup, restore and verify figures for docs/benchmarks.md.
#   scripts/bench-backup.sh [--records N] [--drop-records M]
# Release builds of stemedb-api, stemedb and stemedb-bench; one server on
# 127.0.0.1 with the default durable config and a temp data dir.
#  1. load N assertions (default 1,000,000) with `stemedb-bench http-ingest`;
#  2. `stemedb backup` of the stopped-writes server vs `cp -r` of the same log
#     files (both read from the page cache: the files were just written);
#  3. write throughput while no backup runs vs while backups run back to back
#     (written under LOOP_DIR, default the same disk)
#     (M assertions each, default 300,000, 4 connections, NDJSON batches of
#     1,000), ROUNDS (default 3) alternating rounds, medians; the backups run at the
#     shipped unit's priority (nice 19, idle I/O class; BACKUP_PRIO=default
#     for normal priority);
#  4. `stemedb-api verify --backup`, `restore` (index rebuilt) and
#     `verify --data-dir` of the N-record backup.
# Not run in CI: figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000000 M=300000 ROUNDS=${ROUNDS:-3}
while [ $# -gt 0 ]; do
  case "$1" in
    --records) N=$2; shift 2 ;;
    --drop-records) M=$2; shift 2 ;;
    *) echo "usage: $0 [--records N] [--drop-records M]" >&2; exit 2 ;;
  esac
done
PORT=${PORT:-18192}
URL=http://127.0.0.1:$PORT
# SKIP_BUILD=1 uses the release binaries already built.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build -q --release --bin stemedb-api --bin stemedb --bin stemedb-bench
fi
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
work=$(mktemp -d /tmp/bench-backup.XXXXXX)
# LOOP_DIR: where the back-to-back backups of step 3 are written (default:
# the data dir's disk). The reference deployment ships backups off the host
# (S3), so LOOP_DIR=/dev/shm (another device) shows the backup's cost to the
# server without the target's writes competing for the data disk.
loops="$work"
if [ -n "${LOOP_DIR:-}" ]; then loops=$(mktemp -d "$LOOP_DIR/bench-backup-loops.XXXXXX"); fi
server="" looper=""
cleanup() {
  [ -n "$looper" ] && kill "$looper" 2>/dev/null && wait "$looper" 2>/dev/null
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
  [ "$loops" = "$work" ] || rm -rf "$loops"
}
trap cleanup EXIT

# The backup client runs at the priority the shipped systemd unit gives it
# (deploy/systemd/stemedb-backup.service: Nice=19, IOSchedulingClass=idle);
# BACKUP_PRIO=default runs it at normal priority instead.
if [ "${BACKUP_PRIO:-unit}" = default ]; then BACKUP_PRIO=(); else BACKUP_PRIO=(nice -n 19 ionice -c 3); fi
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
mib() { du -sb "$1" | awk '{printf "%.1f", $1 / 1048576}'; }

start_server() {
  env STEMEDB_API_BIND_ADDR=127.0.0.1:$PORT STEMEDB_STORAGE_DATA_DIR="$1" \
    STEMEDB_LOG=warn "$rel/stemedb-api" 2>>"$work/server.log" &
  server=$!
  for _ in $(seq 1 600); do
    curl -sf "$URL/v1/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}
# ingest N [START]: assertions START..START+N (new ones: every round writes
# records the store does not hold yet); fails unless all N were created.
ingest() {
  local out
  out=$(START="${2:-0}" THREADS=4 "$rel/stemedb-bench" http-ingest "$1" "$URL" 2>&1 | tail -1)
  case "$out" in
    *"created $1,"*) echo "$out" ;;
    *) echo "ingest of $1 from ${2:-0} did not create every record: $out" >&2; exit 1 ;;
  esac
}

start_server "$work/data"
echo "loading $N assertions..."
ingest "$N"

echo "== backup vs cp of the same files"
t0=$(now); "$rel/stemedb" --server "$URL" backup --output "$work/b1" >/dev/null; t1=$(now)
t2=$(now); cp -r "$work/data/log" "$work/cp-log"; sync "$work/cp-log"/* "$work/cp-log"; t3=$(now)
size=$(mib "$work/b1/log")
echo "backup: $size MiB in $(secs "$t0" "$t1") s; cp -r + fsync of each file: $(mib "$work/cp-log") MiB in $(secs "$t2" "$t3") s"
rm -rf "$work/cp-log"

echo "== write throughput without and with a backup running ($ROUNDS alternating rounds)"
rate() { sed -n 's/.*: \([0-9]*\) assertions\/s.*/\1/p'; }
without=() with=() ratios=()
for round in $(seq 1 "$ROUNDS"); do
  w0=$(ingest "$M" $((N + (2 * round - 2) * M))); echo "round $round without: $w0"; without+=("$(rate <<<"$w0")")
  (
    i=0
    while [ $i -lt 100 ]; do
      "${BACKUP_PRIO[@]}" "$rel/stemedb" --server "$URL" backup --output "$loops/loop-$i" >/dev/null 2>&1 || true
      rm -rf "$loops/loop-$i"
      i=$((i + 1))
    done
  ) &
  looper=$!
  w1=$(ingest "$M" $((N + (2 * round - 1) * M))); echo "round $round with backups back to back: $w1"; with+=("$(rate <<<"$w1")")
  kill "$looper" 2>/dev/null; wait "$looper" 2>/dev/null || true; looper=""
  pkill -f "$rel/stemedb --server $URL backup" 2>/dev/null || true
  ratios+=("$(echo "${with[-1]} / ${without[-1]}" | bc -l | xargs printf '%.2f')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
a=$(median "${without[@]}") b=$(median "${with[@]}")
echo "median without: $a/s; with backups running: $b/s; per-round ratios ${ratios[*]}; median ratio $(median "${ratios[@]}")"

kill "$server"; wait "$server" 2>/dev/null || true; server=""

echo "== verify and restore the $N-record backup"
t0=$(now); "$rel/stemedb-api" verify --backup "$work/b1" | tail -1; t1=$(now)
echo "verify --backup: $(secs "$t0" "$t1") s"
t0=$(now); "$rel/stemedb-api" restore --from "$work/b1" --data-dir "$work/restored" | tail -1; t1=$(now)
echo "restore (index rebuilt): $(secs "$t0" "$t1") s"
t0=$(now); "$rel/stemedb-api" verify --data-dir "$work/restored" | tail -1; t1=$(now)
echo "verify --data-dir: $(secs "$t0" "$t1") s"
