"""The day-end job and the fold: an automatic no-show never overrides what a person did,
and day-end waits until ingest has stored what the broker held for the server.

Data is built relative to the project clock (protocol/clock.py), so these hold any day.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from protocol import clock, topics
from protocol.events import make_event
from protocol.link import MqttLink
from protocol.settings import load_settings
from protocol.sites import Site
from server.mqtt.ingest import DEVICE_STATUS
from server.settings import ServerSettings
from server.storage.events import EventStore, Incoming
from server.web.app import create_app
from tests.support import SITE_ID, server_settings_dict, site_dict, wait_until


def _site() -> Site:
    return Site.model_validate(site_dict())


class Ticket:
    """One ticket's events, stamped relative to `at`."""

    def __init__(self, at):
        self.id = str(uuid.uuid4())
        self.at = at
        self.seq = 0

    def event(self, kind: str, after_s: float, source: str = "server", **data):
        self.seq += 1
        body = {"ticket_id": self.id, **data}
        if kind == "ticket.issued":
            body.update(number="A001", service="tu-phap-ho-tich", priority=None)
            source = "kiosk-1"
        elif kind != "ticket.transferred":
            body.setdefault("counter", "quay-1")
            if kind in ("ticket.called", "ticket.recalled"):
                body.setdefault("number", "A001")
        return make_event(kind, site=SITE_ID, source=source, seq=self.seq, data=body,
                          ts=self.at + timedelta(seconds=after_s))


def _status(tmp_path, *batches):
    """Ingest each batch in turn (a late delivery is a later batch); the ticket's row."""
    store = EventStore(tmp_path / f"{uuid.uuid4().hex}.db", [_site()])
    try:
        for batch in batches:
            store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), 0.0) for e in batch])
    finally:
        store.close()
    conn = store.reader()
    try:
        return dict(conn.execute("SELECT * FROM tickets").fetchone())
    finally:
        conn.close()


DAY = 86400.0


def test_completion_delivered_late_wins_over_an_earlier_automatic_no_show(tmp_path):
    t = Ticket(clock.now() - timedelta(days=2))
    issued, called, started = t.event("ticket.issued", 0), t.event("ticket.called", 60), t.event("ticket.started", 90)
    completed = t.event("ticket.completed", 600, outcome="returned")
    auto = t.event("ticket.no_show", DAY, auto=True)
    row = _status(tmp_path, [issued, called, started, auto], [completed])
    assert row["status"] == "completed" and row["outcome"] == "returned"
    assert row["no_show_at"] is None and row["service_s"] == 510
    # A completion stamped after the automatic no-show wins too: timestamps do not matter.
    late = t.event("ticket.completed", 2 * DAY, outcome="guided")
    assert _status(tmp_path, [issued, called, auto, late])["status"] == "completed"


def test_a_started_ticket_closed_by_day_end_is_closed_not_a_no_show(tmp_path):
    t = Ticket(clock.now() - timedelta(days=2))
    events = [t.event("ticket.issued", 0), t.event("ticket.called", 60), t.event("ticket.started", 90),
              t.event("ticket.no_show", DAY, auto=True)]
    row = _status(tmp_path, events)
    assert row["status"] == "closed"  # the citizen came: never counted as a no-show
    assert row["no_show_at"] is None and row["started_at"] is not None and row["completed_at"] is None


def test_automatic_no_show_closes_what_was_left_waiting_or_called(tmp_path):
    t = Ticket(clock.now() - timedelta(days=2))
    issued, called = t.event("ticket.issued", 0), t.event("ticket.called", 60)
    auto = t.event("ticket.no_show", DAY, auto=True)
    row = _status(tmp_path, [issued, called, auto])
    assert row["status"] == "no_show" and row["no_show_at"] == auto.ts.timestamp()
    assert row["first_called_at"] is not None and row["wait_s"] == 60
    # A call made by a person after the day-end reopens it; the next day-end closes it again.
    recalled = t.event("ticket.called", DAY + 60)
    assert _status(tmp_path, [issued, called, auto, recalled])["status"] == "called"
    again = t.event("ticket.no_show", 2 * DAY, auto=True)
    assert _status(tmp_path, [issued, called, auto, recalled, again])["status"] == "no_show"
    # A no-show by a person is a no-show, an automatic one after it changes nothing.
    by_person = t.event("ticket.no_show", 120)
    row = _status(tmp_path, [issued, called, by_person, auto])
    assert row["status"] == "no_show" and row["no_show_at"] == by_person.ts.timestamp()


def test_day_end_waits_for_the_backlog_held_by_the_broker(broker, tmp_path):
    """After a restart, a completion still in the broker is stored before day-end judges."""
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    # The server's persistent session exists; the server is down.
    session = MqttLink(settings.server.client_id, settings.broker,
                       subscriptions=[(topics.ALL_EVENTS, 1), (DEVICE_STATUS, 1)], manual_ack=True)
    session.start()
    assert session.wait_connected(10)
    session.stop()
    # Yesterday (project clock) a citizen was called and served; the database has that.
    t = Ticket(clock.now() - timedelta(days=1))
    store = EventStore(settings.server.database, settings.sites)
    store.append_local([t.event("ticket.issued", 0), t.event("ticket.called", 60), t.event("ticket.started", 90)])
    store.close()
    # Meanwhile the broker holds a backlog for the server, the completion last.
    publisher = MqttLink("server-backlog", settings.broker)
    publisher.start()
    assert publisher.wait_connected(10)
    others = [Ticket(t.at) for _ in range(400)]
    infos = [publisher.publish(topics.event(SITE_ID, "ticket.issued"), o.event("ticket.issued", 5).to_json())
             for o in others]
    completed = t.event("ticket.completed", 900, outcome="returned")
    infos.append(publisher.publish(topics.event(SITE_ID, completed.type), completed.to_json()))
    for info in infos:
        info.wait_for_publish(10)
    publisher.stop()

    app = create_app(settings)
    with TestClient(app):
        runtime = app.state.runtime
        dayend = runtime.dayend
        wait_until(lambda: dayend.runs >= 1, timeout_s=30)
        conn = runtime.store.reader()
        try:
            kinds = [r[0] for r in conn.execute("SELECT type FROM events WHERE ticket_id = ?", (t.id,))]
            row = conn.execute("SELECT status, outcome FROM tickets WHERE ticket_id = ?", (t.id,)).fetchone()
            stored_others = conn.execute(
                "SELECT COUNT(*) FROM events WHERE type = 'ticket.issued' AND source = 'kiosk-1'").fetchone()[0]
        finally:
            conn.close()
    assert "ticket.completed" in kinds and "ticket.no_show" not in kinds
    assert tuple(row) == ("completed", "returned")
    assert stored_others == 401  # the whole backlog was stored before day-end ran
