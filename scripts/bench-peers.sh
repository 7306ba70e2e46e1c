#!/usr/bin/env bash
# Issue 13: StemeDB vs PostgreSQL 15 on the same claims workload, side by side in one run.
#   scripts/bench-peers.sh [--claims N] [--quick] [--seconds S]
# N claims (default 1,000,000; --quick = 100,000 and 10 s runs): N/10 subjects, one predicate
# each, 10 claims per pair with 3 competing values from 100 agents (stemedb-bench peers-csv).
# PostgreSQL 15 (apt) runs from a temp dir on 127.0.0.1 with fsync and synchronous_commit on;
# StemeDB is the release server with its default durable config. Same data, same duration,
# 64 connections for both (wrk for StemeDB over HTTP, pgbench for PostgreSQL). Prints one
# table of ratios (>1 = StemeDB better). Not run in CI: figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000000 SECS=20 CONNS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --claims) N=$2; shift 2 ;;
    --quick) N=100000 SECS=10; shift ;;
    --seconds) SECS=$2; shift 2 ;;
    *) echo "usage: $0 [--claims N] [--quick] [--seconds S]" >&2; exit 2 ;;
  esac
done
SUBJECTS=$((N / 10))
PORT=${PORT:-18191} PGPORT=${PGPORT:-15432}
URL=http://127.0.0.1:$PORT
PGBIN=/usr/lib/postgresql/15/bin
if [ ! -x $PGBIN/initdb ] || ! command -v wrk >/dev/null || ! command -v pgbench >/dev/null; then
  apt-get update -qq && apt-get install -y -qq postgresql-15 postgresql-client-15 wrk >/dev/null
fi
cargo build -q --release --bin stemedb-api --bin stemedb-bench
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
work=$(mktemp -d /tmp/bench-peers.XXXXXX)
chmod 755 "$work"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  runuser -u postgres -- $PGBIN/pg_ctl -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- PostgreSQL: own cluster in the temp dir, loopback only -----------------------------
mkdir "$work/pg" "$work/pgsock" && chown postgres "$work/pg" "$work/pgsock"
runuser -u postgres -- $PGBIN/initdb -D "$work/pg" -A trust -U postgres >/dev/null
cat >>"$work/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$work/pgsock'
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 1GB
CONF
runuser -u postgres -- $PGBIN/pg_ctl -D "$work/pg" -l "$work/pg/server.log" -w start >/dev/null
psql() { command psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE TABLE claims (id bigint PRIMARY KEY, subject text NOT NULL, predicate text NOT NULL,
  value text NOT NULL, agent text NOT NULL, confidence float8 NOT NULL, ts bigint NOT NULL,
  source_class smallint, source_uri text);
  CREATE INDEX claims_spt ON claims (subject, predicate, ts DESC);
  CREATE TABLE trust (agent text PRIMARY KEY, trust float8 NOT NULL);
  CREATE SEQUENCE claim_ids START $((N + 1));"

# --- StemeDB: release server, default (durable) storage config --------------------------
start_server() {
  STEMEDB_STORAGE_DATA_DIR="$work/db" STEMEDB_API_BIND_ADDR=127.0.0.1:$PORT STEMEDB_LOG=warn \
    "$rel/stemedb-api" >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do curl -sf $URL/v1/health >/dev/null && return; sleep 0.1; done
  echo "server did not become ready" >&2; exit 1
}
start_server

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
rows=()
row() { rows+=("$(printf '%-28s %14s %14s %8s %s' "$1" "$2" "$3" "$4" "${5:-}")"); echo "  $1: StemeDB $2, PostgreSQL $3, ratio $4 ${5:-}"; }

echo "== batch ingest of $N claims (durable) =="
"$rel/stemedb-bench" peers-csv "$N" >"$work/claims.csv"
t0=$(now)
psql -c "\\copy claims FROM '$work/claims.csv' (FORMAT csv)"
t1=$(now)
pg_ingest=$(rate "$N" "$t0" "$t1")
psql -c "VACUUM ANALYZE claims" -c "VACUUM ANALYZE trust"
s_line=$(THREADS=4 "$rel/stemedb-bench" peers-ingest "$N" $URL)
echo "  $s_line"
s_ingest=$(echo "$s_line" | sed -n 's/.*: \([0-9]*\) assertions\/s.*/\1/p')
row "batch ingest (claims/s)" "$s_ingest" "$pg_ingest" "$(ratio "$s_ingest" "$pg_ingest")" \
  "(StemeDB: 4 conns x 1,000/request; PG: one COPY)"

echo "== bytes per claim (table + indexes vs data dir) =="
pg_bytes=$(psql -At -c "SELECT pg_total_relation_size('claims')")
s_bytes=$(du -sb "$work/db" | cut -f1)
row "bytes per claim" "$((s_bytes / N))" "$((pg_bytes / N))" "$(ratio "$pg_bytes" "$s_bytes")" \
  "(ratio = PG/StemeDB; StemeDB: log + index dir right after ingest, index journal included)"
# Settled: a restart folds the index journal into tables (PostgreSQL's figure excludes its WAL
# too). The log still counts its active segment's preallocated tail.
kill "$server" && wait "$server" 2>/dev/null || true
start_server
# The fold runs after the server is ready: wait (bounded) until only the active journal is left.
for _ in $(seq 1 120); do
  [ "$(find "$work/db/index" -maxdepth 1 -name '*.jnl' | wc -l)" -le 1 ] && break
  sleep 0.5
done
s_bytes=$(du -sb "$work/db" | cut -f1)
row "bytes per claim, settled" "$((s_bytes / N))" "$((pg_bytes / N))" "$(ratio "$pg_bytes" "$s_bytes")" \
  "(after a restart: journal folded into tables)"

buckets() { # route -> "le count" lines of the server's request-time histogram (/metrics)
  curl -sf $URL/metrics | grep "^stemedb_http_request_duration_seconds_bucket{route=\"$1\"," |
    sed 's/.*le="\([^"]*\)"} \([0-9]*\)$/\1 \2/'
}
wrk_run() { # script, route -> "RESULT ... server_p99_ms=B": B is the histogram bound (ms) that
  # holds 99 % of the run's requests as timed inside the server (request parsed -> response
  # built), which leaves out waiting for a core to read or write the socket.
  cat "scripts/wrk/$1.lua" scripts/wrk/report.lua >"$work/$1.lua"
  buckets "$2" >"$work/buckets.before"
  r=$(wrk -t2 -c$CONNS -d${SECS}s --latency -s "$work/$1.lua" $URL | grep RESULT)
  buckets "$2" >"$work/buckets.after"
  b=$(awk 'FILENAME == ARGV[1] { seen[$1] = $2; next }
    { d[++n] = $2 - seen[$1]; le[n] = $1 }
    END { for (i = 1; i <= n; i++) if (d[i] >= 0.99 * d[n]) { print (le[i] == "+Inf" ? "inf" : le[i] * 1000); exit } }' \
    "$work/buckets.before" "$work/buckets.after")
  echo "$r server_p99_ms=<=$b"
}
pg_run() { # sql file -> "tps avg_ms"
  (cd "$work" && rm -f pgbench_log.* && command pgbench -n -h 127.0.0.1 -p "$PGPORT" -U postgres \
    -c $CONNS -j 2 -T "$SECS" -D subjects=$SUBJECTS --log --sampling-rate=0.05 -f "$1" postgres) \
    >"$work/pgbench.out" 2>&1
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out" | head -1)
  p99=$(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n |
    awk '{a[NR]=$1} END { i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000 }')
  echo "${tps%.*} $p99"
}
where="WHERE subject = 'drug:' || lpad(:s::text, 7, '0') AND predicate = 'effect'"
declare -A SQL=(
  [recency]="SELECT value FROM claims $where ORDER BY ts DESC LIMIT 1;"
  [consensus]="SELECT value, count(DISTINCT agent) AS support, max(ts) AS newest FROM claims $where GROUP BY value ORDER BY support DESC, newest DESC LIMIT 1;"
  [authority]="SELECT c.value FROM claims c LEFT JOIN trust t ON t.agent = c.agent $where ORDER BY coalesce(t.trust, 0.5) * c.confidence DESC, c.ts DESC LIMIT 1;"
  [confidence]="SELECT value FROM claims $where ORDER BY confidence DESC, ts DESC LIMIT 1;"
  [skeptic]="SELECT value, count(DISTINCT agent)::float8 / sum(count(DISTINCT agent)) OVER () AS share FROM claims $where GROUP BY value;"
  [layered]="SELECT coalesce(source_class, 6) AS class, value, count(DISTINCT agent) AS support, max(ts) AS newest FROM claims $where GROUP BY 1, 2 ORDER BY 1, 3 DESC, 4 DESC;"
)
echo "== round-trip floor: wrk GET /v1/health vs pgbench SELECT 1, -c$CONNS, ${SECS}s each =="
printf '%s\n' 'SELECT 1;' >"$work/floor.sql"
read -r pg_tps pg_p99 < <(pg_run "$work/floor.sql")
r=$(wrk_run health /v1/health); echo "  $r"
s_rps=$(echo "$r" | sed -n 's/.* rps=\([0-9]*\).*/\1/p'); s_p99=$(echo "$r" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p')
row "round-trip floor (req/s)" "$s_rps" "$pg_tps" "$(ratio "$s_rps" "$pg_tps")" "(no data touched: GET /v1/health vs SELECT 1; not a target)"

for lens in recency consensus authority confidence skeptic layered; do
  echo "== $lens lens: wrk -c$CONNS vs pgbench -c$CONNS, ${SECS}s each =="
  printf '\\set s random(0, :subjects - 1)\n%s\n' "${SQL[$lens]}" >"$work/$lens.sql"
  read -r pg_tps pg_p99 < <(pg_run "$work/$lens.sql")
  r=$(SUBJECTS=$SUBJECTS LENS=$lens EXTRA="${EXTRA-&candidates=false}" wrk_run peers-query /v1/query)
  s_rps=$(echo "$r" | sed -n 's/.* rps=\([0-9]*\).*/\1/p'); s_p99=$(echo "$r" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p')
  s_srv=$(echo "$r" | sed -n 's/.*server_p99_ms=\(.*\)$/\1/p')
  echo "  $r"
  row "$lens query (req/s)" "$s_rps" "$pg_tps" "$(ratio "$s_rps" "$pg_tps")" "(p99 ms: StemeDB $s_p99, in the server $s_srv; PG $pg_p99)"
done

echo "== single durable writes: wrk POST /v1/assert vs pgbench INSERT, -c$CONNS, ${SECS}s =="
printf '%s\n' '\set k random(0, 999999999)' \
  "INSERT INTO claims VALUES (nextval('claim_ids'), 'bench:' || :client_id || ':' || :k, 'p', 'v' || (:k % 7), 'wrk', 0.9, 1700000000000 + :k, NULL, NULL);" \
  >"$work/insert.sql"
read -r pg_tps pg_p99 < <(pg_run "$work/insert.sql")
r=$(wrk_run assert /v1/assert); echo "  $r"
s_rps=$(echo "$r" | sed -n 's/.* rps=\([0-9]*\).*/\1/p'); s_p99=$(echo "$r" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p')
s_srv=$(echo "$r" | sed -n 's/.*server_p99_ms=\(.*\)$/\1/p')
row "single durable write (/s)" "$s_rps" "$pg_tps" "$(ratio "$s_rps" "$pg_tps")" "(p99 ms: StemeDB $s_p99, in the server $s_srv; PG $pg_p99)"

echo
echo "StemeDB vs PostgreSQL 15, $N claims, $CONNS connections, ${SECS}s per read/write run, $(date -u '+%F %H:%M UTC'), $(nproc) cores"
printf '%-28s %14s %14s %8s %s\n' "workload" "StemeDB" "PostgreSQL" "ratio" ""
printf '%s\n' "${rows[@]}"
