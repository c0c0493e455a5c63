"""Sub-commands `xephang backup` (online, while the server runs) and `xephang restore`.

Light to import: server.backup and the settings are imported inside the run functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xephang.cli import add_config_option


def register(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="copy the server's SQLite database while it runs (online backup)",
        description="Copy the server database with SQLite's backup API; the copy is checked before it gets its name.",
    )
    add_config_option(backup)
    backup.add_argument("--database", help="SQLite file (default: server.database of the config)")
    backup.add_argument(
        "--out", required=True, help="backup file, or a folder for a dated name xephang-YYYYMMDDTHHMMSSZ.db"
    )
    backup.add_argument("--keep", type=int, default=None, help="in a folder: keep only this many newest backups")
    backup.set_defaults(run=run_backup)

    restore = sub.add_parser(
        "restore",
        help="put a backup in place of the server database (stop the server first)",
        description="Check a backup and put it in place of the server database; the replaced file is kept beside it.",
    )
    add_config_option(restore)
    restore.add_argument("--database", help="SQLite file to replace (default: server.database of the config)")
    restore.add_argument("backup", help="the backup file to restore")
    restore.set_defaults(run=run_restore)


def _database(args: argparse.Namespace) -> Path:
    if args.database:
        return Path(args.database)
    from protocol.settings import load_settings
    from server.settings import ServerSettings

    return Path(load_settings(ServerSettings, args.config).server.database)


def run_backup(args: argparse.Namespace) -> int:
    from server.backup import backup_database, prune_backups

    out = Path(args.out)
    result = backup_database(_database(args), out)
    print(f"backup {result.path}: {result.size_bytes} bytes, {result.events} events, integrity ok")
    if args.keep is not None and out.is_dir():
        for old in prune_backups(out, args.keep):
            print(f"removed old backup {old}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from server.backup import restore_database

    target = _database(args)
    kept = restore_database(Path(args.backup), target)
    print(f"restored {args.backup} to {target}" + (f"; the replaced database is {kept}" if kept else ""))
    return 0
