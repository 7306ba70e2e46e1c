#!/usr/bin/env bash
# Write throughput of one node vs the local three-node cluster, and the
# replication delay under a paced load, on this machine (release builds; the
# load generator and every server share the cores).
#
#   scripts/bench-cluster.sh
#
# a) one node on 127.0.0.1:18190 (defaults: fsync on, durable):
#    max-rate single writes (POST /v1/assert), then NDJSON batches of $BATCH;
# b) scripts/devcluster.sh (node1..node3 on 127.0.0.1-3, ports 18180-18183,
#    factor 2, write_ack 2): the same two max-rate runs spread round-robin over
#    the three APIs; then the cluster is recreated (fresh data and metrics, so
#    the server's rolling summary holds only the paced run) and a run paced at
#    $RATE writes/s for $PACED_SECONDS s, with single writes if the max-rate
#    single-write run reached $RATE/s, else with batches of $BATCH. When the
#    cluster cannot carry $RATE/s, one more paced run (again on a fresh
#    cluster) at half its max rate shows the delay under a load it sustains.
#    The stemedb_replication_delay_seconds quantiles are printed after each run
#    (cluster-load scrapes /metrics every 500 ms during a run, like Prometheus).
#
# Knobs (environment): MAX_SECONDS=10 PACED_SECONDS=20 RATE=5000 BATCH=100
# SINGLE_THREADS=32 BATCH_THREADS=8 PACED_SINGLE_THREADS=64 PACED_BATCH_THREADS=8;
# SKIP_BUILD=1 uses the release binaries already built.
# Everything started here is stopped and its temporary data removed on exit,
# failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

MAX_SECONDS=${MAX_SECONDS:-10}
PACED_SECONDS=${PACED_SECONDS:-20}
RATE=${RATE:-5000}
BATCH=${BATCH:-100}
SINGLE_THREADS=${SINGLE_THREADS:-32}
BATCH_THREADS=${BATCH_THREADS:-8}
PACED_SINGLE_THREADS=${PACED_SINGLE_THREADS:-64}
PACED_BATCH_THREADS=${PACED_BATCH_THREADS:-8}
SINGLE_ADDR=127.0.0.1:18190
CLUSTER_IPS=(127.0.0.1 127.0.0.2 127.0.0.3)
API_PORT=18180
GATEWAY_PORT=18181

die() { echo "bench-cluster: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is required"

# True when something accepts TCP connections on $1:$2.
tcp_busy() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# Refuse to start next to another server: the ports must be free.
tcp_busy 127.0.0.1 18190 && die "127.0.0.1:18190 is busy (another server?); stop it first"
for ip in "${CLUSTER_IPS[@]}"; do
  for port in 18180 18181 18182; do
    tcp_busy "$ip" "$port" &&
      die "$ip:$port is busy (another stemedb-api or a running devcluster / cluster test?); stop it first"
  done
done
if command -v ss >/dev/null && [[ -n "$(ss -Hlun 'sport = :18183' 2>/dev/null)" ]]; then
  die "UDP port 18183 is busy (another cluster node?); stop it first"
fi

if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
  echo "=== SKIP_BUILD=1: using the existing release binaries"
else
  echo "=== building release binaries"
  cargo build --release -p stemedb-server -p stemedb-bench
fi
rel="${CARGO_TARGET_DIR:-$ROOT/target}/release"
API_BIN="$rel/stemedb-api"
BENCH_BIN="$rel/stemedb-bench"
[[ -x "$API_BIN" && -x "$BENCH_BIN" ]] || die "release binaries missing in $rel"

work="$(mktemp -d "${TMPDIR:-/tmp}/stemedb-bench-cluster.XXXXXX")"
export DEVCLUSTER_DIR="$work/cluster"
export STEMEDB_BIN="$API_BIN"
export STEMEDB_LOG=${STEMEDB_LOG:-warn}
single_pid=""
cluster_used=0

stop_single() {
  [[ -n "$single_pid" ]] || return 0
  local i
  kill -TERM "$single_pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$single_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$single_pid" 2>/dev/null; then
    echo "single node still running after 15 s; SIGKILL"
    kill -KILL "$single_pid" 2>/dev/null || true
  fi
  wait "$single_pid" 2>/dev/null || true
  single_pid=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_single
  if ((cluster_used)); then
    scripts/devcluster.sh clean >/dev/null 2>&1 || echo "bench-cluster: devcluster clean failed" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Warnings and errors in a server log (problems the figures may hide).
log_summary() { # name logfile
  local lines
  # The server logs with ANSI colours even to a file: strip them first.
  lines="$(sed -E 's/\x1b\[[0-9;]*m//g' "$2" 2>/dev/null | grep -E '^[^ ]+ +(WARN|ERROR) ' || true)"
  if [[ -z "$lines" ]]; then
    echo "  $1 log: no WARN/ERROR lines"
    return 0
  fi
  echo "  $1 log: $(wc -l <<<"$lines") WARN/ERROR lines; the most frequent (timestamps dropped):"
  sed -E 's/^[^ ]+ +//' <<<"$lines" | sort | uniq -c | sort -rn | head -n 5 | cut -c1-300 | sed 's/^/    /'
}

# Runs cluster-load (args...), shows its output, sets $ack (acknowledged writes/s).
load() {
  "$BENCH_BIN" cluster-load "$@" | tee "$work/load.out"
  ack="$(sed -n 's/^RESULT .*ack_per_s=\([0-9]*\).*/\1/p' "$work/load.out" | tail -n 1)"
  ack=${ack:-0}
}

# ---------------------------------------------------------------- a) one node
echo
echo "=== a) single node on $SINGLE_ADDR (data in $work/single, fsync on)"
single_url="http://$SINGLE_ADDR"
# Defaults only: drop any STEMEDB_<SECTION>_* overrides from the caller's environment.
unset_args=()
while IFS= read -r var; do unset_args+=(-u "$var"); done < <(
  env | sed -n 's/^\(STEMEDB_\(API\|STORAGE\|CLUSTER\|REPLICATION\)_[A-Za-z0-9_]*\)=.*/\1/p')
env "${unset_args[@]}" STEMEDB_API_BIND_ADDR="$SINGLE_ADDR" STEMEDB_STORAGE_DATA_DIR="$work/single" \
  "$API_BIN" >"$work/single.log" 2>&1 </dev/null &
single_pid=$!
code=000
for ((i = 0; i < 150; i++)); do
  kill -0 "$single_pid" 2>/dev/null || { tail -n 20 "$work/single.log" >&2; die "single node exited during start-up"; }
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$single_url/v1/ready" || true)"
  [[ "$code" == 200 ]] && break
  sleep 0.2
done
[[ "$code" == 200 ]] || die "single node not ready after 30 s (last /v1/ready status $code)"

echo "--- single node, max rate, single writes"
load --urls "$single_url" --seconds "$MAX_SECONDS" --batch 1 --threads "$SINGLE_THREADS"
single_1=$ack
echo "--- single node, max rate, batches of $BATCH"
load --urls "$single_url" --seconds "$MAX_SECONDS" --batch "$BATCH" --threads "$BATCH_THREADS"
single_b=$ack
stop_single
log_summary "single node" "$work/single.log"

# ---------------------------------------------------------------- b) three nodes
cluster_urls="$(printf 'http://%s:18180,' "${CLUSTER_IPS[@]}")"
cluster_urls=${cluster_urls%,}

start_cluster() {
  cluster_used=1
  scripts/devcluster.sh start
  local ip ups all i
  for ((i = 0; i < 150; i++)); do
    all=1
    for ip in "${CLUSTER_IPS[@]}"; do
      ups="$(curl -s --max-time 1 "http://$ip:$GATEWAY_PORT/cluster/members" | grep -oE '"status" *: *"UP"' | wc -l || true)"
      [[ "$ups" == 3 ]] || all=0
      curl -s --max-time 1 "http://$ip:$API_PORT/v1/ready" | grep -q '"read_write"' || all=0
    done
    if ((all)); then
      echo "cluster formed: every gateway sees 3 members UP, every node read_write (after $((i * 200)) ms)"
      return 0
    fi
    sleep 0.2
  done
  scripts/devcluster.sh status || true
  die "the cluster did not form within 30 s"
}

echo
echo "=== b) three nodes (scripts/devcluster.sh, data in $DEVCLUSTER_DIR)"
start_cluster
echo "--- cluster, max rate, single writes over 3 nodes"
load --urls "$cluster_urls" --seconds "$MAX_SECONDS" --batch 1 --threads "$SINGLE_THREADS"
cluster_1=$ack
echo "--- cluster, max rate, batches of $BATCH over 3 nodes"
load --urls "$cluster_urls" --seconds "$MAX_SECONDS" --batch "$BATCH" --threads "$BATCH_THREADS"
cluster_b=$ack
for n in node1 node2 node3; do log_summary "cluster $n" "$DEVCLUSTER_DIR/$n/log"; done

if ((cluster_1 * 100 >= RATE * 95)); then
  paced_batch=1 paced_threads=$PACED_SINGLE_THREADS paced_max=$cluster_1
  paced_mode="single writes (max-rate single writes reached $cluster_1/s)"
else
  paced_batch=$BATCH paced_threads=$PACED_BATCH_THREADS paced_max=$cluster_b
  paced_mode="batches of $BATCH (single writes reach only $cluster_1/s < $RATE/s on this machine)"
fi

# A paced run on a freshly created cluster (new data, metrics starting from
# zero, so the server's rolling summary holds only this run). Sets $ack and
# appends the replication lines to $paced_report.
paced_report=""
paced_run() { # rate label
  echo
  echo "--- recreating the cluster (fresh data and metrics) for the paced run"
  scripts/devcluster.sh clean
  start_cluster
  echo "--- cluster, paced at $1 writes/s for $PACED_SECONDS s, $paced_mode"
  load --urls "$cluster_urls" --rate "$1" --seconds "$PACED_SECONDS" --batch "$paced_batch" --threads "$paced_threads"
  for n in node1 node2 node3; do log_summary "cluster $n" "$DEVCLUSTER_DIR/$n/log"; done
  paced_report+="  $2: target $1 writes/s for $PACED_SECONDS s, $paced_mode: $ack acknowledged writes/s
$(grep -E '^  (http|schedule)|request latency|stemedb_replication_delay_seconds|replication_lag' "$work/load.out" | sed 's/^/  /')
"
}

paced_run "$RATE" "paced run"
if ((ack * 100 < RATE * 95)); then
  # The cluster could not carry $RATE/s: also measure the delay at a load it sustains.
  sustain=$(((paced_max / 2) / 100 * 100))
  ((sustain >= 100)) || sustain=100
  echo "--- the cluster acknowledged only $ack of $RATE writes/s: another paced run at $sustain writes/s (half its max rate)"
  paced_run "$sustain" "paced run at half the max rate"
fi
scripts/devcluster.sh clean >/dev/null
cluster_used=0

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
echo "=== summary (acknowledged writes/s, $MAX_SECONDS s max-rate runs; $(nproc) cores shared by load generator and servers)"
printf '  %-32s %10s %10s %8s\n' "" "1 node" "3 nodes" "3/1"
printf '  %-32s %10s %10s %8s\n' "single writes (POST /v1/assert)" "$single_1" "$cluster_1" "$(ratio "$cluster_1" "$single_1")"
printf '  %-32s %10s %10s %8s\n' "batches of $BATCH (NDJSON)" "$single_b" "$cluster_b" "$(ratio "$cluster_b" "$single_b")"
echo "replication delay (per receiving node; target p99 <= 50 ms at $RATE writes/s):"
printf '%s' "$paced_report"
