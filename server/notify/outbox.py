"""The notifier's own SQLite file: the outbox of messages, the contacts citizens opted in
with (phone numbers, push subscriptions: encrypted), and the channels' secrets.

Kept apart from the event database on purpose: the queue's writer never waits on the
notifier's writes, backups and exports of the events never carry a phone number, and day
end can wipe contacts with `secure_delete` so no deleted number stays in a free page.

A message's life (one row per ticket, kind and channel; UNIQUE, so a trigger seen twice,
or again after a restart, inserts nothing):

    pending --claim--> sending --sent-----> sent
       ^                  |----retry------> pending (next_at = now + back-off)
       |                  |----rejected---> failed (a permanent refusal: bad number...)
       |                  '----expired----> dropped (too late to be useful)
       '--- restart: rows left in `sending` go back to pending, sent again with the same
            idempotency key (`key`), which the provider uses to drop a duplicate.

Imports the standard library and cryptography only. No network here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    text TEXT NOT NULL,
    params TEXT NOT NULL,
    day TEXT NOT NULL,
    event_at REAL NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    sent_at REAL,
    told_at REAL,
    error TEXT,
    UNIQUE (ticket_id, kind, channel)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(channel, state, next_at);
CREATE INDEX IF NOT EXISTS outbox_day ON outbox(day, site);
CREATE TABLE IF NOT EXISTS contacts (
    ticket_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    site TEXT NOT NULL,
    keep_until TEXT NOT NULL,
    address BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (ticket_id, channel)
);
CREATE TABLE IF NOT EXISTS reminders (
    ticket_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    day TEXT NOT NULL,
    params TEXT NOT NULL,
    due_at REAL NOT NULL,
    expires_at REAL,
    state TEXT NOT NULL DEFAULT 'planned',
    PRIMARY KEY (ticket_id, kind)
);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class Notice:
    """One thing to tell about one ticket (or booking): what triggers decide."""

    ticket_id: str
    site: str
    kind: str
    day: str  # site-local day of the ticket (or the booking's slot)
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    event_at: float = 0.0  # when the triggering event reached the server (epoch s)
    due_at: float | None = None  # not before (booking reminders); None = now
    expires_at: float | None = None  # not after: a late "near" is useless


@dataclass(frozen=True)
class Row:
    id: int
    ticket_id: str
    site: str
    kind: str
    channel: str
    text: str
    params: dict[str, Any]
    attempts: int
    event_at: float

    @property
    def key(self) -> str:
        """The idempotency key a provider sees: the same on every attempt and after a restart."""
        return f"xephang-{self.id}"


def _key(path: Path) -> bytes:
    """The Fernet key that protects contacts at rest, made on first use (mode 0600)."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class Outbox:
    """Thread-safe: one connection behind one lock; every call is a short transaction."""

    def __init__(self, path: Path, key_file: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fernet = Fernet(_key(key_file))
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA secure_delete=ON")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.lock:
            self.conn.executescript(SCHEMA)
            # A restart mid-send: what was being sent goes again, with the same key.
            self.conn.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- messages -----------------------------------------------------------------------
    def add(self, notice: Notice, channel: str, text: str, now: float) -> bool:
        """Queue one message; False when this ticket already has it on this channel."""
        return bool(self.add_many([(notice, channel, text, None)], now))

    def add_many(self, items: list[tuple[Notice, str, str, float | None]], now: float) -> list[str]:
        """Queue messages in one transaction: (notice, channel, text, told_at). With a
        `told_at` the row is delivered as it is written (the ticket page reads it).
        Returns the channels that got a new row."""
        added = []
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for notice, channel, text, told_at in items:
                    cursor = self.conn.execute(
                        "INSERT OR IGNORE INTO outbox (ticket_id, site, kind, channel, text, params, day, event_at, created_at,"
                        " expires_at, next_at, state, sent_at, told_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (notice.ticket_id, notice.site, notice.kind, channel, text,
                         json.dumps(notice.params, ensure_ascii=False), notice.day, notice.event_at or now, now,
                         notice.expires_at, notice.due_at or now, "pending" if told_at is None else "sent",
                         None if told_at is None else now, told_at),
                    )
                    if cursor.rowcount == 1:
                        added.append(channel)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return added

    def known(self, since_day: str) -> set[tuple[str, str]]:
        """(ticket, kind) pairs queued on any channel from `since_day` on."""
        with self.lock:
            return {(r[0], r[1]) for r in self.conn.execute("SELECT DISTINCT ticket_id, kind FROM outbox WHERE day >= ?", (since_day,))}

    def claim(self, channel: str, now: float, limit: int = 1) -> list[Row]:
        """Up to `limit` due messages of `channel`, marked as being sent; expired ones are dropped."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(
                    "UPDATE outbox SET state = 'dropped', error = 'expired' WHERE channel = ? AND state = 'pending' "
                    "AND expires_at IS NOT NULL AND expires_at < ?", (channel, now))
                rows = self.conn.execute(
                    "SELECT id, ticket_id, site, kind, channel, text, params, attempts, event_at FROM outbox "
                    "WHERE channel = ? AND state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?", (channel, now, limit),
                ).fetchall()
                self.conn.executemany("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
                                      [(r[0],) for r in rows])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return [Row(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7] + 1, r[8]) for r in rows]

    def deliver_due(self, channel: str, now: float, told_at: float) -> int:
        """An instant channel (the page) has no sender: its delayed rows (booking reminders)
        become delivered here once due; expired ones are dropped."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(
                    "UPDATE outbox SET state = 'dropped', error = 'expired' WHERE channel = ? AND state = 'pending' "
                    "AND expires_at IS NOT NULL AND expires_at < ?", (channel, now))
                count = self.conn.execute(
                    "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, told_at = ? "
                    "WHERE channel = ? AND state = 'pending' AND next_at <= ?", (now, told_at, channel, now)).rowcount
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return int(count)

    def withdraw(self, ticket_id: str, kinds: Iterable[str], reason: str, forget: bool = False) -> int:
        """Messages of these kinds not sent yet will not be: `dropped` with `reason` (a
        cancelled booking), or deleted (`forget`: a moved booking schedules them anew).
        With `forget`, rows already finished are kept under another key (history stays,
        and the new slot may have its own reminder of the same kind). A row being sent at
        this moment is left alone. Returns the rows changed."""
        kinds = tuple(kinds)
        marks = ", ".join("?" for _ in kinds)
        args = (ticket_id, *kinds)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if forget:
                    changed = self.conn.execute(
                        f"DELETE FROM outbox WHERE ticket_id = ? AND kind IN ({marks}) AND state = 'pending'", args).rowcount
                    self.conn.execute(
                        f"UPDATE outbox SET ticket_id = ticket_id || '~' || id WHERE ticket_id = ? AND kind IN ({marks}) "
                        "AND state IN ('sent', 'failed', 'dropped')", args)
                else:
                    changed = self.conn.execute(
                        f"UPDATE outbox SET state = 'dropped', error = ? WHERE ticket_id = ? AND kind IN ({marks}) "
                        "AND state = 'pending'", (reason, *args)).rowcount
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return int(changed)

    def next_due(self, channel: str) -> float | None:
        with self.lock:
            row = self.conn.execute(
                "SELECT MIN(next_at) FROM outbox WHERE channel = ? AND state = 'pending'", (channel,)).fetchone()
        return row[0] if row else None

    def sent(self, row_ids: list[int], now: float, told_at: float) -> None:
        """Delivered at `now` (real time, for latency) = `told_at` on the server's clock
        (the tickets' times, for "told N minutes before the call")."""
        with self.lock:
            self.conn.executemany("UPDATE outbox SET state = 'sent', sent_at = ?, told_at = ?, error = NULL WHERE id = ?",
                                  [(now, told_at, row_id) for row_id in row_ids])

    def retry(self, row_id: int, error: str, at: float) -> None:
        self._set(row_id, "UPDATE outbox SET state = 'pending', next_at = ?, error = ? WHERE id = ?", (at, error[:200], row_id))

    def failed(self, row_id: int, error: str) -> None:
        self._set(row_id, "UPDATE outbox SET state = 'failed', error = ? WHERE id = ?", (error[:200], row_id))

    def _set(self, row_id: int, sql: str, params: tuple[Any, ...]) -> None:
        with self.lock:
            self.conn.execute(sql, params)

    def for_ticket(self, ticket_id: str, channel: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT kind, text, sent_at FROM outbox WHERE ticket_id = ? AND channel = ? AND state = 'sent' ORDER BY sent_at",
                (ticket_id, channel)).fetchall()
        return [{"kind": r[0], "text": r[1], "at": r[2]} for r in rows]

    def rows(self, where: str = "1", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows for reports and tests (no contacts here: the outbox never holds one)."""
        with self.lock:
            cursor = self.conn.execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id", tuple(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r)) for r in cursor.fetchall()]

    # -- planned messages (booking reminders) ----------------------------------------------
    # A reminder waits here, with its time on the server's clock (`due_at`, `expires_at`:
    # epoch seconds of the project clock, which a demo or a test may move), until the
    # notifier releases it into the outbox as an ordinary message: planned → released
    # (or expired, cancelled). Kept apart from the outbox, whose times are the machine's.
    def plan(self, notices: list[Notice]) -> int:
        """Plan reminders; one already planned (or released) for that key and kind stays as it is."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                added = sum(self.conn.execute(
                    "INSERT OR IGNORE INTO reminders (ticket_id, kind, site, day, params, due_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (n.ticket_id, n.kind, n.site, n.day, json.dumps(n.params, ensure_ascii=False), n.due_at or 0.0,
                     n.expires_at)).rowcount for n in notices)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return int(added)

    def unplan(self, ticket_id: str, state: str | None = None) -> int:
        """Cancel the planned reminders of a key (`state` = 'cancelled'), or forget them all,
        released ones too (None: the booking moved and plans anew)."""
        with self.lock:
            if state is None:
                return int(self.conn.execute("DELETE FROM reminders WHERE ticket_id = ?", (ticket_id,)).rowcount)
            return int(self.conn.execute("UPDATE reminders SET state = ? WHERE ticket_id = ? AND state = 'planned'",
                                         (state, ticket_id)).rowcount)

    def due_reminders(self, now: float) -> list[Notice]:
        """Planned reminders due at `now` (server clock); those past their expiry are marked expired."""
        with self.lock:
            self.conn.execute("UPDATE reminders SET state = 'expired' WHERE state = 'planned' AND expires_at IS NOT NULL "
                              "AND expires_at <= ?", (now,))
            rows = self.conn.execute(
                "SELECT ticket_id, kind, site, day, params FROM reminders WHERE state = 'planned' AND due_at <= ? "
                "ORDER BY due_at", (now,)).fetchall()
        return [Notice(r[0], r[2], r[1], r[3], json.loads(r[4])) for r in rows]

    def released(self, notices: list[Notice]) -> None:
        with self.lock:
            self.conn.executemany("UPDATE reminders SET state = 'released' WHERE ticket_id = ? AND kind = ? AND state = 'planned'",
                                  [(n.ticket_id, n.kind) for n in notices])

    def reminders(self, ticket_id: str) -> list[dict[str, Any]]:
        with self.lock:
            cursor = self.conn.execute("SELECT * FROM reminders WHERE ticket_id = ? ORDER BY due_at", (ticket_id,))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r)) for r in cursor.fetchall()]

    # -- contacts (personal data: encrypted, never logged, purged) -------------------------
    def add_contact(self, ticket_id: str, channel: str, site: str, keep_until: str, address: str, now: float) -> None:
        token = self.fernet.encrypt(address.encode("utf-8"))
        with self.lock:
            self.conn.execute(
                "INSERT INTO contacts (ticket_id, channel, site, keep_until, address, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(ticket_id, channel) DO UPDATE SET address = excluded.address, keep_until = excluded.keep_until",
                (ticket_id, channel, site, keep_until, token, now))

    def contact(self, ticket_id: str, channel: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT address FROM contacts WHERE ticket_id = ? AND channel = ?", (ticket_id, channel)).fetchone()
        if row is None:
            return None
        try:
            return self.fernet.decrypt(row[0]).decode("utf-8")
        except InvalidToken:
            return None  # the key file was replaced: the contact is unreadable, hence gone

    def keep_until(self, ticket_id: str, day: str) -> int:
        """A moved booking keeps its contacts until the end of its new slot's day."""
        with self.lock:
            return int(self.conn.execute("UPDATE contacts SET keep_until = ? WHERE ticket_id = ?", (day, ticket_id)).rowcount)

    def copy_contacts(self, from_key: str, to_key: str, keep_until: str) -> int:
        """Give `to_key` (a ticket) every contact of `from_key` (its booking), kept until the
        end of `keep_until`; the encrypted address is copied as it is (never decrypted here).
        Idempotent: a second copy replaces the first. Returns the contacts copied."""
        with self.lock:
            return int(self.conn.execute(
                "INSERT INTO contacts (ticket_id, channel, site, keep_until, address, created_at) "
                "SELECT ?, channel, site, ?, address, created_at FROM contacts WHERE ticket_id = ? "
                "ON CONFLICT(ticket_id, channel) DO UPDATE SET address = excluded.address, keep_until = excluded.keep_until",
                (to_key, keep_until, from_key)).rowcount)

    def channels_of(self, ticket_id: str) -> set[str]:
        with self.lock:
            return {r[0] for r in self.conn.execute("SELECT channel FROM contacts WHERE ticket_id = ?", (ticket_id,))}

    def remove_contact(self, ticket_id: str, channel: str | None = None) -> int:
        with self.lock:
            if channel is None:
                return self.conn.execute("DELETE FROM contacts WHERE ticket_id = ?", (ticket_id,)).rowcount
            return self.conn.execute("DELETE FROM contacts WHERE ticket_id = ? AND channel = ?", (ticket_id, channel)).rowcount

    def purge(self, today_by_site: dict[str, str]) -> int:
        """Delete every contact kept for a day before its site's today; then checkpoint
        the WAL so no copy of a deleted row stays in the log file either."""
        removed = 0
        with self.lock:
            for site, today in today_by_site.items():
                removed += self.conn.execute("DELETE FROM contacts WHERE site = ? AND keep_until < ?", (site, today)).rowcount
            if removed:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def contact_count(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])

    # -- channel secrets (a refreshed Zalo token) -------------------------------------------
    def secret(self, name: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
        return self.fernet.decrypt(row[0]).decode("utf-8") if row else None

    def set_secret(self, name: str, value: str) -> None:
        token = self.fernet.encrypt(value.encode("utf-8"))
        with self.lock:
            self.conn.execute("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                              (name, token))


def now_s() -> float:
    return time.time()
