#!/usr/bin/env bash
# The browser test on a fresh machine of this kind: installs Debian's Chromium when it is
# missing (playwright's own browser download does not work here), the npm packages from the
# lock file, then runs `node --test` (which builds `petavatar` with cargo, debug).
# Screenshots: <repo>/target/browser/{card,execution}.png.
#
#   tests/browser/run.sh            prepare, then run the test
#   tests/browser/run.sh prepare    only install what the test needs (scripts/soak-flaky)
#
# Readiness is checked by answers, never by sleeps: the test's server is ready once it answers
# GET /openapi.json (lib/petavatar.js), Chromium once playwright's launch() has it answering
# over its DevTools pipe; both are killed by pid when the test process ends.
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
# A Chromium that cannot start fails here, with its own message, not as a launch timeout.
/usr/bin/chromium --version

if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
[ "${1:-}" = prepare ] && exit 0
npm test
