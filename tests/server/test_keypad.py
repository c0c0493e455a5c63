"""Desk keypads over a real broker: a keypad's command calls the next ticket with the
same rules and audit trail as the console; other accounts cannot command a counter."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.server.livedesk import Kiosk
from tests.support import SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until


def _client(broker, user):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, broker.passwords[user])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def _press(client, counter, payload):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topics.command(SITE_ID, counter), body, qos=1).wait_for_publish(10)


def _ticket(db, number):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status, counter, outcome FROM tickets WHERE number = ?", (number,)).fetchone()
    finally:
        conn.close()


@pytest.fixture
def running(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()  # 10:00 on the project clock's date: no midnight mid-test
    app = app_on_clock(settings, office)
    with TestClient(app) as client:
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        keypads = app.state.runtime.keypads
        wait_until(lambda: keypads.link.connected.is_set())
        kiosk = Kiosk(broker, clock=office)
        kiosk.issue("B001", "chung-thuc")
        kiosk.issue("B002", "chung-thuc")
        wait_until(lambda: app.state.runtime.store.counts()["stored"] == 2)
        yield app, db, keypads
        kiosk.close()


def test_keypad_next_calls_and_complete_closes_with_audit(broker, running):
    app, db, keypads = running
    keypad = _client(broker, "keypad-1")
    _press(keypad, "quay-1", {"action": "next", "device": "keypad-1"})
    wait_until(lambda: _ticket(db, "B001")[:2] == ("called", "quay-1"))
    _press(keypad, "quay-1", {"action": "recall"})
    _press(keypad, "quay-1", {"action": "complete", "outcome": "appointment"})
    wait_until(lambda: _ticket(db, "B001") == ("completed", "quay-1", "appointment"))
    _press(keypad, "quay-1", {"action": "next"})
    wait_until(lambda: _ticket(db, "B002")[0] == "called")
    _press(keypad, "quay-1", {"action": "no_show"})
    wait_until(lambda: _ticket(db, "B002")[0] == "no_show")
    _press(keypad, "quay-1", {"action": "next"})  # nobody waits: refused, audited, nothing breaks
    _press(keypad, "quay-1", b"{not json")
    _press(keypad, "quay-1", {"action": "explode"})
    conn = sqlite3.connect(db)
    wait_until(lambda: conn.execute("SELECT COUNT(*) FROM audit_log WHERE via = 'mqtt'").fetchone()[0] == 8)
    rows = conn.execute("SELECT actor, role, action, ok, code, remote FROM audit_log WHERE via = 'mqtt' ORDER BY id").fetchall()
    assert [r[2:5] for r in rows] == [
        ("call_next", 1, None), ("recall", 1, None), ("complete", 1, None), ("call_next", 1, None),
        ("no_show", 1, None), ("call_next", 0, "no_ticket_waiting"), ("keypad_command", 0, "invalid_command"),
        ("keypad_command", 0, "invalid_command"),
    ]
    assert rows[0][:2] == ("keypad:keypad-1", "keypad") and rows[0][5] == topics.command(SITE_ID, "quay-1")
    types = [r[0] for r in conn.execute("SELECT type FROM events WHERE source = 'server' ORDER BY seq")]
    assert types == ["counter.opened", "ticket.called", "ticket.recalled", "ticket.completed", "ticket.called", "ticket.no_show"]
    keypad.loop_stop()


def test_kiosk_and_other_counter_commands_are_refused_by_the_broker(broker, running):
    app, db, keypads = running
    kiosk = _client(broker, "kiosk-1")
    _press(kiosk, "quay-1", {"action": "next"})
    keypad = _client(broker, "keypad-1")
    _press(keypad, "quay-2", {"action": "next"})  # keypad-1 belongs to quay-1
    display = _client(broker, "display-1")
    _press(display, "quay-1", {"action": "next"})
    time.sleep(1.5)
    assert _ticket(db, "B001")[0] == "waiting" and _ticket(db, "B002")[0] == "waiting"
    assert keypads.handled == 0
    # The same broker delivers the real keypad's own command at once: the refusals above were the ACL.
    _press(keypad, "quay-1", {"action": "next"})
    wait_until(lambda: _ticket(db, "B001")[:2] == ("called", "quay-1"))
    assert keypads.handled == 1
    for client in (kiosk, keypad, display):
        client.loop_stop()
