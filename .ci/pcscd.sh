#!/usr/bin/env bash
# Starts pcscd with vsmartcard's vpcd driver for the NFC PC/SC tests (transports/nfc).
# Idempotent: exits 0 at once when a pcscd with vpcd loaded is already running.
# Installs pcscd and vsmartcard-vpcd when missing (needs root; CI runs as root). Without
# root and without pcscd it prints a note and exits 0: the PC/SC tests then skip.
#
# Lanes: VPCD_ENTRIES entries (default 4) of 2 slots each; entry i listens on ports
# 35963+2i and 35964+2i, its readers are named "Virtual PCD <port> 0x 0y". Each entry gets
# its own copy of the driver (entries sharing one .so overwrite each other's globals).
# pcscd is started with setsid/nohup and stays alive after this script.
set -euo pipefail
entries=${VPCD_ENTRIES:-4}
sock=/run/pcscd/pcscd.comm

running_with_vpcd() {
  local pid
  for pid in $(pgrep -x pcscd 2>/dev/null); do
    grep -q libifdvpcd "/proc/$pid/maps" 2>/dev/null && [ -S "$sock" ] && return 0
  done
  return 1
}

if running_with_vpcd; then
  echo "pcscd.sh: pcscd with vpcd already running"
  exit 0
fi

drv=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
if ! { [ -x /usr/sbin/pcscd ] && [ -e "$drv" ]; }; then
  if [ "$(id -u)" != 0 ]; then
    echo "pcscd.sh: pcscd/vpcd not installed and not root: PC/SC tests will be skipped"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends pcscd vsmartcard-vpcd >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
  echo "pcscd.sh: not root: cannot start pcscd; PC/SC tests will be skipped"
  exit 0
fi
if pgrep -x pcscd >/dev/null; then
  echo "pcscd.sh: a pcscd without vpcd is running; stopping it"
  for pid in $(pgrep -x pcscd); do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do pgrep -x pcscd >/dev/null || break; sleep 0.1; done
fi

dir=/run/mdocgate-pcscd
rm -rf "$dir"; mkdir -p "$dir/readers.d"
real=$(readlink -f "$drv")
for i in $(seq 0 $((entries - 1))); do
  port=$((35963 + 2 * i))
  cp "$real" "$dir/libifdvpcd-$i.so"
  printf '%s\n' "FRIENDLYNAME \"Virtual PCD $port\"" "DEVICENAME /dev/null:$port" \
    "LIBPATH $dir/libifdvpcd-$i.so" "CHANNELID $port" >"$dir/readers.d/vpcd-$i"
done
mkdir -p /run/pcscd
setsid nohup /usr/sbin/pcscd --foreground -c "$dir/readers.d" >"$dir/pcscd.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
  [ -S "$sock" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/pcscd.log"; exit 1; }
  sleep 0.1
done
[ -S "$sock" ] || { echo "pcscd.sh: no socket $sock"; cat "$dir/pcscd.log"; exit 1; }
echo "pcscd.sh: pcscd $pid running with $entries vpcd entries ($((2 * entries)) slots from port 35963); log $dir/pcscd.log"
