"""The national store keeps the highest revision of every point-day whatever arrives,
in any order, any number of times; bad roll-ups are refused with a reason and lose
nothing stored."""

from __future__ import annotations

from datetime import date

import pytest

from national.aggregator import Aggregator, Received
from national.store import NationalStore, QueryError
from protocol import topics
from protocol.rollup import COUNTS, DayRollup, InvalidRollup, parse_rollup, row_of
from protocol.settings import BrokerSettings

DAY = date(2026, 3, 31)  # a fixed calendar date of generated data; no clock is read


def rollup(revision: int, rows: dict[tuple[str, str], list[int]], site: str = "xa-mot", province: str = "tinh-mot") -> DayRollup:
    """A roll-up whose rows have `issued` tickets with the given wait seconds."""
    made = []
    for (service, counter), waits in sorted(rows.items()):
        counts = dict.fromkeys(COUNTS, 0) | {"issued": len(waits), "called": len(waits)}
        hist: dict[int, int] = {}
        for w in waits:
            hist[w] = hist.get(w, 0) + 1
        made.append(row_of(service, counter, counts, {"wait": hist, "service": {}, "total": {}}))
    return DayRollup(site=site, day=DAY, revision=revision, province=province, site_name="Xã Một", rows=made)


@pytest.fixture
def store(national_dsn):
    s = NationalStore(national_dsn)
    s.migrate()
    yield s
    s.close()


def nation(store: NationalStore) -> dict:
    (row,) = store.figures("nation", DAY, DAY)
    return row


def test_migrations_apply_once(store):
    assert store.migrate() == []


def test_a_higher_revision_replaces_the_day_and_its_vanished_rows(store):
    first = rollup(1, {("ho-tich", "quay-1"): [10, 20, 30], ("dat-dai", "quay-3"): [500]})
    second = rollup(2, {("ho-tich", "quay-1"): [10, 20, 30, 40]})  # the land row is gone in revision 2
    assert store.ingest([first]).stored == 1
    assert store.ingest([second]).stored == 1
    assert store.revision("xa-mot", DAY) == 2
    assert store.counts()["rows"] == 1
    assert nation(store)["issued"] == 4 and nation(store)["wait_p90_s"] == 40


def test_an_older_revision_or_a_repeat_changes_nothing(store):
    newer = rollup(3, {("ho-tich", "quay-1"): [5, 6]})
    older = rollup(2, {("ho-tich", "quay-1"): [1000, 2000, 3000]})
    store.ingest([newer])
    assert store.ingest([older, newer]).ignored == 2
    assert store.revision("xa-mot", DAY) == 3
    assert nation(store)["issued"] == 2 and nation(store)["wait_p50_s"] == 5


def test_the_revision_held_is_reported_for_the_ack(store):
    store.ingest([rollup(5, {("a", "q"): [7]})])
    accepted = store.ingest([rollup(1, {("a", "q"): [1, 2]})])  # e.g. a province restored from a backup
    assert accepted.held == {("xa-mot", DAY): 5}


def test_in_one_batch_the_highest_revision_wins_whatever_the_order(store):
    accepted = store.ingest([rollup(2, {("a", "q"): [7]}), rollup(5, {("a", "q"): [9, 9]}), rollup(4, {("a", "q"): [1]})])
    assert (accepted.stored, accepted.ignored) == (1, 2)
    assert store.revision("xa-mot", DAY) == 5 and nation(store)["issued"] == 2


def test_bad_roll_ups_are_refused_with_a_reason_and_recorded(store, national_dsn):
    good = rollup(1, {("ho-tich", "quay-1"): [10]})
    aggregator = Aggregator(national_dsn, BrokerSettings(), client_id="national-test")  # not started: handle() only
    forged = good.model_copy(update={"site": "xa-khac"}).payload()
    sums_wrong = good.payload().replace(b'"sums":{"wait":10', b'"sums":{"wait":11')
    aggregator.handle(store, [
        Received(topics.rollup("xa-mot", DAY.isoformat()), b"{not json"),
        Received(topics.rollup("xa-mot", DAY.isoformat()), forged),  # topic and payload disagree
        Received(topics.rollup("xa-mot", DAY.isoformat()), sums_wrong),
        Received(topics.rollup("xa-mot", DAY.isoformat()), good.payload()),
    ])
    assert aggregator.rejected == 3 and aggregator.stored == 1
    assert store.counts()["rejected"] == 3
    assert nation(store)["issued"] == 1


@pytest.mark.parametrize("payload, reason", [
    (b"[]", "not a JSON object"),
    (b'{"v": 2, "site": "xa-mot", "day": "2026-03-31", "revision": 1, "province": "p", "rows": []}', "unsupported roll-up version"),
    (b'{"v": 1, "site": "Xa Mot", "day": "2026-03-31", "revision": 1, "province": "p", "rows": []}', "site"),
    (b'{"v": 1, "site": "xa-mot", "day": "2026-03-31", "revision": 0, "province": "p", "rows": []}', "revision"),
])
def test_parse_rollup_says_what_is_wrong(payload, reason):
    with pytest.raises(InvalidRollup, match=reason):
        parse_rollup(payload)


def test_a_query_with_an_unknown_group_is_refused(store):
    with pytest.raises(QueryError, match="unknown group"):
        store.figures("commune", DAY, DAY)


def test_every_national_page_text_has_a_vietnamese_entry():
    import re
    from pathlib import Path

    from national import web
    from protocol.i18n import load_catalog

    source = Path(web.__file__).read_text(encoding="utf-8")
    used = {label for _key, label in web.COLUMNS} | set(re.findall(r'_\("([^"]+)"\)', source)) | {web.FOOTNOTE}
    catalog = load_catalog("national", "vi")
    assert len(used) > 20
    assert sorted(m for m in used if not catalog.get(m)) == []
