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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from protocol.i18n import translator
from protocol.sites import Site
from server.desk.boardstate import counter_states, in_progress
from server.desk.waits import site_waits, wait_words
from server.notify.outbox import Notice
from server.storage import tickets

CALL_FRESH_S = 120.0
NEAR_TTL_S = 30 * 60.0  # a "near" not delivered within this is useless
CALL_TTL_S = 10 * 60.0
RATING_FRESH_S = 15 * 60.0
MAX_NEAR_SCAN = 100  # a ticket further back than this is not near, whatever the estimate


@dataclass(frozen=True)
class Rules:
    near_people: int = 3
    near_minutes: int = 10
    rating: bool = False


_COLUMNS = tickets.NOTICE_COLUMNS


def scan(conn: sqlite3.Connection, site: Site, rules: Rules, now: float, seen: set[tuple[str, str]],
         event_at: float | None = None) -> list[Notice]:
    """The notices due for `site` that are not in `seen` (ticket, kind). `now` is the
    server's clock (the tickets' times); `event_at` the real time the batch arrived, from
    which a notice's useful life is counted. Reads only the heads of the queues (the
    dispatcher's index, as many tickets as can be near) and the fresh calls: the cost
    does not grow with the number waiting."""
    event_at = event_at or time.time()
    notices: list[Notice] = []
    for fresh in tickets.fresh_calls(conn, site.id, now - CALL_FRESH_S):
        notices += _calls(site, dict(fresh), now, seen, event_at)
    if rules.rating:
        for done in tickets.completed_since(conn, site.id, now - RATING_FRESH_S):
            row: dict[str, Any] = dict(done)
            if (row["ticket_id"], "rating") not in seen:
                notices.append(_notice(site, row, "rating", {}, event_at, event_at + CALL_TTL_S))
    notices += _near(conn, site, rules, now, seen, event_at)
    return notices


def _notice(site: Site, row: dict[str, Any], kind: str, extra: dict[str, Any], event_at: float, expires_at: float) -> Notice:
    params = {"number": row["number"], "site": site.name, **extra}
    return Notice(row["ticket_id"], site.id, kind, row["local_day"] or "", params, event_at, None, expires_at)


def _calls(site: Site, row: dict[str, Any], now: float, seen: set[tuple[str, str]], event_at: float) -> list[Notice]:
    counter = site.counter(row["counter"]) if row["counter"] else None
    extra = {"counter": counter.number if counter else "—"}
    kinds = ["called"] + (["recalled"] if row["recalled_count"] else [])
    return [_notice(site, row, kind, extra, event_at, event_at + CALL_TTL_S) for kind in kinds
            if (row["ticket_id"], kind) not in seen]


def _heads(conn: sqlite3.Connection, site_id: str, service: str, limit: int) -> list[tickets.NoticeValues]:
    """The first `limit` waiting tickets of a service in the dispatcher's order (priority
    class first, then time of issue), read through the dispatcher's own index; rows of
    `_COLUMNS` as tuples (most are skipped as already told: no dict for them)."""
    rows: list[tickets.NoticeValues] = []
    for is_normal in (0, 1):
        if len(rows) >= limit:
            break
        rows += tickets.class_queue(conn, site_id, service, is_normal, limit - len(rows))
    return rows


def _near(conn: sqlite3.Connection, site: Site, rules: Rules, now: float, seen: set[tuple[str, str]],
          event_at: float) -> list[Notice]:
    states = counter_states(conn, site)
    # The one estimator of the ticket page, the kiosk and the board (server/desk/estimate.py):
    # a message never promises another wait than the page the citizen has open.
    waits = site_waits(conn, site, datetime.fromtimestamp(now, UTC), states, in_progress(conn, site.id))
    words = translator("server", "vi")
    found = []
    for service in site.services:
        # Estimates grow with the people ahead, so the scan stops at the first one not near.
        for ahead, values in enumerate(_heads(conn, site.id, service.id, MAX_NEAR_SCAN)):
            estimate = waits.estimates.tickets.get(values[0])
            point_s = estimate.point_s if estimate is not None else None
            near_by_time = point_s is not None and point_s <= rules.near_minutes * 60
            if not (ahead <= rules.near_people or near_by_time):
                break  # the rest wait longer still
            if (values[0], "near") in seen:
                continue
            row = dict(zip(_COLUMNS, values))
            minutes = max(1, -(-point_s // 60)) if point_s is not None else None
            known = estimate is not None and estimate.known
            extra = {"ahead": ahead, "minutes": minutes if minutes is not None else "—",
                     "wait": f", {wait_words(None, estimate, words)}" if known else ""}
            found.append(_notice(site, row, "near", extra, event_at, event_at + NEAR_TTL_S))
    return found
