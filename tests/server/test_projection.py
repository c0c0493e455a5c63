"""The tickets projection ends the same whatever the order and duplication of events."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from protocol.events import make_event
from protocol.sites import Site
from server.storage.events import EventStore, Incoming
from tests.support import SITE_ID, site_dict
from tests.synthetic import default_start, ticket_lives


def _site() -> Site:
    return Site.model_validate(site_dict())


def _messages(events):
    return [Incoming(f"xephang/v1/{e.site}/events/{e.type}", e.to_json(), 0.0) for e in events]


def _tickets(store):
    conn = store.reader()
    rows = conn.execute("SELECT * FROM tickets ORDER BY ticket_id").fetchall()
    conn.close()
    return [dict(r) for r in rows]


def test_any_order_and_duplication_gives_the_same_tickets(tmp_path):
    site = _site()
    events = ticket_lives(site, 200, default_start(), seed=3)
    in_order = EventStore(tmp_path / "a.db", [site])
    in_order.ingest(_messages(events))
    shuffled = EventStore(tmp_path / "b.db", [site])
    noisy = events + random.Random(5).sample(events, 150)
    random.Random(9).shuffle(noisy)
    for i in range(0, len(noisy), 37):
        shuffled.ingest(_messages(noisy[i : i + 37]))
    assert _tickets(in_order) == _tickets(shuffled)
    assert len(_tickets(in_order)) == 200
    assert shuffled.counts() == {"stored": len(events), "duplicates": 150, "rejected": 0}


def test_measures_of_one_ticket_are_exact(tmp_path):
    site = _site()
    store = EventStore(tmp_path / "t.db", [site])
    ticket_id = uuid.uuid4()
    t0 = datetime(2026, 11, 30, 16, 50, tzinfo=UTC)  # 23:50 in Hanoi
    seq = iter(range(1, 100))

    def ev(kind, minutes, **data):
        return make_event(kind, site=SITE_ID, source="server", seq=next(seq), ts=t0 + timedelta(minutes=minutes),
                          data={"ticket_id": ticket_id, **data})

    events = [
        ev("ticket.completed", 50, counter="quay-1", outcome="returned"),  # arrives first
        ev("ticket.called", 20, number="A001", counter="quay-1"),
        ev("ticket.issued", 0, number="A001", service="tu-phap-ho-tich", priority=None),
        ev("ticket.recalled", 22, number="A001", counter="quay-1"),
        ev("ticket.started", 25, counter="quay-1"),
    ]
    store.ingest(_messages(events[:2]))
    partial = _tickets(store)[0]
    assert partial["status"] == "completed" and partial["issued_at"] is None
    store.ingest(_messages(events[2:]))
    row = _tickets(store)[0]
    assert row["status"] == "completed"
    assert row["wait_s"] == 20 * 60
    assert row["service_s"] == 25 * 60  # from ticket.started
    assert row["total_s"] == 50 * 60
    assert row["recalled_count"] == 1 and row["called_count"] == 1
    assert row["local_day"] == "2026-11-30"  # 23:50 local, though the UTC day is the same


def test_transfer_keeps_arrival_and_moves_service(tmp_path):
    site = _site()
    store = EventStore(tmp_path / "t.db", [site])
    tid = uuid.uuid4()
    t0 = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 on 1 Dec in Hanoi
    events = [
        make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=1, ts=t0,
                   data={"ticket_id": tid, "number": "B001", "service": "chung-thuc"}),
        make_event("ticket.called", site=SITE_ID, source="server", seq=1, ts=t0 + timedelta(minutes=5),
                   data={"ticket_id": tid, "number": "B001", "counter": "quay-1"}),
        make_event("ticket.transferred", site=SITE_ID, source="server", seq=2, ts=t0 + timedelta(minutes=6),
                   data={"ticket_id": tid, "counter": "quay-1", "to_service": "tu-phap-ho-tich"}),
    ]
    store.ingest(_messages(events))
    row = _tickets(store)[0]
    assert (row["status"], row["service"], row["original_service"]) == ("waiting", "tu-phap-ho-tich", "chung-thuc")
    assert row["issued_at"] == t0.timestamp() and row["wait_s"] == 300
    assert row["local_day"] == "2026-12-01"


def test_rule_breaking_events_are_rejected_and_kept(tmp_path):
    site = _site()
    other = Site.model_validate(site_dict("other-site"))
    store = EventStore(tmp_path / "t.db", [site, other])
    tid = uuid.uuid4()
    issued = make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=1,
                        data={"ticket_id": tid, "number": "A001", "service": "chung-thuc"})
    foreign = make_event("ticket.completed", site="other-site", source="server", seq=1,
                         data={"ticket_id": tid, "counter": "quay-1", "outcome": "returned"})
    unknown_site = make_event("counter.opened", site="nowhere", source="server", seq=2, data={"counter": "quay-1"})
    bad_service = make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=2,
                             data={"ticket_id": uuid.uuid4(), "number": "Z001", "service": "khong-co"})
    messages = _messages([issued, foreign, unknown_site, bad_service])
    messages.append(Incoming(f"xephang/v1/{SITE_ID}/events/ticket.called", issued.to_json(), 0.0))  # topic lies
    result = store.ingest(messages)
    assert (len(result.stored), result.rejected) == (1, 4)
    conn = store.reader()
    reasons = [r[0] for r in conn.execute("SELECT reason FROM rejected_events ORDER BY id")]
    assert any("belongs to site 'test-site'" in r for r in reasons)
    assert any("unknown site 'nowhere'" in r for r in reasons)
    assert any("unknown service 'khong-co'" in r for r in reasons)
    assert any("differs from event type" in r for r in reasons)


def test_duplicate_numbers_and_seq_gaps_are_recorded(tmp_path):
    site = _site()
    store = EventStore(tmp_path / "t.db", [site])
    events = [
        make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=seq,
                   data={"ticket_id": uuid.uuid4(), "number": "A001", "service": "chung-thuc"})
        for seq in (1, 2, 5)
    ]
    store.ingest(_messages(events))
    conn = store.reader()
    assert conn.execute("SELECT kind, key FROM anomalies").fetchall()[0][0] == "duplicate_number"
    assert tuple(conn.execute("SELECT min_seq, max_seq, events, missing FROM sources").fetchone()) == (1, 5, 3, 2)
