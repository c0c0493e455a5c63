"""The shared wait estimates (server/desk/waits.py WaitsCache): one computation serves
every surface that asks soon after, a changed queue is computed again unless that is
expensive, never far along the clock, and two databases never share an answer; the
queue's key changes with everything the estimates depend on."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from protocol.sites import Counter, Service, Site
from server.desk.estimate import QueueEstimates, WaitEstimate
from server.desk.waits import SiteWaits, WaitsCache, _queue_key

SITE = Site(id="xa", name="UBND xã", services=[Service(id="hotich", name="Hộ tịch", letter="A")],
            counters=[Counter(id="quay-1", number=1, name="Quầy 1", services=["hotich"])])
NOW = 1_000_000.0


class Computer:
    """Stands in for the estimator: counts its calls, answers 600 s per person ahead."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int = 3) -> SiteWaits:
        self.calls += 1
        tickets = {f"t{i}": WaitEstimate(i, 600 * (i + 1), 300 * (i + 1), 900 * (i + 1)) for i in range(n)}
        new = {("hotich", False): WaitEstimate(n, 600 * (n + 1), 300 * (n + 1), 900 * (n + 1))}
        return SiteWaits(QueueEstimates(tickets, new), {"hotich": 600})


def test_the_same_queue_asked_again_is_not_computed_again() -> None:
    cache, compute = WaitsCache(), Computer()
    first = cache.get("a.db", SITE, ("q", 3), NOW, compute)
    later = cache.get("a.db", SITE, ("q", 3), NOW + 30, compute)
    assert compute.calls == 1
    assert later is first and later.estimates.tickets["t2"].point_s == 1800


def test_a_changed_queue_is_computed_again_when_that_is_cheap() -> None:
    cache, compute = WaitsCache(), Computer()
    cache.get("a.db", SITE, ("q", 3), NOW, compute)
    answer = cache.get("a.db", SITE, ("q", 4), NOW, lambda: compute(4))
    cache.get("a.db", SITE, ("q", 4, "paused"), NOW, lambda: compute(4))
    assert compute.calls == 3
    assert answer.estimates.tickets["t3"].point_s == 2400


def test_an_expensive_estimate_is_shared_while_it_is_young() -> None:
    cache, compute = WaitsCache(expensive_s=0.0), Computer()  # every computation counts as expensive
    cache.SHARE = 1e9  # ... and stays young for the whole test
    first = cache.get("a.db", SITE, ("q", 3), NOW, compute)
    assert cache.get("a.db", SITE, ("q", 4), NOW + 1, lambda: compute(4)) is first
    assert compute.calls == 1


def test_an_answer_is_never_reused_far_along_the_queues_clock_or_backwards() -> None:
    cache, compute = WaitsCache(), Computer()
    cache.get("a.db", SITE, ("q", 3), NOW, compute)
    cache.get("a.db", SITE, ("q", 3), NOW + 61, compute)  # a fast demo clock
    cache.get("a.db", SITE, ("q", 3), NOW, compute)  # the clock moved back
    assert compute.calls == 3


def test_two_databases_never_share_an_answer() -> None:
    cache, compute = WaitsCache(), Computer()
    cache.get("a.db", SITE, ("q", 3), NOW, compute)
    cache.get("b.db", SITE, ("q", 3), NOW, compute)
    assert compute.calls == 2


def test_the_queue_key_changes_with_whatever_the_estimates_depend_on() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE tickets (ticket_id TEXT, site TEXT, status TEXT, service TEXT, priority TEXT, "
                 "issued_at REAL, number TEXT, last_event_at REAL)")
    conn.execute("CREATE INDEX tickets_pick ON tickets(site, status, service, (priority IS NULL), issued_at)")
    rows = [("t1", "xa", "waiting", "hotich", None, NOW - 60, "A001", NOW - 60),
            ("t2", "xa", "waiting", "hotich", None, NOW - 30, "A002", NOW - 30)]
    conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    now = datetime.fromtimestamp(NOW, UTC)
    open_ = {"quay-1": {"state": "open", "changed_at": NOW - 900, "priority_streak": 0}}
    keys = [_queue_key(conn, SITE, now, open_, {})]
    conn.execute("UPDATE tickets SET priority = 'elderly', last_event_at = ? WHERE ticket_id = 't2'", (NOW - 5,))
    keys.append(_queue_key(conn, SITE, now, open_, {}))  # a class changed
    conn.execute("UPDATE tickets SET last_event_at = ? WHERE ticket_id = 't1'", (NOW - 1,))
    keys.append(_queue_key(conn, SITE, now, open_, {}))  # an event on a waiting ticket (a check-in)
    conn.execute("UPDATE tickets SET status = 'called' WHERE ticket_id = 't1'")
    busy = {"quay-1": {"ticket_id": "t1", "first_called_at": NOW, "last_called_at": NOW}}
    keys.append(_queue_key(conn, SITE, now, open_, busy))  # called: one fewer waiting, the counter busy
    paused = {"quay-1": {"state": "paused", "changed_at": NOW, "priority_streak": 0}}
    keys.append(_queue_key(conn, SITE, now, paused, busy))  # the counter paused
    assert len(set(keys)) == len(keys)
    assert _queue_key(conn, SITE, now, paused, busy) == keys[-1]  # nothing changed: the same key


def test_a_long_queue_is_estimated_in_the_helper_process_with_the_same_answer() -> None:
    from server.desk.estimate import CounterNow, History, QueueNow, Waiting, estimate_queue
    from server.desk.waits import EstimateHelper

    services = ("hotich", "datdai")
    counters = tuple(CounterNow(f"quay-{i}", (services[i % 2],), "open") for i in range(6))
    waiting = tuple(Waiting(f"t{i:04d}", services[i % 2], i % 9 == 0, NOW - 3600 + 10 * i) for i in range(260))
    queue = QueueNow(NOW, NOW + 8 * 3600, counters, waiting, 3, 9)
    new = [(s, p) for s in services for p in (False, True)]
    helper = EstimateHelper()
    try:
        answer = helper.estimate(queue, History(), new)
        assert helper.used == 1  # 260 waiting: the helper did it
        assert answer == estimate_queue(queue, History(), new=new)  # the same runs, the same answer
        short = QueueNow(NOW, NOW + 8 * 3600, counters, waiting[:20], 3, 9)
        assert helper.estimate(short, History(), new) == estimate_queue(short, History(), new=new)
        assert helper.used == 1  # a short queue is estimated here
    finally:
        helper.close()


def test_a_stopped_dispatcher_takes_the_estimate_helper_process_with_it(tmp_path) -> None:
    """The benchmarks' stopped servers used to leave their helper processes running
    (48 of them, 1.6 GB, after one evening of runs)."""
    from server.desk import waits
    from server.desk.dispatch import Dispatcher
    from server.desk.estimate import CounterNow, History, QueueNow, Waiting
    from server.storage.events import EventStore

    counters = (CounterNow("quay-1", ("hotich",), "open"),)
    waiting = tuple(Waiting(f"t{i:04d}", "hotich", False, NOW - 3600 + 10 * i) for i in range(waits.EstimateHelper.MIN_WAITING))
    waits.HELPER.estimate(QueueNow(NOW, NOW + 8 * 3600, counters, waiting, 3, 9), History(), [("hotich", False)])
    pool = waits.HELPER._pool
    assert pool is not None
    workers = list(pool._processes.values())
    assert workers and all(p.is_alive() for p in workers)
    store = EventStore(tmp_path / "server.db", [SITE])
    try:
        Dispatcher(store, [SITE], [SITE.id], "server-desk", lambda *a: None).launch().stop()
    finally:
        store.close()
    assert waits.HELPER._pool is None
    for process in workers:
        process.join(10)
        assert not process.is_alive()
