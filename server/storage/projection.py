"""The `tickets` projection: one row per ticket, folded from that ticket's events.

A row is always recomputed from *all* stored events of the ticket, sorted by event time
(then a fixed type order, then seq), so the result does not depend on the order or the
number of times events arrived. Measures follow docs/measures.md:
wait = first called - issued; service = completed - (last started, else first called);
total = completed - issued.

A no-show made by the day-end job (`"auto": true`) is not folded in time order: it only
closes what a person left open. It is ignored when the ticket was completed or marked
no-show by a person (whatever the timestamps), and when a person called, recalled,
started or transferred the ticket after it. Otherwise a ticket left waiting or called
becomes `no_show`, and one a person started (the citizen came) becomes `closed`, never
`no_show`. See docs/measures.md.

A `ticket.requeued` (the missed-call rule, docs/desk.md) puts a called ticket back to
waiting with its own place in the queue (`queue_at`; null for every other ticket, which
queues by its time of issue); the 60-minute clock and the wait keep their start, and
service (without a start) runs from the first call after the last requeue. No FastAPI here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from protocol.events import CounterClosed, CounterOpened, CounterPaused, Event
from protocol.sites import DEFAULT_ZONE

# Ties on the same timestamp resolve in the order a ticket lives through.
TYPE_RANK = {
    "ticket.issued": 0,
    "ticket.transferred": 1,
    "ticket.called": 2,
    "ticket.recalled": 3,
    "ticket.started": 4,
    "ticket.no_show": 5,
    "ticket.completed": 6,
    "ticket.checked_in": 1,
    "ticket.requeued": 1,  # before a call of the same instant (a requeued ticket called again at once)
}

COLUMNS = (
    "ticket_id", "site", "number", "service", "original_service", "priority", "source",
    "issued_at", "local_day", "first_called_at", "last_called_at", "called_count",
    "recalled_count", "started_at", "completed_at", "no_show_at", "outcome", "dossier_code",
    "counter", "status", "transfers", "wait_s", "service_s", "total_s", "last_event_at",
    "unconfirmed", "channel", "appointment_start_at", "checked_in_at", "preferred_counter", "queue_at", "requeued_count",
)
EventRow = tuple[str, str, float, int, str, str]  # (type, site, ts_at, seq, source, payload) of one stored event


def _order(row: EventRow) -> tuple[float, int, int, str]:
    return row[2], TYPE_RANK.get(row[0], 9), row[3], row[4]


@dataclass
class FoldState:
    """A ticket folded up to `last` (the sort key of its latest event), before the
    finishing step: what continuing the fold with a later event needs. Kept only for a
    ticket without an automatic no-show (those are not folded in time order)."""

    raw: dict[str, Any]  # the columns as the event loop leaves them
    round_called_at: float | None  # the first call since the last requeue
    last: tuple[float, int, int, str]


def fold(ticket_id: str, rows: Iterable[EventRow], zones: dict[str, ZoneInfo]) -> dict[str, Any]:
    """Fold (type, site, ts_at, seq, source, payload) rows of one ticket into its row."""
    return fold_state(ticket_id, rows, zones)[0]


def fold_state(
    ticket_id: str, rows: Iterable[EventRow], zones: dict[str, ZoneInfo]
) -> tuple[dict[str, Any], FoldState | None]:
    """The folded row, and the state to continue from (None with an automatic no-show)."""
    ordered = sorted(rows, key=_order)
    automatic = [r for r in ordered if r[0] == "ticket.no_show" and _is_auto(r[5])]
    if automatic:
        ordered = [r for r in ordered if not (r[0] == "ticket.no_show" and _is_auto(r[5]))]
    t: dict[str, Any] = {c: None for c in COLUMNS}
    t.update(ticket_id=ticket_id, called_count=0, recalled_count=0, transfers=0, status="unknown", unconfirmed=0,
             requeued_count=0)
    round_called_at: float | None = None  # the first call since the last requeue: service starts there without a start
    for row in ordered:
        round_called_at = _step(t, round_called_at, row)
    if automatic:
        _close_automatically(t, ordered, automatic)
    if automatic or not ordered:
        return _finish(t, round_called_at, zones), None
    return _finish(dict(t), round_called_at, zones), FoldState(t, round_called_at, _order(ordered[-1]))


def fold_on(state: FoldState, rows: list[EventRow], zones: dict[str, ZoneInfo]) -> tuple[dict[str, Any], FoldState] | None:
    """Continue a fold with events that all sort after its last one, none an automatic
    no-show: the same row a fold of every event would give. None when they do not
    qualify (the caller then folds the ticket from all its stored events)."""
    ordered = sorted(rows, key=_order)
    if _order(ordered[0]) <= state.last or any(r[0] == "ticket.no_show" and _is_auto(r[5]) for r in ordered):
        return None
    t = dict(state.raw)
    round_called_at = state.round_called_at
    for row in ordered:
        round_called_at = _step(t, round_called_at, row)
    return _finish(dict(t), round_called_at, zones), FoldState(t, round_called_at, _order(ordered[-1]))


def _step(t: dict[str, Any], round_called_at: float | None, row: EventRow) -> float | None:
    """Fold one event (in time order) into `t`; returns the new `round_called_at`."""
    kind, site, ts_at, _seq, source, payload = row
    data = json.loads(payload)["data"]
    t["site"] = t["site"] or site
    t["last_event_at"] = ts_at
    if kind == "ticket.issued":
        t.update(
            number=data["number"], original_service=data["service"], priority=data.get("priority"),
            source=source, issued_at=ts_at,
            unconfirmed=int(bool(data.get("unconfirmed"))),  # the kiosk could not confirm the slip
            channel=data.get("channel"),
            appointment_start_at=_epoch(data.get("appointment_start")),
            preferred_counter=data.get("preferred_counter"),  # a second visit's ticket
        )
        # A second visit's ticket carries its dossier's code from issue (docs/second-visit.md).
        t["dossier_code"] = t["dossier_code"] or data.get("dossier_code")
        if not t["transfers"]:
            t["service"] = data["service"]
        if t["status"] == "unknown":
            t["status"] = "waiting"
    elif kind in ("ticket.called", "ticket.recalled"):
        t["number"] = t["number"] or data.get("number")
        if kind == "ticket.called":
            t["called_count"] += 1
            if t["first_called_at"] is None:
                t["first_called_at"] = ts_at
            if round_called_at is None:
                round_called_at = ts_at
        else:
            t["recalled_count"] += 1
        t["last_called_at"] = ts_at
        t.update(counter=data["counter"], status="called")
    elif kind == "ticket.started":
        t.update(started_at=ts_at, counter=data["counter"], status="serving")
    elif kind == "ticket.completed":
        t.update(
            completed_at=ts_at, outcome=data["outcome"], dossier_code=data.get("dossier_code") or t["dossier_code"],
            counter=data["counter"], status="completed",
        )
    elif kind == "ticket.no_show":
        t.update(no_show_at=ts_at, counter=data["counter"], status="no_show")
    elif kind == "ticket.checked_in":
        if t["checked_in_at"] is None:
            t["checked_in_at"] = ts_at
    elif kind == "ticket.transferred":
        t["transfers"] += 1
        # A transferred second visit's ticket loses its counter preference (docs/second-visit.md).
        t.update(service=data["to_service"], counter=None, status="waiting", started_at=None, preferred_counter=None,
                 queue_at=None)
    elif kind == "ticket.requeued":
        t["requeued_count"] += 1
        t.update(queue_at=_epoch(data["queue_at"]), counter=None, status="waiting")
        round_called_at = None
    return round_called_at


def _finish(t: dict[str, Any], round_called_at: float | None, zones: dict[str, ZoneInfo]) -> dict[str, Any]:
    """The measures and the local day, from the folded columns (on the caller's copy)."""
    if t["issued_at"] is not None:
        zone = zones.get(t["site"]) or DEFAULT_ZONE
        t["local_day"] = datetime.fromtimestamp(t["issued_at"], UTC).astimezone(zone).date().isoformat()
        begin_at = clock_start(t)
        if t["first_called_at"] is not None:
            t["wait_s"] = t["first_called_at"] - begin_at
        if t["completed_at"] is not None:
            t["total_s"] = t["completed_at"] - begin_at
    if t["completed_at"] is not None:
        begin = t["started_at"] if t["started_at"] is not None else round_called_at
        begin = begin if begin is not None else t["first_called_at"]
        if begin is not None:
            t["service_s"] = t["completed_at"] - begin
    return t


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def clock_start(t: dict) -> float:
    """When the wait and the 60-minute clock start (DESIGN.md "Channels"): a walk-in at
    issue; an online number at its check-in; a booking at max(check-in, slot start). An
    appointment ticket is issued at its check-in; one called before its slot starts its
    clock at that call (a wait of 0, never negative). Not checked in (a supervisor called an
    online number out of turn): at issue."""
    if t["channel"] == "online" and t["checked_in_at"] is not None:
        return float(t["checked_in_at"])
    if t["channel"] == "appointment":
        checked_in = t["checked_in_at"] if t["checked_in_at"] is not None else t["issued_at"]
        start = max(float(checked_in), float(t["appointment_start_at"] or checked_in))
        # Called before the slot (the office had time): the clock starts at that call, never after it.
        return min(start, float(t["first_called_at"])) if t["first_called_at"] is not None else start
    return float(t["issued_at"])


# A person's events after which an automatic no-show no longer applies.
_PERSON_ACTS = ("ticket.called", "ticket.recalled", "ticket.started", "ticket.transferred", "ticket.requeued")


def _is_auto(payload: str) -> bool:
    return '"auto"' in payload and json.loads(payload)["data"].get("auto") is True


def _close_automatically(t: dict[str, Any], ordered: list[EventRow], automatic: list[EventRow]) -> None:
    """Apply day-end no-shows to what a person left open (rule in the module docstring)."""
    if t["status"] not in ("waiting", "called", "serving"):
        return  # completed or marked no-show by a person: the day-end has nothing to say
    last_act = max((r[2] for r in ordered if r[0] in _PERSON_ACTS), default=None)
    closing = [r for r in automatic if last_act is None or r[2] >= last_act]
    if not closing:
        return  # reopened by a person after the day-end: the next day-end closes it again
    first = closing[0]
    t["last_event_at"] = max(t["last_event_at"] or first[2], automatic[-1][2])
    if t["status"] == "serving":
        t["status"] = "closed"  # served, no outcome recorded: not a no-show, not completed
        return
    t.update(no_show_at=first[2], counter=json.loads(first[5])["data"]["counter"], status="no_show")


_UPSERT = (
    f"INSERT OR REPLACE INTO tickets ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


def refresh_tickets(conn: sqlite3.Connection, ticket_ids: Iterable[str], zones: dict[str, ZoneInfo]) -> list[dict[str, Any]]:
    """Recompute the rows of these tickets from their events (inside the caller's transaction)."""
    rows_out = [fold(ticket_id, rows, zones) for ticket_id, rows in _stored_events(conn, ticket_ids).items()]
    conn.executemany(_UPSERT, [[row[c] for c in COLUMNS] for row in rows_out])
    return rows_out


def fold_tickets(
    conn: sqlite3.Connection, new_events: dict[str, list[EventRow]], zones: dict[str, ZoneInfo],
    states: dict[str, FoldState], stored: set[str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, FoldState | None]]:
    """The rows of the tickets these just-inserted events touch (inside the caller's
    transaction), written. A ticket whose state is in `states` (its fold up to the events
    stored before) and whose new events all sort after it is continued from there; a
    ticket not in `stored` (those that had events before; None: any may have) is folded
    from these events alone; any other from all its stored events, as `refresh_tickets`
    does. Returns the rows and the states to keep once the transaction commits (None:
    keep none)."""
    rows_out = []
    after: dict[str, FoldState | None] = {}
    refold = []
    for ticket_id, rows in new_events.items():
        state = states.get(ticket_id)
        continued: tuple[dict[str, Any], FoldState | None] | None = None
        if state is not None:
            continued = fold_on(state, rows, zones)
        if continued is None and stored is not None and ticket_id not in stored:
            continued = fold_state(ticket_id, rows, zones)
        if continued is None:
            refold.append(ticket_id)
        else:
            rows_out.append(continued[0])
            after[ticket_id] = continued[1]
    for ticket_id, rows in _stored_events(conn, refold).items():
        row, after[ticket_id] = fold_state(ticket_id, rows, zones)
        rows_out.append(row)
    conn.executemany(_UPSERT, [[row[c] for c in COLUMNS] for row in rows_out])
    return rows_out, after


def _stored_events(conn: sqlite3.Connection, ticket_ids: Iterable[str]) -> dict[str, list[EventRow]]:
    ids = list(set(ticket_ids))
    by_ticket: dict[str, list[EventRow]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in conn.execute(
            f"SELECT ticket_id, type, site, ts_at, seq, source, payload FROM events WHERE ticket_id IN ({marks})",
            chunk,
        ):
            by_ticket.setdefault(row[0], []).append(row[1:])
    return by_ticket


# -- counters: open / paused / closed -----------------------------------------------------
# Fed by counter.* events, those the dispatcher makes (inside its transaction) and those
# arriving through MQTT ingest (inside the ingest transaction). A later event wins; an
# older one arriving late changes nothing.
COUNTER_EVENT_STATE = {"counter.opened": "open", "counter.paused": "paused", "counter.closed": "closed"}


def apply_counter_event(conn: sqlite3.Connection, event: Event) -> bool:
    """Fold one counter.* event into `counters` unless a later one is already there."""
    if not isinstance(event, CounterOpened | CounterPaused | CounterClosed):
        return False
    state = COUNTER_EVENT_STATE[event.type]
    at = event.ts.timestamp()
    counter = event.data.counter
    row = conn.execute(
        "SELECT changed_at FROM counters WHERE site = ? AND counter = ?", (event.site, counter)
    ).fetchone()
    if row is not None and row[0] > at:
        return False
    conn.execute(
        "INSERT INTO counters (site, counter, state, reason, changed_at, priority_streak) VALUES (?, ?, ?, ?, ?, 0) "
        "ON CONFLICT(site, counter) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
        "changed_at = excluded.changed_at",
        (event.site, counter, state, event.data.reason, at),
    )
    return True
