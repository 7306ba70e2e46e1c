#!/usr/bin/env bash
# Randomized fault injection against a three-node cluster, with a checker
# (docs/reliability.md, "Fault injection").
#
#   scripts/chaos.sh --duration SECONDS --seed N
#
# Runs the `chaos_long_schedule` test of crates/stemedb-server/tests/chaos.rs:
# three stemedb-api processes in network namespaces (prefix "ch",
# 198.18.62.0/24), client threads writing unique claims, a seeded schedule of
# SIGKILL+restart, SIGSTOP/SIGCONT, partitions and a full disk on node3, then
# heal, converge and check. The seed is printed first; the last line is
#   acknowledged=N failed=N unknown=N lost=0 duplicated=0 stale_reads=0 lens_divergent=0 converged_in=Xs
# The nodes' logs are kept in target/chaos/seed-N-<time>/.
# Needs root, `ip` and `iptables`. On a shared machine, wrap it in
# `flock /tmp/stemedb-netns.lock` (or any lock all namespace tests agree on).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration=600
seed=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="${2:?--duration needs seconds}"; shift 2 ;;
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "chaos.sh: unknown argument $1 (use --duration S --seed N)" >&2; exit 2 ;;
  esac
done
case "$duration" in ''|*[!0-9]*) echo "chaos.sh: --duration must be whole seconds" >&2; exit 2 ;; esac
if [ -z "$seed" ]; then seed=$(( $(date +%s) % 1000000 )); fi
case "$seed" in *[!0-9]*) echo "chaos.sh: --seed must be a number" >&2; exit 2 ;; esac

cd "$ROOT"
# Each node's log is kept here (lines where a store failed are also printed).
logs="$ROOT/target/chaos/seed-$seed-$(date +%Y%m%dT%H%M%S)"
CHAOS_KEEP_LOGS="$logs" CHAOS_DURATION="$duration" CHAOS_SEED="$seed" \
  cargo test --workspace --test chaos -- --ignored --nocapture --test-threads 1 chaos_long_schedule
