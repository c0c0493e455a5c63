#!/bin/sh
# Developer check: run install.sh for real (packages, user, venv, units, systemctl) inside a
# fresh Debian root made by debootstrap, twice, then uninstall. Needs root and a network
# (or a local Debian mirror) for apt. Not used by the product.
#
#   debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,systemd bookworm /tmp/rootfs
#   sudo sh deploy/try-in-chroot.sh /tmp/rootfs broker --wheelhouse /path/to/wheels
set -eu
[ $# -ge 2 ] || { echo "usage: try-in-chroot.sh ROOTFS ROLE [install.sh options]" >&2; exit 2; }
ROOTFS=$(cd "$1" && pwd)
ROLE=$2
shift 2
SRC=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "try-in-chroot.sh: run as root" >&2; exit 2; }
[ -x "$ROOTFS/usr/bin/python3" ] || { echo "try-in-chroot.sh: no Debian root with python3 at $ROOTFS" >&2; exit 2; }

# The source tree, and any --wheelhouse folder, copied into the root.
rm -rf "$ROOTFS/src"
mkdir -p "$ROOTFS/src"
tar -C "$SRC" --exclude=.venv --exclude=.git --exclude=__pycache__ --exclude='*.egg-info' --exclude=var -cf - . \
  | tar -C "$ROOTFS/src" -xf -
args=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--wheelhouse" ]; then
    rm -rf "$ROOTFS/wheels"
    cp -r "$2" "$ROOTFS/wheels"
    args="$args --wheelhouse /wheels"
    shift 2
  else
    args="$args $1"
    shift
  fi
done
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# Packages must not start services inside a chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOTFS/proc"
trap 'umount "$ROOTFS/proc"' EXIT

echo "== first run"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOTFS" sh /src/deploy/install.sh --role "$ROLE" $args
echo "== second run"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOTFS" sh /src/deploy/install.sh --role "$ROLE" $args
echo "== enabled units"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOTFS" sh -c 'ls -l /etc/systemd/system/multi-user.target.wants/ /etc/systemd/system/timers.target.wants/ 2>/dev/null | grep xephang || true'
echo "== installed version"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOTFS" /opt/xephang/venv/bin/xephang --version
echo "== uninstall"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOTFS" sh /src/deploy/uninstall.sh --role "$ROLE"
