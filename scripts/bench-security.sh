#!/usr/bin/env bash
# What security costs, measured side by side in one run (release build; the
# load generator and the servers share this machine's cores):
#
#   scripts/bench-security.sh [--claims N] [--seconds S] [--rounds R] [--no-cluster]
#
# a) One node, the same data dir (N assertions, default 200,000, loaded once):
#    "plain" = HTTP without [auth]; "secure" = HTTPS (TLS 1.3, rustls + ring,
#    a self-signed certificate made here with openssl) with [auth] keys and
#    every request carrying a key. Both servers run at the same time on copies
#    of the data, pinned to CPU 0 (taskset); each gets its own wrk (64
#    connections, both wrk on CPU 1) for the same S s (default 10): GET
#    /v1/query with a lens (scripts/wrk/query.lua), then single durable writes
#    (POST /v1/assert, scripts/wrk/assert.lua). Sharing one core, whatever the
#    machine gives it, the two throughputs' ratio is the ratio of the servers'
#    costs per request; sequential runs of one then the other differed by more
#    than the effect on this shared machine. R rounds (default 3); the table
#    shows medians, the ratio is the median of the per-round ratios.
# b) Three nodes (scripts/devcluster.sh on 127.0.0.1-3) without and with
#    [cluster] secret_file (MACs on SWIM, one-time tokens on gRPC pushes, the
#    gateway's bearer secret): single writes spread round-robin over the three
#    APIs for S s (stemedb-bench cluster-load), alternating R times.
#
# SKIP_BUILD=1 uses the release binaries already built. Needs wrk, curl and
# openssl and taskset. Everything started here is stopped and its data removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

N=200000 SECS=10 ROUNDS=3 CLUSTER=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --claims) N="$2"; shift 2 ;;
    --seconds) SECS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --no-cluster) CLUSTER=0; shift ;;
    *) echo "usage: $0 [--claims N] [--seconds S] [--rounds R] [--no-cluster]" >&2; exit 2 ;;
  esac
done
die() { echo "bench-security: $*" >&2; exit 1; }
for t in wrk curl openssl taskset; do command -v "$t" >/dev/null || die "$t is required (apt-get install $t)"; done
PORT=${PORT:-18195}
tcp_busy() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
tcp_busy 127.0.0.1 "$PORT" && die "127.0.0.1:$PORT is busy; set PORT"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build -q --release -p stemedb-server -p stemedb-bench
fi
rel="${CARGO_TARGET_DIR:-$ROOT/target}/release"
API="$rel/stemedb-api" BENCH="$rel/stemedb-bench"
[[ -x "$API" && -x "$BENCH" ]] || die "release binaries missing in $rel"

work="$(mktemp -d "${TMPDIR:-/tmp}/stemedb-bench-security.XXXXXX")"
cleanup() {
  declare -F stop >/dev/null && stop
  if [[ -d "$work/cluster" ]]; then
    DEVCLUSTER_DIR="$work/cluster" scripts/devcluster.sh clean >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Certificate and keys.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/server.key" -out "$work/server.crt" 2>/dev/null
KEY=$("$API" keys add --keys-file "$work/keys.toml" --name bench --role writer)

# start NAME DIR PORT [env...]: a server pinned to CPU 0; waits until ready.
declare -A PID
start() {
  local name=$1 dir=$2 port=$3 scheme=http
  shift 3
  [[ " $* " == *STEMEDB_API_TLS_CERT* ]] && scheme=https
  env STEMEDB_STORAGE_DATA_DIR="$dir" STEMEDB_API_BIND_ADDR="127.0.0.1:$port" STEMEDB_LOG=warn "$@" \
    taskset -c 0 "$API" >>"$work/$name.log" 2>&1 &
  PID[$name]=$!
  for _ in $(seq 1 300); do
    curl -sfk "$scheme://127.0.0.1:$port/v1/ready" >/dev/null && return 0
    sleep 0.1
  done
  die "server $name not ready; log: $(tail -5 "$work/$name.log")"
}
stop() {
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PID=()
}
script() { cat "scripts/wrk/$1.lua" scripts/wrk/report.lua >"$work/$1.lua"; echo "$work/$1.lua"; }
QUERY=$(script query) ASSERT=$(script assert)
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
# A server's CPU time (user + system) in clock ticks.
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "=== loading $N assertions ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
start load "$work/db" "$PORT"
THREADS=4 "$BENCH" http-ingest "$N" "http://127.0.0.1:$PORT" | tail -1
stop
cp -a "$work/db" "$work/db2"

# Both servers run at once, pinned to CPU 0, each loaded by its own wrk (both
# on CPU 1) for the same S seconds: they share one core and whatever the
# machine's other tenants leave of it, so the ratio of their throughputs is the
# ratio of their costs per request, free of drift between runs.
start plain "$work/db" "$PORT"
start secure "$work/db2" "$((PORT + 1))" STEMEDB_API_TLS_CERT="$work/server.crt" \
  STEMEDB_API_TLS_KEY="$work/server.key" STEMEDB_AUTH_KEYS_FILE="$work/keys.toml"
declare -A R
for round in $(seq 1 "$ROUNDS"); do
  for kind in query write; do
    lua=$QUERY; [[ $kind == write ]] && lua=$ASSERT
    a0=$(cpu_ticks "${PID[plain]}") b0=$(cpu_ticks "${PID[secure]}")
    SUBJECTS=$((N / 10)) TOKEN="" taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency -s "$lua" \
      "http://127.0.0.1:$PORT" >"$work/plain.out" &
    w=$!
    SUBJECTS=$((N / 10)) TOKEN=$KEY taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency \
      -H "Authorization: Bearer $KEY" -s "$lua" "https://127.0.0.1:$((PORT + 1))" >"$work/secure.out"
    wait "$w"
    a1=$(cpu_ticks "${PID[plain]}") b1=$(cpu_ticks "${PID[secure]}")
    for mode in plain secure; do
      line=$(grep RESULT "$work/$mode.out") || die "wrk ($mode $kind) printed no result"
      [[ "$line" == *" errors=0 "* ]] || die "requests failed in round $round ($mode $kind): $line; log: $(tail -3 "$work/$mode.log")"
      if [[ $mode == plain ]]; then t=$((a1 - a0)); else t=$((b1 - b0)); fi
      n=$(field requests <<<"$line")
      us=$(awk -v t="$t" -v n="$n" -v k="$TICK" 'BEGIN{ if (n>0) printf "%.1f", t/k*1e6/n; else print 0 }')
      R[$mode,$kind,$round]="$(field rps <<<"$line") $(field p99_ms <<<"$line") $us"
      echo "round $round $mode $kind: $line server_us=$us"
    done
    R[ratio,$kind,$round]=$(awk -v a="${R[plain,$kind,$round]%% *}" -v b="${R[secure,$kind,$round]%% *}" 'BEGIN{printf "%.3f", b/a}')
  done
done
stop

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { # mode kind field(1=rps,2=p99,3=server CPU µs per request)
  for round in $(seq 1 "$ROUNDS"); do echo "${R[$1,$2,$round]}" | cut -d' ' -f"$3"; done | median
}
echo
echo "| workload (64 connections each, both servers at once on one core, ${SECS} s x $ROUNDS rounds, median) | plain HTTP req/s | HTTPS + keys req/s | ratio (median of rounds) | p99 plain / secure ms | server CPU µs/request plain / secure |"
echo "|---|---|---|---|---|---|"
for kind in query write; do
  ratio=$(for round in $(seq 1 "$ROUNDS"); do echo "${R[ratio,$kind,$round]}"; done | median)
  echo "| $kind | $(col plain $kind 1) | $(col secure $kind 1) | $(printf '%.2f' "$ratio") | $(col plain $kind 2) / $(col secure $kind 2) | $(col plain $kind 3) / $(col secure $kind 3) |"
done

[[ "$CLUSTER" == 1 ]] || exit 0
for ip in 127.0.0.1 127.0.0.2 127.0.0.3; do
  for port in 18180 18181 18182; do
    tcp_busy "$ip" "$port" && die "$ip:$port is busy (a devcluster or cluster test?); use --no-cluster"
  done
done
head -c 48 /dev/urandom | base64 | tr -d '\n=/+' >"$work/cluster.secret"
chmod 600 "$work/cluster.secret"
export DEVCLUSTER_DIR="$work/cluster" STEMEDB_BIN="$API" STEMEDB_LOG=warn
URLS=http://127.0.0.1:18180,http://127.0.0.2:18180,http://127.0.0.3:18180
declare -A C
for round in $(seq 1 "$ROUNDS"); do
  for mode in open secret; do
    scripts/devcluster.sh clean >/dev/null 2>&1 || true
    scripts/devcluster.sh start >/dev/null
    if [[ "$mode" == secret ]]; then
      # devcluster writes the configs; add the secret and restart.
      scripts/devcluster.sh stop >/dev/null
      for n in node1 node2 node3; do
        sed -i "/^\[cluster\]/a secret_file = \"$work/cluster.secret\"" "$work/cluster/$n/config.toml"
      done
      for n in node1 node2 node3; do
        env -u STEMEDB_BIN setsid "$API" --config "$work/cluster/$n/config.toml" >>"$work/cluster/$n/log" 2>&1 </dev/null &
        echo $! >"$work/cluster/$n/pid"
      done
    fi
    for _ in $(seq 1 300); do
      all=1
      for ip in 127.0.0.1 127.0.0.2 127.0.0.3; do
        curl -s --max-time 1 "http://$ip:18180/v1/ready" | grep -q '"read_write"' || all=0
      done
      [[ $all == 1 ]] && break
      sleep 0.2
    done
    [[ $all == 1 ]] || die "cluster ($mode) did not form; see $work/cluster/*/log"
    if [[ "$mode" == secret ]] && ! grep -q secret_file "$work/cluster/node1/config.toml"; then die "secret not configured"; fi
    out=$("$BENCH" cluster-load --urls "$URLS" --seconds "$SECS" --threads 32 2>&1 | tee -a "$work/cluster.out")
    ack=$(sed -n 's/.*achieved \([0-9]*\) acknowledged writes.*/\1/p' <<<"$out" | head -1)
    echo "round $round cluster $mode: ${ack:-?} acknowledged writes/s"
    C[$mode,$round]=${ack:-0}
    scripts/devcluster.sh stop >/dev/null 2>&1 || true
  done
done
a=$(for r in $(seq 1 "$ROUNDS"); do echo "${C[open,$r]}"; done | median)
b=$(for r in $(seq 1 "$ROUNDS"); do echo "${C[secret,$r]}"; done | median)
echo
echo "| three nodes, single writes round-robin (32 threads, ${SECS} s x $ROUNDS, median) | no secret writes/s | secret_file writes/s | ratio |"
echo "|---|---|---|---|"
echo "| factor 2, write_ack 2 | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN{ if (a>0) printf "%.2f", b/a; else print "?" }') |"
