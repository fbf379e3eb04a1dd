#!/usr/bin/env bash
# Runs the handlers tests, including those against moto's server (AWS emulator over HTTP).
# Installs moto into target/moto-venv first if it is not there (needs python3 and PyPI).
# Extra arguments go to `cargo test -p handlers` (e.g. `--test aws_adapters`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/target/moto-venv"

if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing moto[server] into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6' 'boto3>=1.34'
fi

export PETAVATAR_MOTO_SERVER="$venv/bin/moto_server"
cd "$root"
exec cargo test -p handlers "$@"
