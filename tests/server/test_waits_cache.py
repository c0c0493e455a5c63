"""The shared wait estimates (server/desk/waits.py WaitsCache): one computation serves
every surface that asks soon after, a changed queue is computed again unless that is
expensive, and two databases never share an answer."""

from __future__ import annotations

from protocol.sites import Counter, Service, Site
from server.desk.estimate import CounterNow, QueueEstimates, QueueNow, WaitEstimate, Waiting
from server.desk.waits import SiteWaits, WaitsCache

SITE = Site(id="xa", name="UBND xã", services=[Service(id="hotich", name="Hộ tịch", letter="A")],
            counters=[Counter(id="quay-1", number=1, name="Quầy 1", services=["hotich"])])
NOW = 1_000_000.0
OPEN = (CounterNow("quay-1", ("hotich",), "open"),)


def queue(n: int, now: float = NOW, state: str = "open") -> QueueNow:
    waiting = tuple(Waiting(f"t{i}", "hotich", False, NOW - 600 + i) for i in range(n))
    return QueueNow(now, NOW + 8 * 3600, (CounterNow("quay-1", ("hotich",), state),), waiting)


class Computer:
    """Stands in for the estimator: counts its calls, answers 600 s per person ahead."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, q: QueueNow) -> SiteWaits:
        self.calls += 1
        tickets = {t.ticket_id: WaitEstimate(i, 600 * (i + 1), 300 * (i + 1), 900 * (i + 1))
                   for i, t in enumerate(q.waiting)}
        n = len(q.waiting)
        new = {("hotich", False): WaitEstimate(n, 600 * (n + 1), 300 * (n + 1), 900 * (n + 1)),
               ("hotich", True): WaitEstimate(0, 600, 300, 900)}
        return SiteWaits(QueueEstimates(tickets, new), {"hotich": 600})


def test_the_same_queue_asked_again_is_not_computed_again() -> None:
    cache, compute = WaitsCache(), Computer()
    first = cache.get("a.db", SITE, queue(3), lambda: compute(queue(3)))
    later = cache.get("a.db", SITE, queue(3, NOW + 30), lambda: compute(queue(3, NOW + 30)))
    assert compute.calls == 1
    assert later == first and later.estimates.tickets["t2"].point_s == 1800


def test_a_changed_queue_is_computed_again_when_that_is_cheap() -> None:
    cache, compute = WaitsCache(), Computer()
    cache.get("a.db", SITE, queue(3), lambda: compute(queue(3)))
    answer = cache.get("a.db", SITE, queue(4), lambda: compute(queue(4)))
    cache.get("a.db", SITE, queue(4, state="paused"), lambda: compute(queue(4, state="paused")))
    assert compute.calls == 3
    assert answer.estimates.tickets["t3"].point_s == 2400


def test_an_expensive_estimate_is_shared_and_a_new_ticket_gets_the_estimate_of_one_issued_now() -> None:
    cache, compute = WaitsCache(expensive_s=0.0), Computer()  # every computation counts as expensive
    cache.SHARE = 1e9  # ... and stays fresh for the whole test
    cache.get("a.db", SITE, queue(3), lambda: compute(queue(3)))
    answer = cache.get("a.db", SITE, queue(4), lambda: compute(queue(4)))
    assert compute.calls == 1
    assert answer.estimates.tickets["t3"] == WaitEstimate(3, 2400, 1200, 3600)  # was "new" for 3 waiting
    assert set(answer.estimates.tickets) == {"t0", "t1", "t2", "t3"}


def test_an_answer_is_never_reused_far_along_the_queues_clock_or_backwards() -> None:
    cache, compute = WaitsCache(), Computer()
    cache.get("a.db", SITE, queue(3), lambda: compute(queue(3)))
    cache.get("a.db", SITE, queue(3, NOW + 61), lambda: compute(queue(3, NOW + 61)))  # a fast demo clock
    cache.get("a.db", SITE, queue(3, NOW), lambda: compute(queue(3, NOW)))  # clock moved back
    assert compute.calls == 3


def test_two_databases_never_share_an_answer() -> None:
    cache, compute = WaitsCache(), Computer()
    cache.get("a.db", SITE, queue(3), lambda: compute(queue(3)))
    cache.get("b.db", SITE, queue(3), lambda: compute(queue(3)))
    assert compute.calls == 2
