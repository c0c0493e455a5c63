"""The month pre-aggregates (point, province and nation months) equal a from-scratch merge
of the day rows the store holds, whatever revisions arrived in whatever order: late
events, rows that vanish, a point that changes province, repeats and older copies.
Through a real PostgreSQL; the expected rows are merged here in Python, independently of
the store's SQL."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from national.store import NationalStore, split_period
from protocol.rollup import COUNTS, MEASURES, PERCENTILES, DayRollup, percentile_of_counts, row_of
from server.stats.measures import Accumulator
from tests.national.test_merge import FIRST_DAY, POINTS, facts_of, tickets

# Revision 2 of a day may come from a province map where one point moved.
MOVED = POINTS | {"xa-b": "tinh-3"}


def roll_up(raw: list, revision: int, provinces: dict[str, str]) -> list[DayRollup]:
    days: dict[tuple[str, str], dict[tuple[str, str], Accumulator]] = defaultdict(dict)
    for f in (facts_of(r) for r in raw):
        days[(f.site, f.day)].setdefault((f.service, f.counter), Accumulator()).add_ticket(f)
    return [
        DayRollup(site=site, day=date.fromisoformat(day), revision=revision, province=provinces[site],
                  rows=[row_of(s, c, acc.counts, acc.histograms) for (s, c), acc in sorted(groups.items())])
        for (site, day), groups in sorted(days.items())
    ]


def expected_months(kept: list[DayRollup]) -> dict[str, dict[tuple, dict]]:
    """Every month row of every level, merged from scratch from the day rows held."""
    levels: dict[str, dict[tuple, dict]] = {"point_months": {}, "province_months": {}, "nation_months": {}}
    for rollup in kept:
        month = rollup.day.replace(day=1)
        keys = {
            "point_months": (month, rollup.province, rollup.site),
            "province_months": (month, rollup.province),
            "nation_months": (month,),
        }
        for level, key in keys.items():
            row = levels[level].setdefault(key, {"parts": 0, **dict.fromkeys(COUNTS, 0),
                                                 **{f"{m}_sum": 0 for m in MEASURES}, "hist": {m: {} for m in MEASURES}})
            for day_row in rollup.rows:
                row["parts"] += 1
                for c in COUNTS:
                    row[c] += day_row.counts[c]
                for m in MEASURES:
                    row[f"{m}_sum"] += day_row.sums[m]
                    for s, n in day_row.hist[m]:
                        row["hist"][m][s] = row["hist"][m].get(s, 0) + n
    out: dict[str, dict[tuple, dict]] = {}
    for level, rows in levels.items():
        out[level] = {}
        for key, row in rows.items():
            hist = row.pop("hist")
            for m in MEASURES:
                ordered = sorted(hist[m].items())
                row[f"{m}_s"] = [s for s, _ in ordered]
                row[f"{m}_n"] = [n for _, n in ordered]
                row[f"{m}_count"] = sum(hist[m].values())
                for p in PERCENTILES:
                    row[f"{m}_p{p}"] = percentile_of_counts(hist[m], p)
            out[level][key] = row
    return out


def stored_months(store: NationalStore) -> dict[str, dict[tuple, dict]]:
    key_counts = {"point_months": 3, "province_months": 2, "nation_months": 1}
    out: dict[str, dict[tuple, dict]] = {}
    for level, width in key_counts.items():
        with store.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {level}".encode())
            names = [d.name for d in cur.description or ()]
            out[level] = {row[:width]: dict(zip(names[width:], row[width:])) for row in cur.fetchall()}
    return out


versions = st.lists(tickets, min_size=1, max_size=3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw_versions=versions, order_seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 6))
def test_month_rows_equal_a_merge_from_scratch_after_revisions(postgres, raw_versions, order_seed, batch):
    """Version v of the tickets is sent as revision v of each point-day it touches (a
    point moves province in revision 2); every roll-up is sent once or twice, in a random
    order, in batches. The store keeps the highest revision of each day, and its month rows
    are the merge of exactly those days."""
    sent: list[DayRollup] = []
    for index, raw in enumerate(raw_versions):
        sent += roll_up(raw, index + 1, MOVED if index == 1 else POINTS)
    rng = random.Random(order_seed)
    arrivals = sent + rng.sample(sent, rng.randint(0, len(sent)))
    rng.shuffle(arrivals)
    newest: dict[tuple[str, date], DayRollup] = {}
    for r in sent:
        if (r.site, r.day) not in newest or newest[(r.site, r.day)].revision < r.revision:
            newest[(r.site, r.day)] = r

    dsn = postgres.create_database("national_months")
    store = NationalStore(dsn)
    try:
        store.migrate()
        for i in range(0, len(arrivals), batch):
            store.ingest(arrivals[i:i + batch])
        expected = expected_months(list(newest.values()))
        assert stored_months(store) == expected
        assert sum(len(rows) for rows in expected.values()) > 0

        # The figures read from month rows and from day rows agree with the same merge.
        last = FIRST_DAY + timedelta(days=40)
        for group, level in (("point", "point_months"), ("province", "province_months"), ("nation", "nation_months")):
            for month in split_period(FIRST_DAY, last)[0]:
                following = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
                answered = {row[group]: row for row in store.figures(group, month, following)}
                want = {key[-1] if group != "nation" else "": row for key, row in expected[level].items() if key[0] == month}
                if group == "point":  # a point that moved has two month rows, merged
                    assert set(answered) == {key[2] for key in expected[level] if key[0] == month}
                    want = {k: v for k, v in want.items() if sum(1 for key in expected[level] if key[0] == month and key[2] == k) == 1}
                for key, row in want.items():
                    assert answered[key]["issued"] == row["issued"]
                    for m in MEASURES:
                        for p in PERCENTILES:
                            assert answered[key][f"{m}_p{p}_s"] == row[f"{m}_p{p}"], (group, key, m, p)
    finally:
        store.close()


def test_a_revision_that_empties_a_point_month_removes_its_row(national_dsn):
    """A point sent under one province, then (revision 2) under another: its old
    point-month row goes, and the old province's month row loses exactly its tickets."""
    store = NationalStore(national_dsn)
    try:
        store.migrate()
        day = date(2026, 5, 14)  # generated data; no clock is read
        rows = [row_of("ho-tich", "quay-1", dict.fromkeys(COUNTS, 0) | {"issued": 2, "called": 2},
                       {"wait": {30: 1, 90: 1}, "service": {}, "total": {}})]
        store.ingest([DayRollup(site="xa-a", day=day, revision=1, province="tinh-1", rows=rows),
                      DayRollup(site="xa-c", day=day, revision=1, province="tinh-1", rows=rows)])
        store.ingest([DayRollup(site="xa-a", day=day, revision=2, province="tinh-2", rows=rows)])
        months = stored_months(store)
        month = day.replace(day=1)
        assert set(months["point_months"]) == {(month, "tinh-1", "xa-c"), (month, "tinh-2", "xa-a")}
        assert months["province_months"][(month, "tinh-1")]["issued"] == 2
        assert months["province_months"][(month, "tinh-1")]["wait_n"] == [1, 1]
        assert months["nation_months"][(month,)]["wait_n"] == [2, 2]
        assert months["nation_months"][(month,)]["parts"] == 2
    finally:
        store.close()


def test_split_period_takes_whole_months_only():
    assert split_period(date(2026, 1, 1), date(2026, 1, 31)) == ([date(2026, 1, 1)], [])
    assert split_period(date(2026, 1, 2), date(2026, 3, 31)) == (
        [date(2026, 2, 1), date(2026, 3, 1)], [(date(2026, 1, 2), date(2026, 1, 31))])
    assert split_period(date(2026, 2, 1), date(2026, 3, 30)) == (
        [date(2026, 2, 1)], [(date(2026, 3, 1), date(2026, 3, 30))])
    assert split_period(date(2026, 2, 3), date(2026, 2, 27)) == ([], [(date(2026, 2, 3), date(2026, 2, 27))])
    assert split_period(date(2025, 12, 15), date(2026, 1, 31)) == (
        [date(2026, 1, 1)], [(date(2025, 12, 15), date(2025, 12, 31))])
