#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the dashboard browser test
# (supervisor/dashboard: TestDashboardInChromium). Idempotent: exits 0 at once when
# /usr/bin/chromium exists. Needs root (CI runs as root); without root and without
# Chromium it prints a note and exits 0: the browser test then skips with a message.
# The test never installs anything itself; `make test` runs this script first.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium.sh: chromium not installed and not root: the dashboard browser test will be skipped"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium.sh: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
