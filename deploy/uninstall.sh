#!/bin/sh
# Remove what deploy/install.sh installed for a role. Configuration and data (tickets,
# the server database, broker passwords) stay unless --purge. Safe to run again.
#
#   sudo sh deploy/uninstall.sh --role kiosk
#   sudo sh deploy/uninstall.sh --role server --purge
set -eu

usage() {
  cat <<'EOF'
usage: uninstall.sh --role ROLE [--prefix DIR] [--config-dir DIR] [--data-dir DIR] [--purge] [--root DIR] [--dry-run]
  --purge    also delete the configuration, the data folder (databases, broker files) and the xephang user
EOF
}

ROLE=""
PREFIX=/opt/xephang
CONFIG_DIR=/etc/xephang
DATA_DIR=/var/lib/xephang
ROOT=""
DRY=0
PURGE=0
die() { echo "uninstall.sh: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --role) need_value "$@"; ROLE=$2; shift 2 ;;
    --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
    --config-dir) need_value "$@"; CONFIG_DIR=$2; shift 2 ;;
    --data-dir) need_value "$@"; DATA_DIR=$2; shift 2 ;;
    --root) need_value "$@"; ROOT=$2; shift 2 ;;
    --purge) PURGE=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
case "$ROLE" in
  kiosk|display|desk-keypad|counter-display|server|broker) ;;
  "") usage >&2; die "--role is required" ;;
  *) die "unknown role '$ROLE' (kiosk, display, desk-keypad, counter-display, server, broker)" ;;
esac
for dir in "$PREFIX" "$CONFIG_DIR" "$DATA_DIR"; do
  case "$dir" in /|/usr|/etc|/var|/var/lib|/opt) die "refusing to remove $dir" ;; /*) ;; *) die "paths must be absolute: $dir" ;; esac
done
if [ -n "$ROOT" ]; then
  ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || die "--root folder does not exist"
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)

say() { echo "xephang: $*"; }
system() {
  if [ -n "$ROOT" ]; then say "skipped under --root: $*"
  elif [ "$DRY" -eq 1 ]; then say "would run: $*"
  else "$@"; fi
}
remove() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    if [ "$DRY" -eq 1 ]; then say "would remove $1"; else rm -rf -- "$1"; say "removed $1"; fi
  fi
}

RUNNING=0
[ -d /run/systemd/system ] && RUNNING=1
[ -n "$ROOT" ] && RUNNING=1  # show every step under --root (they are all skipped)
files=$(PYTHONPATH="$SRC" python3 -m xephang.deploy files --role "$ROLE" --prefix "$PREFIX" \
  --config-dir "$CONFIG_DIR" --data-dir "$DATA_DIR") || die "cannot list the role's files"
for path in $files; do
  case "$path" in
    /etc/systemd/system/*)
      unit=${path#/etc/systemd/system/}
      if [ -n "$ROOT" ] || [ -f "/etc/systemd/system/$unit" ]; then
        [ "$RUNNING" -eq 1 ] && system systemctl stop "$unit"
        system systemctl disable "$unit"
      fi
      remove "$ROOT$path"
      ;;
    /etc/udev/rules.d/*)
      remove "$ROOT$path"
      [ "$RUNNING" -eq 1 ] && system udevadm control --reload-rules
      ;;
  esac
done
if [ "$RUNNING" -eq 1 ]; then
  system systemctl daemon-reload
fi
others=$(ls "$ROOT/etc/systemd/system/" 2>/dev/null | grep '^xephang-.*\.service$' || true)
if [ -n "$others" ] && [ "$DRY" -eq 0 ]; then
  say "kept $PREFIX/venv: other roles still use it ($(echo $others))"
else
  remove "$ROOT$PREFIX/venv"
  remove "$ROOT$PREFIX/share/doc/deployment.md"
fi
if [ "$PURGE" -eq 1 ]; then
  remove "$ROOT$CONFIG_DIR"
  remove "$ROOT$DATA_DIR"
  if [ -n "$ROOT" ] || id -u xephang >/dev/null 2>&1; then
    system userdel xephang
  fi
  say "role $ROLE removed with its configuration and data"
else
  say "role $ROLE removed; kept $CONFIG_DIR and $DATA_DIR (use --purge to delete them)"
fi
if [ "$ROLE" = server ] || [ "$ROLE" = broker ]; then
  say "the stock mosquitto.service stays disabled; 'systemctl enable --now mosquitto' brings it back"
fi
