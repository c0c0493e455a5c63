"""The phone a citizen opted in with on the booking page goes with the ticket issued at
check-in (issue 18 with issue 17): a real server on a real port, a real broker, real
SQLite files and the fake SMS gateway. Two bookings with a phone and consent, one checked
in by the kiosk's own client (kiosk/checkin.py, as a QR scan does) and one the way the
desk console does (its JSON body, with the counter), each get "near" and "called" by
SMS exactly once, to their own number; a booking without opt-in gets no SMS; the number
is with the ticket only (the booking's copy is gone at check-in) and the day-end purge
removes it."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx

from kiosk.checkin import CheckInClient
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from tests.server.bookingsite import BOOKING, slot_key
from tests.server.livedesk import LiveServer
from tests.server.notify.fakes import FakeSms
from tests.server.notify.test_booking_reminders import MovedClock
from tests.support import SITE_ID, server_settings_dict, wait_until

SERVICE = "tu-phap-ho-tich"
PHONES = {"kiosk": ("0912345678", "84912345678"), "console": ("0987654321", "84987654321")}


def _settings(broker, tmp_path, sms: FakeSms):
    data = server_settings_dict(broker, tmp_path / "server.db")
    for site in data["sites"]:
        site["booking"] = dict(BOOKING, early_checkin_minutes=120)
    data["notify"] = {"channels": ["page", "file", "sms"], "near_people": 3, "near_minutes": 10,
                      "sms": {"url": f"{sms.server.url}/send", "brandname": "UBND-XA", "api_key": "k", "secret_key": "s"}}
    return load_settings(ServerSettings, None, **data)


def _token(runtime, name: str, counters: list[str]) -> str:
    create_user(runtime.store, name, "mat-khau-dai-1", "desk", [SITE_ID], counters)
    return create_token(runtime.store, name)


def test_the_booking_phone_follows_the_ticket_from_kiosk_and_console_check_in(broker, tmp_path):
    sms = FakeSms()
    clock = MovedClock()  # 10:00 today at the office
    settings = _settings(broker, tmp_path, sms)
    db = tmp_path / "server.db"
    try:
        with LiveServer(settings, clock=clock) as server, httpx.Client(base_url=server.url, timeout=10) as http:
            runtime = server.runtime
            notifier = runtime.notifier
            start = clock().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=90)  # 11:30 today
            codes = {}
            for who in ("kiosk", "console", "none"):
                made = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot_key(start)})
                assert made.status_code == 201, made.text
                codes[who] = made.json()["code"]
            for who, (typed, _stored) in PHONES.items():
                answer = http.post(f"/api/v1/bookings/{codes[who]}/remind",
                                   json={"channel": "sms", "phone": typed, "consent": True})
                assert answer.status_code == 201, answer.text
            # Without the consent box ticked nothing is kept for the third booking.
            refused = http.post(f"/api/v1/bookings/{codes['none']}/remind", json={"channel": "sms", "phone": "0911111111"})
            assert refused.json()["code"] == "consent_required"
            assert notifier.outbox.contact_count() == 2

            kiosk = CheckInClient(server.url, SITE_ID, _token(runtime, "kiosk-1", []))
            scanned = kiosk.check_in(codes["kiosk"])
            assert scanned.ok and scanned.number == "LH001", scanned
            console = {"Authorization": f"Bearer {_token(runtime, 'can-bo', ['quay-1', 'quay-2'])}"}
            tickets = {"kiosk": scanned.ticket_id}
            for who in ("console", "none"):
                checked = http.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": codes[who], "counter": "quay-2"},
                                    headers=console)
                assert checked.status_code == 200, checked.text
                tickets[who] = checked.json()["ticket_id"]
            # Each ticket now holds its booking's number; the bookings' own copies are gone.
            assert {who: notifier.outbox.channels_of(t) for who, t in tickets.items()} == {
                "kiosk": {"sms"}, "console": {"sms"}, "none": set()}
            assert all(notifier.outbox.channels_of(c.replace("-", "")) == set() for c in codes.values())
            assert notifier.outbox.contact(tickets["kiosk"], "sms") == "84912345678"
            assert notifier.outbox.contact(tickets["console"], "sms") == "84987654321"

            # Three waiting, nobody ahead of more than two: each is "near" at once.
            wait_until(lambda: len(sms.accepted) == 2, timeout_s=15)
            runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")  # LH001
            runtime.dispatcher.call_next(SITE_ID, "quay-2", "test")  # LH002
            wait_until(lambda: len(sms.accepted) == 4, timeout_s=15)
            runtime.dispatcher.complete(SITE_ID, "quay-1", "returned", actor="test")
            runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")  # LH003, no phone
            wait_until(lambda: ("called", "page") in {(r["kind"], r["channel"])
                                                      for r in notifier.outbox.rows("ticket_id = ?", (tickets["none"],))})
            conn = sqlite3.connect(db)
            statuses = {who: conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (t,)).fetchone()[0]
                        for who, t in tickets.items()}
            conn.close()
            assert statuses == {"kiosk": "completed", "console": "called", "none": "called"}
            # The notifier looked again after both calls (it wrote LH003's "called"); once more: nothing more goes.
            scans = notifier.scans
            wait_until(lambda: notifier.scans >= scans + 1, timeout_s=45)
            by_phone = Counter(m["Phone"] for m in sms.accepted.values())
            assert by_phone == {"84912345678": 2, "84987654321": 2}, by_phone
            rows = notifier.outbox.rows("channel = 'sms'")
            assert Counter((r["ticket_id"], r["kind"], r["state"]) for r in rows) == {
                (tickets["kiosk"], "near", "sent"): 1, (tickets["kiosk"], "called", "sent"): 1,
                (tickets["console"], "near", "sent"): 1, (tickets["console"], "called", "sent"): 1}
            for phone in ("84912345678", "84987654321"):
                texts = sorted(m["Content"] for m in sms.accepted.values() if m["Phone"] == phone)
                assert [t.split(" ")[0] for t in texts] == ["Moi", "Sap"], texts
            # The ticket without a phone got its messages on the page and file channels only.
            other = {(r["kind"], r["channel"]) for r in notifier.outbox.rows("ticket_id = ?", (tickets["none"],))}
            assert other == {("near", "page"), ("near", "file"), ("called", "page"), ("called", "file")}

            # Kept through the day; gone after its end, with nothing left to purge after.
            local = clock().astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
            clock.to(local.replace(hour=23, minute=50))
            assert notifier.purge() == 0 and notifier.outbox.contact_count() == 2
            clock.to(local.replace(hour=0, minute=10) + timedelta(days=1))
            assert notifier.purge() == 2 and notifier.outbox.contact_count() == 0
            assert notifier.outbox.contact(tickets["kiosk"], "sms") is None
    finally:
        sms.close()


def test_the_hook_runs_inside_the_check_in_before_its_commit_and_cannot_refuse_it(broker, tmp_path):
    """The copy happens before the ticket is committed (another reader does not see the
    ticket yet), is told the ticket's id and day, and a failing hook is logged, not fatal;
    a refused check-in calls no hook."""
    from server.booking.errors import BookingRefused
    from server.booking.service import Bookings
    from server.storage.events import EventStore
    from tests.server.bookingsite import booking_settings

    settings = booking_settings(broker, tmp_path / "server.db", {"early_checkin_minutes": 120})
    store = EventStore(settings.server.database, settings.sites)
    clock = MovedClock()
    bookings = Bookings(store, settings.sites, "server", clock, lambda events: None)
    seen: list[tuple] = []

    def look(code: str, site: str, ticket_id: str, day: str) -> None:
        conn = store.reader()
        try:
            visible = conn.execute("SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()[0]
        finally:
            conn.close()
        seen.append((code, site, ticket_id, day, visible))

    def broken(*_args: str) -> None:
        raise RuntimeError("notify database gone")

    bookings.ticket_hooks += [broken, look]
    try:
        start = clock().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=90)
        code = bookings.book(SITE_ID, SERVICE, slot_key(start))["code"]
        later = bookings.book(SITE_ID, SERVICE, slot_key(start + timedelta(hours=3)))["code"]
        try:
            bookings.check_in(later, SITE_ID)
        except BookingRefused as exc:
            assert exc.code == "too_early"
        else:
            raise AssertionError("a check-in three hours early was accepted")
        assert seen == []
        done = bookings.check_in(code, SITE_ID)
        day = clock().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
        assert seen == [(code, SITE_ID, done["ticket_id"], day, 0)]
        conn = store.reader()
        try:
            assert tuple(conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (done["ticket_id"],)).fetchone()) == ("waiting",)
        finally:
            conn.close()
    finally:
        store.close()
