#!/usr/bin/env bash
# What security costs, measured side by side in one run (release build; the
# load generator and the servers share this machine's cores):
#
#   scripts/bench-security.sh [--claims N] [--seconds S] [--rounds R] [--no-cluster]
#
# a) One node, the same data dir (N assertions, default 200,000, loaded once):
#    "plain" = HTTP without [auth]; "secure" = HTTPS (TLS 1.3, rustls + ring,
#    a self-signed certificate made here with openssl) with [auth] keys and
#    every request carrying a key. For each, wrk with 64 connections for S s
#    (default 10): GET /v1/query with a lens (scripts/wrk/query.lua) and
#    single durable writes (POST /v1/assert, scripts/wrk/assert.lua). The two
#    configurations alternate R times (default 3) so drift in the machine's
#    load hits both; the table shows the median of the rounds and the ratio.
# b) Three nodes (scripts/devcluster.sh on 127.0.0.1-3) without and with
#    [cluster] secret_file (MACs on SWIM, one-time tokens on gRPC pushes, the
#    gateway's bearer secret): single writes spread round-robin over the three
#    APIs for S s (stemedb-bench cluster-load), alternating R times.
#
# PIN=1 runs the server on CPU 0 and wrk on CPU 1 (taskset), so the
# client's own TLS work does not come out of the server's share: the
# throughput ratio then shows the server's cost. Unpinned, both share every
# core (the figures are then the client's and the server's cost together).
# SKIP_BUILD=1 uses the release binaries already built. Needs wrk, curl and
# openssl. Everything started here is stopped and its data removed on exit.
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
for t in wrk curl openssl; do command -v "$t" >/dev/null || die "$t is required (apt-get install $t)"; done
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
pid=""
stop() {
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
cleanup() {
  stop
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

# start plain|secure: the server on the shared data dir; waits until ready.
start() {
  local -a env=(STEMEDB_STORAGE_DATA_DIR="$work/db" STEMEDB_API_BIND_ADDR="127.0.0.1:$PORT" STEMEDB_LOG=warn)
  if [[ "$1" == secure ]]; then
    env+=(STEMEDB_API_TLS_CERT="$work/server.crt" STEMEDB_API_TLS_KEY="$work/server.key"
          STEMEDB_AUTH_KEYS_FILE="$work/keys.toml")
    URL=https://127.0.0.1:$PORT
  else
    URL=http://127.0.0.1:$PORT
  fi
  env "${env[@]}" "${SERVER_CPU[@]}" "$API" >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sfk "$URL/v1/ready" >/dev/null && return 0
    sleep 0.1
  done
  die "server ($1) not ready; log: $(tail -5 "$work/server.log")"
}
SERVER_CPU=() WRK_CPU=()
if [[ "${PIN:-0}" == 1 ]]; then
  command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
  SERVER_CPU=(taskset -c 0) WRK_CPU=(taskset -c 1)
fi
script() { cat "scripts/wrk/$1.lua" scripts/wrk/report.lua >"$work/$1.lua"; echo "$work/$1.lua"; }
QUERY=$(script query) ASSERT=$(script assert)
rps() { sed -n 's/.*rps=\([0-9]*\).*/\1/p'; }
# The server's CPU time (user + system, clock ticks) and CPU µs per request:
# wrk's TLS work runs on the same cores, so throughput alone charges the
# client's encryption to the server.
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
per_request() { # ticks-before ticks-after RESULT-line
  local n; n=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$3")
  awk -v a="$1" -v b="$2" -v n="$n" -v t="$TICK" 'BEGIN{ if (n>0) printf "%.1f", (b-a)/t*1e6/n; else print 0 }'
}
cpu() { sed -n 's/.*server_us=\([0-9.]*\).*/\1/p'; }
p99() { sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p'; }

echo "=== loading $N assertions ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
start plain
THREADS=4 "$BENCH" http-ingest "$N" "$URL" | tail -1
stop

declare -A R
for round in $(seq 1 "$ROUNDS"); do
  for mode in plain secure; do
    start "$mode"
    auth=()
    tok=""
    if [[ "$mode" == secure ]]; then auth=(-H "Authorization: Bearer $KEY"); tok=$KEY; fi
    c0=$(cpu_ticks)
    q=$(SUBJECTS=$((N / 10)) "${WRK_CPU[@]}" wrk -t2 -c64 -d"${SECS}s" --latency "${auth[@]}" -s "$QUERY" "$URL" | grep RESULT)
    c1=$(cpu_ticks)
    w=$(TOKEN=$tok "${WRK_CPU[@]}" wrk -t2 -c64 -d"${SECS}s" --latency -s "$ASSERT" "$URL" | grep RESULT)
    c2=$(cpu_ticks)
    q="$q server_us=$(per_request "$c0" "$c1" "$q")"
    w="$w server_us=$(per_request "$c1" "$c2" "$w")"
    echo "round $round $mode query: $q"
    echo "round $round $mode write: $w"
    for r in "$q" "$w"; do
      [[ "$r" == *" errors=0 "* ]] || die "requests failed in round $round ($mode): $r; log: $(tail -3 "$work/server.log")"
    done
    R[$mode,query,$round]="$(rps <<<"$q") $(p99 <<<"$q") $(cpu <<<"$q")"
    R[$mode,write,$round]="$(rps <<<"$w") $(p99 <<<"$w") $(cpu <<<"$w")"
    stop
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { # mode kind field(1=rps,2=p99,3=server CPU µs per request)
  for round in $(seq 1 "$ROUNDS"); do echo "${R[$1,$2,$round]}" | cut -d' ' -f"$3"; done | median
}
echo
echo "| workload (64 connections, ${SECS} s x $ROUNDS rounds, median) | plain HTTP req/s | HTTPS + keys req/s | ratio | p99 plain / secure ms | server CPU µs/request plain / secure |"
echo "|---|---|---|---|---|---|"
for kind in query write; do
  a=$(col plain $kind 1) b=$(col secure $kind 1)
  echo "| $kind | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}') | $(col plain $kind 2) / $(col secure $kind 2) | $(col plain $kind 3) / $(col secure $kind 3) |"
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
