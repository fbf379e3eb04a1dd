#!/usr/bin/env bash
# Sizes and the newest glibc symbol version of each cargo-lambda bootstrap, as a Markdown table.
# provided.al2023 ships glibc 2.34: every bootstrap must need 2.34 or older.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${PETAVATAR_LAMBDA_DIR:-$root/target/lambda}"
status=0
echo "| binary | bootstrap | gzip -9 | newest glibc symbol |"
echo "|---|---:|---:|---|"
for bin in "$root"/handlers/src/bin/*.rs; do
    name="$(basename "$bin" .rs)"
    bootstrap="$dir/$name/bootstrap"
    if [ ! -f "$bootstrap" ]; then
        echo "| $name | missing | | |"
        status=1
        continue
    fi
    size=$(stat -c %s "$bootstrap")
    zipped=$(gzip -9 -c "$bootstrap" | wc -c)
    glibc=$(objdump -T "$bootstrap" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    printf '| %s | %.1f MB | %.1f MB | %s |\n' "$name" "$(echo "$size/1000000" | bc -l)" "$(echo "$zipped/1000000" | bc -l)" "$glibc"
    if [ "$(printf '%s\nGLIBC_2.34\n' "$glibc" | sort -V | tail -1)" != "GLIBC_2.34" ]; then
        echo "  ^ $name needs $glibc, newer than provided.al2023's 2.34" >&2
        status=1
    fi
done
exit $status
