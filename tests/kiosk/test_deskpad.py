"""The desk keypad device: button presses on mock pins drive the real dispatcher
through a real broker; an offline press is refused and never fires later."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from gpiozero.pins.mock import MockFactory

from broker.config import free_port
from kiosk.deskpad import DeskPad, DeskpadSettings, command_payload
from protocol.events import make_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from tests.support import SITE_ID, server_settings_dict, settings_dict, wait_until

PINS = {"next": 20, "recall": 21, "no_show": 22, "returned": 23}


def _pad(broker, port=None, password=None):
    data = settings_dict(broker.settings_for("keypad-1", password))
    if port:
        data["broker"]["port"] = port
    data["keypad"] = {"site": SITE_ID, "device_id": "keypad-1", "counter": "quay-1", "buttons": PINS,
                      "pin_factory": "mock", "leds": {"ready": 5, "fault": 6}, "debounce_s": 0}
    factory = MockFactory()
    return DeskPad(load_settings(DeskpadSettings, None, **data), pin_factory=factory).start(), factory


def _press(factory, pin):
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def _status(store, ticket_id):
    conn = store.reader()
    try:
        return conn.execute("SELECT status, outcome, counter FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
    finally:
        conn.close()


def test_keypad_buttons_call_and_complete_through_the_dispatcher(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    app = create_app(settings)
    with TestClient(app) as client:
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        store = app.state.runtime.store
        ticket_id = str(uuid.uuid4())
        store.append_local([make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=1,
                                       ts=datetime.now(UTC),
                                       data={"ticket_id": ticket_id, "number": "A001", "service": "chung-thuc"})])
        keypads = app.state.runtime.keypads
        wait_until(lambda: keypads.link.connected.is_set())
        pad, factory = _pad(broker)
        try:
            assert pad.link.wait_connected(10)
            wait_until(lambda: factory.pin(5).state is True and factory.pin(6).state is False)  # ready light
            _press(factory, PINS["next"])
            wait_until(lambda: _status(store, ticket_id)[0] == "called", 10)
            _press(factory, PINS["returned"])
            wait_until(lambda: _status(store, ticket_id)[0] == "completed", 10)
            assert tuple(_status(store, ticket_id)) == ("completed", "returned", "quay-1")
            assert [p["action"] for p in pad.sent] == ["next", "complete"]
        finally:
            pad.stop()


def test_an_offline_keypad_refuses_presses_and_lights_the_fault(broker):
    pad, factory = _pad(broker, port=free_port())  # nothing listens there
    try:
        assert pad.press("next") == "offline"
        assert pad.sent == [] and pad.refused == 1
        factory.pin(6).clear_states()
        assert pad.press("recall") == "offline"
        wait_until(lambda: sum(1 for s in factory.pin(6).states if not s.state) >= 3)  # it blinked
        wait_until(lambda: factory.pin(6).state is True)  # and stays lit while offline
    finally:
        pad.stop()


def test_outcome_buttons_are_completions_with_that_outcome():
    assert command_payload("appointment", "k") == {"action": "complete", "outcome": "appointment", "device": "k"}
    assert command_payload("next", "k") == {"action": "next", "device": "k"}
