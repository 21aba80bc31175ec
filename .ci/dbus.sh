#!/usr/bin/env bash
# Installs Debian's dbus-daemon for the BlueZ D-Bus test of the real BLE adapter
# (transports/ble: TestRealAdapterGATTServerOverDBus starts a private bus of its own and a
# scripted org.bluez on it; no system bus, no BlueZ, no radio). Idempotent: exits 0 at
# once when dbus-daemon exists. Needs root (CI runs as root); without root and without
# dbus-daemon it prints a note and exits 0: the test then skips with a message.
set -euo pipefail
if command -v dbus-daemon >/dev/null; then
  echo "dbus.sh: dbus-daemon already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "dbus.sh: dbus-daemon not installed and not root: the BlueZ D-Bus test will be skipped"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends dbus-daemon >/dev/null
echo "dbus.sh: installed dbus-daemon"
