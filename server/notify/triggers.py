"""Triggers: from the tickets of one site as they stand now, the notices due.

"near" once a waiting ticket has `near_people` or fewer ahead of it, or an estimated
wait of `near_minutes` or less (the same order and estimate as the ticket page and the
dispatcher: priority first, then time of issue); "called" when it is called; "recalled"
at its first recall; "rating" after completion when the site asks for it. A call seen
more than CALL_FRESH_S after it happened (the notifier was down) is not announced: the
citizen is at the counter or gone. Booking reminders are not found here: the booking
part schedules them (Notifier.schedule). Pure reads; imports protocol, server.desk.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protocol.sites import Site
from server.desk.boardstate import counter_states, estimated_wait_s, median_service_s
from server.notify.outbox import Notice

CALL_FRESH_S = 120.0
NEAR_TTL_S = 30 * 60.0  # a "near" not delivered within this is useless
CALL_TTL_S = 10 * 60.0
RATING_FRESH_S = 15 * 60.0


@dataclass(frozen=True)
class Rules:
    near_people: int = 3
    near_minutes: int = 10
    rating: bool = False


_COLUMNS = ("ticket_id", "number", "service", "priority", "issued_at", "status", "counter", "recalled_count",
            "last_called_at", "local_day", "completed_at")


def scan(conn: sqlite3.Connection, site: Site, rules: Rules, now: float, seen: set[tuple[str, str]],
         event_at: float | None = None) -> list[Notice]:
    """The notices due for `site` that are not in `seen` (ticket, kind). `now` is the
    server's clock (the tickets' times); `event_at` the real time the batch arrived, from
    which a notice's useful life is counted."""
    event_at = event_at or time.time()
    statuses = ("waiting", "called", "serving") + (("completed",) if rules.rating else ())
    rows = [dict(zip(_COLUMNS, r)) for r in conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM tickets WHERE site = ? AND status IN ({', '.join('?' * len(statuses))}) "
        "AND number IS NOT NULL AND issued_at IS NOT NULL", (site.id, *statuses))]
    notices: list[Notice] = []
    waiting: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] == "waiting":
            waiting.setdefault(row["service"], []).append(row)
        elif row["status"] in ("called", "serving"):
            notices += _calls(site, row, now, seen, event_at)
        elif row["completed_at"] and now - row["completed_at"] <= RATING_FRESH_S and (row["ticket_id"], "rating") not in seen:
            notices.append(_notice(site, row, "rating", {}, event_at, event_at + CALL_TTL_S))
    if waiting:
        notices += _near(conn, site, rules, waiting, now, seen, event_at)
    return notices


def _notice(site: Site, row: dict[str, Any], kind: str, extra: dict[str, Any], event_at: float, expires_at: float) -> Notice:
    params = {"number": row["number"], "site": site.name, **extra}
    return Notice(row["ticket_id"], site.id, kind, row["local_day"] or "", params, event_at, None, expires_at)


def _calls(site: Site, row: dict[str, Any], now: float, seen: set[tuple[str, str]], event_at: float) -> Iterable[Notice]:
    called_at = row["last_called_at"]
    if called_at is None or now - called_at > CALL_FRESH_S:
        return []
    counter = site.counter(row["counter"]) if row["counter"] else None
    extra = {"counter": counter.number if counter else "—"}
    kinds = ["called"] + (["recalled"] if row["recalled_count"] else [])
    return [_notice(site, row, kind, extra, event_at, event_at + CALL_TTL_S) for kind in kinds
            if (row["ticket_id"], kind) not in seen]


def _near(conn: sqlite3.Connection, site: Site, rules: Rules, waiting: dict[str, list[dict[str, Any]]], now: float,
          seen: set[tuple[str, str]], event_at: float) -> list[Notice]:
    states = counter_states(conn, site)
    found = []
    for service, rows in waiting.items():
        rows.sort(key=lambda r: (r["priority"] is None, r["issued_at"], r["ticket_id"]))
        open_count = sum(1 for c in site.counters if service in c.services and states[c.id]["state"] == "open")
        median_s: float | None = None
        median_read = False
        for ahead, row in enumerate(rows):
            near_by_count = ahead <= rules.near_people
            if not near_by_count and not median_read:
                median_s, median_read = (median_service_s(conn, site.id, service) if open_count else None), True
            wait_s = estimated_wait_s(ahead, median_s, open_count) if median_read else None
            near_by_time = wait_s is not None and wait_s <= rules.near_minutes * 60
            if not (near_by_count or near_by_time):
                break  # the rest wait longer still
            if (row["ticket_id"], "near") in seen:
                continue
            if wait_s is None and open_count:
                wait_s = estimated_wait_s(ahead, median_service_s(conn, site.id, service), open_count)
            minutes = max(1, -(-wait_s // 60)) if wait_s is not None else None
            extra = {"ahead": ahead, "minutes": minutes if minutes is not None else "—",
                     "wait": f", khoảng {minutes} phút" if minutes is not None else ""}
            found.append(_notice(site, row, "near", extra, event_at, event_at + NEAR_TTL_S))
    return found
