"""After a crash between numbering and the confirmed print, the held ticket is published
marked unconfirmed (never as printed), with its own event id; and a kiosk file made
by the previous schema migrates so that tickets may be `unconfirmed`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from kiosk import outbox
from kiosk.store import MIGRATIONS, open_store, transaction
from protocol.events import parse_event

AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def _hold(db: sqlite3.Connection, number: str) -> str:
    with transaction(db):
        ticket_id, _seq = outbox.add_issued(db, site="test-site", source="kiosk-1", day="2026-11-30", number=number,
                                            service="tu-phap-ho-tich", priority=None, issued_at=AT)
    return ticket_id


def test_a_held_ticket_is_released_unconfirmed_with_its_own_event_id(tmp_path):
    db = open_store(tmp_path)
    printed = _hold(db, "A001")
    with transaction(db):
        outbox.confirm_printed(db, printed)
    crashed = _hold(db, "A002")
    event_id = db.execute("SELECT event_id FROM outbox WHERE ticket_id = ?", (crashed,)).fetchone()[0]
    with transaction(db):
        assert outbox.recover_held(db) == ["A002"]
    assert [tuple(r) for r in db.execute("SELECT number, state FROM tickets ORDER BY number")] == [
        ("A001", "printed"), ("A002", "unconfirmed")]
    events = [parse_event(r.payload) for r in outbox.ready_after(db, 0, 10)]
    assert [(e.data.number, e.data.unconfirmed) for e in events] == [("A001", False), ("A002", True)]
    assert str(events[1].id) == event_id  # the same event: it was never sent before
    # It is in the queue: people-ahead counts it.
    assert outbox.issued_since(db, "test-site", "tu-phap-ho-tich", AT - timedelta(minutes=1)) == 2
    with transaction(db):
        assert outbox.recover_held(db) == []  # nothing held any more


def test_a_kiosk_file_of_the_previous_schema_migrates(tmp_path):
    path = tmp_path / "kiosk.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    name, create = MIGRATIONS[0]
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    old.executescript(f"BEGIN;\n{create()}\nINSERT INTO migrations VALUES ('{name}', '{AT.isoformat()}');\nCOMMIT;")
    old.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):  # the old schema refuses the new state
        old.execute("INSERT INTO tickets VALUES ('x', 's', 'd', 'A9', 'v', NULL, 't', 'unconfirmed')")
    ticket_id = _hold(old, "A001")
    old.close()

    db = open_store(tmp_path)
    assert [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY rowid")] == [m[0] for m in MIGRATIONS]
    with transaction(db):
        assert outbox.recover_held(db) == ["A001"]
    assert db.execute("SELECT state FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()[0] == "unconfirmed"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError):  # the outbox still refers to the (rebuilt) tickets table
        db.execute("INSERT INTO outbox (event_id, ticket_id, seq, topic, payload, state, created_at) "
                   "VALUES ('e', 'no-such-ticket', 9, 't', x'00', 'ready', 't')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE tickets SET state = 'lost'")
