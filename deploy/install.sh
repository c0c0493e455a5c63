#!/bin/sh
# Install xephang for one role on 64-bit Raspberry Pi OS / Debian 12. Safe to run again:
# a second run changes nothing. See docs/deployment.md.
#
#   sudo sh deploy/install.sh --role server
#   sudo sh deploy/install.sh --role kiosk --broker-host 192.168.1.10
#
# Roles: kiosk, display, desk-keypad, counter-display, server (with Mosquitto), broker (Mosquitto only).
set -eu

usage() {
  cat <<'EOF'
usage: install.sh --role ROLE [options]
  --role ROLE          kiosk | display | desk-keypad | counter-display | server | broker
  --prefix DIR         installation folder, the venv is DIR/venv (default /opt/xephang)
  --config-dir DIR     configuration folder (default /etc/xephang)
  --data-dir DIR       writable data folder; put it on the data partition (default /var/lib/xephang)
  --broker-host HOST   broker address written into a new config (default 127.0.0.1)
  --broker-port PORT   broker port (default 1883)
  --device-id ID       device id / broker user written into a new config
  --bind ADDR          server/broker roles: broker listen address (default 0.0.0.0: the office LAN)
  --broker-files DIR   broker role: use mosquitto.conf, passwd, acl made by `xephang topology`
  --config-from FILE   use this config (e.g. from `xephang topology`) when there is none yet
  --secrets-from FILE  use this secrets.env (XEPHANG_BROKER__PASSWORD=...) when there is none yet
  --wheelhouse DIR     install offline from wheels in DIR (pip --no-index --find-links DIR)
  --upgrade            reinstall the package even when the same version is installed
  --python PY          Python used to create the venv (default python3)
  --root DIR           write everything under DIR and touch nothing of this system
                       (no apt, no users, no systemctl): for tests and image builds
  --dry-run            say what would be done, change nothing
EOF
}

ROLE=""
PREFIX=/opt/xephang
CONFIG_DIR=/etc/xephang
DATA_DIR=/var/lib/xephang
BROKER_HOST=127.0.0.1
BROKER_PORT=1883
DEVICE_ID=""
BIND=0.0.0.0
BROKER_FILES=""
CONFIG_FROM=""
SECRETS_FROM=""
WHEELHOUSE=""
UPGRADE=0
PYTHON=python3
ROOT=""
DRY=0
SERVICE_USER=xephang

die() { echo "install.sh: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --role) need_value "$@"; ROLE=$2; shift 2 ;;
    --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
    --config-dir) need_value "$@"; CONFIG_DIR=$2; shift 2 ;;
    --data-dir) need_value "$@"; DATA_DIR=$2; shift 2 ;;
    --broker-host) need_value "$@"; BROKER_HOST=$2; shift 2 ;;
    --broker-port) need_value "$@"; BROKER_PORT=$2; shift 2 ;;
    --device-id) need_value "$@"; DEVICE_ID=$2; shift 2 ;;
    --bind) need_value "$@"; BIND=$2; shift 2 ;;
    --broker-files) need_value "$@"; BROKER_FILES=$2; shift 2 ;;
    --config-from) need_value "$@"; CONFIG_FROM=$2; shift 2 ;;
    --secrets-from) need_value "$@"; SECRETS_FROM=$2; shift 2 ;;
    --wheelhouse) need_value "$@"; WHEELHOUSE=$2; shift 2 ;;
    --upgrade) UPGRADE=1; shift ;;
    --python) need_value "$@"; PYTHON=$2; shift 2 ;;
    --root) need_value "$@"; ROOT=$2; shift 2 ;;
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
  case "$dir" in /*) ;; *) die "paths must be absolute: $dir" ;; esac
done
case "$BROKER_PORT" in ''|*[!0-9]*) die "--broker-port must be a number" ;; esac
if [ -n "$ROOT" ]; then
  ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || die "--root folder does not exist"
fi

SRC=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$SRC/xephang/deploy.py" ] || die "run me from a xephang source tree ($SRC has no xephang/deploy.py)"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SRC/pyproject.toml" | head -n 1)
VENV="$ROOT$PREFIX/venv"
CONFIG="$ROOT$CONFIG_DIR/xephang.toml"
CHANGED=0

say() { echo "xephang: $*"; }
# System changes: skipped under --root (not this system's business), shown under --dry-run.
system() {
  if [ -n "$ROOT" ]; then
    say "skipped under --root: $*"
  elif [ "$DRY" -eq 1 ]; then
    say "would run: $*"
  else
    "$@"
  fi
}
# Changes inside the install tree: shown under --dry-run, done otherwise (also under --root).
local_do() {
  if [ "$DRY" -eq 1 ]; then
    say "would run: $*"
  else
    "$@"
  fi
}
deploy_py() { PYTHONPATH="$SRC" "$PYTHON" -m xephang.deploy "$@"; }
# Runs a deploy step, shows its report, notes whether it wrote anything; fails if it fails.
report() {
  "$@" >"$REPORT" || die "failed: $*"
  while IFS= read -r line; do
    echo "  $line"
    case "$line" in wrote*|"would write"*) echo changed >"$MARK" ;; esac
  done <"$REPORT"
}
MARK=$(mktemp)
REPORT=$(mktemp)
trap 'rm -f "$MARK" "$REPORT"' EXIT

# OPTIONAL: from the Raspberry Pi OS archive; plain Debian has no python3-lgpio.
OPTIONAL=""
case "$ROLE" in
  kiosk) APT="python3-venv fonts-dejavu-core fonts-dejavu-extra"; OPTIONAL="python3-lgpio"; EXTRA=kiosk; SITE_PKGS=1 ;;
  display) APT="python3-venv fonts-dejavu-core espeak-ng alsa-utils"; EXTRA=display; SITE_PKGS=0 ;;
  desk-keypad) APT="python3-venv"; OPTIONAL="python3-lgpio"; EXTRA=kiosk; SITE_PKGS=1 ;;
  counter-display) APT="python3-venv"; EXTRA=counter-display; SITE_PKGS=0 ;;
  server) APT="python3-venv mosquitto sqlite3"; EXTRA=server; SITE_PKGS=0 ;;
  broker) APT="python3-venv mosquitto"; EXTRA=""; SITE_PKGS=0 ;;
esac

# 1. Debian packages, only those missing.
missing=""
if [ -z "$ROOT" ]; then
  for pkg in $APT; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
fi
missing_optional=""
if [ -z "$ROOT" ]; then
  for pkg in $OPTIONAL; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_optional="$missing_optional $pkg"
  done
fi
if [ -n "$missing" ] || [ -n "$missing_optional" ]; then
  system apt-get update -qq
  for pkg in $missing_optional; do
    if apt-cache policy "$pkg" 2>/dev/null | grep -q "Candidate: [0-9]"; then
      missing="$missing $pkg"
    else
      say "$pkg is not available here (not Raspberry Pi OS?): GPIO pins will not work; a USB keypad will"
    fi
  done
fi
if [ -n "$missing" ]; then
  say "installing Debian packages:$missing"
  system env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  CHANGED=1
fi

# 2. The service user (system account, no login) and its device groups.
if [ "$ROLE" != broker ]; then
  if [ -n "$ROOT" ] || ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    system useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
    [ -n "$ROOT" ] || CHANGED=1
  fi
fi
SUPP_GROUPS=""
case "$ROLE" in
  kiosk) WANT="gpio lp dialout" ;;
  display) WANT="video render audio input" ;;
  desk-keypad) WANT="gpio input" ;;
  counter-display) WANT="spi gpio" ;;
  *) WANT="" ;;
esac
for group in $WANT; do
  if [ -n "$ROOT" ] || getent group "$group" >/dev/null 2>&1; then
    SUPP_GROUPS="${SUPP_GROUPS:+$SUPP_GROUPS,}$group"
  fi
done

# 3. Folders.
for dir in "$ROOT$PREFIX" "$ROOT$CONFIG_DIR" "$ROOT$DATA_DIR"; do
  if [ ! -d "$dir" ]; then
    local_do mkdir -p "$dir"
    CHANGED=1
  fi
done

# 4. The virtual environment and the package (same version installed: nothing to do).
if [ ! -x "$VENV/bin/python" ]; then
  if [ "$SITE_PKGS" -eq 1 ]; then
    local_do "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    local_do "$PYTHON" -m venv "$VENV"
  fi
  CHANGED=1
fi
if [ "$SITE_PKGS" -eq 1 ] && [ -f "$VENV/pyvenv.cfg" ] && grep -q '^include-system-site-packages = false' "$VENV/pyvenv.cfg"; then
  # the venv of another role on this machine: let it see apt's python3-lgpio too
  local_do sed -i 's/^include-system-site-packages = false/include-system-site-packages = true/' "$VENV/pyvenv.cfg"
  CHANGED=1
fi
# The installed version, if every requirement of this role's extra is installed too
# (another role may have made the venv without it).
installed=""
if [ -x "$VENV/bin/python" ]; then
  installed=$("$VENV/bin/python" -I -c '
import importlib.metadata as m, re, sys
extra = sys.argv[1]
for req in m.requires("xephang") or []:
    if extra and re.search(r"extra\s*==\s*.%s." % re.escape(extra), req):
        m.version(re.match(r"[A-Za-z0-9_.-]+", req).group(0))
print(m.version("xephang"))' "$EXTRA" 2>/dev/null || true)
fi
if [ "$installed" != "$VERSION" ] || [ "$UPGRADE" -eq 1 ]; then
  spec="xephang${EXTRA:+[$EXTRA]}"
  # The exact versions the tests passed with (constraints.txt, `make lock`), not the newest.
  LOCK=""
  [ -f "$SRC/constraints.txt" ] && LOCK="$SRC/constraints.txt"
  if [ -n "$WHEELHOUSE" ]; then
    local_do "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELHOUSE" ${LOCK:+-c "$LOCK"} --upgrade "$spec==$VERSION"
  else
    local_do "$VENV/bin/python" -m pip install -q ${LOCK:+-c "$LOCK"} --upgrade "$SRC${EXTRA:+[$EXTRA]}"
  fi
  CHANGED=1
else
  say "xephang $VERSION already in $PREFIX/venv"
fi

# 5. Units, udev rule and (only when absent) the config: the given one, else the role's template.
if [ -n "$CONFIG_FROM" ] && [ ! -f "$CONFIG" ]; then
  [ -f "$CONFIG_FROM" ] || die "--config-from: no file $CONFIG_FROM"
  local_do install -m 640 "$CONFIG_FROM" "$CONFIG"
  echo changed >"$MARK"
fi
dry_flag=""
[ "$DRY" -eq 1 ] && dry_flag="--dry-run"
say "files for role $ROLE:"
report deploy_py render --role "$ROLE" --prefix "$PREFIX" --config-dir "$CONFIG_DIR" --data-dir "$DATA_DIR" \
  --broker-host "$BROKER_HOST" --broker-port "$BROKER_PORT" ${DEVICE_ID:+--device-id "$DEVICE_ID"} \
  --groups "$SUPP_GROUPS" --templates "$SRC/deploy/templates" ${ROOT:+--root "$ROOT"} $dry_flag
case "$ROLE" in
  kiosk|display|server)
    # several roles on one machine share one config: each needs its own section
    if [ -f "$CONFIG" ] && ! grep -q "^\[$ROLE\]" "$CONFIG"; then
      say "warning: $CONFIG_DIR/xephang.toml has no [$ROLE] section; add one (template: deploy/templates/config/$ROLE.toml)"
    fi
    ;;
  counter-display)
    if [ -f "$CONFIG" ] && ! grep -q "^\[counter_display\]" "$CONFIG"; then
      say "warning: $CONFIG_DIR/xephang.toml has no [counter_display] section; add one (template: deploy/templates/config/counter-display.toml)"
    fi
    ;;
esac
doc="$ROOT$PREFIX/share/doc/deployment.md"
if ! cmp -s "$SRC/docs/deployment.md" "$doc"; then
  local_do mkdir -p "$(dirname "$doc")"
  local_do cp "$SRC/docs/deployment.md" "$doc"
  CHANGED=1
fi

# 6. Broker (server and broker roles): accounts per device, printed once.
BROKER_DIR="$DATA_DIR/broker"
if [ "$ROLE" = server ] || [ "$ROLE" = broker ]; then
  if [ -n "$BROKER_FILES" ]; then
    for name in mosquitto.conf passwd acl; do
      [ -f "$BROKER_FILES/$name" ] || die "--broker-files: $BROKER_FILES/$name is missing"
      if ! cmp -s "$BROKER_FILES/$name" "$ROOT$BROKER_DIR/$name"; then
        local_do mkdir -p "$ROOT$BROKER_DIR/data"
        local_do install -m 600 "$BROKER_FILES/$name" "$ROOT$BROKER_DIR/$name"
        echo changed >"$MARK"
      fi
    done
  elif [ "$DRY" -eq 1 ] && [ ! -x "$VENV/bin/python" ]; then
    say "would run: xephang broker config for the devices in $CONFIG_DIR/xephang.toml into $BROKER_DIR"
  elif [ "$DRY" -eq 1 ]; then
    say "would refresh the broker accounts in $BROKER_DIR (new devices get a password)"
  else
    report "$VENV/bin/python" -m xephang.deploy broker --config "$CONFIG" --dir "$BROKER_DIR" ${ROOT:+--root "$ROOT"} \
      --port "$BROKER_PORT" --bind "$BIND" --run-as mosquitto
  fi
  system chown -R mosquitto:mosquitto "$BROKER_DIR"
fi

# 7. The broker password of this device, for systemd's EnvironmentFile (root only).
SECRETS="$ROOT$CONFIG_DIR/secrets.env"
if [ "$ROLE" != broker ] && [ ! -f "$SECRETS" ]; then
  if [ -n "$SECRETS_FROM" ]; then
    [ -f "$SECRETS_FROM" ] || die "--secrets-from: no file $SECRETS_FROM"
    local_do install -m 600 "$SECRETS_FROM" "$SECRETS"
  elif [ "$ROLE" = server ] && [ -f "$ROOT$BROKER_DIR/credentials.toml" ]; then
    local_do sh -c 'umask 077; PYTHONPATH="$1" "$2" -m xephang.deploy secrets --credentials "$3" --user "$4" >"$5"' \
      sh "$SRC" "$PYTHON" "$ROOT$BROKER_DIR/credentials.toml" "${DEVICE_ID:-server}" "$SECRETS"
  elif [ -n "${XEPHANG_BROKER_PASSWORD:-}" ]; then
    local_do sh -c 'umask 077; printf "XEPHANG_BROKER__PASSWORD=%s\n" "$1" >"$2"' sh "$XEPHANG_BROKER_PASSWORD" "$SECRETS"
  else
    local_do sh -c 'umask 077; printf "# XEPHANG_BROKER__PASSWORD=<this device'"'"'s password, printed on the server>\n" >"$1"' sh "$SECRETS"
    say "put this device's broker password into $CONFIG_DIR/secrets.env (see docs/deployment.md)"
  fi
  CHANGED=1
fi
# The services read the config as $SERVICE_USER (the broker role has no such user or service).
if [ "$ROLE" != broker ]; then
  [ -f "$CONFIG" ] || [ "$DRY" -eq 1 ] || die "no config at $CONFIG_DIR/xephang.toml"
  system chown "root:$SERVICE_USER" "$CONFIG_DIR/xephang.toml"
  system chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
fi

# 8. systemd and udev. Without a running systemd (a chroot building an image) units are
# only enabled: they start at the first boot.
[ -s "$MARK" ] && CHANGED=1
RUNNING=0
[ -d /run/systemd/system ] && RUNNING=1
[ -n "$ROOT" ] && RUNNING=1  # show every step under --root (they are all skipped)
if [ "$ROLE" = server ] || [ "$ROLE" = broker ]; then
  # xephang-broker.service replaces the stock unit (same port).
  if [ -n "$ROOT" ] || systemctl is-enabled --quiet mosquitto.service 2>/dev/null; then
    system systemctl disable mosquitto.service
    [ "$RUNNING" -eq 1 ] && system systemctl stop mosquitto.service
  fi
fi
# Units with an [Install] section are enabled and started; the others are started by them
# (xephang-backup.service by its timer).
units=""
for path in $(deploy_py files --role "$ROLE" --prefix "$PREFIX" --config-dir "$CONFIG_DIR" --data-dir "$DATA_DIR"); do
  case "$path" in
    /etc/systemd/system/*)
      name=${path#/etc/systemd/system/}
      grep -q '^\[Install\]' "$SRC/deploy/templates/$name" && units="$units $name"
      ;;
  esac
done
if [ "$CHANGED" -eq 1 ]; then
  if [ "$RUNNING" -eq 1 ]; then
    system systemctl daemon-reload
    [ "$ROLE" = kiosk ] && system udevadm control --reload-rules && system udevadm trigger --subsystem-match=usb --subsystem-match=usbmisc
  fi
  for unit in $units; do
    system systemctl enable "$unit"
    [ "$RUNNING" -eq 1 ] && system systemctl restart "$unit"
  done
  [ "$RUNNING" -eq 1 ] || say "systemd is not running here: units enabled, they start at boot"
  say "role $ROLE installed"
else
  # Files unchanged; still make sure every unit is enabled (and running, if systemd runs).
  for unit in $units; do
    [ -n "$ROOT" ] && continue
    if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
      system systemctl enable "$unit"
    fi
    if [ "$RUNNING" -eq 1 ] && ! systemctl is-active --quiet "$unit"; then
      system systemctl start "$unit"
    fi
  done
  say "role $ROLE: nothing to change"
fi
say "check it with: $PREFIX/venv/bin/xephang doctor --role $ROLE --config $CONFIG_DIR/xephang.toml"
