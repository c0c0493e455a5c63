"""Bookings on a real server, broker and SQLite: book, move and cancel with a code; the
refusals; 200 concurrent requests for the last 5 places of a slot give exactly 5 bookings
(uvicorn on a real port, real HTTP); an online number joins the queue at once through the
same event path as a kiosk ticket; check-in at the desk by code."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from server.web.auth import create_token, create_user
from tests.server.bookingsite import booking_settings, slot_key, tomorrow_at
from tests.server.livedesk import Kiosk, LiveServer
from tests.support import SITE_ID, app_on_clock, office_clock, wait_until

SERVICE = "tu-phap-ho-tich"


@pytest.fixture
def office(broker, tmp_path):
    db = tmp_path / "server.db"
    clock = office_clock()
    app = app_on_clock(booking_settings(broker, db), clock)
    with TestClient(app) as client:
        runtime = app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        yield client, runtime, clock, db


def _rows(db, sql, *args):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _desk_token(runtime, role="desk", sites=(SITE_ID,), counters=("quay-1",)) -> dict[str, str]:
    create_user(runtime.store, "can-bo", "mat-khau-dai-1", role, list(sites), list(counters))
    return {"Authorization": f"Bearer {create_token(runtime.store, 'can-bo')}"}


def test_book_move_cancel_with_the_code(office):
    client, runtime, clock, db = office
    start = tomorrow_at(clock(), 9)
    day = start.date().isoformat()
    slots = client.get(f"/api/v1/booking/{SITE_ID}/{SERVICE}/slots", params={"day": day}).json()["slots"]
    nine = next(s for s in slots if s["slot"] == slot_key(start))
    assert nine == {**nine, "places": 5, "free": 5, "open": True}

    made = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot_key(start)})
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    assert len(code) == 11 and code[5] == "-"
    view = client.get(f"/api/v1/bookings/{code}").json()
    assert (view["status"], view["day"], view["slot"], view["slot_end"], view["kind"]) == ("booked", day, "09:00", "09:30", "appointment")
    assert view["number"] is None and view["ticket_id"] is None  # no number before check-in
    # Read back in any case, without the dash.
    assert client.get(f"/api/v1/bookings/{code.replace('-', '').lower()}").status_code == 200
    slots = client.get(f"/api/v1/booking/{SITE_ID}/{SERVICE}/slots", params={"day": day}).json()["slots"]
    assert next(s for s in slots if s["slot"] == slot_key(start))["free"] == 4

    later = start + timedelta(hours=2)
    moved = client.post(f"/api/v1/bookings/{code}/move", json={"slot": slot_key(later)})
    assert moved.status_code == 200, moved.text
    assert client.get(f"/api/v1/bookings/{code}").json()["slot"] == "11:00"
    slots = {s["slot"]: s["free"] for s in client.get(f"/api/v1/booking/{SITE_ID}/{SERVICE}/slots", params={"day": day}).json()["slots"]}
    assert (slots[slot_key(start)], slots[slot_key(later)]) == (5, 4)

    assert client.post(f"/api/v1/bookings/{code}/cancel").json()["status"] == "cancelled"
    assert client.get(f"/api/v1/bookings/{code}").json()["status"] == "cancelled"
    again = client.post(f"/api/v1/bookings/{code}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "code_cancelled"
    moved = client.post(f"/api/v1/bookings/{code}/move", json={"slot": slot_key(start)})
    assert moved.status_code == 409 and moved.json()["code"] == "code_cancelled"
    slots = {s["slot"]: s["free"] for s in client.get(f"/api/v1/booking/{SITE_ID}/{SERVICE}/slots", params={"day": day}).json()["slots"]}
    assert slots[slot_key(later)] == 5
    # Nothing personal is stored: the bookings table has no column for a name or phone.
    columns = {r[1] for r in _rows(db, "PRAGMA table_info(bookings)")}
    assert not columns & {"name", "phone", "email", "id_card"}


def test_refusals_are_clear_and_change_nothing(office):
    client, runtime, clock, db = office
    now = clock()
    soon = now + timedelta(minutes=30)
    soon = soon.replace(minute=0 if soon.minute < 30 else 30, second=0, microsecond=0)
    cases = [
        ({"site": SITE_ID, "service": SERVICE, "slot": slot_key(soon)}, 409, "slot_closed"),  # past the cut-off
        ({"site": SITE_ID, "service": SERVICE, "slot": slot_key(now + timedelta(days=9))}, 409, "slot_closed"),  # too far
        ({"site": SITE_ID, "service": SERVICE, "slot": slot_key(tomorrow_at(now, 9) + timedelta(minutes=7))}, 422, "unknown_slot"),
        ({"site": SITE_ID, "service": "khong-co", "slot": slot_key(tomorrow_at(now, 9))}, 422, "unknown_service"),
        ({"site": "khong-co", "service": SERVICE, "slot": slot_key(tomorrow_at(now, 9))}, 404, "unknown_site"),
        ({"site": SITE_ID, "service": SERVICE, "slot": "ngày mai"}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        answer = client.post("/api/v1/bookings", json=body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
    assert _rows(db, "SELECT COUNT(*) FROM bookings")[0][0] == 0
    assert client.get("/api/v1/bookings/ABCDE-FGHJK").status_code == 404
    assert client.get("/api/v1/bookings/not-a-code").json() == client.get("/api/v1/bookings/ABCDE-FGHJK").json()


def test_a_full_slot_refuses_the_next_booking(office):
    client, runtime, clock, db = office
    slot = slot_key(tomorrow_at(clock(), 14))
    answers = [client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot}) for _ in range(6)]
    assert [a.status_code for a in answers] == [201] * 5 + [409]
    assert answers[-1].json()["code"] == "slot_full"


def test_two_hundred_concurrent_requests_for_five_places_give_five_bookings(broker, tmp_path):
    db = tmp_path / "server.db"
    clock = office_clock()
    settings = booking_settings(broker, db, booking_limit=100_000)
    slot = slot_key(tomorrow_at(clock(), 10))
    with LiveServer(settings, clock=clock) as server:

        async def storm() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
                body = {"site": SITE_ID, "service": SERVICE, "slot": slot}
                return await asyncio.gather(*(http.post("/api/v1/bookings", json=body) for _ in range(200)))

        answers = asyncio.run(storm())
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 5, 409: 195}, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"slot_full"}
    won = {a.json()["code"].replace("-", "") for a in answers if a.status_code == 201}
    stored = _rows(db, "SELECT code FROM bookings WHERE status = 'booked'")
    assert {r[0] for r in stored} == won and len(won) == 5


def test_online_number_joins_the_queue_and_is_called_only_after_check_in(office, broker):
    client, runtime, clock, db = office
    kiosk = Kiosk(broker, clock=clock)
    try:
        walk_in = kiosk.issue("A001", SERVICE)
        made = client.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": SERVICE})
        assert made.status_code == 201, made.text
        number, code, ticket_id = made.json()["number"], made.json()["code"], made.json()["ticket_id"]
        assert number == "TX001"
        # In the store at once (same transaction as the booking), as ticket.issued with its channel,
        # and published on the wire like a kiosk's ticket.
        row = _rows(db, "SELECT status, channel, number FROM tickets WHERE ticket_id = ?", ticket_id)
        assert row == [("waiting", "online", "TX001")]
        event = _rows(db, "SELECT payload FROM events WHERE ticket_id = ? AND type = 'ticket.issued'", ticket_id)
        assert json.loads(event[0][0])["data"]["channel"] == "online"
        view = client.get(f"/api/v1/bookings/{code}").json()
        assert view["kind"] == "online" and view["number"] == "TX001" and view["status"] == "issued"
        wait_until(lambda: _rows(db, "SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", walk_in)[0][0] == 1)

        # Counter 1 calls: the walk-in A001 (TX001 is not checked in, so it is skipped and held).
        dispatcher = runtime.dispatcher
        first = dispatcher.call_next(SITE_ID, "quay-1", "test")
        assert first["number"] == "A001"
        dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
        with pytest.raises(Exception) as nobody:
            dispatcher.call_next(SITE_ID, "quay-1", "test")
        assert getattr(nobody.value, "code", None) == "no_ticket_waiting"

        # The desk checks the citizen in by code: now TX001 is called.
        headers = _desk_token(runtime)
        checked = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code}, headers=headers)
        assert checked.status_code == 200, checked.text
        assert checked.json()["number"] == "TX001" and checked.json()["kind"] == "online"
        again = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code}, headers=headers)
        assert (again.status_code, again.json()["code"]) == (409, "code_used")
        assert dispatcher.call_next(SITE_ID, "quay-1", "test")["number"] == "TX001"
        # The wait of an online number starts at its check-in.
        dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
        issued_at, checked_at, first_called, wait_s = _rows(
            db, "SELECT issued_at, checked_in_at, first_called_at, wait_s FROM tickets WHERE ticket_id = ?", ticket_id)[0]
        assert checked_at >= issued_at and wait_s == pytest.approx(first_called - checked_at)
        # The statistics group by channel: the walk-in and the online number apart.
        create_user(runtime.store, "lanh-dao", "mat-khau-dai-2", "manager", [SITE_ID], [])
        manager = {"Authorization": f"Bearer {create_token(runtime.store, 'lanh-dao')}"}
        day = clock().astimezone(runtime.settings.sites[0].zone).date().isoformat()
        stats = client.get("/api/v1/stats", params={"from": day, "to": day, "site": SITE_ID, "group_by": "channel"},
                           headers=manager)
        assert stats.status_code == 200, stats.text
        by_channel = {row["channel"]: row for row in stats.json()["rows"]}
        assert set(by_channel) == {"kiosk", "online"}
        assert (by_channel["online"]["issued"], by_channel["online"]["completed"]) == (1, 1)
        assert by_channel["kiosk"]["completed"] == 1
    finally:
        kiosk.close()


def test_check_in_refusals_issue_nothing(office):
    client, runtime, clock, db = office
    headers = _desk_token(runtime)
    tomorrow = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                     "slot": slot_key(tomorrow_at(clock(), 9))}).json()["code"]
    cancelled = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                      "slot": slot_key(tomorrow_at(clock(), 11))}).json()["code"]
    client.post(f"/api/v1/bookings/{cancelled}/cancel")
    other = client.post("/api/v1/online-numbers", json={"site": "other-site", "service": SERVICE}).json()["code"]
    issued_before = _rows(db, "SELECT COUNT(*) FROM events WHERE type = 'ticket.issued'")[0][0]
    for code, expected in ((tomorrow, "other_day"), (cancelled, "code_cancelled"), (other, "other_site"),
                           ("ABCDE-FGHJK", "unknown_code"), ("'; DROP TABLE bookings; --", "unknown_code")):
        answer = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code}, headers=headers)
        assert (answer.status_code, answer.json()["code"]) in {(409, expected), (404, expected)}, (code, answer.text)
    assert _rows(db, "SELECT COUNT(*) FROM events WHERE type = 'ticket.issued'")[0][0] == issued_before
    refused = _rows(db, "SELECT code FROM audit_log WHERE action = 'check_in' AND ok = 0 ORDER BY id")
    assert [r[0] for r in refused] == ["other_day", "code_cancelled", "other_site", "unknown_code", "unknown_code"]
    # No login, no check-in; a citizen cannot check themselves in.
    assert client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": tomorrow}).status_code == 401


def test_booking_rate_limit_per_address(broker, tmp_path):
    clock = office_clock()
    app = app_on_clock(booking_settings(broker, tmp_path / "server.db", booking_limit=3), clock)
    with TestClient(app) as client:
        slot = slot_key(tomorrow_at(clock(), 15))
        answers = [client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot}) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[-1].json()["code"] == "too_many_requests"


def test_an_appointment_gets_its_ticket_at_check_in_and_its_clock_starts_at_the_slot(broker, tmp_path):
    db = tmp_path / "server.db"
    clock = office_clock()  # 10:00 on the project clock's date
    app = app_on_clock(booking_settings(broker, db, {"early_checkin_minutes": 120}), clock)
    with TestClient(app) as client:
        runtime = app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        now = clock()
        start = now.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=90)  # 11:30 today
        code = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot_key(start)}).json()["code"]
        assert client.get(f"/api/v1/bookings/{code}").json()["number"] is None
        before = _rows(db, "SELECT COUNT(*) FROM tickets")[0][0]
        headers = _desk_token(runtime)
        checked = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code, "counter": "quay-1"}, headers=headers)
        assert checked.status_code == 200, checked.text
        assert checked.json()["number"] == "LH001" and checked.json()["kind"] == "appointment"
        assert _rows(db, "SELECT COUNT(*) FROM tickets")[0][0] == before + 1
        row = _rows(db, "SELECT channel, appointment_start_at, status FROM tickets WHERE ticket_id = ?", checked.json()["ticket_id"])
        assert row == [("appointment", start.timestamp(), "waiting")]
        view = client.get(f"/api/v1/bookings/{code}").json()
        assert (view["status"], view["number"]) == ("checked_in", "LH001")
        again = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code}, headers=headers)
        assert (again.status_code, again.json()["code"]) == (409, "code_used")
        cancelled = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                          "slot": slot_key(start + timedelta(minutes=30))}).json()["code"]
        client.post(f"/api/v1/bookings/{cancelled}/cancel")
        create_user(runtime.store, "lanh-dao", "mat-khau-dai-2", "manager", [SITE_ID], [])
        manager = {"Authorization": f"Bearer {create_token(runtime.store, 'lanh-dao')}"}
        day = start.date().isoformat()
        figures = client.get(f"/api/v1/sites/{SITE_ID}/bookings/figures", params={"from": day, "to": day}, headers=manager)
        assert figures.status_code == 200, figures.text
        got = figures.json()
        assert (got["bookings"], got["cancelled"], got["checked_in"], got["no_show"], got["pending"]) == (2, 1, 1, 0, 0)
        # Checked in 90 minutes before the slot (the clock started at 10:00 and this test runs well under 2 minutes).
        assert -90 * 60 <= got["punctuality_median_s"] <= -90 * 60 + 120
        assert client.get(f"/api/v1/sites/{SITE_ID}/bookings/figures", params={"from": day, "to": day},
                          headers=headers).status_code == 403  # a desk account does not see the figures
        today = client.get(f"/api/v1/sites/{SITE_ID}/bookings/today", headers=headers).json()["bookings"]
        assert [(b["code"], b["slot"], b["checked_in"], b["number"]) for b in today] == [(code, "11:30", True, "LH001")]
        # Called 90 minutes before its slot (nobody else waits): its clock starts at that call, a wait of 0.
        runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")
        wait_s = _rows(db, "SELECT wait_s FROM tickets WHERE ticket_id = ?", checked.json()["ticket_id"])[0][0]
        assert wait_s == 0


def test_an_unused_appointment_becomes_a_no_show_after_its_check_in_window(tmp_path, broker):
    from server.booking.service import Bookings, NoShowSweep
    from server.storage.events import EventStore

    settings = booking_settings(broker, tmp_path / "server.db")
    store = EventStore(settings.server.database, settings.sites)
    start_clock = office_clock()
    now = [start_clock()]
    bookings = Bookings(store, settings.sites, "server", lambda: now[0], lambda events: None)
    try:
        slot = tomorrow_at(now[0], 9)
        code = bookings.book(SITE_ID, SERVICE, slot_key(slot))["code"]
        sweep = NoShowSweep(bookings)
        now[0] = slot + timedelta(minutes=15)  # the last minute of the check-in window (late_checkin_minutes = 15)
        assert sweep.sweep() == 0
        now[0] = slot + timedelta(minutes=15, seconds=1)
        assert sweep.sweep() == 1
        conn = store.reader()
        try:
            assert bookings.view(conn, code)["status"] == "no_show"
        finally:
            conn.close()
        # A no-show code is refused at check-in and issues nothing.
        with pytest.raises(Exception) as refused:
            bookings.check_in(code, SITE_ID)
        assert getattr(refused.value, "code", None) == "code_expired"
    finally:
        store.close()
