"""Roll-ups merge exactly: random tickets over many points, provinces and days, rolled up
per (point, day, service, counter), merged by province, month and nation (in Python, and
by the national store's SQL in PostgreSQL), give the nearest-rank p50/p90 and the counts
of the raw tickets."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from national.store import NationalStore
from protocol.rollup import COUNTS, MEASURES, PERCENTILES, DayRollup, merged, percentile_of_counts, row_of
from server.stats.measures import Accumulator, TicketFacts

FIRST_DAY = date(2026, 3, 30)  # a fixed calendar for generated data; no clock is read
POINTS = {"xa-a": "tinh-1", "xa-b": "tinh-1", "phuong-c": "tinh-2", "xa-d": "tinh-3"}

durations = st.one_of(st.none(), st.integers(0, 90), st.integers(0, 20_000))
tickets = st.lists(
    st.tuples(
        st.sampled_from(sorted(POINTS)), st.integers(0, 40), st.sampled_from(["ho-tich", "chung-thuc", "dat-dai"]),
        st.sampled_from(["", "quay-1", "quay-2"]), durations, durations, durations,
        st.sampled_from(["returned", "appointment", "guided", None]), st.integers(0, 2), st.booleans(),
    ),
    min_size=1, max_size=300,
)


def facts_of(raw) -> TicketFacts:
    point, day_offset, service, counter, wait_s, service_s, total_s, outcome, recalls, unconfirmed = raw
    completed = outcome is not None and total_s is not None
    received = completed and outcome in ("returned", "appointment")
    return TicketFacts(
        site=point, day=(FIRST_DAY + timedelta(days=day_offset)).isoformat(), hour=9, service=service, counter=counter,
        called=int(wait_s is not None), no_show=int(outcome is None and wait_s is not None), completed=int(completed),
        received=int(received), within_target=int(received and outcome == "returned" and total_s <= 3600),
        recalls=recalls, transfers=0, wait_s=wait_s, service_s=service_s if completed else None,
        total_s=total_s if completed else None, unconfirmed=int(unconfirmed),
    )


def roll_up(facts: list[TicketFacts], revision: int = 1) -> list[DayRollup]:
    """What a province server sends: per point-day, one row per (service, counter)."""
    days: dict[tuple[str, str], dict[tuple[str, str], Accumulator]] = defaultdict(dict)
    for f in facts:
        days[(f.site, f.day)].setdefault((f.service, f.counter), Accumulator()).add_ticket(f)
    return [
        DayRollup(site=site, day=date.fromisoformat(day), revision=revision, province=POINTS[site],
                  rows=[row_of(s, c, acc.counts, acc.histograms) for (s, c), acc in sorted(groups.items())])
        for (site, day), groups in sorted(days.items())
    ]


def raw_percentile(values: list[int], p: int) -> int | None:
    """Nearest rank over the raw values, written independently of the code under test."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Fraction(p * len(ordered), 100))) - 1]


def raw_figures(facts: list[TicketFacts]) -> dict:
    out: dict = {c: 0 for c in COUNTS}
    for f in facts:
        out["issued"] += 1
        for c in ("called", "no_show", "completed", "received", "within_target", "recalls", "transfers", "unconfirmed"):
            out[c] += getattr(f, c)
    for m in MEASURES:
        values = [v for v in (getattr(f, f"{m}_s") for f in facts) if v is not None]
        for p in PERCENTILES:
            out[f"{m}_p{p}_s"] = raw_percentile(values, p)
    return out


GROUPINGS = {
    "nation": lambda f: "",
    "province": lambda f: POINTS[f.site],
    "point": lambda f: f.site,
    "month": lambda f: f.day[:7],
}


def expected_by(facts: list[TicketFacts], group: str) -> dict[str, dict]:
    grouped: dict[str, list[TicketFacts]] = defaultdict(list)
    for f in facts:
        grouped[GROUPINGS[group](f)].append(f)
    return {k: raw_figures(v) for k, v in grouped.items()}


@settings(max_examples=200, deadline=None)
@given(tickets)
def test_merged_histograms_give_the_raw_percentiles_and_counts(raw):
    facts = [facts_of(r) for r in raw]
    rollups = roll_up(facts)
    for group in GROUPINGS:
        expected = expected_by(facts, group)
        rows_by: dict[str, list] = defaultdict(list)
        for rollup in rollups:
            key = GROUPINGS[group](TicketFacts(rollup.site, rollup.day.isoformat(), 0, "", "", *([0] * 7), None, None, None))
            rows_by[key].extend(rollup.rows)
        assert set(rows_by) == set(expected)
        for key, rows in rows_by.items():
            counts, histograms = merged(rows)
            for c in COUNTS:
                if c not in ("ratings", "satisfied"):
                    assert counts[c] == expected[key][c], (group, key, c)
            for m in MEASURES:
                for p in PERCENTILES:
                    assert percentile_of_counts(histograms[m], p) == expected[key][f"{m}_p{p}_s"], (group, key, m, p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=tickets)
def test_the_national_store_answers_the_raw_figures(postgres, raw):
    """The same property through PostgreSQL: ingest, then the store's SQL merge."""
    dsn = postgres.create_database("national_merge")
    store = NationalStore(dsn)
    try:
        store.migrate()
        facts = [facts_of(r) for r in raw]
        accepted = store.ingest(roll_up(facts))
        assert accepted.ignored == 0
        last = FIRST_DAY + timedelta(days=40)
        for group in GROUPINGS:
            expected = expected_by(facts, group)
            answered = {row[group]: row for row in store.figures(group, FIRST_DAY, last)}
            assert set(answered) == set(expected)
            for key, row in answered.items():
                for name, value in expected[key].items():
                    if name not in ("ratings", "satisfied"):
                        assert row[name] == value, (group, key, name)
    finally:
        store.close()
