"""Generated configs for the two deployments in docs/deployment.md.

(a) `small_office`: one broker and one server for every site; kiosks and displays
connect to it. (b) `central`: a broker at each office (optionally with a server that
dispatches the office's sites), bridged to a central broker with Mosquitto's own bridge;
the central server aggregates every site and dispatches only sites whose office has no
server. Each office bridge has its own account on the central broker whose ACL allows
only its own sites' topics.

What crosses a bridge: `events/#` and `devices/#` go up (`out`). For an office without a
server, the central server dispatches: its events and the retained `state/#` come back
down (`in`) and desk `commands/#` go up, so the office still sees its board.
Passwords are kept from an earlier run (credentials.toml) so regenerating is stable.
No FastAPI, paho or hardware imports here.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from broker.config import BrokerTuning, acl_text, mosquitto_conf, new_password, password_line
from protocol.settings import CommonSettings, Device

PREFIX = "xephang/v1"
DEFAULT_PINS = (17, 27, 22, 23, 24, 25, 12, 16)


@dataclass(frozen=True)
class Office:
    """One office's broker (and optional server) in topology (b)."""

    id: str
    sites: tuple[str, ...]
    server: bool = True
    host: str = "127.0.0.1"  # how the office's devices reach its broker
    port: int = 1883
    bind: str = "0.0.0.0"
    broker_dir: str | None = None  # broker folder on the office machine (default: where written)

    @property
    def bridge_user(self) -> str:
        return f"bridge-{self.id}"

    @property
    def server_id(self) -> str:
        return f"server-{self.id}"


@dataclass(frozen=True)
class Centre:
    host: str
    port: int = 1883
    bind: str = "0.0.0.0"
    broker_dir: str | None = None
    server_id: str = "central"


@dataclass
class Written:
    """What a generator wrote: folder per part, and accounts that are new this time."""

    folders: dict[str, Path] = field(default_factory=dict)
    new_accounts: dict[str, str] = field(default_factory=dict)


def _known_passwords(directory: Path) -> dict[str, str]:
    credentials = directory / "credentials.toml"
    if not credentials.is_file():
        return {}
    return tomllib.loads(credentials.read_text(encoding="utf-8")).get("passwords", {})


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(mode)
    os.replace(temporary, path)


def bridge_section(office: Office, centre: Centre, password: str) -> str:
    """The `connection` block of an office broker: one bridge, topics by direction."""
    lines = [
        f"connection {office.id}",
        f"address {centre.host}:{centre.port}",
        f"remote_username {office.bridge_user}",
        f"remote_password {password}",
        f"remote_clientid {office.bridge_user}",
        "cleansession false",
        "start_type automatic",
        "restart_timeout 1 10",
        "try_private true",
        "bridge_attempt_unsubscribe false",
        "notifications true",
        f"notification_topic $SYS/broker/connection/{office.bridge_user}/state",
    ]
    for site in office.sites:
        base = f"{PREFIX}/{site}"
        if office.server:
            lines += [f"topic {base}/events/# out 1", f"topic {base}/devices/# out 1"]
        else:
            lines += [
                f"topic {base}/events/# both 1",
                f"topic {base}/devices/# out 1",
                f"topic {base}/commands/# out 1",
                f"topic {base}/state/# in 1",
            ]
    return "\n".join(lines) + "\n"


def bridge_acl(office: Office) -> list[str]:
    """The central broker's ACL for one office bridge: its own sites, nothing else."""
    rules = [f"topic write $SYS/broker/connection/{office.bridge_user}/state"]
    for site in office.sites:
        base = f"{PREFIX}/{site}"
        rules += [f"topic write {base}/events/#", f"topic write {base}/devices/#"]
        if not office.server:
            rules += [f"topic read {base}/events/#", f"topic write {base}/commands/#", f"topic read {base}/state/#"]
    return rules


def write_broker(
    directory: Path,
    devices: list[Device],
    passwords: dict[str, str],
    port: int,
    bind: str,
    installed_at: str | None = None,
    extra_acl: dict[str, list[str]] | None = None,
    bridge: str = "",
    run_as_user: str | None = "mosquitto",
    tuning: BrokerTuning = BrokerTuning(),
) -> None:
    """mosquitto.conf, passwd, acl and credentials.toml for one broker."""
    where = Path(installed_at) if installed_at else directory.resolve()
    conf = mosquitto_conf(where, port, bind, tuning, (), run_as_user)
    if bridge:
        conf += "\n" + bridge
    (directory / "data").mkdir(parents=True, exist_ok=True)
    _write(directory / "mosquitto.conf", conf, 0o600)
    _write(directory / "passwd", "".join(password_line(u, p) + "\n" for u, p in sorted(passwords.items())), 0o600)
    _write(directory / "acl", acl_text(devices, extra_acl))
    _write(
        directory / "credentials.toml",
        "# broker passwords of this broker's accounts; keep this file safe\n[passwords]\n"
        + "".join(f'"{u}" = "{p}"\n' for u, p in sorted(passwords.items())),
        0o600,
    )


def _shared(settings: CommonSettings, site_ids: set[str]) -> dict[str, Any]:
    return {
        "locale": settings.locale,
        "sites": [s.model_dump(mode="json", exclude_none=True) for s in settings.sites if s.id in site_ids],
    }


def device_config(
    settings: CommonSettings, device: Device, host: str, port: int, site_ids: set[str], devices: list[Device]
) -> dict[str, Any]:
    """A whole TOML config for one device (its password goes to a separate .env file)."""
    data = _shared(settings, site_ids)
    data["broker"] = {"host": host, "port": port, "username": device.id}
    data["devices"] = [d.model_dump(exclude_none=True) for d in devices]
    if device.role == "kiosk":
        site = settings.site(device.site or "")
        services = [s.id for s in site.services] if site else []
        data["kiosk"] = {
            "site": device.site,
            "device_id": device.id,
            "data_dir": "/var/lib/xephang/kiosk",
            "buttons": dict(zip(services, DEFAULT_PINS)),
        }
    elif device.role == "display":
        data["display"] = {"site": device.site, "device": device.id}
    return data


def server_config(
    settings: CommonSettings, server_id: str, host: str, port: int, site_ids: set[str],
    dispatch: list[str], devices: list[Device], database: str,
) -> dict[str, Any]:
    data = _shared(settings, site_ids)
    data["broker"] = {"host": host, "port": port, "username": server_id}
    data["devices"] = [d.model_dump(exclude_none=True) for d in devices]
    data["server"] = {"database": database, "client_id": server_id, "dispatch_sites": dispatch}
    return data


def _toml(data: dict[str, Any], header: str) -> str:
    """TOML text of `data` under a comment header; None values are left out (TOML has no null)."""

    def drop_none(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [drop_none(v) for v in value]
        return value

    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + ("\n" if comment else "") + tomli_w.dumps(drop_none(data))


def _write_device_files(folder: Path, name: str, config: dict[str, Any], password: str, header: str) -> None:
    _write(folder / f"{name}.toml", _toml(config, header), 0o640)
    _write(folder / f"{name}.env", f"XEPHANG_BROKER__PASSWORD={password}\n", 0o600)


def small_office(
    settings: CommonSettings, out: Path, host: str, port: int = 1883, bind: str = "0.0.0.0",
    broker_dir: str | None = None, database: str = "/var/lib/xephang/server/xephang.db",
    run_as_user: str | None = "mosquitto",
) -> Written:
    """Topology (a): one machine runs broker and server; every other device connects to it."""
    if not settings.sites:
        raise ValueError("the config lists no [[sites]]")
    written = Written()
    server_id = next((d.id for d in settings.devices if d.role == "server"), "server")
    devices = [d for d in settings.devices if d.role != "server"] + [Device(id=server_id, role="server")]
    broker = out / "broker"
    known = _known_passwords(broker)
    passwords = {d.id: known.get(d.id) or new_password() for d in devices}
    write_broker(broker, devices, passwords, port, bind, broker_dir, run_as_user=run_as_user)
    site_ids = {s.id for s in settings.sites}
    devs = out / "devices"
    server = server_config(settings, server_id, "127.0.0.1", port, site_ids, sorted(site_ids), devices, database)
    _write_device_files(devs, server_id, server, passwords[server_id], "server: broker and server on this machine")
    for device in devices:
        if device.role != "server":
            config = device_config(settings, device, host, port, {device.site or ""}, [])
            _write_device_files(devs, device.id, config, passwords[device.id], f"{device.role} {device.id}")
    written.folders = {"broker": broker, "devices": devs}
    written.new_accounts = {u: p for u, p in passwords.items() if u not in known}
    return written


def check_offices(settings: CommonSettings, offices: list[Office]) -> None:
    site_ids = {s.id for s in settings.sites}
    seen: dict[str, str] = {}
    for office in offices:
        for site in office.sites:
            if site not in site_ids:
                raise ValueError(f"office {office.id}: unknown site {site!r}")
            if site in seen:
                raise ValueError(f"site {site!r} is in two offices ({seen[site]}, {office.id})")
            seen[site] = office.id
    missing = sorted(site_ids - set(seen))
    if missing:
        raise ValueError(f"sites in no office: {', '.join(missing)}")
    if len({o.id for o in offices}) != len(offices):
        raise ValueError("office ids repeat")


def central(
    settings: CommonSettings, out: Path, centre: Centre, offices: list[Office],
    database: str = "/var/lib/xephang/server/xephang.db", run_as_user: str | None = "mosquitto",
) -> Written:
    """Topology (b): a broker per office bridged to a central broker and server."""
    check_offices(settings, offices)
    written = Written()
    all_sites = {s.id for s in settings.sites}
    centre_dir = out / "central"
    central_server = Device(id=centre.server_id, role="server")
    known = _known_passwords(centre_dir / "broker")
    users = [centre.server_id] + [o.bridge_user for o in offices]
    passwords = {u: known.get(u) or new_password() for u in users}
    write_broker(
        centre_dir / "broker", [central_server], passwords, centre.port, centre.bind, centre.broker_dir,
        extra_acl={o.bridge_user: bridge_acl(o) for o in offices}, run_as_user=run_as_user,
    )
    dispatch = sorted(s for o in offices if not o.server for s in o.sites)
    config = server_config(settings, centre.server_id, "127.0.0.1", centre.port, all_sites, dispatch, [central_server], database)
    _write_device_files(centre_dir, "server", config, passwords[centre.server_id], "central server: aggregates every site")
    written.folders["central"] = centre_dir
    written.new_accounts.update({u: p for u, p in passwords.items() if u not in known})
    for office in offices:
        folder = out / f"office-{office.id}"
        sites = set(office.sites)
        devices = [d for d in settings.devices if d.role != "server" and d.site in sites]
        if office.server:
            devices.append(Device(id=office.server_id, role="server"))
        office_known = _known_passwords(folder / "broker")
        office_passwords = {d.id: office_known.get(d.id) or new_password() for d in devices}
        bridge = bridge_section(office, centre, passwords[office.bridge_user])
        write_broker(folder / "broker", devices, office_passwords, office.port, office.bind, office.broker_dir,
                     bridge=bridge, run_as_user=run_as_user)
        if office.server:
            config = server_config(
                settings, office.server_id, "127.0.0.1", office.port, sites, sorted(sites), devices, database
            )
            _write_device_files(folder, "server", config, office_passwords[office.server_id], f"office {office.id} server")
        for device in devices:
            if device.role != "server":
                config = device_config(settings, device, office.host, office.port, {device.site or ""}, [])
                _write_device_files(folder / "devices", device.id, config, office_passwords[device.id], f"{device.role} {device.id}")
        written.folders[f"office-{office.id}"] = folder
        written.new_accounts.update({u: p for u, p in office_passwords.items() if u not in office_known})
    return written
