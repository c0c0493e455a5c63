"""Lost ticket (issue 20): a desk asks the kiosk that printed a ticket to print it again.
A real server, a real kiosk (MockFactory pins, fake printer) and a real broker: the copy
has the same number and time of issue, is marked as a copy, makes no new number and no
event; the request is audited; other counters' desks and unknown tickets are refused."""

from __future__ import annotations

import sqlite3

from fastapi.testclient import TestClient

from kiosk.store import FILE_NAME
from kiosk.ticket_image import render_ticket
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from tests.kiosk.raster import decode_ticket
from tests.kiosk.test_app import press, start_app
from tests.support import SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until


def _one(db, sql: str, *args):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()
    finally:
        conn.close()


def test_a_desk_reprints_a_lost_ticket_at_the_kiosk_that_printed_it(tmp_path, broker):
    clock = office_clock()
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    with TestClient(app_on_clock(settings, clock)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        app, factory, _gate = start_app(tmp_path, broker, clock=clock)
        try:
            press(factory, 17)
            assert app.wait_idle(10)
            first = app.results[-1]
            assert first.printed
            wait_until(lambda: _one(runtime.store.path, "SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", first.ticket_id)[0])
            create_user(runtime.store, "canbo1", "pw-canbo1-xyz", "desk", [SITE_ID], ["quay-1"])
            create_user(runtime.store, "canbo3", "pw-canbo3-xyz", "desk", [SITE_ID], ["quay-3"])
            mine = {"Authorization": f"Bearer {create_token(runtime.store, 'canbo1')}"}
            other = {"Authorization": f"Bearer {create_token(runtime.store, 'canbo3')}"}
            url = f"/api/v1/sites/{SITE_ID}/counters/quay-1/reprint"

            refused = client.post(url, json={"ticket_id": first.ticket_id}, headers=other)
            assert refused.status_code == 403, refused.text
            unknown = client.post(url, json={"ticket_id": "no-such-ticket"}, headers=mine)
            assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_ticket"
            sent = client.post(url, json={"ticket_id": first.ticket_id}, headers=mine)
            assert sent.status_code == 200, sent.text
            assert sent.json() == {"reprint": "sent", "ticket_id": first.ticket_id, "number": first.number, "kiosk": "kiosk-1"}

            wait_until(lambda: len(app.printer.transport.jobs) == 2, 10)
            copy = wait_until(lambda: next((r for r in app.results if r.outcome == "reprinted"), None), 10)
            assert (copy.number, copy.ticket_id) == (first.number, first.ticket_id)
            assert copy.content.issued_at == first.content.issued_at and copy.content.reprinted_at is not None
            # the copy printed is the copy drawn: marked, so it differs from the first slip
            printed = decode_ticket(app.printer.transport.jobs[1])
            assert printed.tobytes() == render_ticket(copy.content).image.tobytes()
            assert printed.tobytes() != decode_ticket(app.printer.transport.jobs[0]).tobytes()
        finally:
            app.stop()
        db = runtime.store.path
        assert _one(db, "SELECT COUNT(*) FROM events WHERE type = 'ticket.issued'")[0] == 1  # no new event
        assert _one(db, "SELECT COUNT(*) FROM tickets")[0] == 1
        assert _one(tmp_path / "kiosk-data" / FILE_NAME, "SELECT COUNT(*) FROM tickets")[0] == 1  # no new number
        audited = [tuple(r) for r in sqlite3.connect(db).execute(
            "SELECT actor, action, ok, code FROM audit_log WHERE action = 'reprint' ORDER BY rowid")]
        assert audited == [("canbo3", "reprint", 0, "forbidden"), ("canbo1", "reprint", 0, "unknown_ticket"),
                           ("canbo1", "reprint", 1, None)]
