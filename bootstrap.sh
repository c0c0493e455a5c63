#!/bin/sh
# Makes a bare Debian 12 / Raspberry Pi OS able to run `make`: installs make and the
# Python venv module when missing. Safe to run again.
set -eu
need=""
command -v make >/dev/null 2>&1 || need="$need make"
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need="$need python3-venv"
command -v python3 >/dev/null 2>&1 || need="$need python3"
if [ -n "$need" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need
fi
