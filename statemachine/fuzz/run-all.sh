#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 300) on one core, one after the
# other, with its seeds and dictionary. Logs: target/fuzz-logs/<target>.log (in the main
# checkout's target dir); new corpus entries: fuzz/corpus/<target>; crashes: fuzz/artifacts/<target>.
#
# Stable Rust only is needed: RUSTC_BOOTSTRAP=1 lets stable rustc accept the -Z flags cargo-fuzz
# passes (-Zsanitizer=address, ...). `cargo install cargo-fuzz` first.
# Usage: statemachine/fuzz/run-all.sh [SECONDS] [TARGET...]   (SKIP_BUILD=1: run the built binaries)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(definition jsonpath intrinsics)
target_dir=$(cd ../.. && pwd)/target
logs=$target_dir/fuzz-logs
mkdir -p "$logs"
export RUSTC_BOOTSTRAP=1
[ "${SKIP_BUILD:-}" = 1 ] || cargo +stable fuzz build -O --debug-assertions --target-dir "$target_dir"
bin_dir=$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t: ${seconds}s, log $logs/$t.log" >&2
  # The binary directly, not `cargo fuzz run`: that rebuilds first and so waits for the
  # shared target dir's lock while other builds run. One worker process (-fork=1: one core)
  # that keeps going past a crash (-ignore_crashes=1; -jobs=1 would stop at the first one).
  "$bin_dir/$t" -artifact_prefix="artifacts/$t/" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$seconds" \
    -dict="dicts/$t.dict" -timeout=10 -rss_limit_mb=2048 "corpus/$t" "seeds/$t" >"$logs/$t.log" 2>&1 \
    || echo "== $t: libFuzzer exited non-zero (see the log)" >&2
  grep -E '^#[0-9]+: cov' "$logs/$t.log" | tail -n 1 >&2 || true
  echo "== $t: $(grep -c 'panicked at' "$logs/$t.log" || true) crashing inputs; distinct panic sites:" >&2
  grep -o 'panicked at [^:]*:[0-9]*' "$logs/$t.log" | sort | uniq -c >&2 || true
done
