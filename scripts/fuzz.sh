#!/usr/bin/env bash
# Coverage-guided fuzzing of StemeDB's decoders (fuzz/, libFuzzer).
#
#   scripts/fuzz.sh list                   the targets
#   scripts/fuzz.sh run TARGET [SECONDS]   fuzz one target (default 60 s)
#   scripts/fuzz.sh all [SECONDS]          every target in turn
#
# Builds fuzz/ (its own workspace and target directory) with libFuzzer's
# coverage instrumentation and no sanitizer, exactly what
# `cargo fuzz run --sanitizer none TARGET` does, so neither a nightly
# toolchain nor cargo-fuzz is needed (with cargo-fuzz installed, that command
# works too). The committed seeds are read from fuzz/corpus/TARGET; inputs
# that grow coverage go to fuzz/target/corpus/TARGET (kept between runs, not
# committed); a crash is written to fuzz/artifacts/TARGET/ and the run stops
# with its reproducer path:
#   fuzz/target/<host triple>/release/TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

targets() { sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^stemedb-fuzz$'; }

# An explicit --target keeps the instrumentation flags off build scripts and
# proc macros (they would not link without libFuzzer), as cargo-fuzz does.
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN="fuzz/target/$HOST/release"

build() {
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo build --release --manifest-path fuzz/Cargo.toml --bins --target "$HOST"
}

run_one() {
  local target=$1 secs=${2:-60}
  mkdir -p "fuzz/target/corpus/$target" "fuzz/artifacts/$target"
  echo "== $target for ${secs}s"
  "$BIN/$target" "fuzz/target/corpus/$target" "fuzz/corpus/$target" \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1
}

case "${1:-}" in
  list) targets ;;
  run)
    [[ -n "${2:-}" ]] || { echo "usage: $0 run TARGET [SECONDS]" >&2; exit 2; }
    targets | grep -qx "$2" || { echo "unknown target $2; one of: $(targets | tr '\n' ' ')" >&2; exit 2; }
    build
    run_one "$2" "${3:-60}"
    ;;
  all)
    build
    for t in $(targets); do run_one "$t" "${2:-60}"; done
    ;;
  *) echo "usage: $0 list | run TARGET [SECONDS] | all [SECONDS]" >&2; exit 2 ;;
esac
