#!/usr/bin/env bash
# Size, Lambda zip size and cold init time of the bootstraps given, measured side by side
# (examples/init-time.rs: N rounds, each bootstrap once per round), under the shared benchmark
# lock, with the load average before and after (the machine is shared).
# usage: init-bench.sh [--runs N] BOOTSTRAP...   (PETAVATAR_VISION_GATE passes through)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cargo build --release --locked -p handlers --example init-time
harness="${CARGO_TARGET_DIR:-$root/target}/release/examples/init-time"

files=()
for arg in "$@"; do [ -f "$arg" ] && files+=("$arg"); done
echo "| bootstrap | size | zip (deflate -9) |"
echo "|---|---:|---:|"
for f in "${files[@]}"; do
    python3 - "$f" <<'PY'
import io, os, sys, zipfile
path = sys.argv[1]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(path, "bootstrap")
print(f"| {path} | {os.path.getsize(path) / 1e6:.1f} MB | {len(buf.getvalue()) / 1e6:.1f} MB |")
PY
done

exec 9>/tmp/petavatar-bench.lock
flock 9
echo "load before: $(cat /proc/loadavg)"
"$harness" "$@"
echo "load after:  $(cat /proc/loadavg)"
