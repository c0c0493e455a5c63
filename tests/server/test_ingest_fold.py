"""Ingest's fast paths give what the slow ones give (docs/ingest.md).

- A ticket continued from its kept fold state (events arriving in order) or folded from
  one batch alone (a new ticket) gets the row a fold of all its stored events gives,
  whatever the order, duplication and batching, with transfers, requeues, recalls,
  check-ins, ratings and the day-end's automatic no-shows.
- A transaction that rolls back (a desk write undone, a commit refused) leaves no fold
  state behind that the next event would continue from.
- The parser's one-pass path accepts exactly what the checked path accepts, with the
  same event, and a rejected payload keeps the checked path's reason.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from datetime import timedelta

import pytest

from protocol import topics
from protocol.events import InvalidEvent, _parse_slowly, make_event, parse_event
from protocol.sites import Site
from server.storage.events import EventStore, Incoming
from server.storage.projection import COLUMNS, fold
from tests.reliability.fuzz import junk
from tests.support import SITE_ID, site_dict
from tests.synthetic import default_start, ticket_lives

SITE = Site.model_validate(site_dict())
START = default_start()


def _messages(events):
    return [Incoming(topics.event(e.site, e.type), e.to_json(), 1.0) for e in events]


def _lives(tickets: int, seed: int) -> list:
    """Ticket lives with every kind of event the fold knows, in time order; whole seconds
    so that ties happen."""
    rng = random.Random(seed)
    seqs: dict[str, int] = {}
    items = []
    for index in range(tickets):
        ticket = str(uuid.UUID(int=rng.getrandbits(128)))
        number = f"A{index:03d}"
        channel = rng.choice([None, None, "online", "appointment"])
        t = rng.randrange(0, 6 * 3600)
        issued = {"ticket_id": ticket, "number": number, "service": "chung-thuc", "channel": channel}
        if channel == "appointment":
            issued["appointment_start"] = (START + timedelta(seconds=t + rng.randrange(-600, 600))).isoformat()
        life = [("ticket.issued", t, issued)]
        if channel == "online":
            t += rng.randrange(0, 900)
            life.append(("ticket.checked_in", t, {"ticket_id": ticket, "via": "kiosk"}))
        if rng.random() < 0.2:
            t += rng.randrange(0, 300)
            life.append(("ticket.transferred", t, {"ticket_id": ticket, "counter": "quay-1", "to_service": "tu-phap-ho-tich"}))
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            t += rng.randrange(0, 1200)
            life.append(("ticket.called", t, {"ticket_id": ticket, "number": number, "counter": "quay-2"}))
            if rng.random() < 0.3:
                t += rng.randrange(0, 60)
                life.append(("ticket.recalled", t, {"ticket_id": ticket, "number": number, "counter": "quay-2"}))
            if rng.random() < 0.3:
                t += rng.randrange(0, 300)
                queue_at = (START + timedelta(seconds=t)).isoformat()
                life.append(("ticket.requeued", t, {"ticket_id": ticket, "counter": "quay-2", "queue_at": queue_at}))
        end = rng.choice(["completed", "started", "no_show", "open"])
        if end in ("completed", "started"):
            t += rng.randrange(0, 60)
            life.append(("ticket.started", t, {"ticket_id": ticket, "counter": "quay-2"}))
        if end == "completed":
            t += rng.randrange(0, 1800)
            life.append(("ticket.completed", t, {"ticket_id": ticket, "counter": "quay-2", "outcome": "returned"}))
            if rng.random() < 0.3:
                life.append(("feedback.given", t + 30, {"ticket_id": ticket, "counter": "quay-2", "rating": 4, "scale": "4-level"}))
        elif end == "no_show":
            t += rng.randrange(0, 300)
            life.append(("ticket.no_show", t, {"ticket_id": ticket, "counter": "quay-2"}))
        if rng.random() < 0.25:  # the day-end closes what is left; sometimes a person acts after it
            life.append(("ticket.no_show", 10 * 3600, {"ticket_id": ticket, "counter": "quay-2", "auto": True}))
            if rng.random() < 0.4:
                life.append(("ticket.called", 10 * 3600 + 5, {"ticket_id": ticket, "number": number, "counter": "quay-1"}))
        items += life
    items.sort(key=lambda item: item[1])
    events = []
    for kind, offset, data in items:
        source = {"ticket.issued": "kiosk-1", "feedback.given": "feedback-1"}.get(kind, "server")
        seqs[source] = seqs.get(source, 0) + 1
        events.append(make_event(kind, site=SITE_ID, source=source, seq=seqs[source],
                                 ts=START + timedelta(seconds=offset), data=data))
    return events


def _rows_and_refolds(store: EventStore) -> tuple[list, list]:
    """The stored ticket rows, and each ticket folded from all its stored events."""
    conn = store.reader()
    try:
        rows = sorted(tuple(r[c] for c in COLUMNS) for r in conn.execute("SELECT * FROM tickets"))
        by_ticket: dict[str, list] = {}
        for r in conn.execute("SELECT ticket_id, type, site, ts_at, seq, source, payload FROM events "
                              "WHERE ticket_id IS NOT NULL ORDER BY rowid"):
            by_ticket.setdefault(r[0], []).append(tuple(r[1:]))
    finally:
        conn.close()
    refolds = sorted(tuple(fold(t, evs, store.zones)[c] for c in COLUMNS) for t, evs in by_ticket.items())
    return rows, refolds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_continued_and_fresh_folds_equal_a_fold_of_all_stored_events(tmp_path, seed):
    events = _lives(300, seed)
    rng = random.Random(seed)
    # Mostly in order (the continued fold), some events late or repeated (the refold).
    arriving = list(events)
    for _ in range(len(arriving) // 10):
        i = rng.randrange(len(arriving))
        arriving.insert(min(len(arriving), i + rng.randrange(1, 200)), arriving.pop(i))
    arriving += rng.sample(events, 40)
    store = EventStore(tmp_path / "s.db", [SITE])
    i = 0
    while i < len(arriving):
        size = rng.choice([1, 3, 17, 60])
        store.ingest(_messages(arriving[i:i + size]))
        i += size
    assert store._folds, "no fold state was kept: the continued path went untested"
    rows, refolds = _rows_and_refolds(store)
    assert len(rows) == 300
    assert rows == refolds
    whole = EventStore(tmp_path / "whole.db", [SITE])
    whole.ingest(_messages(events))
    assert _rows_and_refolds(whole)[0] == rows
    assert store.counts() == {"stored": len(events), "duplicates": 40, "rejected": 0}


def _ticket(store: EventStore, ticket_id: str) -> dict:
    conn = store.reader()
    try:
        return dict(conn.execute("SELECT * FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone())
    finally:
        conn.close()


def test_a_desk_write_rolled_back_leaves_no_fold_state_to_continue(tmp_path):
    issued, called, started, completed = ticket_lives(SITE, 1, START, seed=7)[:4]
    assert [e.type for e in (issued, called, started, completed)] == [
        "ticket.issued", "ticket.called", "ticket.started", "ticket.completed"]
    store = EventStore(tmp_path / "s.db", [SITE])
    store.ingest(_messages([issued]))
    ticket_id = issued.ticket_id
    assert ticket_id in store._folds
    with pytest.raises(RuntimeError), store.writing() as conn:
        store.append_local([called], conn=conn)
        raise RuntimeError("the desk action failed after its event")
    store.ingest(_messages([started]))
    row = _ticket(store, ticket_id)
    assert row["status"] == "serving" and row["called_count"] == 0 and row["first_called_at"] is None
    rows, refolds = _rows_and_refolds(store)
    assert rows == refolds


def test_a_refused_commit_leaves_no_fold_state_to_continue(tmp_path):
    issued, called, started, completed = ticket_lives(SITE, 1, START, seed=7)[:4]
    store = EventStore(tmp_path / "s.db", [SITE])
    store.ingest(_messages([issued]))
    ticket_id = issued.ticket_id
    # A real failure inside the ingest transaction, after the fold: the database refuses
    # the tickets row of a called ticket (as a full disk would refuse the write).
    other = sqlite3.connect(tmp_path / "s.db")
    other.execute("CREATE TRIGGER refuse BEFORE INSERT ON tickets WHEN NEW.status = 'called' "
                  "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    other.commit()
    with pytest.raises(sqlite3.IntegrityError):
        store.ingest(_messages([called]))
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    store.ingest(_messages([started]))
    row = _ticket(store, ticket_id)
    assert row["status"] == "serving" and row["called_count"] == 0
    store.ingest(_messages([called, completed]))  # the broker redelivers what was not acknowledged
    rows, refolds = _rows_and_refolds(store)
    assert rows == refolds
    assert _ticket(store, ticket_id)["called_count"] == 1 and _ticket(store, ticket_id)["status"] == "completed"


def _outcome(parse, payload):
    try:
        return "event", parse(payload).model_dump()
    except InvalidEvent as exc:
        return "rejected", exc.reason


def _edge_payloads() -> list[bytes]:
    body = json.loads(make_event("counter.paused", site=SITE_ID, source="kiosk-1", seq=3,
                                 data={"counter": "quay-1", "reason": "Đi họp"}, ts=START).to_json())
    text = json.dumps(body, ensure_ascii=False)
    swaps = [('"v": 1', '"v": true'), ('"v": 1', '"v": 1.0'), ('"v": 1', '"v": "1"'), ('"seq": 3', '"seq": 3.0'),
             ('"seq": 3', '"seq": "3"'), ('"seq": 3', '"seq": 3.5'), ('"Đi họp"', '"a\\ud800b"'),
             ('"Đi họp"', '"a\\ud83d\\ude00b"'), ('"Đi họp"', '"a\tb"'), ('"Đi họp"', '"Đi ho\\u0323p"'),
             ('"data"', '"d\\u0061ta"'), ('"counter.paused"', '"counter.paus\\u0065d"'), ('"Đi họp"', "null")]
    out = [text.replace(a, b) for a, b in swaps]
    out += [text[:-1] + tail + "}" for tail in (
        ', "x": ' + "9" * 4300, ', "x": ' + "9" * 4301, ', "x": -' + "9" * 4400, ', "x": NaN', ', "x": Infinity',
        ', "x": 1e400', ', "x": "\\udc00"', ', "v": 2', ', "seq": 7', ', "type": "ticket.started"',
        ', "x": ' + "[" * 300 + "]" * 300, ', "x": ' + "[" * 150 + "]" * 150, ', "x": 01')]
    out += ["\ufeff" + text, text + " x", " " + text + "\n", "[]", "null", "", "{}"]
    return [t.encode("utf-8", "surrogatepass") for t in out]


def test_the_one_pass_parser_agrees_with_the_checked_one():
    payloads = [e.to_json() for e in _lives(100, 4)] + [p for _, p in junk(3000, seed=11)] + _edge_payloads()
    accepted = 0
    for payload in payloads:
        fast = _outcome(parse_event, payload)
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            assert fast[0] == "rejected" and fast[1].startswith("not UTF-8")
            continue
        slow = _outcome(_parse_slowly, text) if len(payload) <= 64 * 1024 else fast
        assert fast == slow, payload[:200]
        accepted += fast[0] == "event"
    assert accepted > 400
