#!/usr/bin/env bash
# The worked example of docs/lenses.md against a running server (default http://127.0.0.1:18180):
# a regulator, two trials that disagree, forty forum posts; then each of the six lenses.
set -euo pipefail
API=${API:-http://127.0.0.1:18180}
post() { curl -s -X POST "$API$1" -H 'Content-Type: application/json' -d "$2"; echo; }
claim() { # agent value confidence timestamp class
  post /v1/assert "{\"subject\": \"drug:semaglutide\", \"predicate\": \"side_effect\",
    \"object\": {\"type\": \"text\", \"value\": \"$2\"}, \"agent\": \"$1\", \"confidence\": $3,
    \"timestamp\": $4, \"source\": {\"uri\": \"https://example.org/$1\", \"class\": $5}}"
}
fda=$(claim fda nausea 0.9 1704844800000 0 | sed -E 's/.*"id":"([0-9a-f]+)".*/\1/')
post /v1/vote "{\"target\": \"$fda\", \"agent\": \"pharmacist-ana\", \"weight\": 1.0, \"timestamp\": 1704848400000}"
claim trial-a nausea 0.95 1685577600000 1
claim trial-b pancreatitis 0.85 1693526400000 1
for i in $(seq 0 39); do
  if [ "$i" -lt 7 ]; then v=nausea; elif [ "$i" -lt 10 ]; then v=pancreatitis; else v="hair loss"; fi
  c=0.6; [ "$i" -eq 7 ] && c=1.0
  claim "forum-user-$(printf %02d "$i")" "$v" "$c" $((1706745600000 + i * 3600000)) 5 >/dev/null
done
for a in fda:0.95 trial-a:0.8 trial-b:0.8; do
  curl -s -X PUT "$API/v1/agents/${a%%:*}/trust" -H 'Content-Type: application/json' -d "{\"score\": ${a##*:}}"; echo
done
for lens in recency authority consensus confidence skeptic layered; do
  curl -s "$API/v1/query?subject=drug:semaglutide&predicate=side_effect&lens=$lens" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]["resolution"]; print(r["lens"], (r["value"] or {}).get("value"), round(r["confidence"],4), r.get("status",""))'
done
