#!/usr/bin/env bash
# Runs every shell block between the quickstart markers of README.md against a
# freshly started server, failing on the first command that fails or on a
# reply that is not JSON. Uses the debug binaries built by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin stemedb-api --bin stemedb
bin="$PWD/target/debug"
data=$(mktemp -d)
log="$data/server.log"
STEMEDB_STORAGE_DATA_DIR="$data/db" STEMEDB_API_BIND_ADDR=127.0.0.1:18180 "$bin/stemedb-api" >"$log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:18180/v1/health >/dev/null && break
  sleep 0.1
done
curl -sf http://127.0.0.1:18180/v1/health >/dev/null || { cat "$log"; echo "server did not start"; exit 1; }

script="$data/quickstart.sh"
awk '/<!-- quickstart:start -->/{on=1; next} /<!-- quickstart:end -->/{on=0} on' README.md \
  | awk '/^```sh/{inblk=1; next} /^```/{inblk=0; next} inblk' > "$script"
[ -s "$script" ] || { echo "no quickstart commands found in README.md"; exit 1; }
# Every curl must succeed at the HTTP level (-f) and every command must exit 0.
sed -i 's/^curl -s /curl -sf /' "$script"
out=$(PATH="$bin:$PATH" bash -euo pipefail "$script")
echo "$out"
echo "$out" | grep -q '"status":"created"' || { echo "no write was created"; exit 1; }
echo "$out" | grep -q '"value":"hair loss"' || { echo "recency lens answer missing"; exit 1; }
echo "$out" | grep -q '"status":"contested"' || { echo "skeptic status missing"; exit 1; }
echo "quickstart OK"
