"""Online backups of the server's SQLite database, and restoring one.

A backup uses SQLite's backup API while the server keeps writing (WAL readers do not
block the writer), is written beside its final name and renamed only after
`PRAGMA integrity_check` passes, so a half-written file never looks like a backup.
Restoring refuses a file that fails the check or was made by a newer xephang, and
keeps the replaced database beside it. No FastAPI or MQTT here.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from protocol.errors import XephangError

log = logging.getLogger(__name__)

PAGES_PER_STEP = 1024  # copy in steps so the writer is never held up for long


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    events: int


def _integrity(conn: sqlite3.Connection) -> str:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def backup_name(now: datetime) -> str:
    return f"xephang-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.db"


def backup_database(source: Path, destination: Path) -> BackupResult:
    """Copy a live database to `destination`: a file name ending in .db, or else a
    folder (created when missing) that gets a dated name."""
    source = Path(source)
    if not source.is_file():
        raise XephangError(f"no database at {source}")
    destination = Path(destination)
    if destination.is_dir() or destination.suffix != ".db":
        if destination.exists() and not destination.is_dir():
            raise XephangError(f"{destination} is a file; give a folder or a name ending in .db")
        destination.mkdir(parents=True, exist_ok=True)
        destination = destination / backup_name(datetime.now(UTC))
    if destination.exists():
        raise XephangError(f"{destination} exists already; choose another name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problem = _integrity(dst)
            events = _count_events(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise XephangError(f"backup of {source} failed: {exc}") from None
    finally:
        src.close()
    if problem != "ok":
        partial.unlink(missing_ok=True)
        raise XephangError(f"the copy of {source} failed its integrity check: {problem}")
    _fsync(partial)
    os.replace(partial, destination)
    log.info("backed up %s to %s (%d events)", source, destination, events)
    return BackupResult(destination, destination.stat().st_size, events)


def _count_events(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` dated backups in `folder`; returns the deleted."""
    if keep < 1:
        raise XephangError("keep at least one backup")
    dated = sorted(Path(folder).glob("xephang-*.db"))
    doomed = dated[:-keep]
    for path in doomed:
        path.unlink()
    return doomed


def restore_database(backup: Path, target: Path, now: datetime | None = None) -> Path | None:
    """Put `backup` in place of `target` (the server must be stopped).

    Returns where the replaced database was kept (None if there was none).
    """
    from server.storage.db import check_schema

    backup, target = Path(backup), Path(target)
    if not backup.is_file():
        raise XephangError(f"no backup at {backup}")
    try:
        conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            problem = _integrity(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise XephangError(f"{backup} is not a readable SQLite database: {exc}") from None
    if problem != "ok":
        raise XephangError(f"{backup} failed its integrity check: {problem}")
    import sqlite_utils

    probe = sqlite_utils.Database(sqlite3.connect(f"file:{backup}?mode=ro", uri=True))
    try:
        check_schema(probe)
    finally:
        probe.conn.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    kept = None
    if target.exists():
        stamp = (now or datetime.now(UTC)).astimezone(UTC)
        kept = target.with_name(f"{target.name}.replaced-{stamp:%Y%m%dT%H%M%SZ}")
        os.replace(target, kept)
    for suffix in ("-wal", "-shm"):
        stale = target.with_name(target.name + suffix)
        if stale.exists():
            os.replace(stale, (kept or target).with_name((kept or target).name + suffix))
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(partial)
    os.replace(partial, target)
    return kept
