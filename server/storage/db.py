"""The server's SQLite database: opening it, and every migration in one place.

Times are stored as UTC epoch seconds (REAL) in `*_at` columns; `local_day` is the
site-local date of issue (YYYY-MM-DD). Migrations are named functions applied in order
with sqlite-utils `Migrations`; a database carrying a migration this code does not know
(a newer schema) is refused. Append new migrations at the end; never edit old ones.
No FastAPI here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from protocol.errors import XephangError

migrations = Migrations("xephang")


@migrations()
def m001_events(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            type TEXT NOT NULL,
            source TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts TEXT NOT NULL,
            ts_at REAL NOT NULL,
            ticket_id TEXT,
            received_at REAL NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX events_ticket ON events(ticket_id);
        CREATE INDEX events_site_ts ON events(site, ts_at);
        CREATE INDEX events_source_seq ON events(source, seq);

        CREATE TABLE rejected_events (
            id INTEGER PRIMARY KEY,
            received_at REAL NOT NULL,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            size INTEGER NOT NULL,
            payload BLOB NOT NULL
        );

        CREATE TABLE tickets (
            ticket_id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            number TEXT,
            service TEXT,
            original_service TEXT,
            priority TEXT,
            source TEXT,
            issued_at REAL,
            local_day TEXT,
            first_called_at REAL,
            last_called_at REAL,
            called_count INTEGER NOT NULL DEFAULT 0,
            recalled_count INTEGER NOT NULL DEFAULT 0,
            started_at REAL,
            completed_at REAL,
            no_show_at REAL,
            outcome TEXT,
            dossier_code TEXT,
            counter TEXT,
            status TEXT NOT NULL,
            transfers INTEGER NOT NULL DEFAULT 0,
            wait_s REAL,
            service_s REAL,
            total_s REAL,
            last_event_at REAL
        );
        CREATE INDEX tickets_site_day ON tickets(site, local_day);
        CREATE INDEX tickets_site_status ON tickets(site, status, service);
        CREATE INDEX tickets_site_day_number ON tickets(site, local_day, number);

        CREATE TABLE sources (
            source TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            min_seq INTEGER NOT NULL,
            max_seq INTEGER NOT NULL,
            events INTEGER NOT NULL,
            missing INTEGER NOT NULL,
            last_received_at REAL NOT NULL
        );

        CREATE TABLE devices (
            device TEXT NOT NULL,
            site TEXT NOT NULL,
            state TEXT NOT NULL,
            details TEXT NOT NULL,
            reported_at REAL,
            received_at REAL NOT NULL,
            skew_s REAL,
            PRIMARY KEY (site, device)
        );

        CREATE TABLE anomalies (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            detail TEXT NOT NULL,
            detected_at REAL NOT NULL,
            UNIQUE (site, kind, key)
        );

        CREATE TABLE ingest_counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        """
    )


def open_database(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the server database with WAL and apply migrations."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before ingest acknowledges its messages to the broker,
    # so even a power cut (not only a crash) cannot lose an acknowledged event.
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    check_schema(db)
    migrations.apply(db)
    return db


def check_schema(db: sqlite_utils.Database) -> None:
    """Refuse a database migrated by newer code (its schema may not mean what we think)."""
    known = {m.name for m in migrations._migrations}
    applied = {m.name for m in migrations.applied(db)}
    newer = sorted(applied - known)
    if newer:
        raise XephangError(
            f"the database was created by a newer xephang (unknown migrations: {', '.join(newer)}); "
            "upgrade xephang or restore a backup"
        )


def read_connection(path: Path | str) -> sqlite3.Connection:
    """A separate read-only-use connection (WAL lets readers run beside the writer)."""
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


@migrations()
def m101_desk_counters(db: sqlite_utils.Database) -> None:
    """Desk dispatch: counter projection, per-source sequence of server-made events."""
    db.executescript(
        """
        CREATE TABLE counters (
            site TEXT NOT NULL,
            counter TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            changed_at REAL NOT NULL,
            priority_streak INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (site, counter)
        );
        CREATE TABLE local_seq (
            source TEXT PRIMARY KEY,
            seq INTEGER NOT NULL
        );
        CREATE INDEX tickets_site_service_done ON tickets(site, service, completed_at);
        CREATE INDEX tickets_site_counter ON tickets(site, counter, status);
        """
    )


@migrations()
def m102_desk_accounts(db: sqlite_utils.Database) -> None:
    """Accounts, browser sessions, API tokens and the audit log."""
    db.executescript(
        """
        CREATE TABLE users (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            sites TEXT NOT NULL,
            counters TEXT NOT NULL,
            created_at REAL NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE TABLE api_tokens (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            via TEXT NOT NULL,
            remote TEXT,
            action TEXT NOT NULL,
            site TEXT,
            counter TEXT,
            target TEXT,
            ok INTEGER NOT NULL,
            code TEXT,
            detail TEXT
        );
        CREATE INDEX audit_site_at ON audit_log(site, at);
        """
    )


@migrations()
def m201_stats_aggregates(db: sqlite_utils.Database) -> None:
    """Managers' view: pre-aggregated measures per site and local day / month (see
    server/stats/store.py and docs/measures.md), and a feedback index."""
    db.executescript(
        """
        CREATE TABLE stats_agg (
            site TEXT NOT NULL,
            level TEXT NOT NULL,
            period TEXT NOT NULL,
            dim TEXT NOT NULL,
            key TEXT NOT NULL,
            issued INTEGER NOT NULL,
            called INTEGER NOT NULL,
            no_show INTEGER NOT NULL,
            completed INTEGER NOT NULL,
            received INTEGER NOT NULL,
            within_target INTEGER NOT NULL,
            recalls INTEGER NOT NULL,
            transfers INTEGER NOT NULL,
            ratings INTEGER NOT NULL,
            satisfied INTEGER NOT NULL,
            wait_sum INTEGER NOT NULL,
            service_sum INTEGER NOT NULL,
            total_sum INTEGER NOT NULL,
            wait_hist BLOB NOT NULL,
            service_hist BLOB NOT NULL,
            total_hist BLOB NOT NULL,
            PRIMARY KEY (level, dim, site, period, key)
        ) WITHOUT ROWID;
        CREATE TABLE stats_meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE INDEX events_type_site_ts ON events(type, site, ts_at);
        """
    )


@migrations()
def m103_desk_pick_index(db: sqlite_utils.Database) -> None:
    """Index for the dispatcher's pick: the oldest waiting ticket per service and class."""
    db.executescript(
        """
        CREATE INDEX tickets_pick ON tickets(site, status, service, (priority IS NULL), issued_at);
        """
    )


@migrations()
def m104_unconfirmed_tickets(db: sqlite_utils.Database) -> None:
    """Tickets the kiosk published without a confirmed print (`ticket.issued` with
    `"unconfirmed": true`, docs/kiosk.md): a mark on the ticket and a count in the stats."""
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN unconfirmed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE stats_agg ADD COLUMN unconfirmed INTEGER NOT NULL DEFAULT 0;
        """
    )
    # Events stored before this code knew the field still carry it.
    marked = db.execute(
        "UPDATE tickets SET unconfirmed = 1 WHERE ticket_id IN (SELECT ticket_id FROM events "
        "WHERE type = 'ticket.issued' AND json_extract(payload, '$.data.unconfirmed') = 1)"
    ).rowcount
    if marked:
        db.execute("DELETE FROM stats_meta WHERE name = 'rules'")  # the pre-aggregates are rebuilt


@migrations()
def m301_booking(db: sqlite_utils.Database) -> None:
    """Online numbers and appointments (server/booking, docs/booking.md): the bookings,
    numbers the server gives on its own (never the kiosks' form), the channel of a ticket
    and its check-in in the projection, the dispatcher's booked-call streak and the
    holds of online numbers whose turn came before their check-in."""
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN channel TEXT;
        ALTER TABLE tickets ADD COLUMN appointment_start_at REAL;
        ALTER TABLE tickets ADD COLUMN checked_in_at REAL;
        ALTER TABLE counters ADD COLUMN booked_streak INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX tickets_pick_booked ON tickets(site, status, service, channel, appointment_start_at);
        CREATE TABLE bookings (
            code TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            local_day TEXT NOT NULL,
            slot_start_at REAL,
            status TEXT NOT NULL,
            ticket_id TEXT UNIQUE,
            created_at REAL NOT NULL,
            changed_at REAL NOT NULL,
            checked_in_at REAL,
            moves INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX bookings_slot ON bookings(site, service, slot_start_at, status);
        CREATE INDEX bookings_day ON bookings(site, local_day, status);
        CREATE TABLE server_numbers (
            site TEXT NOT NULL,
            prefix TEXT NOT NULL,
            day TEXT NOT NULL,
            last INTEGER NOT NULL,
            PRIMARY KEY (site, prefix, day)
        );
        CREATE TABLE ticket_holds (
            ticket_id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            counter TEXT NOT NULL,
            held_at REAL NOT NULL
        );
        """
    )


@migrations()
def m202_national_rollups(db: sqlite_utils.Database) -> None:
    """Daily roll-ups for the national aggregator (server/stats/rollup.py): per site-day
    its latest revision, the payload sent and the revision the aggregator acknowledged."""
    db.executescript(
        """
        CREATE TABLE rollup_outbox (
            site TEXT NOT NULL,
            day TEXT NOT NULL,
            dirty INTEGER NOT NULL DEFAULT 1,
            revision INTEGER NOT NULL DEFAULT 0,
            digest TEXT,
            payload BLOB,
            acked INTEGER NOT NULL DEFAULT 0,
            sent_at REAL,
            PRIMARY KEY (site, day)
        ) WITHOUT ROWID;
        CREATE INDEX rollup_outbox_unacked ON rollup_outbox(acked, revision);
        CREATE TABLE rollup_meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


@migrations()
def m2001_second_visit(db: sqlite_utils.Database) -> None:
    """The second visit (issue 20, docs/second-visit.md): the counter a `return` ticket
    is preferred by, in the projection, and the return codes desks hand out (one use,
    valid for a number of days; no personal data: the first ticket, its counter, service
    and dossier code)."""
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN preferred_counter TEXT;
        CREATE TABLE return_codes (
            code TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            service TEXT NOT NULL,
            counter TEXT NOT NULL,
            ticket_id TEXT NOT NULL UNIQUE,
            dossier_code TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            status TEXT NOT NULL,
            used_at REAL,
            new_ticket_id TEXT
        );
        """
    )


@migrations()
def m120_missed_call_requeue(db: sqlite_utils.Database) -> None:
    """The missed-call rule (`ticket.requeued`, docs/desk.md): a requeued ticket's place in
    its queue (`queue_at`, null for every other ticket: they queue by their time of issue)
    and how many times it went back; an index for the dispatcher's look at requeued ones."""
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN queue_at REAL;
        ALTER TABLE tickets ADD COLUMN requeued_count INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX tickets_pick_requeued ON tickets(site, service, queue_at)
            WHERE status = 'waiting' AND queue_at IS NOT NULL;
        """
    )


@migrations()
def m203_report_feedback_index(db: sqlite_utils.Database) -> None:
    """The report pack's ratings (server/stats/report.py): the feedback.given events of a
    ticket found directly, instead of reading every event of every ticket of the month.
    Partial: only rating events are in it."""
    db.executescript(
        """
        CREATE INDEX events_feedback_ticket ON events(ticket_id, ts_at) WHERE type = 'feedback.given';
        """
    )
