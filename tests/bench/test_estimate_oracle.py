"""The oracle ceiling of the wait-estimate benchmark (bench/estimate_oracle.py): its pick,
its forward loop (the simulator's own day, started from a state) and the unrounded
coverage count."""

from __future__ import annotations

import json
import math
import random
import statistics
from datetime import date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.estimate import configurations
from bench.estimate_oracle import (
    Answer,
    Job,
    Oracle,
    State,
    answers,
    best_point,
    close_enough,
    coverage,
    matched,
    oracle_figures,
    pool_of,
)
from protocol.settings import CommonSettings, load_settings
from xephang.simulate import ServiceModel, SimulationModel, Staffing, _working_day, arrivals, simulate_day

SITE = load_settings(CommonSettings, "examples/commune.toml").sites[0]
DAY = _working_day(SITE, date(2026, 12, 1), 0)


def test_the_pick_is_the_number_within_reach_of_most_waits_not_the_median():
    # Three tickets called at once, five after about 40 minutes: the median (1700 s) is
    # within 5 min / 25 % of none of the late ones and of none of the zeros.
    waits = [0, 0, 0, 1000, 2400, 2500, 2600, 2700]
    pick = best_point(waits)
    # The late four all match on [2025, 3000] (2700 - 25 %, 2400 + 25 %): its middle.
    assert pick == (2025 + 3000) / 2
    assert matched(pick, waits) == 4
    assert matched(statistics.median(waits), waits) == 0
    assert matched(0, waits) == 3


def test_the_pick_ignores_waits_never_reached_and_has_none_without_any():
    assert best_point([0.0, 0.0, math.inf]) == 0.0
    assert best_point([math.inf, math.inf]) is None
    assert best_point([]) is None
    assert matched(None, [0.0]) == 0
    # A single wait of 20 min: any number in [15, 25] min matches; the middle is 20 min.
    assert best_point([1200.0]) == 1200.0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=20000, allow_nan=False), min_size=1, max_size=40))
def test_no_number_matches_more_waits_than_the_pick(waits):
    # The best count is reached on a stretch between two ends of the waits' intervals: try
    # every end and the middle of every stretch.
    ends = sorted(w + sign * max(300, 0.25 * w) for w in waits for sign in (-1, 1))
    candidates = ends + [(a + b) / 2 for a, b in zip(ends, ends[1:])]
    assert matched(best_point(waits), waits) == max(matched(c, waits) for c in candidates)


def test_within_is_the_issues_rule():
    assert close_enough(300, 0) and not close_enough(301, 0)
    assert close_enough(3000 - 750, 3000) and not close_enough(3000 - 751, 3000)


def test_unrounded_coverage_counts_inside_above_and_the_sure_answers_apart():
    answers_ = [(0, 0, 0.0), (0, 0, 0.0), (60, 600, 300.0), (60, 600, 700.0), (60, 600, 60.0), (None, None, 5.0)]
    got = coverage(answers_)
    assert got["raw_range_share"] == 0.8  # 4 of the 5 with a range; the unknown one is not counted
    assert got["raw_above_share"] == 0.2
    assert got["sure"] == 2
    assert got["raw_range_share_unsure"] == 0.667  # 2 of 3
    assert coverage([])["raw_range_share"] is None


def test_oracle_figures_count_a_missing_pick_as_not_within():
    pairs = [(Answer(600.0, 300.0, 900.0, 650.0), 700.0), (Answer(None, math.inf, math.inf, math.inf), 1200.0),
             (Answer(0.0, 0.0, 0.0, 0.0), 400.0), (None, 50.0)]
    got = oracle_figures(pairs)
    assert got["oracle_answers"] == 3
    assert got["oracle_within_share"] == 0.333
    assert got["oracle_range_share"] == 0.333  # 700 in [300, 900]; 1200 is not in [inf, inf]
    assert got["oracle_range_share_unsure"] == 1.0  # [0, 0] and [inf, inf] are sure answers
    assert got["oracle_median_within_share"] == 0.333  # only 650 for 700


def test_started_at_the_opening_with_the_days_own_tickets_it_calls_everyone_as_simulate_day_does():
    model = SimulationModel()
    for _name, site, staffing in configurations(SITE):
        for seed in (1, 2):
            day = _working_day(site, date(2026, 12, 1), seed)
            real = {json.loads(e[5])["data"]["ticket_id"]: e[2] for e in simulate_day(site, model, staffing, day, seed).events
                    if e[0] == "ticket.called"}
            tickets = arrivals(site, model, day, random.Random(seed))  # simulate_day's own first draws
            oracle = Oracle(site, model, staffing, day, seed, futures=1)
            opens = datetime.combine(day, site.hours.open, site.zone).timestamp()
            called = oracle._future(State(opens - 1, (), {}, {}), [], pool_of(tickets), {t.ticket_id for t in tickets})
            assert set(called) == set(real) and len(real) > 80
            assert max(abs(called[t] - real[t]) for t in real) < 0.01


def _one_counter_site():
    counter = SITE.counters[0]
    return SITE.model_copy(update={"counters": [counter]}), counter.id, counter.services[0]


def test_from_a_state_mid_day_it_adds_the_rest_of_the_service_and_those_ahead():
    site, counter, service = _one_counter_site()
    # Fixed 10-minute services, no no-shows, no priority, nobody else arriving: waits are certain.
    model = SimulationModel(tickets_per_day=1, priority_share=0, no_show_share=0,
                            services={service: ServiceModel(mean_minutes=10, sd_minutes=0)}, profile={})
    oracle = Oracle(site, model, Staffing((counter,), "one"), DAY, seed=1, futures=20)
    now = datetime.combine(DAY, site.hours.open, site.zone).timestamp() + 3600
    queue = ((f"t{i}", service, False, now - 600 + i) for i in range(3))
    state = State(now, tuple(queue), {counter: Job(service, now - 130, now - 100)}, {counter: 0})
    got = answers(oracle, state, ["t0", "t1", "t2"])
    rest = 600 - 100  # the ticket at the desk started 100 s ago
    for i, ticket in enumerate(("t0", "t1", "t2")):
        expected = rest + i * (30 + 600)  # each call: 30 s to walk to the desk, then 10 min
        assert got[ticket] == Answer(expected, expected, expected, expected)
    # Called 10 s ago, not at the desk yet (no no-shows in this model): walk, then a whole service.
    state = State(now, state.waiting, {counter: Job(service, now - 10, None)}, {counter: 0})
    assert answers(oracle, state, ["t0"])["t0"].point_s == 20 + 600
    # Called 60 s ago and never came to the desk: a no-show, free 90 s after the call.
    state = State(now, state.waiting, {counter: Job(service, now - 60, None)}, {counter: 0})
    assert answers(oracle, state, ["t0"])["t0"].point_s == 30


def test_a_ticket_not_reached_before_closing_has_no_pick():
    site, counter, service = _one_counter_site()
    model = SimulationModel(tickets_per_day=1, priority_share=0, no_show_share=0,
                            services={service: ServiceModel(mean_minutes=30, sd_minutes=0)}, profile={})
    oracle = Oracle(site, model, Staffing((counter,), "one"), DAY, seed=1, futures=10)
    close = datetime.combine(DAY, site.hours.close, site.zone).timestamp()
    now = close - 3600
    queue = tuple((f"t{i}", service, False, now - 100 + i) for i in range(4))
    got = answers(oracle, State(now, queue, {}, {counter: 0}), ["t0", "t1", "t3"])
    assert got["t0"].point_s == 0 and got["t1"].point_s == 30 + 1800
    assert got["t3"] == Answer(None, math.inf, math.inf, math.inf)  # third call after 95 min: past closing


def test_the_oracle_never_sees_the_real_days_tickets():
    model = SimulationModel()
    _name, site, staffing = configurations(SITE)[0]
    real = {t.ticket_id for t in arrivals(site, model, DAY, random.Random(5))}
    oracle = Oracle(site, model, staffing, DAY, seed=5, futures=30)
    assert not real & {t.ticket_id for _times, tickets in oracle.pool for t in tickets}


def test_its_draws_of_a_service_already_under_way_last_longer_than_it_has():
    model = SimulationModel()
    _name, site, staffing = configurations(SITE)[0]
    oracle = Oracle(site, model, staffing, DAY, seed=3, futures=1)
    service = site.services[0].id
    draws = [oracle._draw_longer(service, 1500) for _ in range(500)]
    assert min(draws) >= 1500
    fresh = sorted(oracle._draw(service) for _ in range(2000))
    assert 600 < fresh[1000] < 720  # median of a log-normal of mean 12 min, SD 6: about 11.2 min


def test_the_benchmark_figures_carry_the_unrounded_coverage_and_the_oracle_beside_the_estimator():
    from bench.estimate import Record, figures

    def record(low, high, real, oracle):
        return Record("issue", 1, (low + high) // 2, low, high, 0.0, None, real, oracle=oracle)

    records = [
        record(0, 0, 0.0, Answer(0.0, 0.0, 0.0, 0.0)),  # sure, inside
        record(120, 900, 200.0, Answer(200.0, 100.0, 800.0, 300.0)),  # inside
        record(120, 870, 890.0, Answer(890.0, 100.0, 800.0, 300.0)),  # above P90; printed 0-15 min holds it
        record(140, 900, 100.0, None),  # below P10; printed 0-15 min holds it
        record(400, 500, None, Answer(0.0, 0.0, 0.0, 0.0)),  # never called: left out
    ]
    got = figures(records)
    assert got["known"] == 4
    assert got["raw_range_share"] == 0.5 and got["raw_above_share"] == 0.25
    assert got["sure"] == 1 and got["raw_range_share_unsure"] == 0.333
    assert got["range_share"] == 1.0  # the rounding and "under 5 min" hold all four
    assert got["oracle_answers"] == 3 and got["oracle_within_share"] == 1.0
    assert got["oracle_range_share"] == 0.667  # 1000 s is above the oracle's P90 of 800 s
