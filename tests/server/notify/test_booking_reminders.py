"""Booking reminders (issue 18): the day before and 30 minutes before an appointment's
slot. A real server (TestClient), a real broker, real SQLite files and a fake SMS
gateway; the server's clock is the project clock's date at 10:00, moved by the test.
Each reminder goes at its time and not before, once, also across a restart; a cancelled
booking's reminders never go; a moved booking's go for the new slot; the phone number
given for a booking is gone the day after the slot."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

from fastapi.testclient import TestClient

from protocol.settings import load_settings
from server.runtime import Runtime
from server.settings import ServerSettings
from server.web.app import create_app
from tests.server.bookingsite import BOOKING, slot_key, tomorrow_at
from tests.server.notify.fakes import FakeSms
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

SERVICE = "tu-phap-ho-tich"


class MovedClock:
    """10:00 at the office today, running at real speed; `to(moment)` moves it there."""

    def __init__(self) -> None:
        self.base = office_clock(10)
        self.shift = timedelta(0)

    def __call__(self):
        return self.base() + self.shift

    def to(self, moment) -> None:
        self.shift += moment - self()


def _settings(broker, tmp_path, sms: FakeSms):
    data = server_settings_dict(broker, tmp_path / "server.db")
    for site in data["sites"]:
        site["booking"] = dict(BOOKING)
    data["notify"] = {"channels": ["page", "file", "sms"],
                      "sms": {"url": f"{sms.server.url}/send", "brandname": "UBND-XA", "api_key": "k", "secret_key": "s"}}
    return load_settings(ServerSettings, None, **data)


def _app(settings, clock):
    runtime = Runtime.build(settings, clock=clock)
    runtime.notifier.remind_every_s = 0.1  # look often: the test moves the clock and waits for the message
    return runtime, create_app(settings, runtime=runtime)


def _file_lines(runtime) -> list[dict]:
    from server.notify.notifier import default_paths

    path = default_paths(runtime.settings.notify, runtime.settings.server.database)[2]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _passes(runtime, more: int = 3) -> None:
    """Let the reminder thread look `more` times at the moved clock."""
    start = runtime.notifier.remind_passes
    wait_until(lambda: runtime.notifier.remind_passes >= start + more)


def _sms():
    sms = FakeSms()
    # The office registered its reminder texts with the gateway, as for the other kinds.
    sms.patterns += [re.compile(r"^Nhac lich hen: .+"), re.compile(r"^Lich hen cua ban luc .+")]
    return sms


def test_reminders_go_at_their_time_once_across_a_restart_and_the_number_goes_the_day_after(broker, tmp_path):
    sms = _sms()
    clock = MovedClock()
    settings = _settings(broker, tmp_path, sms)
    try:
        slot = tomorrow_at(clock(), 11)  # reminders due today 11:00 and tomorrow 10:30
        runtime, app = _app(settings, clock)
        with TestClient(app) as client:
            code = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot_key(slot)}).json()["code"]
            key = code.replace("-", "")
            planned = {r["kind"]: r for r in runtime.notifier.outbox.reminders(key)}
            assert {k: (r["due_at"], r["state"]) for k, r in planned.items()} == {
                "booking_day_before": ((slot - timedelta(days=1)).timestamp(), "planned"),
                "booking_soon": ((slot - timedelta(minutes=30)).timestamp(), "planned"),
            }
            # The booking page offers the phone opt-in with its purpose line; consent is required.
            page = client.get(f"/b/{code}").text
            assert 'id="remind-form"' in page and "được xóa vào ngày hôm sau lịch hẹn" in page
            refused = client.post(f"/api/v1/bookings/{code}/remind", json={"channel": "sms", "phone": "0912345678"})
            assert (refused.status_code, refused.json()["code"]) == (422, "consent_required")
            assert runtime.notifier.outbox.contact_count() == 0
            form = client.post(f"/b/{code}/remind", data={"channel": "sms", "phone": "0912 345 678", "consent": "yes"},
                               follow_redirects=False)
            assert form.status_code == 303
            assert runtime.notifier.outbox.channels_of(key) == {"sms"}

            # Ten seconds before its time: nothing goes.
            clock.to(slot - timedelta(days=1, seconds=10))
            _passes(runtime)
            assert sms.accepted == {} and _file_lines(runtime) == []
            # At its time: one message on each channel (page, file, and the SMS to that number).
            clock.to(slot - timedelta(days=1) + timedelta(seconds=1))
            wait_until(lambda: len(sms.accepted) == 1 and len(_file_lines(runtime)) == 1)
            (message,) = sms.accepted.values()
            assert message["Phone"] == "84912345678"
            assert message["Content"].startswith("Nhac lich hen: Tu phap - Ho tich luc 11:00 ngay ")
            assert [(line["ticket_id"], line["kind"]) for line in _file_lines(runtime)] == [(key, "booking_day_before")]
            assert "Nhắc lịch hẹn: Tư pháp - Hộ tịch lúc 11:00" in client.get(f"/b/{code}").text

        # A restart (the reminders are planned again at start): the day-before one does not go again.
        runtime, app = _app(settings, clock)
        with TestClient(app) as client:
            _passes(runtime, 5)
            assert len(sms.accepted) == 1 and len(_file_lines(runtime)) == 1
            clock.to(slot - timedelta(minutes=30, seconds=-1))
            wait_until(lambda: len(sms.accepted) == 2)
            _passes(runtime, 5)
            kinds = [line["kind"] for line in _file_lines(runtime)]
            assert kinds == ["booking_day_before", "booking_soon"]
            assert len(sms.accepted) == 2

            # The number is kept through the slot's day and gone the day after it.
            clock.to(slot.replace(hour=23, minute=50))
            assert runtime.notifier.purge() == 0 and runtime.notifier.outbox.contact_count() == 1
            clock.to(slot.replace(hour=0, minute=10) + timedelta(days=1))
            assert runtime.notifier.purge() == 1 and runtime.notifier.outbox.contact_count() == 0
    finally:
        sms.close()


def test_a_cancelled_booking_sends_nothing_and_a_moved_one_is_reminded_for_its_new_slot(broker, tmp_path):
    sms = _sms()
    clock = MovedClock()
    settings = _settings(broker, tmp_path, sms)
    try:
        runtime, app = _app(settings, clock)
        with TestClient(app) as client:
            slot = tomorrow_at(clock(), 11)
            cancelled = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                              "slot": slot_key(slot)}).json()["code"]
            moved = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                          "slot": slot_key(slot)}).json()["code"]
            for code in (cancelled, moved):
                answer = client.post(f"/api/v1/bookings/{code}/remind", json={"channel": "sms", "phone": "0912345678",
                                                                             "consent": True})
                assert answer.status_code == 201, answer.text
            assert client.post(f"/api/v1/bookings/{cancelled}/cancel").status_code == 200
            # Cancelled: its reminders will not go, and its number is deleted at once.
            assert {r["state"] for r in runtime.notifier.outbox.reminders(cancelled.replace("-", ""))} == {"cancelled"}
            assert runtime.notifier.outbox.channels_of(cancelled.replace("-", "")) == set()
            # Moved an hour later: planned for the new slot.
            later = slot + timedelta(hours=1)
            assert client.post(f"/api/v1/bookings/{moved}/move", json={"slot": slot_key(later)}).status_code == 200
            planned = {r["kind"]: r["due_at"] for r in runtime.notifier.outbox.reminders(moved.replace("-", ""))}
            assert planned == {"booking_day_before": (later - timedelta(days=1)).timestamp(),
                               "booking_soon": (later - timedelta(minutes=30)).timestamp()}

            # The old time passes: nothing goes for either.
            clock.to(slot - timedelta(days=1) + timedelta(seconds=5))
            _passes(runtime, 5)
            assert sms.accepted == {} and _file_lines(runtime) == []
            # The moved booking's new time: its reminder goes, once; the cancelled one never.
            clock.to(later - timedelta(days=1) + timedelta(seconds=1))
            wait_until(lambda: len(sms.accepted) == 1)
            time.sleep(0.3)
            assert [(line["ticket_id"], line["kind"]) for line in _file_lines(runtime)] == [
                (moved.replace("-", ""), "booking_day_before")]
            assert len(sms.accepted) == 1
    finally:
        sms.close()
