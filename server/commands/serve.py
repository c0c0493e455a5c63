"""Sub-commands `xephang server` and `xephang broker config`. Light to import."""

from __future__ import annotations

import argparse
from pathlib import Path

from protocol.settings import add_config_option


def register(sub: argparse._SubParsersAction) -> None:
    server = sub.add_parser("server", help="run the server: MQTT ingest, dispatch, web console, API")
    add_config_option(server)
    server.add_argument("--host", help="HTTP listen address (overrides server.http_host)")
    server.add_argument("--port", type=int, help="HTTP listen port (overrides server.http_port)")
    server.add_argument("--database", help="SQLite file (overrides server.database)")
    server.set_defaults(run=run_server)

    broker = sub.add_parser("broker", help="Mosquitto broker tools")
    broker_sub = broker.add_subparsers(dest="broker_command", metavar="COMMAND", required=True)
    config = broker_sub.add_parser(
        "config", help="write mosquitto.conf, password and ACL files for the configured devices"
    )
    add_config_option(config)
    config.add_argument("--out", required=True, help="folder to write the broker files into")
    config.add_argument("--port", type=int, default=1883, help="listener port (default 1883)")
    config.add_argument(
        "--bind", default="127.0.0.1", help="listen address (default loopback; 0.0.0.0 for the office LAN)"
    )
    config.add_argument("--user", default="mosquitto", help="system user Mosquitto drops to when started as root")
    config.set_defaults(run=run_broker_config)


def _server_settings(args: argparse.Namespace):
    from protocol.settings import load_settings
    from server.settings import ServerSettings

    settings = load_settings(ServerSettings, args.config)
    overrides = {"http_host": args.host, "http_port": args.port, "database": args.database}
    changed = {k: v for k, v in overrides.items() if v is not None}
    if changed:
        settings.server = settings.server.model_copy(update=changed)
    return settings


def run_server(args: argparse.Namespace) -> int:
    import uvicorn

    from server.web.app import create_app

    settings = _server_settings(args)
    app = create_app(settings)
    tls = settings.server.tls_cert is not None
    uvicorn.run(
        app, host=settings.server.http_host, port=settings.server.http_port, log_level="info",
        timeout_graceful_shutdown=5,  # live desk streams must not hold a restart for long
        ssl_certfile=str(settings.server.tls_cert) if tls else None,
        ssl_keyfile=str(settings.server.tls_key) if tls else None,
    )
    return 0


def run_broker_config(args: argparse.Namespace) -> int:
    from broker.config import new_password, write_config
    from protocol.errors import XephangError
    from protocol.settings import CommonSettings, load_settings

    settings = load_settings(CommonSettings, args.config)
    if not settings.devices:
        raise XephangError("the config lists no [[devices]]: nothing to give broker accounts to")
    out = Path(args.out)
    credentials = out / "credentials.toml"
    known: dict[str, str] = {}
    if credentials.is_file():
        import tomllib

        known = tomllib.loads(credentials.read_text(encoding="utf-8")).get("passwords", {})
    passwords = {d.id: known.get(d.id) or new_password() for d in settings.devices}
    conf = write_config(out, settings.devices, passwords, args.port, args.bind, run_as_user=args.user)
    out.mkdir(parents=True, exist_ok=True)
    credentials.write_text(
        "# broker passwords per device: give each device its own, then keep this file safe\n[passwords]\n"
        + "".join(f'"{user}" = "{password}"\n' for user, password in sorted(passwords.items()))
    )
    credentials.chmod(0o600)
    fresh = sorted(set(passwords) - set(known))
    print(f"wrote {conf}, {out / 'passwd'}, {out / 'acl'}")
    if fresh:
        print("new broker accounts (shown once; also in credentials.toml, mode 600):")
        for user in fresh:
            print(f"  {user}: {passwords[user]}")
    else:
        print("no new accounts; existing passwords kept")
    return 0
