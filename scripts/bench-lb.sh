#!/usr/bin/env bash
# Throughput through the load balancer vs straight to one node, on the local
# stack of scripts/devstack.sh (nginx with deploy/nginx/stemedb.conf in front
# of three nodes). docs/benchmarks.md, "Operations".
#
#   scripts/devstack.sh start && scripts/bench-lb.sh
#
# Seeds 3,000 assertions on 300 subjects (drug:0000000..drug:0000299, the
# bench data set's shape) through node1, then runs wrk (DURATION, default 8 s;
# CONNECTIONS, default 32; 2 threads) for lens queries and for single durable
# writes, first against node1 (127.0.0.1:18180), then against nginx
# (127.0.0.1:18080, spreading over all three nodes). wrk shares the machine's
# cores with the nodes and nginx.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-8s}"
CONNECTIONS="${CONNECTIONS:-32}"
DIRECT="http://127.0.0.1:18180"
LB="http://127.0.0.1:${DEVSTACK_LB_PORT:-18080}"
command -v wrk >/dev/null || { echo "bench-lb: wrk is required (apt-get install wrk)" >&2; exit 1; }
curl -sf "$LB/v1/health" >/dev/null || { echo "bench-lb: no load balancer at $LB (scripts/devstack.sh start)" >&2; exit 1; }

python3 - <<'PY' | curl -sf -X POST "$DIRECT/v1/assertions" -H 'content-type: application/x-ndjson' --data-binary @- >/dev/null
import json
values = ["nausea", "headache", "none", "rash", "dizziness", "fatigue", "insomnia"]
for i in range(3000):
    print(json.dumps({"subject": "drug:%07d" % (i // 10), "predicate": "effect%d" % (i % 3),
                      "object": {"type": "text", "value": values[i % 7]}, "agent": "seed",
                      "timestamp": 1700000000000 + i}))
PY
echo "seeded 3,000 assertions on 300 subjects"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run() { # label url script
  local out
  cat "$ROOT/scripts/wrk/$3" "$ROOT/scripts/wrk/report.lua" >"$tmp/$3"
  out="$(SUBJECTS=300 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$tmp/$3" "$2" 2>&1)"
  echo "$1: $(grep RESULT <<<"$out" || echo "$out")"
}
for script in query.lua assert.lua; do
  run "direct node1  $script" "$DIRECT" "$script"
  run "through nginx $script" "$LB" "$script"
done
