"""Sub-command `xephang national`: the national aggregator, read API and pages
(docs/national.md). Light to import: psycopg, FastAPI and uvicorn load inside `run`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from protocol.settings import add_config_option


def register(sub: Any) -> None:
    national = sub.add_parser(
        "national", help="run the national aggregator: roll-ups into PostgreSQL, read API and pages",
        description="Receive the province servers' daily roll-ups over MQTT into PostgreSQL and serve the "
        "national figures (docs/national.md).",
    )
    add_config_option(national)
    national.add_argument("--host", help="HTTP listen address (overrides aggregator.http_host)")
    national.add_argument("--port", type=int, help="HTTP listen port (overrides aggregator.http_port)")
    national.add_argument("--migrate-only", action="store_true", help="apply the database migrations and exit")
    national.add_argument("--hash-password", action="store_true",
                          help="read a password on stdin, print its argon2 hash for aggregator.viewers, and exit")
    national.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.hash_password:
        from argon2 import PasswordHasher

        password = sys.stdin.readline().rstrip("\n")
        if not password:
            from protocol.errors import XephangError

            raise XephangError("no password on stdin")
        print(PasswordHasher().hash(password))
        return 0

    import psycopg

    from national.settings import NationalSettings
    from national.store import NationalStore
    from protocol.errors import XephangError
    from protocol.settings import load_settings

    settings = load_settings(NationalSettings, args.config)
    dsn = settings.aggregator.dsn.get_secret_value()
    try:
        if args.migrate_only:
            store = NationalStore(dsn)
            try:
                applied = store.migrate()
            finally:
                store.close()
            print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
            return 0
        import uvicorn

        from national.service import National

        national = National.build(settings)
    except psycopg.OperationalError as exc:
        # libpq's message names host and database, never the password
        raise XephangError(f"PostgreSQL: {str(exc).strip().splitlines()[0]}") from None
    national.start()
    try:
        uvicorn.run(national.app, host=args.host or settings.aggregator.http_host,
                    port=args.port or settings.aggregator.http_port, log_level="info")
    finally:
        national.stop()
    return 0
