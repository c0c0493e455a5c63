"""Check-in at the kiosk by QR scan: a fake scanner (lines typed into the kiosk's
KeypadReader, as a USB HID scanner types them) with MockFactory pins, the fake printer,
a real Mosquitto and a real server (uvicorn on a real port): a booking's QR prints
exactly one ticket with the server's number; the same code again, an unknown code or a
code of another day prints nothing and signals the refusal on the light and beeper."""

from __future__ import annotations

from datetime import timedelta

import httpx
from gpiozero.pins.mock import MockFactory

from hardware.buttons import KeypadReader
from kiosk.app import KioskApp
from server.web.auth import create_token, create_user
from tests.kiosk.conftest import LED_PINS, make_settings
from tests.kiosk.raster import decode_ticket
from tests.server.bookingsite import booking_settings, slot_key, tomorrow_at
from tests.server.livedesk import LiveServer
from tests.support import SITE_ID, office_clock, wait_until


def test_a_scanned_booking_prints_exactly_one_ticket(tmp_path, broker):
    clock = office_clock()  # 10:00 on the project clock's date
    settings = booking_settings(broker, tmp_path / "server.db", {"early_checkin_minutes": 120})
    with LiveServer(settings, clock=clock) as server:
        store = server.runtime.store
        create_user(store, "kiosk-1-checkin", "mat-khau-kiosk-1", "desk", [SITE_ID], [])
        token = create_token(store, "kiosk-1-checkin", "kiosk-1")
        with httpx.Client(base_url=server.url) as http:
            today = clock().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=90)
            code = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": "tu-phap-ho-tich",
                                                       "slot": slot_key(today)}).json()["code"]
            later = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": "tu-phap-ho-tich",
                                                        "slot": slot_key(tomorrow_at(clock(), 9))}).json()["code"]
        kiosk_settings = make_settings(tmp_path, broker.settings_for("kiosk-1"), checkin_token=token, server_url=server.url)
        factory = MockFactory()
        app = KioskApp(kiosk_settings, pin_factory=factory, clock=clock)
        app.start()
        try:
            scanner = KeypadReader(kiosk_settings.keypad_keys(), app.press, on_scan=app.scan)
            # The scanner types the QR's text (the booking page's address) and Enter.
            scanner.feed(f"{server.url}/b/{code.replace('-', '')}\n")
            assert app.wait_idle(15)
            jobs = app.printer.transport.jobs
            assert len(jobs) == 1 and decode_ticket(jobs[0]).width == 576
            result = app.results[-1]
            assert (result.outcome, result.number) == ("printed", "LH001")
            assert result.content.notice == "LỊCH HẸN: đã xác nhận có mặt"
            row = wait_until(lambda: _ticket(server, result.ticket_id))
            assert row == ("LH001", "appointment", "waiting")

            # Again the same code, another day's code, an unknown code: nothing printed, refusal signalled.
            buzzer = factory.pin(LED_PINS["buzzer"])
            for scanned, outcome in ((code, "refused:code_used"), (later, "refused:other_day"),
                                     ("ABCDE-FGHJK", "refused:unknown_code")):
                buzzer.clear_states()
                scanner.feed(scanned)
                assert app.wait_idle(15)
                assert app.results[-1].outcome == outcome
                assert len(app.printer.transport.jobs) == 1
                assert any(state for _at, state in buzzer.states), "the beeper signals the refusal"
            assert _count(server, "SELECT COUNT(*) FROM tickets WHERE channel = 'appointment'") == 1
        finally:
            app.stop()


def _ticket(server, ticket_id):
    conn = server.runtime.store.reader()
    try:
        row = conn.execute("SELECT number, channel, status FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return tuple(row) if row else None
    finally:
        conn.close()


def _count(server, sql):
    conn = server.runtime.store.reader()
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()
