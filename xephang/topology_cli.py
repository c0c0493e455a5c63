"""Sub-command `xephang topology small|central`: every config file of a deployment.

Light to import: xephang.topology (and pydantic) load inside the run functions.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from protocol.settings import add_config_option

OFFICE = re.compile(r"^(?P<id>[a-z0-9-]{1,40})=(?P<sites>[a-z0-9,-]+)(?:@(?P<host>[^:@\s]+))?$")


def register(sub: Any) -> None:
    topology = sub.add_parser(
        "topology", help="generate the broker, server and device configs of a whole deployment",
        description="Generate every config of deployment (a) one office or (b) offices bridged to a centre "
        "(see docs/deployment.md). Passwords already in OUT are kept.",
    )
    kinds = topology.add_subparsers(dest="topology_kind", metavar="KIND", required=True)
    small = kinds.add_parser("small", help="(a) one office: one machine runs broker and server")
    central = kinds.add_parser("central", help="(b) a broker per office, bridged to a central broker and server")
    for parser in (small, central):
        add_config_option(parser)
        parser.add_argument("--out", required=True, help="folder to write into (one sub-folder per machine)")
        parser.add_argument("--broker-dir", default="/var/lib/xephang/broker",
                            help="where the broker files go on each machine (paths inside mosquitto.conf)")
        parser.add_argument("--port", type=int, default=1883, help="MQTT port of every broker (default 1883)")
    small.add_argument("--host", required=True, help="LAN address of the server machine, as devices reach it")
    small.set_defaults(run=run_small)
    central.add_argument("--centre", required=True, metavar="HOST", help="address of the central broker, as offices reach it")
    central.add_argument(
        "--office", action="append", default=[], metavar="ID=SITE[,SITE]@HOST",
        help="an office, its sites and its broker's LAN address (repeat; default: one office per site)",
    )
    central.add_argument("--no-server", action="append", default=[], metavar="ID",
                         help="this office has no server: the central server dispatches its sites (repeat)")
    central.set_defaults(run=run_central)


def _settings(args: argparse.Namespace) -> Any:
    from protocol.errors import XephangError
    from protocol.settings import CommonSettings, load_settings

    settings = load_settings(CommonSettings, args.config)
    if not settings.sites:
        raise XephangError("the config lists no [[sites]]")
    return settings


def _print(written: Any, locale: str) -> int:
    from protocol.i18n import translator

    _ = translator("xephang", locale)
    for name, folder in written.folders.items():
        print(f"{name}: {folder}")
    if written.new_accounts:
        print(_("New broker accounts (shown once; also in each broker's credentials.toml, mode 600):"))
        for user, password in sorted(written.new_accounts.items()):
            print(f"  {user}: {password}")
    else:
        print(_("No new accounts; existing passwords kept"))
    return 0


def run_small(args: argparse.Namespace) -> int:
    from xephang.topology import small_office

    settings = _settings(args)
    return _print(small_office(settings, Path(args.out), args.host, args.port, broker_dir=args.broker_dir), settings.locale)


def parse_offices(specs: list[str], no_server: list[str], port: int, broker_dir: str, site_ids: list[str]) -> list[Any]:
    from protocol.errors import XephangError
    from xephang.topology import Office

    if not specs:
        specs = [f"{site}={site}" for site in site_ids]
    offices = []
    for spec in specs:
        match = OFFICE.match(spec)
        if not match:
            raise XephangError(f"--office {spec!r}: write ID=SITE[,SITE...][@HOST], e.g. phu-dong=xa-phu-dong@192.168.1.10")
        offices.append(Office(
            id=match["id"], sites=tuple(s for s in match["sites"].split(",") if s), server=match["id"] not in no_server,
            host=match["host"] or "127.0.0.1", port=port, broker_dir=broker_dir,
        ))
    unknown = sorted(set(no_server) - {o.id for o in offices})
    if unknown:
        raise XephangError(f"--no-server names unknown offices: {', '.join(unknown)}")
    return offices


def run_central(args: argparse.Namespace) -> int:
    from protocol.errors import XephangError
    from xephang.topology import Centre, central

    settings = _settings(args)
    offices = parse_offices(args.office, args.no_server, args.port, args.broker_dir, [s.id for s in settings.sites])
    try:
        written = central(settings, Path(args.out), Centre(args.centre, args.port, broker_dir=args.broker_dir), offices)
    except ValueError as exc:
        raise XephangError(str(exc)) from None
    return _print(written, settings.locale)
