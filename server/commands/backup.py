"""Sub-commands `xephang backup` (online, while the server runs) and `xephang restore`.

Light to import: server.storage.backup and the settings are imported inside the run functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from protocol.settings import add_config_option


def register(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="copy the server's SQLite database while it runs (online backup)",
        description="Copy the server database with SQLite's backup API; the copy is checked before it gets its name.",
    )
    add_config_option(backup)
    backup.add_argument("--database", help="SQLite file (default: server.database of the config)")
    backup.add_argument(
        "--out", required=True,
        help="backup file ending in .db, or a folder (created if missing) for a dated name xephang-YYYYMMDDTHHMMSSZ.db"
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


def _database_and_locale(args: argparse.Namespace) -> tuple[Path, str]:
    from protocol.settings import load_settings
    from server.settings import ServerSettings

    if args.database and not args.config:
        return Path(args.database), "vi"
    settings = load_settings(ServerSettings, args.config)
    return Path(args.database or settings.server.database), settings.locale


def run_backup(args: argparse.Namespace) -> int:
    from protocol.i18n import translator
    from server.storage.backup import backup_database, prune_backups

    out = Path(args.out)
    database, locale = _database_and_locale(args)
    _ = translator("xephang", locale)
    result = backup_database(database, out)
    print(_("Backup {path}: {size} bytes, {events} events, integrity check passed").format(
        path=result.path, size=result.size_bytes, events=result.events))
    if args.keep is not None and out.is_dir():
        for old in prune_backups(out, args.keep):
            print(_("Removed old backup {path}").format(path=old))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from protocol.i18n import translator
    from server.storage.backup import restore_database

    target, locale = _database_and_locale(args)
    _ = translator("xephang", locale)
    kept = restore_database(Path(args.backup), target)
    print(_("Restored {backup} to {target}").format(backup=args.backup, target=target))
    if kept:
        print(_("The replaced database is kept as {path}").format(path=kept))
    return 0
