"""The outbox: `ticket.issued` events written with their number, sent after the print.

Row states: `held` (written with the number, the print not yet confirmed), `ready`
(printed: publish it), `sent` (the broker acknowledged it: PUBACK). Rows go out in `id`
order, which is the order of issue. A failed print deletes its held row and voids the
ticket, so no `ticket.issued` of an unprinted number ever leaves the kiosk.
After a crash, held rows cannot tell whether their slip came out; they are published
with `"unconfirmed": true` and their ticket is `unconfirmed`, not `printed` (see
docs/kiosk.md: a citizen holding a ticket that is never called is worse than a number
the desk marks as a no-show; the mark tells the desk which numbers may have no slip).
The same happens when the printer reports a fault right after accepting the job.
Ticket states: `printing` -> `printed` | `unconfirmed` | `voided`.
No MQTT, printer or GPIO imports here; every function runs on the owner thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kiosk.store import give_back_seq, next_seq
from protocol import topics
from protocol.events import make_event, parse_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    ticket_id: str
    topic: str
    payload: bytes


def add_issued(
    db: sqlite3.Connection,
    *,
    site: str,
    source: str,
    day: str,
    number: str,
    service: str,
    priority: str | None,
    issued_at: datetime,
    ticket_id: str | None = None,
) -> tuple[str, int]:
    """Insert the ticket and its held `ticket.issued` event (caller's transaction).

    `ticket_id` may be chosen beforehand (the kiosk draws its QR code before it takes a
    number). Returns (ticket_id, seq).
    """
    issued_at = issued_at.astimezone(UTC)
    ticket_id = ticket_id or str(uuid.uuid4())
    seq = next_seq(db)
    event = make_event(
        "ticket.issued",
        site=site,
        source=source,
        seq=seq,
        ts=issued_at,
        data={"ticket_id": ticket_id, "number": number, "service": service, "priority": priority},
    )
    db.execute(
        "INSERT INTO tickets (ticket_id, site, day, number, service, priority, issued_at, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'printing')",
        (ticket_id, site, day, number, service, priority, issued_at.isoformat()),
    )
    db.execute(
        "INSERT INTO outbox (event_id, ticket_id, seq, topic, payload, state, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'held', ?)",
        (str(event.id), ticket_id, seq, topics.event(site, "ticket.issued"), event.to_json(), issued_at.isoformat()),
    )
    return ticket_id, seq


def confirm_printed(db: sqlite3.Connection, ticket_id: str) -> None:
    """The slip came out: the event may leave (caller's transaction)."""
    db.execute("UPDATE tickets SET state = 'printed' WHERE ticket_id = ? AND state = 'printing'", (ticket_id,))
    db.execute("UPDATE outbox SET state = 'ready' WHERE ticket_id = ? AND state = 'held'", (ticket_id,))


def release_unconfirmed(db: sqlite3.Connection, ticket_id: str) -> bool:
    """The print cannot be confirmed: publish the ticket marked `unconfirmed` (caller's
    transaction). Its held event is rewritten with `"unconfirmed": true` (same id: it was
    never sent). Returns False when the ticket had no held event."""
    row = db.execute("SELECT id, payload FROM outbox WHERE ticket_id = ? AND state = 'held'", (ticket_id,)).fetchone()
    if row is None:
        return False
    event = json.loads(bytes(row[1]))
    event["data"]["unconfirmed"] = True
    payload = parse_event(event).to_json()  # still a valid v1 event
    db.execute("UPDATE outbox SET payload = ?, state = 'ready' WHERE id = ?", (payload, row[0]))
    db.execute("UPDATE tickets SET state = 'unconfirmed' WHERE ticket_id = ? AND state = 'printing'", (ticket_id,))
    return True


def void(db: sqlite3.Connection, ticket_id: str) -> None:
    """The print failed: nothing is issued; the number stays used (caller's transaction)."""
    row = db.execute("SELECT seq FROM outbox WHERE ticket_id = ? AND state = 'held'", (ticket_id,)).fetchone()
    db.execute("DELETE FROM outbox WHERE ticket_id = ? AND state = 'held'", (ticket_id,))
    db.execute("UPDATE tickets SET state = 'voided' WHERE ticket_id = ?", (ticket_id,))
    if row is not None:
        give_back_seq(db, int(row[0]))


def recover_held(db: sqlite3.Connection) -> list[str]:
    """After a crash: release held rows whose print cannot be confirmed. Returns numbers."""
    rows = db.execute(
        "SELECT t.ticket_id, t.number FROM outbox o JOIN tickets t USING (ticket_id) "
        "WHERE o.state = 'held' ORDER BY o.id"
    ).fetchall()
    for ticket_id, number in rows:
        log.warning("ticket %s was numbered before a crash and its print is unconfirmed: publishing it marked unconfirmed", number)
        release_unconfirmed(db, ticket_id)
    return [number for _, number in rows]


def ready_after(db: sqlite3.Connection, after_id: int, limit: int) -> list[OutboxRow]:
    rows = db.execute(
        "SELECT id, event_id, ticket_id, topic, payload FROM outbox WHERE state = 'ready' AND id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]


def mark_sent(db: sqlite3.Connection, ids: list[int], sent_at: datetime) -> None:
    db.executemany(
        "UPDATE outbox SET state = 'sent', sent_at = ? WHERE id = ? AND state = 'ready'",
        [(sent_at.isoformat(), i) for i in ids],
    )


def reopen_sent_since(db: sqlite3.Connection, cutoff: datetime) -> int | None:
    """Mark rows sent at or after `cutoff` ready again (caller's transaction); returns
    the lowest such row id, or None."""
    first = db.execute(
        "SELECT MIN(id) FROM outbox WHERE state = 'sent' AND sent_at >= ?", (cutoff.isoformat(),)
    ).fetchone()[0]
    if first is not None:
        db.execute("UPDATE outbox SET state = 'ready' WHERE state = 'sent' AND sent_at >= ?", (cutoff.isoformat(),))
    return first


def prune(db: sqlite3.Connection, now: datetime, keep_days: int) -> int:
    """Forget sent rows older than `keep_days` (caller's transaction)."""
    cutoff = (now - timedelta(days=keep_days)).isoformat()
    return db.execute("DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?", (cutoff,)).rowcount


def counts(db: sqlite3.Connection) -> dict[str, int]:
    found = {"held": 0, "ready": 0, "sent": 0}
    for state, count in db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
        found[state] = count
    return found


def issued_since(db: sqlite3.Connection, site: str, service: str, since: datetime) -> int:
    """Tickets this kiosk issued for `service` after `since` (people-ahead refinement;
    unconfirmed ones are in the queue too)."""
    row = db.execute(
        "SELECT COUNT(*) FROM tickets WHERE site = ? AND service = ? AND state IN ('printed', 'unconfirmed') "
        "AND issued_at > ?",
        (site, service, since.astimezone(UTC).isoformat()),
    ).fetchone()
    return int(row[0])
