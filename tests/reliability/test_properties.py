"""Property-based tests (hypothesis) of the event parser and of the projection.

- The parser, fed any bytes, any JSON value or any mutation of a valid event, either
  returns an event or raises InvalidEvent: never anything else.
- Any order, any duplication and any split into batches of the same events gives the
  same `tickets` rows, the same measures and the same pre-aggregates.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import topics
from protocol.events import InvalidEvent, make_event, parse_event
from protocol.sites import Site
from server.stats import measures as stats
from server.stats.store import StatsStore, compute_direct
from server.storage.events import EventStore, Incoming
from server.storage.projection import COLUMNS
from tests.support import OTHER_SITE_ID, SITE_ID, site_dict

SITES = [Site.model_validate(site_dict()), Site.model_validate(site_dict(OTHER_SITE_ID))]
RULES = stats.rules_from_sites(SITES)
START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # 07:30 in Hà Nội

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _parse_or_invalid(raw) -> object | None:
    try:
        return parse_event(raw)
    except InvalidEvent:
        return None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_parser_on_any_bytes_returns_an_event_or_invalid(raw):
    _parse_or_invalid(raw)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_parser_on_any_json_returns_an_event_or_invalid(value):
    _parse_or_invalid(json.dumps(value).encode())
    _parse_or_invalid(value if isinstance(value, dict) else {"v": 1, "data": value})


def _valid_issued() -> dict:
    return json.loads(make_event(
        "ticket.issued", site=SITE_ID, source="kiosk-1", seq=1,
        data={"ticket_id": uuid.uuid4(), "number": "A001", "service": "chung-thuc", "priority": None},
    ).to_json())


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["v", "id", "type", "site", "source", "seq", "ts", "data", "data.ticket_id",
                        "data.number", "data.service", "data.priority"]), json_values)
def test_parser_on_a_mutated_valid_event_returns_an_event_or_invalid(path, value):
    body = _valid_issued()
    where, key = (body["data"], path[5:]) if path.startswith("data.") else (body, path)
    where[key] = value
    event = _parse_or_invalid(json.dumps(body).encode())
    if event is not None:  # whatever is accepted survives its own round trip
        assert parse_event(event.to_json()) == event


# -- the projection --------------------------------------------------------------------
@st.composite
def ticket_life(draw, index: int) -> list[tuple]:
    """(type, offset_s, data) of one ticket; offsets are whole seconds so ties happen."""
    ticket = str(uuid.UUID(int=draw(st.integers(0, 2**64)) * 1000 + index))
    service = draw(st.sampled_from(["tu-phap-ho-tich", "chung-thuc", "dat-dai"]))
    number = f"A{index:03d}"
    t = draw(st.integers(0, 20 * 3600))  # past local midnight too: two local days
    out = [("ticket.issued", t, {"ticket_id": ticket, "number": number, "service": service,
                                 "priority": draw(st.sampled_from([None, "elderly"]))})]
    if draw(st.booleans()):
        t += draw(st.integers(0, 600))
        service = "chung-thuc" if service != "chung-thuc" else "tu-phap-ho-tich"
        out.append(("ticket.transferred", t, {"ticket_id": ticket, "counter": "quay-3", "to_service": service}))
    if draw(st.integers(0, 4)) == 0:
        return out  # still waiting
    counter = draw(st.sampled_from(["quay-1", "quay-2"]))
    t += draw(st.integers(0, 3600))
    out.append(("ticket.called", t, {"ticket_id": ticket, "number": number, "counter": counter}))
    for _ in range(draw(st.integers(0, 2))):
        t += draw(st.integers(0, 120))
        out.append(("ticket.recalled", t, {"ticket_id": ticket, "number": number, "counter": counter}))
    end = draw(st.sampled_from(["completed", "no_show", "open"]))
    if end == "no_show":
        out.append(("ticket.no_show", t + draw(st.integers(0, 300)), {"ticket_id": ticket, "counter": counter}))
    elif end == "completed":
        if draw(st.booleans()):
            t += draw(st.integers(0, 60))
            out.append(("ticket.started", t, {"ticket_id": ticket, "counter": counter}))
        t += draw(st.integers(0, 5400))
        out.append(("ticket.completed", t, {"ticket_id": ticket, "counter": counter,
                                            "outcome": draw(st.sampled_from(["returned", "appointment", "guided", "info"]))}))
        for _ in range(draw(st.integers(0, 2))):  # a second rating must not count twice
            out.append(("feedback.given", t + draw(st.integers(0, 60)),
                        {"ticket_id": ticket, "counter": counter, "rating": draw(st.integers(1, 4)), "scale": "4-level"}))
    return out


@st.composite
def office_day(draw) -> list:
    lives = [draw(ticket_life(i)) for i in range(1, draw(st.integers(1, 8)) + 1)]
    items = sorted(((offset, kind, data) for life in lives for kind, offset, data in life), key=lambda x: x[:2])
    seqs: dict[str, int] = {}
    events = []
    for offset, kind, data in items:
        source = "kiosk-1" if kind == "ticket.issued" else ("feedback-1" if kind == "feedback.given" else "server")
        seqs[source] = seqs.get(source, 0) + 1
        events.append(make_event(kind, site=SITE_ID, source=source, seq=seqs[source],
                                 ts=START + timedelta(seconds=offset), data=data))
    return events


def _run(events: list, batches: list[int]) -> tuple:
    """Ingest `events` in batches of the given sizes; return tickets, measures, aggregates."""
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder) / "s.db", SITES)
        aggregates = StatsStore(store, RULES)
        i = 0
        sizes = iter(batches)
        while i < len(events):
            size = max(1, next(sizes, len(events)))
            chunk = events[i:i + size]
            store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), 1.0) for e in chunk])
            aggregates.refresh()
            i += size
        conn = store.reader()
        tickets = sorted(tuple(r[c] for c in COLUMNS) for r in conn.execute("SELECT * FROM tickets"))
        measures = [compute_direct(conn, RULES, "2026-03-01", "2026-03-03", [SITE_ID], keys)
                    for keys in (("site",), ("site", "service", "counter", "hour"))]
        agg = sorted(tuple(r) for r in conn.execute("SELECT * FROM stats_agg"))
        counts = store.counts()
        conn.close()
        store.close()
    return tickets, measures, agg, counts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(office_day(), st.data())
def test_any_order_and_duplication_gives_the_same_tickets_and_stats(events, data):
    reference = _run(events, [len(events)])
    noisy = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=10))))
    batches = data.draw(st.lists(st.integers(1, 5), max_size=20))
    tickets, measures, agg, counts = _run(noisy, batches)
    assert tickets == reference[0]
    assert measures == reference[1]
    assert agg == reference[2]
    assert counts["stored"] == len(events)
    assert counts["duplicates"] == len(noisy) - len(events)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(office_day(), st.data())
def test_pre_aggregated_measures_equal_the_direct_recomputation(events, data):
    """What the stats API answers from its pre-aggregates (any batching of arrival)
    equals the measures recomputed from the tickets rows."""
    noisy = data.draw(st.permutations(events))
    batches = data.draw(st.lists(st.integers(1, 5), max_size=20))
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder) / "s.db", SITES)
        aggregates = StatsStore(store, RULES)
        i, sizes = 0, iter(batches)
        while i < len(noisy):
            size = max(1, next(sizes, len(noisy)))
            store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), 1.0) for e in noisy[i:i + size]])
            aggregates.refresh()
            i += size
        conn = store.reader()
        for span in (("2026-03-02", "2026-03-02"), ("2026-03-01", "2026-03-03"), ("2026-02-01", "2026-04-30")):
            for keys in (("site",), ("site", "service"), ("site", "counter"), ("site", "hour"), ("site", "day"),
                         ("site", "month")):
                direct = compute_direct(conn, RULES, *span, [SITE_ID], keys)
                served = aggregates.query(*span, [SITE_ID], keys)
                assert served == direct, (span, keys)
                if span[0] == "2026-02-01":  # the widest span holds every ticket
                    assert direct, "the day must have measures to compare"
        conn.close()
        store.close()
