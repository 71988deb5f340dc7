#!/usr/bin/env bash
# Debian's chromium for the console's browser tests (tests/browser), installed once.
# Playwright drives it at /usr/bin/chromium; `playwright install` is never run.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
