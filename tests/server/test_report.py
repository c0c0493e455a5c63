"""The report pack's figures against the hand-computed month (tests/server/report_month.py),
stored in a real SQLite file through the event store; the month sits before the test's
clock, whatever date that is."""

from __future__ import annotations

import time
from datetime import time as day_time

import pytest

from protocol import topics
from protocol.sites import Site
from server.stats import measures
from server.stats import report as pack
from server.stats.store import StatsStore
from server.storage.events import EventStore, Incoming
from tests.server.report_month import build_month, expected
from tests.server.stats_day import noisy
from tests.support import OTHER_SITE_ID, SITE_ID, office_clock, site_dict

SITES = [Site.model_validate(site_dict()), Site.model_validate(site_dict(OTHER_SITE_ID, "Khác"))]


@pytest.fixture
def month(tmp_path):
    now = office_clock(10)()
    events, days = build_month(now)
    store = EventStore(tmp_path / "report.db", SITES)
    shuffled = noisy(events)  # out of order, some twice: the projection folds them the same
    for i in range(0, len(shuffled), 5):
        store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in shuffled[i:i + 5]])
    stats = StatsStore(store, measures.rules_from_sites(SITES))
    yield stats, days
    stats.close()
    store.close()


def _subset(actual: dict, wanted: dict) -> dict:
    return {k: actual[k] for k in wanted}


def test_month_figures_match_the_hand_computed_ones(month):
    stats, days = month
    report = pack.assemble(stats, SITES[:1], days["M_from"], days["M_to"])
    want = expected(days)
    assert report["label"] == "số liệu tại quầy"
    assert report["period"] == {"from": days["M_from"], "to": days["M_to"], "previous_from": days["P"][:8] + "01",
                                "previous_to": days["P"]}
    assert _subset(report["summary"], want["summary"]) == want["summary"]
    services = {r["service"]: r for r in report["by_service"]}
    assert sorted(services) == ["chung-thuc", "dat-dai", "tu-phap-ho-tich"]
    for service, figures in want["by_service"].items():
        assert _subset(services[service], figures) == figures, service
    assert report["trend"] == want["trend"]
    same = report["same_session"]
    assert (same["eligible"], same["returned_in_session"], same["pct"]) == tuple(list(want["same_session"].values())[:3])
    assert [(r["eligible"], r["returned_in_session"], r["pct"]) for r in same["rows"]] == want["same_session"]["by_session"]
    assert [(r["start"], r["cutoff"], r["end"]) for r in same["rows"]] == [("07:30", "09:30", "11:30"), ("13:30", "15:30", "17:00")]
    assert _subset(report["index_766"], want["index_766"]) == want["index_766"]
    assert report["index_766"]["complained"] is None  # not measured at the counter: said so, never 0
    assert "÷" in report["index_766"]["formula"]
    assert report["visits"] == want["visits"]
    counters = {r["counter"]: r for r in report["counters"]}
    assert sorted(counters) == ["quay-1", "quay-2", "quay-3"]
    for counter, figures in want["counters"].items():
        assert _subset(counters[counter], figures) == figures, counter
    assert report["pauses"] == want["pauses"]
    cells = {(c["weekday"], c["hour"]): (c["tickets"], c["wait_p50_s"]) for c in report["heatmap"]["cells"]}
    assert cells == want["heatmap"]
    assert report["exceptions"]["counts"] == want["exceptions"]["counts"]
    listed = [(e["kind"], e["day"], e["number"], e["minutes"]) for e in report["exceptions"]["listed"]]
    assert listed == want["exceptions"]["listed"]


def test_previous_period_from_rows_equals_the_pre_aggregates(month):
    stats, days = month
    prev_from, prev_to = pack.previous_period(days["M_from"], days["M_to"])
    conn = stats.store.reader()
    rows, _, _ = pack.load_inputs(conn, SITES[:1], prev_from, prev_to)
    conn.close()
    assert pack.previous_counts(rows, SITES[:1]) == {"received": 1, "within_target": 0}
    assert pack.assemble(stats, SITES[:1], days["M_from"], days["M_to"])["summary"]["previous"]["received"] == 1


def test_a_group_of_sites_adds_up_and_an_empty_site_is_listed(month):
    stats, days = month
    report = pack.assemble(stats, SITES, days["M_from"], days["M_to"])
    assert [r["site"] for r in report["by_site"]] == [SITE_ID, OTHER_SITE_ID]
    assert report["by_site"][1]["issued"] == 0 and report["by_site"][0]["issued"] == 9
    assert report["summary"]["issued"] == 9
    assert len(report["same_session"]["rows"]) == 4


def test_sessions_are_per_site_settings(month):
    stats, days = month
    # One session 07:00-12:00 with a 10:00 cut-off: T1, T2 and T3 are eligible; T1 (08:26)
    # and T2 (11:40) are back before 12:00, T3 is an appointment; D2 has no session.
    data = site_dict()
    data["sessions"] = [{"start": "07:00", "cutoff": "10:00", "end": "12:00"}]
    site = Site.model_validate(data)
    report = pack.assemble(stats, [site], days["M_from"], days["M_to"])
    assert [(r["eligible"], r["returned_in_session"]) for r in report["same_session"]["rows"]] == [(3, 2)]
    assert site.sessions[0].cutoff == day_time(10, 0)


def test_bad_sessions_are_refused_with_a_clear_error():
    data = site_dict()
    data["sessions"] = [{"start": "13:30", "cutoff": "15:30", "end": "17:00"}, {"start": "07:30", "cutoff": "09:30", "end": "11:30"}]
    with pytest.raises(ValueError, match="sessions overlap or are out of order"):
        Site.model_validate(data)
    data["sessions"] = [{"start": "07:30", "cutoff": "12:00", "end": "11:30"}]
    with pytest.raises(ValueError, match="start < cutoff <= end"):
        Site.model_validate(data)


def test_interval_arithmetic():
    a = pack.merge([(5, 8), (0, 2), (1, 3), (10, 12)])
    assert a == [(0, 3), (5, 8), (10, 12)]
    assert pack.intersect(a, [(2, 6), (7, 11)]) == [(2, 3), (5, 6), (7, 8), (10, 11)]
    assert pack.subtract(a, [(1, 2), (6, 7), (11, 20)]) == [(0, 1), (2, 3), (5, 6), (7, 8), (10, 11)]
    assert pack.length_s(a) == 8


def test_previous_period_rule():
    assert pack.previous_period("2026-03-01", "2026-03-31") == ("2026-02-01", "2026-02-28")
    assert pack.previous_period("2026-01-01", "2026-01-31") == ("2025-12-01", "2025-12-31")
    assert pack.previous_period("2026-03-10", "2026-03-16") == ("2026-03-03", "2026-03-09")


def test_every_report_text_has_a_vietnamese_translation():
    import re
    import unicodedata
    from pathlib import Path

    from protocol.i18n import parse_po
    from server.stats.report_xlsx import DEFINITIONS, FORMULA_766, WEEKDAYS
    from server.web.routes.reports import OUTCOME_NAMES

    root = Path(__file__).resolve().parents[2] / "server"
    call = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')\s*\)""")
    used = set(DEFINITIONS) | {FORMULA_766} | set(WEEKDAYS) | set(OUTCOME_NAMES)
    for path in (root / "stats" / "report_xlsx.py", root / "web" / "routes" / "reports.py", root / "web" / "templates" / "report.html"):
        for double, single in call.findall(path.read_text(encoding="utf-8")):
            used.add(double or single)
    catalog = parse_po((root / "locale" / "vi.po").read_text(encoding="utf-8"))
    assert len(used) > 100
    assert sorted(m for m in used if not catalog.get(m)) == []
    assert all(unicodedata.is_normalized("NFC", catalog[m]) for m in used)
    # Excel sheet names: at most 31 characters, none of : \ / ? * [ ]
    from server.stats import report_xlsx
    source = Path(report_xlsx.__file__).read_text(encoding="utf-8")
    titles = re.findall(r'_table\(\s*book, _\("([^"]+)"\)|create_sheet\(_\("([^"]+)"\)\)', source)
    for title in [a or b for a, b in titles]:
        vi = catalog[title]
        assert len(vi) <= 31 and not set(vi) & set(':\\/?*[]'), vi
