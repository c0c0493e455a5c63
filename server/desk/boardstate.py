"""What displays and kiosks see: BoardState and QueueState built from the database,
and the `counters` projection (open / paused / closed) they rely on.

The counters projection is fed by counter.* events, both those the dispatcher makes
(inside its transaction) and those arriving through MQTT ingest (another server's
sites). A later event wins; an older one arriving late changes nothing.

Estimated wait of a ticket issued now, per service: the estimator's median and P10-P90
range (server/desk/waits.py, server/desk/estimate.py, docs/estimate.md), for a normal
and for a priority ticket; null when no counter that serves it is open or paused.
`estimated_wait_s` keeps its name and meaning (the wait of a ticket issued now) but now
carries the estimator's median; the old formula
    waiting x median service time of the last 20 completions / open counters
is kept as `estimated_wait_s()` below for the benchmark's comparison.
No FastAPI, no paho here.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from datetime import datetime
from typing import Any

from protocol.sites import Site
from protocol.state import BoardState, Call, CounterBoard, QueueState, ServiceQueue
from server.desk.waits import site_waits
from server.storage import tickets

RECENT_COMPLETIONS = 20
RECENT_CALLS = 10
FAULT_VALUES = {"paper_out", "paper_low", "error", "offline", "cover_open", "jam", "fault"}


def counter_states(conn: sqlite3.Connection, site: Site) -> dict[str, dict[str, Any]]:
    """counter id -> {state, reason, changed_at, priority_streak}; never-seen counters are closed."""
    found = {
        row[0]: {"state": row[1], "reason": row[2], "changed_at": row[3], "priority_streak": row[4]}
        for row in conn.execute(
            "SELECT counter, state, reason, changed_at, priority_streak FROM counters WHERE site = ?", (site.id,)
        )
    }
    return {
        c.id: found.get(c.id, {"state": "closed", "reason": None, "changed_at": None, "priority_streak": 0})
        for c in site.counters
    }


def in_progress(conn: sqlite3.Connection, site_id: str) -> dict[str, dict[str, Any]]:
    """counter id -> the ticket it has called or is serving (the latest one)."""
    rows = tickets.in_progress(conn, site_id)
    return {row["counter"]: dict(row) for row in rows if row["counter"]}


def median_service_s(conn: sqlite3.Connection, site_id: str, service_id: str) -> float | None:
    values = [s for s in tickets.recent_service_s(conn, site_id, service_id, RECENT_COMPLETIONS) if s >= 0]
    return statistics.median(values) if values else None


def estimated_wait_s(waiting: int, median_s: float | None, open_counters: int) -> int | None:
    if open_counters <= 0 or median_s is None:
        return None
    return int(math.ceil(waiting * median_s / open_counters))


def waiting_counts(conn: sqlite3.Connection, site_id: str) -> dict[str, tuple[int, int]]:
    """service -> (waiting, of which priority)."""
    return tickets.waiting_counts(conn, site_id)


def queue_state(conn: sqlite3.Connection, site: Site, now: datetime,
                counters: dict[str, dict[str, Any]] | None = None,
                counts: dict[str, tuple[int, int]] | None = None) -> QueueState:
    counters = counters if counters is not None else counter_states(conn, site)
    counts = counts if counts is not None else waiting_counts(conn, site.id)
    waits = site_waits(conn, site, now, counters, in_progress(conn, site.id))
    services = {}
    for service in site.services:
        waiting, priority = counts.get(service.id, (0, 0))
        open_count = sum(
            1 for c in site.counters if service.id in c.services and counters[c.id]["state"] == "open"
        )
        normal = waits.estimates.new[(service.id, False)]
        first = waits.estimates.new[(service.id, True)]
        services[service.id] = ServiceQueue(
            waiting=waiting,
            priority_waiting=priority,
            estimated_wait_s=normal.point_s,
            open_counters=open_count,
            wait_low_s=normal.low_s,
            wait_high_s=normal.high_s,
            wait_step_s=waits.step_s.get(service.id) if normal.known else None,
            priority_wait_s=first.point_s,
            priority_wait_low_s=first.low_s,
            priority_wait_high_s=first.high_s,
            open_counter_numbers=[c.number for c in site.counters
                                  if service.id in c.services and counters[c.id]["state"] == "open"],
        )
    return QueueState(site=site.id, ts=now, services=services)


def recent_calls(conn: sqlite3.Connection, site: Site) -> list[Call]:
    numbers = {c.id: c.number for c in site.counters}
    rows = conn.execute(
        "SELECT type, ts, payload FROM events WHERE site = ? AND type IN ('ticket.called', 'ticket.recalled') "
        "ORDER BY ts_at DESC LIMIT ?",
        (site.id, RECENT_CALLS),
    ).fetchall()
    calls = []
    found = [(kind, ts, json.loads(payload)["data"]) for kind, ts, payload in rows]
    channels = ticket_channels(conn, [data["ticket_id"] for _, _, data in found])
    for kind, ts, data in found:
        if data["counter"] not in numbers:
            continue
        calls.append(Call(
            ticket_id=data["ticket_id"], number=data["number"], counter=data["counter"],
            counter_number=numbers[data["counter"]], ts=datetime.fromisoformat(ts),
            recall=kind == "ticket.recalled", channel=_marked(channels.get(data["ticket_id"])),
        ))
    return calls


def ticket_channels(conn: sqlite3.Connection, ticket_ids: list[str]) -> dict[str, str]:
    """ticket id -> `online` / `appointment` for the given tickets not taken at a kiosk
    (the board's mark beside the number)."""
    return tickets.marked_channels(conn, ticket_ids)


def board_state(conn: sqlite3.Connection, site: Site, now: datetime,
                counters: dict[str, dict[str, Any]] | None = None,
                counts: dict[str, tuple[int, int]] | None = None) -> BoardState:
    counters = counters if counters is not None else counter_states(conn, site)
    busy = in_progress(conn, site.id)
    boards = []
    for counter in site.counters:
        ticket = busy.get(counter.id)
        state = counters[counter.id]
        boards.append(CounterBoard(
            id=counter.id, number=counter.number, name=counter.name, state=state["state"],
            reason=state["reason"] if state["state"] == "paused" else None,
            ticket_id=ticket["ticket_id"] if ticket else None,
            ticket_number=ticket["number"] if ticket else None,
            service=ticket["service"] if ticket else None,
            ticket_channel=_marked(ticket["channel"]) if ticket else None,
        ))
    counts = counts if counts is not None else waiting_counts(conn, site.id)
    return BoardState(
        site=site.id, name=site.name, ts=now, counters=boards, recent_calls=recent_calls(conn, site),
        waiting={s.id: counts.get(s.id, (0, 0))[0] for s in site.services},
        service_names={s.id: s.name for s in site.services}, notice=site.notice,
    )


def _marked(channel: str | None) -> Any:
    return channel if channel in ("online", "appointment") else None


def build_states(conn: sqlite3.Connection, site: Site, now: datetime) -> tuple[BoardState, QueueState]:
    """Both retained payloads from one read of the counters."""
    counters = counter_states(conn, site)
    counts = waiting_counts(conn, site.id)
    return board_state(conn, site, now, counters, counts), queue_state(conn, site, now, counters, counts)
