"""The kiosk's local SQLite file: DDL, migrations and the write transaction helper.

One file holds the number counters, the tickets, the outbox and the event sequence, so
a single transaction allocates a number and queues its `ticket.issued` event.
Durability over speed: WAL with synchronous=FULL, so a committed number survives a
power cut (each commit waits for fsync; about a millisecond on an SD card's good day).
Only the kiosk's own loop thread writes (the paho thread never touches this file).
No MQTT, printer or GPIO imports here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

FILE_NAME = "kiosk.sqlite3"


def _create_tables() -> str:
    return (
        """
        CREATE TABLE numbers (
            site TEXT NOT NULL, service TEXT NOT NULL, day TEXT NOT NULL,
            last INTEGER NOT NULL,
            PRIMARY KEY (site, service, day)
        );
        CREATE TABLE tickets (
            ticket_id TEXT PRIMARY KEY,
            site TEXT NOT NULL, day TEXT NOT NULL, number TEXT NOT NULL,
            service TEXT NOT NULL, priority TEXT,
            issued_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('printing', 'printed', 'voided')),
            UNIQUE (site, day, number)
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            ticket_id TEXT NOT NULL REFERENCES tickets (ticket_id),
            seq INTEGER NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('held', 'ready', 'sent')),
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_unsent ON outbox (state, id);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """
    )


def _ticket_state_unconfirmed() -> str:
    """Tickets may end `unconfirmed`: numbered and published, print not confirmed (a
    crash in the window, or a printer fault reported after the job; docs/kiosk.md).
    SQLite cannot change a CHECK in place: the table is rebuilt (foreign keys are off
    while migrations run, so the outbox's reference follows the new table)."""
    return (
        """
        CREATE TABLE tickets_new (
            ticket_id TEXT PRIMARY KEY,
            site TEXT NOT NULL, day TEXT NOT NULL, number TEXT NOT NULL,
            service TEXT NOT NULL, priority TEXT,
            issued_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('printing', 'printed', 'voided', 'unconfirmed')),
            UNIQUE (site, day, number)
        );
        INSERT INTO tickets_new (ticket_id, site, day, number, service, priority, issued_at, state)
            SELECT ticket_id, site, day, number, service, priority, issued_at, state FROM tickets;
        DROP TABLE tickets;
        ALTER TABLE tickets_new RENAME TO tickets;
        """
    )


# Named migrations, applied once each in this order. DDL lives only here.
# Each returns its DDL; it runs with its `migrations` row in one transaction.
MIGRATIONS: list[tuple[str, Callable[[], str]]] = [
    ("create_tables", _create_tables),
    ("ticket_state_unconfirmed", _ticket_state_unconfirmed),
]


def open_store(data_dir: Path | str) -> sqlite3.Connection:
    """Open (and create or migrate) the kiosk database in `data_dir`."""
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(directory / FILE_NAME, isolation_level=None, timeout=10.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for name, migrate in MIGRATIONS:
        if name in done:
            continue
        applied_at = datetime.now(UTC).isoformat()
        # executescript commits any open transaction first, so the script carries its own.
        db.executescript(
            f"BEGIN IMMEDIATE;\n{migrate()}\n"
            f"INSERT INTO migrations (name, applied_at) VALUES ('{name}', '{applied_at}');\nCOMMIT;"
        )
    bad = db.execute("PRAGMA foreign_key_check").fetchall()
    if bad:
        raise sqlite3.DatabaseError(f"kiosk database: {len(bad)} row(s) break a foreign key after migration")
    # On only after the migrations: a table rebuild must not cascade or fail on the
    # rows that refer to it (SQLite's own procedure for schema changes).
    db.execute("PRAGMA foreign_keys=ON")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def next_seq(db: sqlite3.Connection) -> int:
    """The next event `seq` of this source (inside the caller's transaction)."""
    row = db.execute(
        "INSERT INTO meta (key, value) VALUES ('seq', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value"
    ).fetchone()
    return int(row[0])


def give_back_seq(db: sqlite3.Connection, seq: int) -> None:
    """Undo `next_seq` for an event that was never sent, if nothing came after it."""
    db.execute("UPDATE meta SET value = ? WHERE key = 'seq' AND CAST(value AS INTEGER) = ?", (str(seq - 1), seq))
