"""The report pack's fast path against the straightforward code it replaced
(tests/server/report_reference.py): the same figures, exactly, on random months, and the
same inputs read from a real SQLite file (json_extract and the partial index
events_feedback_ticket instead of json.loads over every event of every ticket)."""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import date, datetime, timedelta
from datetime import time as day_time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import clock, topics
from protocol.sites import Site
from server.stats import measures
from server.stats import report as pack
from server.stats.store import StatsStore
from server.storage.events import EventStore, Incoming
from tests.server import report_reference as reference
from tests.server.report_month import build_month
from tests.server.stats_day import noisy
from tests.support import OTHER_SITE_ID, SITE_ID, office_clock, site_dict


def _sites() -> list[Site]:
    other = site_dict(OTHER_SITE_ID, "Khác")
    # A zone with clock changes (the fold's slow path on those days), a closing time (counter
    # states end there), its own sessions and at-risk threshold.
    other |= {"timezone": "Europe/Berlin", "at_risk_minutes": 30,
              "hours": {"weekdays": [0, 1, 2, 3, 4], "open": "07:00:00", "close": "17:00:00", "last_ticket": "16:30:00"},
              "sessions": [{"start": "07:00", "cutoff": "10:00", "end": "12:00"}]}
    return [Site.model_validate(site_dict()), Site.model_validate(other)]


SITES = _sites()
TODAY = clock.now().date()
DAY_FROM, DAY_TO = (TODAY - timedelta(days=365)).isoformat(), (TODAY - timedelta(days=1)).isoformat()


def _clock_change_days() -> list[str]:
    zone = SITES[1].zone
    found = []
    for n in range(1, 367):
        d = TODAY - timedelta(days=n)
        length = (datetime.combine(d + timedelta(days=1), day_time(0), zone).timestamp()
                  - datetime.combine(d, day_time(0), zone).timestamp())
        if length != 86400:
            found.append(d.isoformat())
    return found


CHANGE_DAYS = _clock_change_days()
SERVICES = ["tu-phap-ho-tich", "chung-thuc", "dat-dai", "unknown", None]
COUNTERS = ["quay-1", "quay-2", "quay-3", "quay-9", None]
STATUSES = ["waiting", "called", "serving", "completed", "completed", "no_show", "cancelled"]
OUTCOMES = ["returned", "returned", "appointment", "guided", "info", None]
# Session starts, cut-offs and ends of both sites (seconds after local midnight): the rules' edges.
EDGES = [h * 3600 + m * 60 for h, m in ((7, 0), (7, 30), (9, 30), (10, 0), (11, 30), (12, 0), (13, 30), (15, 30), (17, 0))]
CODES = ["000.00.01.H29-1", "000.00.01.H29-2", "000.00.01.H29-3", None, None]


def month(rng: random.Random, n: int, days: int = 366) -> tuple[list[tuple], list[pack.CounterEvent], list[pack.FirstRating]]:
    """n random tickets rows over the year before the clock (and a little outside it, and
    on the clock-change days), counter events and ratings: the same draws for both codes."""

    def maybe(value: float) -> float | None:
        return None if rng.random() < 0.2 else value

    def after(base: float | None, most: float = 9000) -> float | None:
        return None if base is None or rng.random() < 0.25 else base + rng.uniform(-30, most)

    out = []
    for k in range(n):
        site_id = rng.choice([SITE_ID, OTHER_SITE_ID, OTHER_SITE_ID, "ngoai"])
        site = next((s for s in SITES if s.id == site_id), SITES[0])
        day = (rng.choice(CHANGE_DAYS) if rng.random() < 0.1 else (TODAY - timedelta(days=rng.randint(-2, days))).isoformat())
        midnight = datetime.combine(date.fromisoformat(day), day_time(0), site.zone).timestamp()
        issued = midnight + rng.choice([rng.uniform(0, 82_800), rng.uniform(6.5 * 3600, 17.5 * 3600), rng.choice(EDGES)])
        first = after(issued, 5400)
        started = after(first, 600)
        row = {
            "ticket_id": f"t-{k}", "site": site_id, "number": rng.choice(["A001", "B002", None]),
            "service": rng.choice(SERVICES), "issued_at": None if rng.random() < 0.02 else issued,
            "local_day": "" if rng.random() < 0.02 else day, "first_called_at": first,
            "last_called_at": after(first, 900), "started_at": started,
            "completed_at": after(started or first or issued), "no_show_at": after(first),
            "outcome": rng.choice(OUTCOMES), "dossier_code": rng.choice(CODES), "counter": rng.choice(COUNTERS),
            "status": (status := rng.choice(STATUSES)), "transfers": rng.choice([0, 0, 0, 1, 2]),
            "wait_s": maybe(rng.uniform(-5, 7200)), "service_s": maybe(rng.uniform(-5, 3600)),
            "total_s": maybe(rng.uniform(-5, 7200)), "last_event_at": after(issued),
        }
        if status == "completed" and row["completed_at"] is None:  # the projection always sets it
            row["completed_at"] = issued + rng.uniform(0, 7200)
        if rng.random() < 0.2:
            row["completed_at"] = midnight + rng.choice(EDGES)  # back exactly at a session's end
        out.append(pack.as_row(row))
    start = datetime.combine(TODAY - timedelta(days=20), day_time(0), SITES[1].zone).timestamp()
    kinds = [*pack.COUNTER_EVENTS, "ticket.transferred"]
    events = [pack.CounterEvent(rng.choice([SITE_ID, OTHER_SITE_ID]), rng.choice(COUNTERS[:4]), rng.choice(kinds),
                                start + rng.uniform(0, 5 * 86400), rng.choice([None, "nghỉ trưa", "họp"]))
              for _ in range(rng.randint(0, max(30, n // 10)))]
    ratings = [pack.FirstRating(rng.choice([SITE_ID, OTHER_SITE_ID]), rng.choice([None, *(f"t-{k}" for k in range(n))]),
                                rng.randint(1, 5), rng.choice(["3-level", "4-level", "5-star"]))
               for _ in range(rng.randint(0, max(20, n // 3)))]
    return out, events, ratings


def both(ticket_rows, events, ratings, previous=None, sites=SITES) -> tuple[dict, dict]:
    fast = pack.build_report(iter(ticket_rows), sites, DAY_FROM, DAY_TO, events, ratings, previous)
    slow = reference.build_report(ticket_rows, sites, DAY_FROM, DAY_TO, events, ratings, previous)
    return fast, slow


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 80), st.sampled_from([None, {"received": 7, "within_target": 3}]))
def test_the_fast_fold_equals_the_straightforward_one(rng, n, previous):
    ticket_rows, events, ratings = month(rng, n, days=rng.choice([3, 366]))
    for sites in (SITES, SITES[1:]):
        fast, slow = both(ticket_rows, events, ratings, previous, sites)
        assert fast == slow


def test_a_big_random_month_gives_the_same_pack_and_reaches_every_branch():
    ticket_rows, events, ratings = month(random.Random(19), 6000, days=40)
    fast, slow = both(ticket_rows, events, ratings)
    assert fast == slow
    # not a comparison of empty packs: every part has something in it
    assert len(CHANGE_DAYS) == 2 and any(r[5] in CHANGE_DAYS for r in ticket_rows)
    assert fast["summary"]["issued"] > 1000 and fast["summary"]["within_target"] > 0
    assert fast["same_session"]["returned_in_session"] > 0 and fast["visits"]["repeated"]
    assert fast["index_766"]["dissatisfied"] > 0 and fast["index_766"]["overdue"] > 0
    assert fast["exceptions"]["counts"]["at_risk"] > 0 and fast["exceptions"]["counts"]["over_target"] > 0
    assert any(c["idle_s"] > 0 for c in fast["counters"]) and fast["pauses"]
    assert any(c["walk"]["n"] and c["service"]["n"] for c in fast["counters"])
    assert len(fast["heatmap"]["cells"]) > 20


@pytest.fixture
def stored_month(tmp_path):
    events, days = build_month(office_clock(10)())
    store = EventStore(tmp_path / "report.db", SITES[:1])
    shuffled = noisy(events)
    for i in range(0, len(shuffled), 7):
        store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in shuffled[i:i + 7]])
    stats = StatsStore(store, measures.rules_from_sites(SITES[:1]))
    yield stats, days
    stats.close()
    store.close()


def test_inputs_read_through_sqlite_equal_those_parsed_in_python(stored_month):
    stats, days = stored_month
    conn = stats.store.reader()
    try:
        for day_from, day_to in ((days["M_from"], days["M_to"]), (days["P"], days["P"]), (days["D1"], days["D2"])):
            fast = pack.load_inputs(conn, SITES[:1], day_from, day_to)
            slow = reference.load_inputs(conn, SITES[:1], day_from, day_to)
            assert fast[0] == slow[0]
            assert [dataclasses.astuple(e) for e in fast[1]] == [dataclasses.astuple(e) for e in slow[1]]
            assert [dataclasses.astuple(r) for r in fast[2]] == [dataclasses.astuple(r) for r in slow[2]]
        month = pack.load_inputs(conn, SITES[:1], days["M_from"], days["M_to"])
        assert month[1] and month[2] and any(e.reason for e in month[1])  # pauses with reasons, ratings: compared above
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT e.id FROM tickets t JOIN events e ON e.ticket_id = t.ticket_id "
            "AND e.type = 'feedback.given' WHERE t.site = ? AND t.local_day BETWEEN ? AND ?", (SITE_ID, "a", "b"),
        ).fetchall()
        assert any("events_feedback_ticket" in str(step) for step in plan)
    finally:
        conn.close()
    assert pack.assemble(stats, SITES[:1], days["M_from"], days["M_to"])["summary"]["ratings"] == len(month[2])
