"""Sub-commands `xephang users add|list` and `xephang tokens create`. Light to import.

There are no default accounts: every account is made here (or by the demo, which prints
its passwords). A new password is generated and shown once unless one is given on
standard input (`--password-stdin`); passwords never appear on the command line.
"""

from __future__ import annotations

import argparse
import sys

from protocol.settings import add_config_option

MIN_PASSWORD = 10


def register(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="server accounts (desk, manager, admin)")
    users_sub = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    add = users_sub.add_parser("add", help="create an account (or reset it with --replace)")
    add_config_option(add)
    add.add_argument("--database", help="SQLite file (overrides server.database)")
    add.add_argument("username", help="login name (no spaces)")
    add.add_argument("--role", required=True, choices=["desk", "manager", "admin"], help="what the account may do")
    add.add_argument("--site", action="append", default=[], help="a site the account works at (repeatable)")
    add.add_argument("--counter", action="append", default=[], help="a counter a desk account works at (repeatable)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--replace", action="store_true", help="reset an existing account (ends its sessions)")
    add.set_defaults(run=run_add)

    listing = users_sub.add_parser("list", help="list accounts")
    add_config_option(listing)
    listing.add_argument("--database", help="SQLite file (overrides server.database)")
    listing.set_defaults(run=run_list)

    tokens = sub.add_parser("tokens", help="API bearer tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    create = tokens_sub.add_parser("create", help="create a bearer token for an account (shown once)")
    add_config_option(create)
    create.add_argument("--database", help="SQLite file (overrides server.database)")
    create.add_argument("username", help="the account the token acts as")
    create.add_argument("--name", default="api", help="what the token is for (shown in listings)")
    create.add_argument("--days", type=int, help="expire after this many days (default: never)")
    create.set_defaults(run=run_token)


def _open(args: argparse.Namespace):
    from protocol.settings import load_settings
    from server.settings import ServerSettings
    from server.storage.db import open_database

    settings = load_settings(ServerSettings, args.config)
    return settings, open_database(args.database or settings.server.database)


def run_add(args: argparse.Namespace) -> int:
    import secrets

    from protocol.errors import XephangError
    from server.web.auth import create_user

    settings, db = _open(args)
    known = {s.id: s for s in settings.sites}
    unknown = [s for s in args.site if s not in known]
    if unknown:
        raise XephangError(f"unknown site(s): {', '.join(unknown)}")
    if args.role != "admin" and not args.site:
        raise XephangError(f"a {args.role} account needs at least one --site")
    if args.role == "desk":
        if not args.counter:
            raise XephangError("a desk account needs at least one --counter")
        missing = [c for c in args.counter if not any(known[s].counter(c) for s in args.site)]
        if missing:
            raise XephangError(f"counter(s) not at the given sites: {', '.join(missing)}")
    elif args.counter:
        raise XephangError("only desk accounts have counters")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        generated = False
    else:
        password, generated = secrets.token_urlsafe(12), True
    if len(password) < MIN_PASSWORD:
        raise XephangError(f"the password must have at least {MIN_PASSWORD} characters")
    try:
        user = create_user(db, args.username, password, args.role, args.site, args.counter, replace=args.replace)
    except ValueError as exc:
        raise XephangError(str(exc)) from None
    print(f"{'reset' if args.replace else 'created'} {user.username} ({user.role}; sites: {', '.join(user.sites) or 'all'}"
          f"{'; counters: ' + ', '.join(user.counters) if user.counters else ''})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from server.web.auth import list_users

    _, db = _open(args)
    users = list_users(db)
    if not users:
        print("no accounts")
    for user in users:
        print(f"{user.username}\t{user.role}\t{','.join(user.sites) or '*'}\t{','.join(user.counters) or '-'}")
    return 0


def run_token(args: argparse.Namespace) -> int:
    from protocol.errors import XephangError
    from server.web.auth import create_token

    _, db = _open(args)
    if args.days is not None and args.days < 1:
        raise XephangError("--days must be at least 1")
    try:
        token = create_token(db, args.username, args.name, args.days)
    except ValueError as exc:
        raise XephangError(str(exc)) from None
    print(token)
    return 0
