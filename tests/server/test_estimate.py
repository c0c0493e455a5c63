"""The wait estimator (server/desk/estimate.py) on hand-made queues, and its properties.

Times are plain epoch seconds relative to an arbitrary instant: the estimator reads no
clock, so nothing here depends on today's date or hour.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.desk.estimate import (
    CounterNow,
    History,
    QueueNow,
    Sample,
    WaitEstimate,
    Waiting,
    estimate_queue,
    estimate_wait,
    old_estimate_s,
    people_ahead,
)

NOW = 1_800_000_000.0
HOUR = 3600.0
TEN_MIN = tuple(Sample(9, 600.0) for _ in range(200))  # every service takes exactly 10 minutes


def history(**occupancy: tuple[Sample, ...]) -> History:
    return History(occupancy=dict(occupancy))


def normal(i: int, service: str = "a", ago_s: float = 0.0) -> Waiting:
    return Waiting(f"t{i:03d}", service, False, NOW - 1000 + i - ago_s)


def counter(name: str, *services: str, state: str = "open", busy_s: float | None = None,
            busy_service: str | None = None, streak: int = 0, paused_s: float | None = None) -> CounterNow:
    return CounterNow(name, services, state, busy_service or (services[0] if busy_s is not None else None),
                      None if busy_s is None else NOW - busy_s, None if paused_s is None else NOW - paused_s, streak)


def queue(counters: list[CounterNow], waiting: list[Waiting], close_in_s: float = 8 * HOUR,
          cap: int | None = None) -> QueueNow:
    return QueueNow(NOW, NOW + close_in_s, tuple(counters), tuple(waiting), cap, 9)


def new(service: str = "a", priority: bool = False) -> Waiting:
    return Waiting(f"new-{service}", service, priority, NOW)


def span(e: WaitEstimate) -> tuple[int, int, int]:
    """(P10, point, P90) of an estimate that must be known."""
    assert e.low_s is not None and e.point_s is not None and e.high_s is not None
    return e.low_s, e.point_s, e.high_s


# -- hand-made queues -----------------------------------------------------------------

def test_fixed_service_times_give_the_exact_wait() -> None:
    # Two counters, each 4 minutes into a 10-minute service; 3 people ahead.
    # Calls at +6 (two), +16 (two): the 4th in line (the new ticket) is called at +16 min.
    q = queue([counter("c1", "a", busy_s=240), counter("c2", "a", busy_s=240)], [normal(i) for i in range(3)])
    e = estimate_wait(q, history(a=TEN_MIN), new())
    assert e.people_ahead == 3
    assert (e.low_s, e.point_s, e.high_s) == (960, 960, 960)


def test_new_site_without_history_uses_the_prior() -> None:
    q = queue([counter("c1", "a")], [normal(i) for i in range(4)])
    e = estimate_wait(q, History(), new())
    assert e.people_ahead == 4
    low, point, high = span(e)
    # Four services of about 12.5 minutes each: around 50 minutes, with a real spread.
    assert 40 * 60 <= point <= 60 * 60
    assert low < point < high


def test_nobody_can_serve_it_is_unknown_not_a_guess() -> None:
    q = queue([counter("c1", "b"), counter("c2", "a", state="closed")], [normal(i) for i in range(2)])
    e = estimate_wait(q, history(a=TEN_MIN), new())
    assert not e.known and (e.point_s, e.low_s, e.high_s) == (None, None, None)
    assert e.people_ahead == 2


def test_priority_tickets_go_first() -> None:
    later_priority = Waiting("p1", "a", True, NOW - 10)
    q = queue([counter("c1", "a")], [normal(0), normal(1), later_priority])
    estimates = estimate_queue(q, history(a=TEN_MIN), new=(("a", False), ("a", True)))
    assert people_ahead(q.waiting, normal(0)) == 1  # the priority ticket issued later
    assert estimates.tickets["p1"].point_s == 0
    assert estimates.tickets["t000"].point_s == 600
    assert estimates.new[("a", False)].point_s == 1800
    assert estimates.new[("a", True)].point_s == 600  # after the waiting priority ticket only


def test_the_cap_on_consecutive_priority_calls_lets_a_normal_ticket_through() -> None:
    waiting = [normal(0), Waiting("p1", "a", True, NOW - 10), Waiting("p2", "a", True, NOW - 5)]
    capped = estimate_queue(queue([counter("c1", "a", streak=2)], waiting, cap=2), history(a=TEN_MIN))
    uncapped = estimate_queue(queue([counter("c1", "a", streak=2)], waiting), history(a=TEN_MIN))
    assert capped.tickets["t000"].point_s == 0
    assert uncapped.tickets["t000"].point_s == 1200


def test_priority_still_to_arrive_lengthens_a_normal_wait_only() -> None:
    q = queue([counter("c1", "a")], [normal(i) for i in range(6)])
    calm = History(occupancy={"a": TEN_MIN})
    busy = History(occupancy={"a": TEN_MIN}, priority_per_h={"a": 3.0})
    assert span(estimate_wait(q, busy, new()))[1] > span(estimate_wait(q, calm, new()))[1]
    assert estimate_wait(q, busy, new(priority=True)).point_s == estimate_wait(q, calm, new(priority=True)).point_s


def test_a_shared_counter_helps_and_is_shared() -> None:
    own_only = queue([counter("c1", "a"), counter("c2", "b")], [normal(i) for i in range(4)])
    shared = queue([counter("c1", "a"), counter("c2", "b", "a")], [normal(i) for i in range(4)])
    # The shared counter also has earlier "b" tickets to take first.
    shared_busy = queue([counter("c1", "a"), counter("c2", "b", "a")],
                        [normal(100 + i, "b", ago_s=500) for i in range(3)] + [normal(i) for i in range(4)])
    h = history(a=TEN_MIN, b=TEN_MIN)
    alone = estimate_wait(own_only, h, new()).point_s
    helped = estimate_wait(shared, h, new()).point_s
    partly = estimate_wait(shared_busy, h, new()).point_s
    assert (alone, helped, partly) == (2400, 1200, 1800)


def test_a_paused_counter_comes_back() -> None:
    waiting = [normal(i) for i in range(5)]
    h = History(occupancy={"a": TEN_MIN}, pauses_s=(900.0,) * 20)  # pauses last 15 minutes
    closed = estimate_wait(queue([counter("c1", "a"), counter("c2", "a", state="closed")], waiting), h, new())
    paused = estimate_wait(queue([counter("c1", "a"), counter("c2", "a", state="paused", paused_s=300)], waiting), h, new())
    opened = estimate_wait(queue([counter("c1", "a"), counter("c2", "a")], waiting), h, new())
    # Paused 5 of 15 minutes: back in 10 minutes.
    assert (opened.point_s, paused.point_s, closed.point_s) == (1200, 1800, 3000)


def test_a_paused_counter_alone_still_gives_an_estimate() -> None:
    e = estimate_wait(queue([counter("c1", "a", state="paused", paused_s=60)], [normal(0)]), history(a=TEN_MIN), new())
    assert span(e)[0] > 0


def test_elapsed_service_is_taken_into_account() -> None:
    h = history(a=TEN_MIN)
    early = estimate_wait(queue([counter("c1", "a", busy_s=60)], []), h, new())
    late = estimate_wait(queue([counter("c1", "a", busy_s=540)], []), h, new())
    assert (early.point_s, late.point_s) == (540, 60)


def test_closing_time_cuts_the_range_and_says_not_today() -> None:
    q = queue([counter("c1", "a")], [normal(i) for i in range(10)], close_in_s=45 * 60)
    e = estimate_wait(q, history(a=TEN_MIN), new())
    assert not e.known and e.not_today == 1.0
    near = estimate_wait(queue([counter("c1", "a")], [normal(i) for i in range(3)], close_in_s=45 * 60),
                         history(a=TEN_MIN), new())
    assert near.point_s == 1800 and near.not_today == 0.0
    after = estimate_wait(queue([counter("c1", "a")], [], close_in_s=-1), history(a=TEN_MIN), new())
    assert not after.known


def test_the_same_hour_band_is_preferred_when_it_has_enough_history() -> None:
    samples = tuple(Sample(9, 300.0) for _ in range(30)) + tuple(Sample(14, 1200.0) for _ in range(300))
    q = queue([counter("c1", "a")], [normal(i) for i in range(2)])
    morning = estimate_wait(q, history(a=samples), new())
    afternoon = estimate_wait(QueueNow(q.now_s, q.close_s, q.counters, q.waiting, None, 14), history(a=samples), new())
    assert (morning.point_s, afternoon.point_s) == (600, 2400)


def test_the_range_shrinks_as_the_citizen_moves_up() -> None:
    h = History()  # the prior: log-normal, so waits really vary
    far = estimate_wait(queue([counter("c1", "a"), counter("c2", "a")], [normal(i) for i in range(12)]), h, new())
    near = estimate_wait(queue([counter("c1", "a"), counter("c2", "a")], [normal(i) for i in range(2)]), h, new())
    assert span(near)[2] - span(near)[0] < span(far)[2] - span(far)[0]


def test_same_state_same_answer() -> None:
    q = queue([counter("c1", "a", busy_s=100), counter("c2", "a", "b")], [normal(i) for i in range(5)])
    assert estimate_wait(q, History(), new(), seed=7) == estimate_wait(q, History(), new(), seed=7)


def test_old_formula_is_kept_as_it_was() -> None:
    assert old_estimate_s(3, 600.0, 2) == 900
    assert old_estimate_s(3, None, 2) is None and old_estimate_s(3, 600.0, 0) is None


# -- properties -----------------------------------------------------------------------

service_times = st.lists(st.floats(min_value=60, max_value=3600), min_size=0, max_size=40)


@st.composite
def single_service_queues(draw: st.DrawFn) -> tuple[QueueNow, History]:
    n_counters = draw(st.integers(1, 4))
    counters = []
    for i in range(n_counters):
        busy = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=3000)))
        counters.append(counter(f"c{i}", "a", busy_s=busy))
    waiting = []
    for i in range(draw(st.integers(0, 25))):
        waiting.append(Waiting(f"t{i:03d}", "a", draw(st.booleans()), NOW - 2000 + 10 * i))
    samples = tuple(Sample(9, v) for v in draw(service_times))
    close_in = draw(st.floats(min_value=600, max_value=9 * HOUR))
    return queue(counters, waiting, close_in_s=close_in), history(a=samples)


def _call_order(q: QueueNow) -> list[Waiting]:
    """Waiting tickets in the order the dispatcher calls them without a cap."""
    return sorted(q.waiting, key=lambda t: (not t.priority, t.issued_s, t.ticket_id))


@settings(max_examples=40, deadline=None)
@given(single_service_queues())
def test_ordered_quantiles_and_monotone_in_people_ahead(case: tuple[QueueNow, History]) -> None:
    q, h = case
    result = estimate_queue(q, h, runs=60, new=(("a", False),))
    previous = None
    for ticket in _call_order(q) + [new()]:
        e = result.tickets.get(ticket.ticket_id) or result.new[("a", False)]
        if e.known:
            low, point, high = span(e)
            assert 0 <= low <= point <= high
        if previous is not None:
            # Someone further back never waits less, in every quantile; unknown stays unknown.
            if not previous.known:
                assert not e.known
            elif e.known:
                assert span(e)[1] >= span(previous)[1] and span(e)[0] >= span(previous)[0]
            assert e.not_today >= previous.not_today
            assert e.people_ahead >= previous.people_ahead
        previous = e


@settings(max_examples=40, deadline=None)
@given(single_service_queues(), st.integers(1, 3))
def test_more_counters_never_longer(case: tuple[QueueNow, History], extra: int) -> None:
    q, h = case
    more = QueueNow(q.now_s, q.close_s, q.counters + tuple(counter(f"x{i}", "a") for i in range(extra)),
                    q.waiting, q.priority_cap, q.hour)
    fewer_e = estimate_queue(q, h, runs=60, new=(("a", False),))
    more_e = estimate_queue(more, h, runs=60, new=(("a", False),))
    pairs = [(fewer_e.tickets[t.ticket_id], more_e.tickets[t.ticket_id]) for t in q.waiting]
    pairs.append((fewer_e.new[("a", False)], more_e.new[("a", False)]))
    for few, many in pairs:
        assert many.not_today <= few.not_today
        if few.known:
            assert span(many)[1] <= span(few)[1] and span(many)[2] <= span(few)[2]
