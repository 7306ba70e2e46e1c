#!/usr/bin/env bash
# Runs every shell block between the quickstart markers of README.md against a
# freshly started server, failing on the first command that fails or on a
# reply that is not JSON. Uses the debug binaries built by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin stemedb-api --bin stemedb
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug"
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
# The health answer must come from our server, not from something else on the port.
if ! kill -0 "$server" 2>/dev/null || ! curl -sf http://127.0.0.1:18180/v1/health >/dev/null; then
  cat "$log"; echo "server did not start (is port 18180 already in use?)"; exit 1
fi

script="$data/quickstart.sh"
awk '/<!-- quickstart:start -->/{on=1; next} /<!-- quickstart:end -->/{on=0} on' README.md \
  | awk '/^```sh/{inblk=1; next} /^```/{inblk=0; next} inblk' > "$script"
[ -s "$script" ] || { echo "no quickstart commands found in README.md"; exit 1; }
# Every curl must succeed at the HTTP level (-f) and every command must exit 0.
sed -i 's/^curl -s /curl -sf /' "$script"
if ! out=$(PATH="$bin:$PATH" bash -xeuo pipefail "$script" 2>"$data/trace"); then
  echo "$out"; tail -20 "$data/trace"; echo "--- server log"; tail -20 "$log"
  echo "a quickstart command failed"; exit 1
fi
echo "$out"
echo "$out" | grep -q '"status":"created"' || { echo "no write was created"; exit 1; }
echo "$out" | grep -q '"value":"hair loss"' || { echo "recency lens answer missing"; exit 1; }
echo "$out" | grep -q '"status":"contested"' || { echo "skeptic status missing"; exit 1; }
echo "quickstart OK"
