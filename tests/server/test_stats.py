"""The measures: nearest-rank percentiles, the hand-computed day, and pre-aggregates
that give exactly what the pure functions give."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import topics
from protocol.sites import Site
from server.stats import measures as stats
from server.stats.query import decode, encode, merged_percentiles, month_spans
from server.stats.store import StatsStore, compute_direct
from server.storage.events import EventStore, Incoming
from tests.server.stats_day import (
    DAY,
    EXPECTED_BY_SITE,
    EXPECTED_SITE1_BY_SERVICE,
    build_day,
    noisy,
    third_site_dict,
)
from tests.support import OTHER_SITE_ID, SITE_ID, site_dict
from tests.synthetic import ticket_lives

SITES = [Site.model_validate(site_dict()), Site.model_validate(site_dict(OTHER_SITE_ID, "Khác")),
         Site.model_validate(third_site_dict())]
RULES = stats.rules_from_sites(SITES)
# The stats store reads no clock, so data pinned to a date (with the ranges below) holds
# on any day; tests with a server build their data from the project clock instead.
START = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # 07:30 in Hanoi


def test_nearest_rank_by_hand():
    values = [15, 20, 35, 40, 50]
    assert [stats.percentile(values, p) for p in (5, 30, 40, 50, 90, 100)] == [15, 20, 20, 35, 50, 50]
    assert stats.percentile([], 50) is None
    assert stats.percentile([7], 90) == 7
    assert stats.nearest_rank(50, 4) == 2 and stats.nearest_rank(90, 10) == 9 and stats.nearest_rank(90, 11) == 10


def test_seconds_floor_and_clamp():
    assert stats.seconds(3600.999) == 3600
    assert stats.seconds(-2.5) == 0
    assert stats.seconds(None) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=300), st.integers(0, 100))
def test_histogram_percentiles_equal_nearest_rank_over_values(values, p):
    histogram: dict[int, int] = {}
    for v in values:
        histogram[v] = histogram.get(v, 0) + 1
    expected = stats.percentile(sorted(values), p)
    assert stats.percentile_of_counts(histogram, p) == expected
    # Split into pieces (like days of a month) and merge through the stored encoding.
    cut = len(values) // 2
    pieces = [values[:cut], values[cut:]]
    blobs = []
    for piece in pieces:
        h: dict[int, int] = {}
        for v in piece:
            h[v] = h.get(v, 0) + 1
        assert decode(encode(h)) == h
        blobs.append(encode(h))
    n, found = merged_percentiles(blobs, [p])
    assert (n, found) == (len(values), [expected])


def test_month_spans_split_full_months_and_edges():
    assert month_spans("2026-01-15", "2026-04-03") == (
        ["2026-02", "2026-03"], [("2026-01-15", "2026-01-31"), ("2026-04-01", "2026-04-03")]
    )
    assert month_spans("2026-02-01", "2026-02-28") == (["2026-02"], [])


def test_top_two_levels_per_scale():
    def sat(rating, scale):
        return stats.Rating("s", DAY, 8, "", "c", rating, scale).satisfied

    assert [sat(r, "4-level") for r in (1, 2, 3, 4)] == [True, True, False, False]
    assert [sat(r, "3-level") for r in (1, 2, 3)] == [True, True, False]
    assert [sat(r, "5-star") for r in (1, 2, 3, 4, 5)] == [False, False, False, True, True]


def test_group_by_is_validated():
    assert stats.parse_group_by("day,service") == ("site", "service", "day")
    with pytest.raises(ValueError, match="unknown group_by weekday"):
        stats.parse_group_by("weekday")


def _store(tmp_path, events) -> EventStore:
    store = EventStore(tmp_path / "stats.db", SITES)
    for i in range(0, len(events), 7):  # small batches, like MQTT ingest
        store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in events[i:i + 7]])
    return store


def test_hand_computed_day_from_noisy_delivery(tmp_path):
    store = _store(tmp_path, noisy(build_day()))
    stats_store = StatsStore(store, RULES)
    assert stats_store.query(DAY, DAY, None, "site") == EXPECTED_BY_SITE
    assert stats_store.query(DAY, DAY, [SITE_ID], "service") == EXPECTED_SITE1_BY_SERVICE
    by_hour = {r["hour"]: r["issued"] for r in stats_store.query(DAY, DAY, [SITE_ID], "hour")}
    assert by_hour == {6: 1, 8: 4, 9: 1, 10: 1, 11: 0}  # 11: the rating without a ticket
    by_counter = {r["counter"]: (r["issued"], r["no_show"]) for r in stats_store.query(DAY, DAY, [SITE_ID], "counter")}
    assert by_counter == {"": (1, 0), "quay-1": (3, 1), "quay-2": (2, 0), "quay-3": (1, 0)}
    # The day before holds only the ticket issued at 23:30 local.
    assert [r["issued"] for r in stats_store.query("2026-11-29", "2026-11-29", [SITE_ID], "site")] == [1]
    assert [r["issued"] for r in stats_store.query("2026-12-01", "2026-12-01", [SITE_ID], "site")] == [1]


def test_arrival_order_does_not_change_the_numbers(tmp_path):
    events = build_day()
    one = _store(tmp_path / "a", events)
    two = _store(tmp_path / "b", list(reversed(events)) + events[:9])
    for group_by in ("site", "service", "counter", "hour", "day"):
        assert StatsStore(one, RULES).query(DAY, DAY, None, group_by) == StatsStore(two, RULES).query(DAY, DAY, None, group_by)


@pytest.mark.parametrize("helper", [False, True], ids=["in-server", "helper-process"])
def test_pre_aggregates_equal_the_pure_path_over_months(tmp_path, helper):
    """Both ways of refreshing (here, or in the helper process a busy day uses) give
    exactly the numbers of the pure path."""
    site = SITES[0]
    events = []
    for k in range(6):
        events += ticket_lives(site, 250, START + timedelta(days=13 * k + 1), seed=20 + k)
    random.Random(1).shuffle(events)
    store = _store(tmp_path, events)
    stats_store = StatsStore(store, RULES, helper_min_tickets=0 if helper else 10**9)
    assert stats_store.refresh() == 6
    assert stats_store.refresh() == 0
    assert (stats_store.helper_chunks > 0) == helper
    # Late tickets on a day already folded: its month is refolded from that fresh
    # day and the other days' stored rows.
    late = ticket_lives(site, 40, START + timedelta(days=14, hours=1), seed=99)
    store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in late])
    assert stats_store.refresh() >= 1
    stats_store.close()
    conn = store.reader()
    ranges = [("2026-11-01", "2027-03-31"), ("2026-12-05", "2027-01-22"), ("2026-12-01", "2026-12-31")]
    for group_by in ("site", "day", "week", "month", "service", "counter", "hour", "month,counter", "day,service,hour"):
        for lo, hi in ranges:
            expected = compute_direct(conn, RULES, lo, hi, None, stats.parse_group_by(group_by))
            assert stats_store.query(lo, hi, None, group_by) == expected, (group_by, lo, hi)
    assert sum(r["issued"] for r in stats_store.query("2026-11-01", "2027-03-31", None, "site")) == 1540


def test_late_events_update_the_aggregates(tmp_path):
    events = build_day()
    completions = [e for e in events if e.type == "ticket.completed"]
    rest = [e for e in events if e.type != "ticket.completed"]
    store = _store(tmp_path, rest)
    stats_store = StatsStore(store, RULES)
    first = {r["site"]: r for r in stats_store.query(DAY, DAY, None, "site")}
    assert first[SITE_ID]["completed"] == 0 and first[SITE_ID]["issued"] == 7
    store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in completions])
    assert stats_store.query(DAY, DAY, None, "site") == EXPECTED_BY_SITE


def test_changed_targets_rebuild_the_aggregates(tmp_path):
    store = _store(tmp_path, build_day())
    assert StatsStore(store, RULES).query(DAY, DAY, [SITE_ID], "site")[0]["within_target"] == 3
    strict = {s: stats.Rules(r.zone, {k: 3000 for k in r.targets_s}) for s, r in RULES.items()}
    row = StatsStore(store, strict).query(DAY, DAY, [SITE_ID], "site")[0]
    assert (row["received"], row["within_target"]) == (4, 2)  # T4 (3600 s) no longer within


def test_merging_very_long_durations_takes_the_sparse_path():
    # A ticket left open for weeks (beyond the dense limit) must still rank exactly.
    values = [5, 60, 60, 3600, 5_000_000, 9_000_000]
    histogram = {v: values.count(v) for v in set(values)}
    for p in (1, 50, 67, 90, 100):
        assert merged_percentiles([encode(histogram)], [p]) == (6, [stats.percentile(values, p)])
    halves = [{v: values[:3].count(v) for v in set(values[:3])}, {v: values[3:].count(v) for v in set(values[3:])}]
    for p in (1, 50, 67, 90, 100):
        assert merged_percentiles([encode(h) for h in halves], [p]) == (6, [stats.percentile(values, p)])
    assert decode(encode(histogram)) == histogram  # the wide format
    assert decode(encode({1: 70_000})) == {1: 70_000}  # a count beyond 16 bits


def test_every_dashboard_and_export_text_has_a_vietnamese_entry():
    import re
    from pathlib import Path

    from protocol.i18n import catalog_path, parse_po
    from server.stats.export import NOTES
    from server.web.routes.dashboard import JS_TEXTS
    from server.web.routes.stats import HEADERS

    html = (Path(__file__).resolve().parents[2] / "server" / "web" / "templates" / "dashboard.html").read_text(encoding="utf-8")
    used = set(HEADERS.values()) | set(JS_TEXTS) | set(NOTES) | {"Week {week}/{year}", "Statistics", "Notes", "Period", "Sites"}
    used |= set(re.findall(r'_\("([^"]+)"\)', html)) | set(re.findall(r"_\('([^']+)'\)", html))
    catalog = parse_po(catalog_path("server").read_text(encoding="utf-8"))
    assert len(used) > 100
    assert sorted(m for m in used if not catalog.get(m)) == []
    assert catalog["Sunday"] == "Chủ nhật" and catalog["Monday"] == "Thứ Hai"


def test_at_risk_is_a_share_of_each_service_target(tmp_path):
    from datetime import datetime

    from protocol.events import make_event
    from server.stats.alerts import alerts_of, live_state

    data = site_dict()
    data["services"][1]["target_minutes"] = 120  # chung-thuc: 120 min, at risk from 90 min
    site = Site.model_validate(data)
    store = EventStore(tmp_path / "live.db", [site])
    issued_at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 08:00 in Hanoi
    events = [
        make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=i + 1, ts=issued_at,
                   data={"ticket_id": f"00000000-0000-4000-8000-00000000000{i}", "number": f"X{i}", "service": s,
                         "priority": None})
        for i, s in enumerate(["tu-phap-ho-tich", "chung-thuc", "dat-dai"])
    ]
    store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in events])
    conn = store.reader()
    at_50 = live_state(conn, site, issued_at.timestamp() + 50 * 60)
    assert [t["number"] for t in at_50["at_risk"]] == ["X0"]  # 60-min target: past 45 min
    assert (at_50["waiting"], at_50["longest_wait_s"]) == (3, 3000)
    at_90 = live_state(conn, site, issued_at.timestamp() + 90 * 60)
    assert sorted(t["number"] for t in at_90["at_risk"]) == ["X0", "X1"]  # land is not eligible
    assert sorted(alerts_of(at_90)) == sorted(f"ticket_at_risk:{t['ticket_id']}" for t in at_90["at_risk"])
    tomorrow = live_state(conn, site, issued_at.timestamp() + 86400)
    assert (tomorrow["waiting"], tomorrow["at_risk"]) == (0, [])  # yesterday's tickets are not "now"


def test_a_grouping_without_pre_aggregates_refuses_too_many_tickets(tmp_path, monkeypatch):
    from server.stats import store as module

    stats_store = StatsStore(_store(tmp_path, build_day()), RULES)
    assert len(stats_store.query(DAY, DAY, None, "service,counter")) == 11  # 7 + 2 + 2 pairs, by hand
    monkeypatch.setattr(module, "DIRECT_LIMIT", 10)
    with pytest.raises(module.TooLarge, match="reads every ticket"):
        stats_store.query(DAY, DAY, None, "service,counter")
    assert len(stats_store.query(DAY, DAY, None, "service")) == 8  # pre-aggregated: no limit
