#!/usr/bin/env bash
# Make sure Debian's chromium is present for the browser tests (Playwright drives it; its own
# browser download does not work here). Installs it when missing and we may (root + apt-get).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "chromium.sh: installing Debian's chromium for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
else
  echo "chromium.sh: /usr/bin/chromium is missing and cannot be installed; browser tests will skip" >&2
fi
