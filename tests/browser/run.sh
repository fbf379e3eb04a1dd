#!/usr/bin/env bash
# The browser test on a fresh machine of this kind: installs Debian's Chromium when it is
# missing (playwright's own browser download does not work here), the npm packages from the
# lock file, then runs `node --test` (which builds `petavatar` with cargo, debug).
# Screenshots: <repo>/target/browser/{card,execution}.png.
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
  echo "browser test: installing Debian's chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

npm ci --no-audit --no-fund
npm test
