"""The event store: every event stored once, the projection kept in step, bad input kept.

One `EventStore` owns the single writing SQLite connection of the server process; every
write (MQTT ingest batches, events the server creates itself for desk actions) goes
through `store.lock`, so the dispatcher's read-then-write is atomic. Readers use their
own connections (WAL). No FastAPI, no paho here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from protocol import topics
from protocol.events import Event, InvalidEvent, parse_event
from protocol.sites import Site
from server.storage.db import open_database, read_connection
from server.storage.projection import EventRow, FoldState, apply_counter_event, fold_tickets

log = logging.getLogger(__name__)
FOLDS_KEPT = 5_000  # tickets whose fold state is kept (a busy office issues fewer a day)


def _nfc_strings(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc_strings(v) for v in value]
    if isinstance(value, dict):
        return {_nfc_strings(k): _nfc_strings(v) for k, v in value.items()}
    return value


def nfc_payload(text: str) -> str:
    """The payload with every string in NFC (a desk's pause reason typed decomposed would
    otherwise reach boards and reports as other code points than the same words typed
    composed). Combining marks written as JSON escapes are caught as well."""
    text = unicodedata.normalize("NFC", text)
    if "\\u" in text:
        value = json.loads(text)
        normalized = _nfc_strings(value)
        if normalized != value:
            text = json.dumps(normalized, ensure_ascii=False)
    return text


class Incoming(NamedTuple):
    """One MQTT message as received (before any parsing); a named tuple, the cheapest to
    make in paho's thread."""

    topic: str
    payload: bytes
    received_at: float
    retained: bool = False
    mid: int = 0
    qos: int = 0


# An accepted event with what ingest reads of it more than once: (event, message, id, ticket id).
Accepted = tuple[Event, Incoming, str, str | None]


def _accepted(event: Event, message: Incoming) -> Accepted:
    return event, message, str(event.id), event.ticket_id


@dataclass
class BatchResult:
    stored: list[Event] = field(default_factory=list)  # new events (parsed), in arrival order
    duplicates: int = 0
    rejected: int = 0
    tickets: list[dict[str, Any]] = field(default_factory=list)  # refreshed ticket rows
    device_updates: list[dict[str, Any]] = field(default_factory=list)


def next_seq(conn: sqlite3.Connection, source: str) -> int:
    """The next `seq` of an event the server makes as `source` (desk actions, day end,
    ratings from the ticket page): one persisted counter per source, advanced inside
    the caller's `writing()` transaction so it rolls back with the event."""
    row = conn.execute("SELECT seq FROM local_seq WHERE source = ?", (source,)).fetchone()
    if row is None:
        row = conn.execute("SELECT MAX(seq) FROM events WHERE source = ?", (source,)).fetchone()
    seq = (row[0] or 0) + 1
    conn.execute(
        "INSERT INTO local_seq (source, seq) VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET seq = excluded.seq",
        (source, seq),
    )
    return seq


class EventStore:
    """Stores events exactly once and keeps `tickets`, `sources` and counters in step."""

    def __init__(self, path: Path | str, sites: Iterable[Site]):
        self.path = Path(path)
        self.sites = {s.id: s for s in sites}
        self.zones = {s.id: s.zone for s in self.sites.values()}
        # Lookups for the per-event checks of ingest (a hot path).
        self._services = {s.id: {v.id for v in s.services} for s in self.sites.values()}
        self._counters = {s.id: {c.id for c in s.counters} for s in self.sites.values()}
        self.db = open_database(self.path)
        self.conn: sqlite3.Connection = self.db.conn
        self.lock = threading.RLock()
        self.last_error: str | None = None
        # Batches made only of events already stored (the server's own desk events coming
        # back through the broker, redeliveries) are settled on this read connection,
        # without the write lock or a commit (see `_all_known`).
        self._known_reader: sqlite3.Connection | None = None
        self._known_lock = threading.Lock()
        self._unsaved_duplicates = 0  # counted by `_all_known`, added at the next write
        # Each recent ticket's fold up to its stored events, so an event that arrives in
        # order continues it instead of refolding the ticket (projection.fold_tickets).
        self._folds: dict[str, FoldState] = {}
        self._topics: dict[str, topics.Topic] = {}

    def reader(self) -> sqlite3.Connection:
        return read_connection(self.path)

    def close(self) -> None:
        with self.lock:
            if self._unsaved_duplicates:
                try:
                    with self.writing() as conn:
                        self._bump(conn, with_unsaved=True)
                except sqlite3.Error as exc:
                    log.error("duplicate count not saved: %s", exc)
            self.conn.close()
        with self._known_lock:
            if self._known_reader is not None:
                self._known_reader.close()
                self._known_reader = None

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the store lock (BEGIN IMMEDIATE ... COMMIT)."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                # COMMIT itself fails when the disk is full (the WAL must grow): that too
                # must leave no transaction open, or every later BEGIN would fail.
                self.conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (SQLITE_FULL does): a second
                # ROLLBACK would raise and hide the real error.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    # -- ingest -----------------------------------------------------------------------
    def ingest(self, messages: list[Incoming]) -> BatchResult:
        """Store one batch in one transaction; raises sqlite3.Error if it cannot commit
        (the caller must then not acknowledge the messages)."""
        result = BatchResult()
        accepted: list[Accepted] = []
        rejected: list[tuple[Incoming, str]] = []
        statuses: list[Incoming] = []
        for message in messages:
            try:
                topic = self._topic(message.topic)
            except topics.InvalidTopic as exc:
                rejected.append((message, str(exc)))
                continue
            if topic.kind == "devices":
                statuses.append(message)
                continue
            if topic.kind != "events":
                continue
            try:
                event = parse_event(message.payload)
            except InvalidEvent as exc:
                rejected.append((message, exc.reason))
                continue
            except Exception as exc:  # noqa: BLE001 - one payload must never stop ingest
                log.exception("parser failed on a payload from %s", message.topic[:120])
                rejected.append((message, f"unparseable: {type(exc).__name__}"))
                continue
            reason = self._rule_violation(event, topic)
            if reason:
                rejected.append((message, reason))
            else:
                accepted.append(_accepted(event, message))
        if accepted and not rejected and not statuses and self._all_known([a[2] for a in accepted]):
            result.duplicates = len(accepted)
            self.last_error = None
            return result
        with self.lock:  # held until the fold states are kept
            with self.writing() as conn:
                stored_tickets = self._check_cross_site(conn, accepted, rejected)
                new, folds = self._insert(conn, accepted, result, stored_tickets)
                for message, reason in rejected:
                    conn.execute(
                        "INSERT INTO rejected_events (received_at, topic, reason, size, payload) VALUES (?, ?, ?, ?, ?)",
                        (message.received_at, message.topic[:500], reason[:500], len(message.payload), message.payload),
                    )
                result.rejected = len(rejected)
                result.device_updates = [u for u in (self._device(conn, m) for m in statuses) if u]
                self._bump(conn, with_unsaved=True, stored=len(new), duplicates=result.duplicates, rejected=len(rejected))
            self._keep_folds(folds)  # committed: the states match the stored events
        self.last_error = None
        return result

    def _topic(self, text: str) -> topics.Topic:
        """topics.parse, remembered: a site's messages come on a few dozen topics."""
        topic = self._topics.get(text)
        if topic is None:
            topic = topics.parse(text)
            if len(self._topics) >= 1000:  # a flood of odd topics must not grow it
                self._topics.clear()
            self._topics[text] = topic
        return topic

    def _all_known(self, ids: list[str]) -> bool:
        """Whether every one of these event ids is already stored (committed), read on a
        connection of its own: such a batch changes nothing, so it needs no write
        transaction, and the desk actions whose events these are do not queue behind a
        commit of nothing (docs/desk.md). Only committed rows are visible to a reader,
        so an id seen here is certainly stored; the duplicate count is added to the
        counters at the next write (and shown at once by `counts`)."""
        unique = set(ids)
        if len(unique) > 500:
            return False
        with self._known_lock:
            if self._known_reader is None:
                self._known_reader = read_connection(self.path)
            # The first id alone first: a batch of new events (the usual one) is told by it.
            if self._known_reader.execute("SELECT 1 FROM events WHERE id = ?", (ids[0],)).fetchone() is None:
                return False
            marks = ", ".join("?" for _ in unique)
            found = self._known_reader.execute(f"SELECT COUNT(*) FROM events WHERE id IN ({marks})", list(unique)).fetchone()[0]
        if found != len(unique):
            return False
        with self._known_lock:
            self._unsaved_duplicates += len(ids)
        return True

    def append_local(self, events: list[Event], conn: sqlite3.Connection | None = None) -> BatchResult:
        """Store events the server made itself (desk actions). Pass `conn` to join an
        open `writing()` transaction, e.g. the dispatcher's."""
        result = BatchResult()
        now = time.time()
        pairs = [_accepted(e, Incoming(topics.event(e.site, e.type), b"", now)) for e in events]
        if conn is not None:
            new, folds = self._insert(conn, pairs, result)
            self._bump(conn, stored=len(new), duplicates=result.duplicates)
            # The caller's transaction (or a savepoint in it) may still roll back: forget
            # these tickets' states rather than keep ones that might not match.
            self._keep_folds(dict.fromkeys(folds))
            return result
        with self.lock:
            with self.writing() as conn:
                new, folds = self._insert(conn, pairs, result)
                self._bump(conn, stored=len(new), duplicates=result.duplicates)
            self._keep_folds(folds)
        return result

    def _rule_violation(self, event: Event, topic: topics.Topic) -> str | None:
        if event.site not in self.sites:
            return f"unknown site {event.site!r}"
        if topic.site != event.site:
            return f"topic site {topic.site!r} differs from event site {event.site!r}"
        if topic.name != event.type:
            return f"topic type {topic.name!r} differs from event type {event.type!r}"
        fields = event.data.__dict__  # the model's fields (getattr on a missing one raises inside)
        service = fields.get("service") or fields.get("to_service")
        if service is not None and service not in self._services[event.site]:
            return f"unknown service {service!r} at site {event.site!r}"
        counter = fields.get("counter")
        if counter is not None and counter not in self._counters[event.site]:
            return f"unknown counter {counter!r} at site {event.site!r}"
        return None

    def _check_cross_site(
        self, conn: sqlite3.Connection, accepted: list[Accepted], rejected: list[tuple[Incoming, str]]
    ) -> set[str]:
        """An event about a ticket that belongs to another site is rejected. Returns the
        tickets that have a row, the only ones with stored events (every stored event of
        a ticket is folded into its row in the transaction that stores it)."""
        ids = list({a[3] for a in accepted if a[3]})
        owner: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            owner.update(conn.execute(
                f"SELECT ticket_id, site FROM tickets WHERE ticket_id IN ({marks})", chunk
            ).fetchall())
        stored = set(owner)
        keep = []
        for item in accepted:
            event, message, _, ticket_id = item
            if ticket_id is None:
                keep.append(item)
                continue
            site = owner.setdefault(ticket_id, event.site)
            if site != event.site:
                rejected.append((message, f"ticket {ticket_id} belongs to site {site!r}, not {event.site!r}"))
            else:
                keep.append(item)
        accepted[:] = keep
        return stored

    def _insert(
        self, conn: sqlite3.Connection, pairs: list[Accepted], result: BatchResult, stored_tickets: set[str] | None = None,
    ) -> tuple[list[Event], dict[str, FoldState | None]]:
        """Insert the new events and fold what they touch (`stored_tickets`: those that
        may have events stored before, None if unknown); returns them and the fold states
        to keep if the transaction commits (`_keep_folds`)."""
        new = []
        touched_tickets: dict[str, list[EventRow]] = {}
        issued_now = set()
        per_source: dict[tuple[str, str], list[int]] = {}
        ids = [item[2] for item in pairs]
        known: set[str] = set()
        for start in range(0, len(ids), 500):  # one query per 500 instead of one insert each
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            known.update(row[0] for row in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk))
        rows = []
        for event, message, event_id, ticket_id in pairs:
            if event_id in known:
                result.duplicates += 1
                continue
            known.add(event_id)  # a duplicate inside the same batch
            ts_at = event.ts.timestamp()
            # The text as received is kept (already checked to be UTF-8 JSON; fields
            # this version does not know survive), in NFC like everything we store.
            payload = nfc_payload(message.payload.decode("utf-8")) if message.payload else event.model_dump_json()
            rows.append((
                event_id, event.site, event.type, event.source, event.seq, event.ts.isoformat(),
                ts_at, ticket_id, message.received_at, payload,
            ))
            new.append(event)
            per_source.setdefault((event.source, event.site), []).append(event.seq)
            if ticket_id:
                touched_tickets.setdefault(ticket_id, []).append(
                    (event.type, event.site, ts_at, event.seq, event.source, payload)
                )
                if event.type == "ticket.issued":
                    issued_now.add(ticket_id)
        # We hold the only write connection's lock, so these ids are certainly new.
        conn.executemany(
            "INSERT INTO events (id, site, type, source, seq, ts, ts_at, ticket_id, received_at, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        result.stored = new
        result.tickets, folds = fold_tickets(conn, touched_tickets, self.zones, self._folds, stored_tickets)
        for event in new:  # the counters projection, in the same transaction
            apply_counter_event(conn, event)
        for row in result.tickets:
            if row["ticket_id"] in issued_now:
                self._flag_duplicate_number(conn, row)
        self._track_sources(conn, per_source)
        return new, folds

    def _keep_folds(self, folds: dict[str, FoldState | None]) -> None:
        """Keep the tickets' fold states (None: forget one), the latest last, within
        FOLDS_KEPT. Called under the store lock, only where the states match what is
        stored once the transaction commits; this store is the only writer of events."""
        for ticket_id, state in folds.items():
            self._folds.pop(ticket_id, None)
            if state is not None:
                self._folds[ticket_id] = state
        while len(self._folds) > FOLDS_KEPT:
            del self._folds[next(iter(self._folds))]

    def _track_sources(self, conn: sqlite3.Connection, per_source: dict[tuple[str, str], list[int]]) -> None:
        """Per-source sequence bookkeeping: `missing` counts seq numbers never seen
        between the lowest and highest (a gap may fill later when events arrive late)."""
        now = time.time()
        for (source, site), seqs in per_source.items():
            row = conn.execute(
                "SELECT min_seq, max_seq, events FROM sources WHERE source = ?", (source,)
            ).fetchone()
            low, high, count = min(seqs), max(seqs), len(seqs)
            if row:
                low, high, count = min(low, row[0]), max(high, row[1]), count + row[2]
            conn.execute(
                "INSERT OR REPLACE INTO sources (source, site, min_seq, max_seq, events, missing, last_received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (source, site, low, high, count, high - low + 1 - count, now),
            )

    def _flag_duplicate_number(self, conn: sqlite3.Connection, row: dict[str, Any]) -> None:
        if not row.get("number") or not row.get("local_day") or row["issued_at"] is None:
            return
        clash = conn.execute(
            "SELECT ticket_id FROM tickets WHERE site = ? AND local_day = ? AND number = ? AND ticket_id != ? "
            "AND issued_at IS NOT NULL LIMIT 1",
            (row["site"], row["local_day"], row["number"], row["ticket_id"]),
        ).fetchone()
        if clash:
            conn.execute(
                "INSERT OR IGNORE INTO anomalies (site, kind, key, detail, detected_at) VALUES (?, ?, ?, ?, ?)",
                (
                    row["site"], "duplicate_number", f"{row['local_day']}/{row['number']}",
                    json.dumps({"tickets": sorted([clash[0], row["ticket_id"]]), "number": row["number"]}),
                    time.time(),
                ),
            )

    def _device(self, conn: sqlite3.Connection, message: Incoming) -> dict[str, Any] | None:
        """Device presence; a live (not retained) status also measures clock skew."""
        topic = topics.parse(message.topic)
        try:
            body = json.loads(message.payload.decode("utf-8"))
            state = str(body.get("state", "unknown"))[:40]
        except (ValueError, RecursionError, AttributeError):  # not UTF-8, not JSON, not an object
            return None
        reported_at = skew_s = None
        try:
            reported_at = datetime.fromisoformat(str(body.get("ts"))[:64]).timestamp()
            if not message.retained:
                skew_s = reported_at - message.received_at
        except (ValueError, OverflowError):
            reported_at = None  # no usable clock reading: keep the last known skew
        if skew_s is None:
            previous = conn.execute(
                "SELECT skew_s FROM devices WHERE site = ? AND device = ?", (topic.site, topic.name)
            ).fetchone()
            skew_s = previous[0] if previous else None
        details = json.dumps({k: v for k, v in body.items() if k not in ("state", "ts")}, ensure_ascii=False)[:4000]
        conn.execute(
            "INSERT OR REPLACE INTO devices (device, site, state, details, reported_at, received_at, skew_s) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (topic.name, topic.site, state, details, reported_at, message.received_at, skew_s),
        )
        return {"site": topic.site, "device": topic.name, "state": state, "skew_s": skew_s}

    def _bump(self, conn: sqlite3.Connection, with_unsaved: bool = False, **counts: int) -> None:
        """Add to the ingest counters; `with_unsaved` adds the duplicates `_all_known`
        counted meanwhile (only where the transaction is the caller's own, so that a
        rolled-back savepoint cannot take them along)."""
        if with_unsaved:
            with self._known_lock:
                unsaved, self._unsaved_duplicates = self._unsaved_duplicates, 0
            counts["duplicates"] = counts.get("duplicates", 0) + unsaved
        for name, value in counts.items():
            if value:
                conn.execute(
                    "INSERT INTO ingest_counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (name, value),
                )

    def counts(self) -> dict[str, int]:
        conn = self.reader()
        try:
            found = dict(conn.execute("SELECT name, value FROM ingest_counters").fetchall())
        finally:
            conn.close()
        counts = {name: int(found.get(name, 0)) for name in ("stored", "duplicates", "rejected")}
        with self._known_lock:
            counts["duplicates"] += self._unsaved_duplicates
        return counts
