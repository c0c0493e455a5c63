"""The server keeps the kiosk's `unconfirmed` mark (docs/kiosk.md) on the ticket,
whatever the order its events arrive in, and a database of the previous schema gains
the column with the marks of events it already stored."""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import sqlite_utils

from protocol.events import make_event
from protocol.sites import Site
from server.storage.db import migrations, open_database
from server.storage.events import EventStore, Incoming
from tests.support import SITE_ID, site_dict

AT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def _issued(number: str, seq: int, unconfirmed: bool | None):
    data = {"ticket_id": str(uuid.uuid4()), "number": number, "service": "tu-phap-ho-tich", "priority": None}
    if unconfirmed is not None:
        data["unconfirmed"] = unconfirmed
    return make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=seq, ts=AT + timedelta(minutes=seq), data=data)


def test_the_mark_is_kept_whatever_the_order_of_events(tmp_path):
    site = Site.model_validate(site_dict())
    marked, plain, old_kiosk = _issued("A001", 1, True), _issued("A002", 2, False), _issued("A003", 3, None)
    later = []
    for n, e in enumerate((marked, plain, old_kiosk)):
        ticket_id = str(e.data.ticket_id)
        later.append(make_event("ticket.called", site=SITE_ID, source="server", seq=2 * n + 1, ts=AT + timedelta(minutes=10 + n),
                                data={"ticket_id": ticket_id, "number": e.data.number, "counter": "quay-1"}))
        later.append(make_event("ticket.no_show", site=SITE_ID, source="server", seq=2 * n + 2, ts=AT + timedelta(minutes=20 + n),
                                data={"ticket_id": ticket_id, "counter": "quay-1"}))
    events = [marked, plain, old_kiosk, *later]
    random.Random(4).shuffle(events)  # calls before issues: the mark must still land
    store = EventStore(tmp_path / "server.db", [site])
    store.ingest([Incoming(f"xephang/v1/{e.site}/events/{e.type}", e.to_json(), 0.0) for e in events])
    conn = store.reader()
    rows = conn.execute("SELECT number, status, unconfirmed FROM tickets ORDER BY number").fetchall()
    conn.close()
    assert [tuple(r) for r in rows] == [("A001", "no_show", 1), ("A002", "no_show", 0), ("A003", "no_show", 0)]


def test_a_database_of_the_previous_schema_gains_the_marks_it_already_stored(tmp_path):
    path = tmp_path / "server.db"
    old = sqlite_utils.Database(sqlite3.connect(path))
    migrations.apply(old, stop_before="m104_unconfirmed_tickets")
    for event in (_issued("A001", 1, True), _issued("A002", 2, False)):
        old.execute(
            "INSERT INTO events (id, site, type, source, seq, ts, ts_at, ticket_id, received_at, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(event.id), SITE_ID, event.type, event.source, event.seq, event.ts.isoformat(), event.ts.timestamp(),
             str(event.data.ticket_id), 0.0, event.to_json().decode()),
        )
        old.execute("INSERT INTO tickets (ticket_id, site, number, status) VALUES (?, ?, ?, 'waiting')",
                    (str(event.data.ticket_id), SITE_ID, event.data.number))
    old.execute("INSERT INTO stats_meta (name, value) VALUES ('rules', 'fingerprint-of-old-rules')")
    old.conn.commit()
    assert "unconfirmed" not in old["tickets"].columns_dict
    old.conn.close()

    db = open_database(path)
    assert [tuple(r) for r in db.execute("SELECT number, unconfirmed FROM tickets ORDER BY number").fetchall()] == [
        ("A001", 1), ("A002", 0)]
    assert "unconfirmed" in db["stats_agg"].columns_dict
    # The pre-aggregates are rebuilt at the next refresh, so the count includes A001.
    assert db.execute("SELECT value FROM stats_meta WHERE name = 'rules'").fetchall() == []
    assert json.loads(db.execute("SELECT payload FROM events WHERE ticket_id IN (SELECT ticket_id FROM tickets "
                                 "WHERE number = 'A001')").fetchone()[0])["data"]["unconfirmed"] is True
