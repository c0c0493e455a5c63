"""Generated configs for topology (c) "national" (docs/national.md, docs/deployment.md):
the national broker and aggregator, and for each province the bridge block its broker
appends and the `[national]` table its server adds.

Each province's bridge has its own account on the national broker whose ACL allows only
its own sites' roll-ups up and their acks down (broker.config.national_acl); events stay
in the province. Passwords are kept from an earlier run (credentials.toml).
No FastAPI, paho or psycopg imports here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.config import national_acl, new_password
from xephang.topology import Written, _known_passwords, _write, write_broker
from xephang.topology import _toml as toml_text

PREFIX = "xephang/v1"


@dataclass(frozen=True)
class Province:
    id: str
    sites: tuple[str, ...]

    @property
    def bridge_user(self) -> str:
        return f"bridge-{self.id}"


def provinces_from_sites(sites: Iterable[Any], label: str = "province") -> list[Province]:
    """Provinces from the sites' grouping label (`groups.province = "ha-noi"`)."""
    grouped: dict[str, list[str]] = {}
    missing = []
    for site in sites:
        province = site.groups.get(label)
        if not province:
            missing.append(site.id)
            continue
        grouped.setdefault(province, []).append(site.id)
    if missing:
        raise ValueError(f"sites without groups.{label}: {', '.join(missing[:10])}")
    return [Province(p, tuple(s)) for p, s in sorted(grouped.items())]


def check_provinces(provinces: list[Province]) -> None:
    seen: dict[str, str] = {}
    for province in provinces:
        for site in province.sites:
            if site in seen:
                raise ValueError(f"site {site!r} is in two provinces ({seen[site]}, {province.id}): site ids are national keys")
            seen[site] = province.id
    if len({p.id for p in provinces}) != len(provinces):
        raise ValueError("province ids repeat")
    if not provinces:
        raise ValueError("no province given")


def bridge_block(province: Province, host: str, port: int, password: str) -> str:
    """The `connection` block a province broker appends: roll-ups up, acks down."""
    lines = [
        f"connection national-{province.id}",
        f"address {host}:{port}",
        f"remote_username {province.bridge_user}",
        f"remote_password {password}",
        f"remote_clientid {province.bridge_user}",
        "cleansession false",
        "start_type automatic",
        "restart_timeout 1 30",
        "try_private true",
        "bridge_attempt_unsubscribe false",
    ]
    for site in province.sites:
        lines += [f"topic {PREFIX}/{site}/rollups/+ out 1", f"topic {PREFIX}/{site}/rollups/+/ack in 1"]
    return "\n".join(lines) + "\n"


def national(out: Path, host: str, provinces: list[Province], port: int = 1883, bind: str = "0.0.0.0",
             broker_dir: str | None = None, dsn: str = "host=127.0.0.1 dbname=xephang user=xephang",
             run_as_user: str | None = "mosquitto") -> Written:
    """Topology (c): the national host (broker + `xephang national`) and each province's part."""
    check_provinces(provinces)
    written = Written()
    folder = out / "national"
    known = _known_passwords(folder / "broker")
    users = ["national"] + [p.bridge_user for p in provinces]
    passwords = {u: known.get(u) or new_password() for u in users}
    write_broker(folder / "broker", [], passwords, port, bind, broker_dir,
                 extra_acl=national_acl({p.bridge_user: p.sites for p in provinces}), run_as_user=run_as_user)
    config = {
        "broker": {"host": "127.0.0.1", "port": port, "username": "national"},
        "aggregator": {"dsn": dsn, "http_host": "0.0.0.0", "http_port": 8100, "viewers": []},
    }
    _write(folder / "national.toml", toml_text(config, "national aggregator: `xephang national --config national.toml`"), 0o640)
    _write(folder / "national.env", f"XEPHANG_BROKER__PASSWORD={passwords['national']}\n", 0o600)
    written.folders["national"] = folder
    for province in provinces:
        part = out / f"province-{province.id}"
        _write(part / "bridge-national.conf", bridge_block(province, host, port, passwords[province.bridge_user]), 0o600)
        server = {"national": {"province": province.id}}
        _write(part / "server-national.toml", toml_text(server, f"add to the server config of province {province.id}"), 0o640)
        written.folders[f"province-{province.id}"] = part
    written.new_accounts = {u: p for u, p in passwords.items() if u not in known}
    return written
