"""The wait estimator's inputs read from the database, and its answers for a site.

server/desk/estimate.py is pure; this module reads what it needs from the projection
(tickets, counters, counter events) and asks it: for every waiting ticket and for a
ticket issued now of each service (normal and priority), from one set of runs. Used by
the `state/queue` retained message (boardstate), the ticket page, the desk console and
the API, so they all say the same thing.

History: the last `HISTORY_DAYS` site-local days. Occupancy (first call to completion
or no-show, capped at `MAX_OCCUPANCY_S`) of up to `HISTORY_SAMPLES` recent tickets per
service; pause lengths (counter.paused followed by counter.opened); the priority rate
per service over earlier whole days. No FastAPI, no paho here.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sqlite3
import statistics
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from protocol.sites import Site
from protocol.waitrange import printed_range
from server.desk.estimate import (
    CounterNow,
    History,
    QueueEstimates,
    QueueNow,
    Sample,
    WaitEstimate,
    Waiting,
    estimate_queue,
)
from server.storage import tickets

log = logging.getLogger(__name__)

HISTORY_DAYS = 14
HISTORY_SAMPLES = 300
MAX_OCCUPANCY_S = 3 * 3600


@dataclass(frozen=True)
class SiteWaits:
    estimates: QueueEstimates
    step_s: dict[str, int | None]  # service -> about how much one more ticket ahead adds


def close_s(site: Site, now: datetime) -> float:
    """Today's closing time (epoch seconds): nobody is called after it."""
    return datetime.combine(site.local_day(now), site.hours.close, site.zone).timestamp()


def queue_now(conn: sqlite3.Connection, site: Site, now: datetime, counters: dict[str, dict[str, Any]],
              busy: dict[str, dict[str, Any]]) -> QueueNow:
    """The queue as the estimator sees it; `counters` and `busy` are boardstate's
    `counter_states` and `in_progress` (passed in: boardstate imports this module)."""
    states = []
    for c in site.counters:
        row = counters[c.id]
        ticket = busy.get(c.id)
        states.append(CounterNow(
            c.id, tuple(c.services), row["state"],
            ticket["service"] if ticket else None,
            (ticket["first_called_at"] or ticket["last_called_at"]) if ticket else None,
            row["changed_at"] if row["state"] == "paused" else None,
            row["priority_streak"] or 0,
        ))
    waiting = tuple(
        Waiting(r[0], r[1], r[2] is not None, r[3])
        for r in tickets.queued(conn, site.id)
    )
    priority_cap = site.max_consecutive_priority
    return QueueNow(now.timestamp(), close_s(site, now), tuple(states), waiting, priority_cap, now.astimezone(site.zone).hour)


def history(conn: sqlite3.Connection, site: Site, now: datetime) -> History:
    today = site.local_day(now)
    first_day = (today - timedelta(days=HISTORY_DAYS)).isoformat()
    since = datetime.combine(today - timedelta(days=HISTORY_DAYS), site.hours.open, site.zone).timestamp()
    occupancy: dict[str, list[Sample]] = {}
    for service, called_at, ended_at in tickets.occupancy(conn, site.id, first_day,
                                                          HISTORY_SAMPLES * max(1, len(site.services)) * 2):
        held = ended_at - called_at
        samples = occupancy.setdefault(service, [])
        if 0 <= held <= MAX_OCCUPANCY_S and len(samples) < HISTORY_SAMPLES:
            samples.append(Sample(datetime.fromtimestamp(called_at, site.zone).hour, held))
    pauses: list[float] = []
    paused_at: dict[str, float] = {}
    for kind, at, payload in conn.execute(
        "SELECT type, ts_at, payload FROM events WHERE site = ? AND ts_at >= ? "
        "AND type IN ('counter.paused', 'counter.opened', 'counter.closed') ORDER BY ts_at LIMIT 5000",
        (site.id, since),
    ):
        counter = json.loads(payload)["data"].get("counter")
        if kind == "counter.paused":
            paused_at.setdefault(counter, at)
        elif counter in paused_at:
            began = paused_at.pop(counter)
            if kind == "counter.opened":
                pauses.append(at - began)
    days = tickets.days_with_tickets(conn, site.id, first_day, today.isoformat())
    open_h = (datetime.combine(today, site.hours.close) - datetime.combine(today, site.hours.open)).total_seconds() / 3600
    rates: dict[str, float] = {}
    if days and open_h > 0:
        for service, count in tickets.priority_counts(conn, site.id, first_day, today.isoformat()):
            rates[service] = count / (days * open_h)
    return History({s: tuple(v) for s, v in occupancy.items()}, tuple(pauses[-50:]), rates)


def site_waits(conn: sqlite3.Connection, site: Site, now: datetime, counters: dict[str, dict[str, Any]],
               busy: dict[str, dict[str, Any]]) -> SiteWaits:
    """Estimates for every waiting ticket and for a ticket issued now of each service.

    Shared by every caller of the same database through `CACHE` (see `WaitsCache`)."""
    return CACHE.get(_database_of(conn), site, _queue_key(conn, site, now, counters, busy), now.timestamp(),
                     lambda: _compute(conn, site, now, queue_now(conn, site, now, counters, busy)))


def _compute(conn: sqlite3.Connection, site: Site, now: datetime, queue: QueueNow) -> SiteWaits:
    past = history(conn, site, now)
    new = [(s.id, priority) for s in site.services for priority in (False, True)]
    estimates = HELPER.estimate(queue, past, new)
    step: dict[str, int | None] = {}
    for s in site.services:
        able = sum(1 for c in queue.counters if s.id in c.services and c.state == "open")
        values = [x.occupancy_s for x in past.occupancy.get(s.id, ())]
        step[s.id] = round(statistics.median(values) / able) if able and values else None
    return SiteWaits(estimates, step)


class EstimateHelper:
    """Runs the estimator for a long queue in a helper process (started on first need).

    The estimator is pure Python: a queue of 2,000 takes about a second of CPU. In the
    server's process that second holds the interpreter lock in 5 ms slices, and every
    request of every desk and citizen waits for the lock again at each of its own steps
    (the "convoy"): a static file took a second at p99 while it ran (docs/desk.md). In a
    helper process it runs on the other core and the server's threads only wait for its
    answer. A short queue is estimated here (a process hop would cost more than it); if
    the helper dies or cannot start, the estimate is made here and the error logged.
    """

    MIN_WAITING = 200  # a queue this long (and longer) is estimated in the helper

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self.used = 0  # estimates the helper made (tests and health)

    def estimate(self, queue: QueueNow, past: History, new: list[tuple[str, bool]]) -> QueueEstimates:
        if len(queue.waiting) >= self.MIN_WAITING:
            try:
                with self._lock:
                    if self._pool is None:
                        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                    future = self._pool.submit(estimate_queue, queue, past, new=new)
                answer = future.result()
                self.used += 1
                return answer
            except (BrokenProcessPool, OSError) as exc:
                log.error("estimate helper process failed (%s); estimating in the server", exc)
                with self._lock:
                    self._pool = None
        return estimate_queue(queue, past, new=new)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


HELPER = EstimateHelper()


def _database_of(conn: sqlite3.Connection) -> str:
    """The main database's file name: the cache key that keeps two databases (two
    servers in one test process) apart. An in-memory database gets its own key."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else f"memory:{id(conn)}"


def _queue_key(conn: sqlite3.Connection, site: Site, now: datetime, counters: dict[str, dict[str, Any]],
               busy: dict[str, dict[str, Any]]) -> tuple[object, ...]:
    """What the estimates depend on besides the time, cheaply: a summary of the waiting
    tickets computed by SQLite (how many, their issue times, classes and services, the
    latest event of any of them: a check-in, a transfer, a requeue) and what each counter
    does. Building the queue itself (a Python object per waiting ticket) for every ask
    cost more than the rest of a busy desk's call (docs/desk.md)."""
    waiting = tickets.queue_summary(conn, site.id)
    doing = tuple(
        (c.id, counters[c.id]["state"], counters[c.id]["changed_at"], counters[c.id]["priority_streak"],
         (busy[c.id]["ticket_id"], busy[c.id]["first_called_at"] or busy[c.id]["last_called_at"]) if c.id in busy else None)
        for c in site.counters
    )
    return tuple(waiting), doing, close_s(site, now)


class WaitsCache:
    """One computation of a site's estimates serves every surface that asks soon after.

    The estimator plays the rest of the day forward 100 times (server/desk/estimate.py):
    a few milliseconds for a commune's queue, seconds for thousands waiting. The state
    feed, the ticket page, the desk console and the notifier all ask for the same site;
    without sharing, a long queue had them compute it over and over while holding the
    interpreter lock, and every desk's call-next waited behind them (docs/desk.md).

    Rules, per (database, site):
    - the same queue (same waiting tickets, same counter states: `_queue_key`) asked
      again within `SAME_QUEUE_S` (and at most `MAX_SHIFT_S` on the queue's clock): the
      last answer as it was (a few seconds are far below the 5-minute steps the waits
      are printed in);
    - a changed queue: computed again, unless the last computation was expensive
      (>= `EXPENSIVE_S`) and is younger than `SHARE` x its cost; then the last answer is
      reused, so estimating takes at most about 1/SHARE of the server's time. A ticket
      issued since then has no estimate of its own until the next computation (its page
      says "not yet estimated" for those seconds; the kiosk prints the estimate of a
      ticket issued now, which the last answer has);
    - one computation at a time per site; a caller that arrives during it waits for it.
    """

    SAME_QUEUE_S = 5.0
    MAX_SHIFT_S = 60.0  # never reuse an answer older than this on the queue's clock (the demo runs fast)
    EXPENSIVE_S = 0.25
    SHARE = 8.0

    def __init__(self, expensive_s: float | None = None) -> None:
        if expensive_s is not None:
            self.EXPENSIVE_S = expensive_s
        self._lock = threading.Lock()
        self._sites: dict[tuple[str, str], _Entry] = {}

    def clear(self) -> None:
        with self._lock:
            self._sites.clear()

    def get(self, database: str, site: Site, key: tuple[object, ...], now_s: float,
            compute: Callable[[], SiteWaits]) -> SiteWaits:
        with self._lock:
            entry = self._sites.setdefault((database, site.id), _Entry())
        with entry.lock:
            if entry.waits is not None:
                age = time.monotonic() - entry.at
                same = key == entry.fingerprint and age < self.SAME_QUEUE_S
                throttled = entry.cost >= self.EXPENSIVE_S and age < self.SHARE * entry.cost
                if (same or throttled) and 0 <= now_s - entry.now_s <= self.MAX_SHIFT_S:
                    return entry.waits
            started = time.monotonic()
            waits = compute()
            entry.cost = time.monotonic() - started
            entry.at, entry.now_s, entry.fingerprint, entry.waits = started, now_s, key, waits
            return waits


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    waits: SiteWaits | None = None
    fingerprint: tuple[object, ...] = ()
    at: float = 0.0  # monotonic time of the computation
    now_s: float = 0.0  # the queue's clock at that computation
    cost: float = 0.0


CACHE = WaitsCache()


def wait_words(ahead: int | None, estimate: WaitEstimate | None, _: Callable[[str], str], citizen: bool = True) -> str:
    """'about 25–40 min', 'under 5 min', 'You are next · under 5 min', or an honest
    'not yet estimated (3 ahead)' / 'may not be reached today' — never a made-up figure."""
    count = 0 if ahead is None else ahead
    if estimate is None or estimate.low_s is None or estimate.high_s is None:
        if estimate is not None and estimate.not_today >= 0.5:
            words = _("may not be reached before closing today ({count} ahead)").format(count=count)
        else:
            words = _("not yet estimated ({count} ahead)").format(count=count)
        return unicodedata.normalize("NFC", words)
    printed = printed_range(estimate.low_s, estimate.high_s)
    if printed.under:
        words = _("under {minutes} min").format(minutes=printed.high_min)
    else:
        words = _("about {low}–{high} min").format(low=printed.low_min, high=printed.high_min)
    if ahead == 0 and citizen:
        words = f"{_('You are next')} · {words}"
    return unicodedata.normalize("NFC", words)


__all__ = ["CACHE", "SiteWaits", "WaitsCache", "close_s", "history", "queue_now", "site_waits", "wait_words"]
