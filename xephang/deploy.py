"""What deploy/install.sh writes for a role: systemd units, the udev rule, role configs.

The shell script does the system work (packages, users, the virtual environment,
systemctl); this module renders the files from deploy/templates so they can be tested,
and writes them idempotently under an optional root (tests, image builds). Standard
library at module level: install.sh runs `render`, `files` and `secrets` with the system
Python before any venv exists; only the `broker` step (run with the venv's Python)
imports protocol.settings and broker.config, inside the function. No paho or hardware.
"""

from __future__ import annotations

import argparse
import os
import re
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "deploy" / "templates"
UDEV_RULE = "/etc/udev/rules.d/99-xephang-printer.rules"
UNIT_DIR = "/etc/systemd/system"

# Vendors of common ESC/POS thermal printers that do not announce the printer class.
PRINTER_VENDORS = {
    "04b8": "Epson",
    "0416": "Winbond-based (Xprinter and others)",
    "0fe6": "ICS Advent (many 58 mm POS printers)",
    "0483": "STMicroelectronics-based POS printers",
    "28e9": "GigaDevice-based POS printers",
    "1fc9": "NXP-based POS printers",
}


@dataclass(frozen=True)
class RoleSpec:
    units: tuple[str, ...]
    extra: str | None  # the pip extra of the xephang package
    apt: tuple[str, ...]
    groups: tuple[str, ...]  # supplementary groups the service user needs (if they exist)
    device_id: str  # default broker user / device id in the config template
    udev: bool = False
    system_site_packages: bool = False  # to see apt's python3-lgpio on a Pi


ROLES: dict[str, RoleSpec] = {
    "kiosk": RoleSpec(
        units=("xephang-kiosk.service",),
        extra="kiosk",
        apt=("python3-venv", "fonts-dejavu-core", "python3-lgpio (Raspberry Pi OS)"),
        groups=("gpio", "lp", "dialout"),
        device_id="kiosk-1",
        udev=True,
        system_site_packages=True,
    ),
    "display": RoleSpec(
        units=("xephang-display.service",),
        extra="display",
        apt=("python3-venv", "fonts-dejavu-core", "espeak-ng", "alsa-utils"),
        groups=("video", "render", "audio", "input"),
        device_id="display-1",
    ),
    "desk-keypad": RoleSpec(
        units=("xephang-keypad.service",),
        extra="kiosk",
        apt=("python3-venv", "python3-lgpio (Raspberry Pi OS)"),
        groups=("gpio", "input"),
        device_id="keypad-quay-1",
        system_site_packages=True,
    ),
    "counter-display": RoleSpec(
        units=("xephang-counter-display.service",),
        extra="counter-display",
        apt=("python3-venv",),
        groups=("spi", "gpio"),
        device_id="counter-quay-1",
    ),
    "server": RoleSpec(
        units=("xephang-server.service", "xephang-broker.service", "xephang-backup.service", "xephang-backup.timer"),
        extra="server",
        apt=("python3-venv", "mosquitto", "sqlite3"),
        groups=(),
        device_id="server",
    ),
    "broker": RoleSpec(
        units=("xephang-broker.service",),
        extra=None,
        apt=("python3-venv", "mosquitto"),
        groups=(),
        device_id="server",
    ),
}


@dataclass(frozen=True)
class Layout:
    """Where things go on the target system (paths as the running system sees them)."""

    role: str
    prefix: str = "/opt/xephang"
    config_dir: str = "/etc/xephang"
    data_dir: str = "/var/lib/xephang"
    user: str = "xephang"
    broker_host: str = "127.0.0.1"
    broker_port: int = 1883
    device_id: str | None = None
    mosquitto: str = "/usr/sbin/mosquitto"
    groups: tuple[str, ...] | None = None  # None: the role's groups

    @property
    def broker_dir(self) -> str:
        return f"{self.data_dir}/broker"

    @property
    def spec(self) -> RoleSpec:
        return ROLES[self.role]

    def values(self) -> dict[str, str]:
        groups = self.spec.groups if self.groups is None else self.groups
        return {
            "role": self.role,
            "prefix": self.prefix,
            "config_dir": self.config_dir,
            "data_dir": self.data_dir,
            "broker_dir": self.broker_dir,
            "user": self.user,
            "broker_host": self.broker_host,
            "broker_port": str(self.broker_port),
            "device_id": self.device_id or self.spec.device_id,
            "mosquitto": self.mosquitto,
            "device_groups": " ".join(groups),
            "vendor_rules": vendor_rules(),
            "backup_keep": "14",
        }


@dataclass(frozen=True)
class PlannedFile:
    path: str  # absolute, as the target system sees it
    content: str
    mode: int = 0o644
    replace: bool = True  # False: the user's file once written (configs)


@dataclass
class Outcome:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def vendor_rules() -> str:
    # udev has no end-of-line comments: each vendor's name goes on the line above.
    return "\n".join(
        f'# {name}\nSUBSYSTEM=="usb", ATTRS{{idVendor}}=="{vid}", ENV{{ID_USB_INTERFACES}}=="*:ff????:*", '
        'GROUP="lp", MODE="0660"'
        for vid, name in PRINTER_VENDORS.items()
    )


def render(template: Path, values: dict[str, str]) -> str:
    """Fill ${names}; a name the template uses but values lack is an error, not a blank."""
    text = template.read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        raise ValueError(f"{template.name}: no value for ${{{exc.args[0]}}}") from None


def plan(layout: Layout, templates: Path = TEMPLATES) -> list[PlannedFile]:
    """Every file the role needs, rendered."""
    if layout.role not in ROLES:
        raise ValueError(f"unknown role {layout.role!r}; use one of {', '.join(ROLES)}")
    values = layout.values()
    files = [
        PlannedFile(f"{UNIT_DIR}/{unit}", render(templates / unit, values)) for unit in layout.spec.units
    ]
    if layout.spec.udev:
        files.append(PlannedFile(UDEV_RULE, render(templates / "99-xephang-printer.rules", values)))
    config = render(templates / "config" / "site.toml", values) + render(
        templates / "config" / f"{layout.role}.toml", values
    )
    files.append(PlannedFile(f"{layout.config_dir}/xephang.toml", config, 0o640, replace=False))
    return files


def under(root: Path | None, path: str) -> Path:
    return Path(path) if root is None else root / path.lstrip("/")


def write(files: Sequence[PlannedFile], root: Path | None = None, dry_run: bool = False) -> Outcome:
    """Write what differs; configs already there are the user's and stay as they are."""
    outcome = Outcome()
    for planned in files:
        target = under(root, planned.path)
        if target.exists():
            if not planned.replace:
                outcome.kept.append(planned.path)
                continue
            if target.read_text(encoding="utf-8") == planned.content and (target.stat().st_mode & 0o777) == planned.mode:
                outcome.unchanged.append(planned.path)
                continue
        outcome.written.append(planned.path)
        if dry_run:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(planned.content, encoding="utf-8")
        temporary.chmod(planned.mode)
        os.replace(temporary, target)
    return outcome


def secrets_env(credentials: Path, user: str) -> str:
    """The EnvironmentFile line giving `user` its broker password from credentials.toml."""
    import tomllib

    passwords = tomllib.loads(credentials.read_text(encoding="utf-8")).get("passwords", {})
    if user not in passwords:
        raise ValueError(f"{credentials} has no password for {user!r}")
    password = passwords[user]
    if not re.fullmatch(r"[A-Za-z0-9_\-.~+/=]+", password):
        raise ValueError(f"the password of {user!r} has characters an environment file cannot hold")
    return f"# broker password of {user}; read by systemd (EnvironmentFile), mode 600\nXEPHANG_BROKER__PASSWORD={password}\n"


def broker_config(
    config: Path, directory: str, root: Path | None, port: int, bind: str, run_as_user: str | None
) -> tuple[bool, dict[str, str]]:
    """`xephang broker config`, idempotent: (changed?, accounts new this time).

    Paths inside mosquitto.conf are `directory` as the target sees it, even under a root.
    Existing passwords are kept (credentials.toml); nothing is rewritten when the devices,
    the listener and the accounts are what is there already (password salts would differ).
    """
    import tomllib

    from broker.config import acl_text, mosquitto_conf, new_password, password_line
    from protocol.settings import CommonSettings, load_settings

    settings = load_settings(CommonSettings, config)
    if not settings.devices:
        raise ValueError(f"{config} lists no [[devices]]: nothing to give broker accounts to")
    out = under(root, directory)
    credentials = out / "credentials.toml"
    known: dict[str, str] = {}
    if credentials.is_file():
        known = tomllib.loads(credentials.read_text(encoding="utf-8")).get("passwords", {})
    passwords = {d.id: known.get(d.id) or new_password() for d in settings.devices}
    conf = mosquitto_conf(Path(directory), port, bind, run_as_user=run_as_user)
    acl = acl_text(settings.devices)
    files = {"mosquitto.conf": conf, "acl": acl}
    same = passwords == known and (out / "passwd").is_file() and all(
        (out / name).is_file() and (out / name).read_text(encoding="utf-8") == text for name, text in files.items()
    )
    if same:
        return False, {}
    (out / "data").mkdir(parents=True, exist_ok=True)
    files["passwd"] = "".join(password_line(u, p) + "\n" for u, p in sorted(passwords.items()))
    files["credentials.toml"] = (
        "# broker passwords per device: give each device its own, then keep this file safe\n[passwords]\n"
        + "".join(f'"{user}" = "{password}"\n' for user, password in sorted(passwords.items()))
    )
    for name, text in files.items():
        temporary = out / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o644 if name == "acl" else 0o600)
        os.replace(temporary, out / name)
    return True, {u: p for u, p in passwords.items() if u not in known}


def _layout(args: argparse.Namespace) -> Layout:
    layout = Layout(
        role=args.role,
        prefix=args.prefix,
        config_dir=args.config_dir,
        data_dir=args.data_dir,
        user=args.user,
        broker_host=args.broker_host,
        broker_port=args.broker_port,
        device_id=args.device_id,
        mosquitto=args.mosquitto,
    )
    if args.groups is not None:
        layout = replace(layout, groups=tuple(g for g in args.groups.split(",") if g))
    return layout


def _broker(args: argparse.Namespace) -> int:
    from protocol.settings import ConfigError

    try:
        changed, fresh = broker_config(
            Path(args.config), args.dir, Path(args.root) if args.root else None, args.port, args.bind, args.run_as
        )
    except ConfigError as exc:
        raise ValueError("; ".join(exc.lines)) from None
    if not changed:
        print(f"unchanged {args.dir} (broker accounts and ACL as configured)")
        return 0
    print(f"wrote {args.dir}/mosquitto.conf, passwd, acl, credentials.toml")
    if fresh:
        print("new broker accounts (shown once; also in credentials.toml, mode 600):")
        for user, password in sorted(fresh.items()):
            print(f"  {user}: {password}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xephang.deploy", description="render xephang's deployment files")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("render", "write the role's units, udev rule and config"), ("files", "list the role's files")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--role", required=True, choices=sorted(ROLES), help="what this machine does")
        p.add_argument("--prefix", default="/opt/xephang", help="installation folder (the venv is PREFIX/venv)")
        p.add_argument("--config-dir", default="/etc/xephang", help="configuration folder")
        p.add_argument("--data-dir", default="/var/lib/xephang", help="writable data folder (data partition)")
        p.add_argument("--user", default="xephang", help="system user the services run as")
        p.add_argument("--broker-host", default="127.0.0.1", help="broker address written into a new config")
        p.add_argument("--broker-port", type=int, default=1883, help="broker port written into a new config")
        p.add_argument("--device-id", default=None, help="device id / broker user written into a new config")
        p.add_argument("--mosquitto", default="/usr/sbin/mosquitto", help="Mosquitto binary for the broker unit")
        p.add_argument("--groups", default=None, help="comma-separated supplementary groups (default: the role's)")
        p.add_argument("--templates", default=str(TEMPLATES), help="templates folder")
        p.add_argument("--root", default=None, help="write under this folder instead of /")
        p.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    secrets = sub.add_parser("secrets", help="print a systemd EnvironmentFile with one device's broker password")
    secrets.add_argument("--credentials", required=True, help="credentials.toml from `xephang broker config`")
    secrets.add_argument("--user", required=True, help="device id")
    broker = sub.add_parser("broker", help="write the broker's config for the devices of a config (idempotent)")
    broker.add_argument("--config", required=True, help="the xephang TOML listing [[devices]]")
    broker.add_argument("--dir", required=True, help="broker folder as the target system sees it")
    broker.add_argument("--root", default=None, help="write under this folder instead of /")
    broker.add_argument("--port", type=int, default=1883, help="listener port")
    broker.add_argument("--bind", default="0.0.0.0", help="listen address (0.0.0.0: the office LAN)")
    broker.add_argument("--run-as", default="mosquitto", help="user Mosquitto drops to when started as root")
    args = parser.parse_args(argv)
    try:
        if args.command == "broker":
            return _broker(args)
        if args.command == "secrets":
            sys.stdout.write(secrets_env(Path(args.credentials), args.user))
            return 0
        files = plan(_layout(args), Path(args.templates))
        if args.command == "files":
            for planned in files:
                print(planned.path)
            return 0
        outcome = write(files, Path(args.root) if args.root else None, args.dry_run)
    except (ValueError, OSError) as exc:
        print(f"xephang deploy: {exc}", file=sys.stderr)
        return 1
    verb = "would write" if args.dry_run else "wrote"
    for path in outcome.written:
        print(f"{verb} {path}")
    for path in outcome.unchanged:
        print(f"unchanged {path}")
    for path in outcome.kept:
        print(f"kept {path} (yours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
