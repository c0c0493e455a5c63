#!/bin/sh
# Installs the Debian packages xephang's tests and demo need, only when missing.
# Usage: scripts/system-deps.sh [test|demo]
set -eu
need=""
have_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have_cmd mosquitto || need="$need mosquitto"
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
# the kiosk ticket's condensed bold (kiosk/ticket_image.py) is only in the extra package
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf ] || need="$need fonts-dejavu-extra"
have_cmd espeak-ng || need="$need espeak-ng"
if [ "${1:-test}" = "test" ]; then
  have_cmd chromium || need="$need chromium"
  # the national store's tests start their own cluster (tests/national/pg.py)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
fi
if [ -n "$need" ]; then
  echo "xephang: installing Debian packages:$need"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
fi
