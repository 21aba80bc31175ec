#!/usr/bin/env bash
# Starts a Mosquitto MQTT broker for the MQTT actuator tests (supervisor/actuator,
# supervisor/daemon), listening on 127.0.0.1:${MOSQUITTO_PORT:-18883}, anonymous clients
# allowed, no persistence. Idempotent: exits 0 at once when that port already answers.
# Installs mosquitto (Debian) when missing (needs root; CI runs as root). Without root
# and without mosquitto it prints a note and exits 0: the MQTT tests then skip.
# The broker is started with setsid/nohup and stays alive after this script. Tests
# also start a broker of their own on a free port when the mosquitto binary is there.
set -euo pipefail
port=${MOSQUITTO_PORT:-18883}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if listening; then
  echo "mosquitto.sh: a broker already listens on 127.0.0.1:$port"
  exit 0
fi
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "mosquitto.sh: mosquitto not installed and not root: MQTT tests will be skipped"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
fi
bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
dir=/tmp/mdocgate-mosquitto
mkdir -p "$dir"
printf '%s\n' "listener $port 127.0.0.1" "allow_anonymous true" "persistence false" >"$dir/mosquitto.conf"
# the Debian package's own service (if any) listens elsewhere (1883); ours runs as the
# caller, with its config only
setsid nohup "$bin" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
  listening && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/mosquitto.log"; exit 1; }
  sleep 0.1
done
listening || { echo "mosquitto.sh: nothing listens on 127.0.0.1:$port"; cat "$dir/mosquitto.log"; exit 1; }
echo "mosquitto.sh: mosquitto $pid listening on 127.0.0.1:$port; log $dir/mosquitto.log"
