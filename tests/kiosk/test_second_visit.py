"""The second visit (issue 20, docs/second-visit.md) on a real Mosquitto and a real server
(uvicorn on a real port), the kiosk with MockFactory pins, the fake printer and a fake
scanner (lines typed into its KeypadReader, as a USB HID scanner types them):
a ticket completed as "guided" with a return code shows the code on its ticket page;
scanned at the kiosk on the next visit it prints exactly one ticket marked "bổ sung",
which the guiding counter calls while the service's other counter cannot (open or
paused), and which that other counter takes once the guiding counter closes; a used, an
unknown or an expired code prints nothing; the report counts two visits for the dossier."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from gpiozero.pins.mock import MockFactory

from hardware.buttons import KeypadReader, Press
from kiosk.app import KioskApp
from server.web.auth import create_token, create_user
from tests.kiosk.conftest import LED_PINS, make_settings
from tests.server.bookingsite import booking_settings
from tests.server.livedesk import LiveServer
from tests.support import SITE_ID, office_clock, wait_until

FIELD, OTHER_FIELD = "tu-phap-ho-tich", "chung-thuc"  # both served by quay-1 and quay-2


def _shifted(base):
    shift = [timedelta(0)]

    def now() -> datetime:
        return base() + shift[0]

    return now, shift


def test_a_return_code_brings_the_citizen_back_to_the_same_counter(tmp_path, broker):
    clock, shift = _shifted(office_clock())  # 10:00 on the project clock's date, movable
    settings = booking_settings(broker, tmp_path / "server.db")
    with LiveServer(settings, clock=clock) as server:
        store = server.runtime.store
        tokens = {}
        for name, role, counters in (("can-bo-1", "desk", ["quay-1"]), ("can-bo-2", "desk", ["quay-2"]),
                                     ("kiosk-1-checkin", "desk", []), ("lanh-dao", "manager", [])):
            create_user(store, name, "mat-khau-dai-123", role, [SITE_ID], counters)
            tokens[name] = {"Authorization": f"Bearer {create_token(store, name)}"}
        one, two = tokens["can-bo-1"], tokens["can-bo-2"]
        desk1, desk2 = f"/api/v1/sites/{SITE_ID}/counters/quay-1", f"/api/v1/sites/{SITE_ID}/counters/quay-2"
        kiosk_settings = make_settings(tmp_path, broker.settings_for("kiosk-1"),
                                       checkin_token=create_token(store, "kiosk-1-checkin", "kiosk-1"),
                                       server_url=server.url)
        factory = MockFactory()
        app = KioskApp(kiosk_settings, pin_factory=factory, clock=clock)
        app.start()
        try:
            assert app.link.wait_connected(10)
            scanner = KeypadReader(kiosk_settings.keypad_keys(), app.press, on_scan=app.scan)
            with httpx.Client(base_url=server.url, timeout=15) as http:
                # First visit: two walk-ins, both guided at quay-1 (incomplete dossiers).
                for service in (FIELD, OTHER_FIELD):
                    assert app.press(Press(service, None)) == "accepted"
                    assert app.wait_idle(15) and app.results[-1].outcome == "printed"
                first_ids = [r.ticket_id for r in list(app.results)[-2:]]
                wait_until(lambda: _count(server, "SELECT COUNT(*) FROM tickets WHERE status = 'waiting'") == 2)
                returns = []
                for index in range(2):
                    called = http.post(f"{desk1}/next", headers=one)
                    assert called.status_code == 200, called.text
                    assert called.json()["ticket_id"] == first_ids[index]
                    body = {"outcome": "guided", "return_code": True}
                    if index == 0:
                        body["dossier_code"] = "000.00.21.H12-261203-0001"
                    done = http.post(f"{desk1}/complete", headers=one, json=body)
                    assert done.status_code == 200, done.text
                    returns.append(done.json()["return_code"])
                assert returns[0]["dossier_code"] == "000.00.21.H12-261203-0001"
                assert returns[1]["dossier_code"].startswith("XP-")  # no one-stop number yet: xephang's own key
                # Asked again, the same code; another counter may not ask for it.
                again = http.post(f"{desk1}/return-code", headers=one, json={"ticket_id": first_ids[0]})
                assert again.status_code == 200 and again.json()["code"] == returns[0]["code"]
                other = http.post(f"{desk2}/return-code", headers=two, json={"ticket_id": first_ids[0]})
                assert other.status_code == 409 and other.json()["code"] == "other_counter"

                # The ticket page shows the code, and its QR on request.
                page_view = http.get(f"/api/v1/tickets/{first_ids[0]}").json()
                assert page_view["return_code"]["code"] == returns[0]["code"]
                assert page_view["second_visit"] is False
                assert returns[0]["code"] in http.get(f"/t/{first_ids[0]}").text
                qr = http.get(f"/t/{first_ids[0]}/return.png")
                assert qr.status_code == 200 and qr.content[:8] == b"\x89PNG\r\n\x1a\n"

                # Second visit, a day later: the scans print exactly one marked ticket each.
                shift[0] = timedelta(days=1)
                jobs_before = len(app.printer.transport.jobs)
                second = []
                for code in (returns[0]["code"], returns[1]["code"].replace("-", "").lower()):
                    scanner.feed(f"{code}\n")
                    assert app.wait_idle(15)
                    result = app.results[-1]
                    assert result.outcome == "printed", result
                    assert result.content.notice == "BỔ SUNG HỒ SƠ: mời đến quầy số 1"
                    second.append(result)
                assert len(app.printer.transport.jobs) == jobs_before + 2
                assert [r.number for r in second] == ["BS001", "BS002"]
                rows = [wait_until(lambda r=r: _row(server, r.ticket_id)) for r in second]
                assert [row[:3] for row in rows] == [("return", "quay-1", "waiting")] * 2
                assert [row[3] for row in rows] == [returns[0]["dossier_code"], returns[1]["dossier_code"]]
                assert http.get(f"/api/v1/tickets/{second[0].ticket_id}").json()["second_visit"] is True
                # The page no longer offers a used code.
                assert http.get(f"/api/v1/tickets/{first_ids[0]}").json()["return_code"] is None

                # quay-2 serves the same fields but may not take them while quay-1 is open...
                refused = http.post(f"{desk2}/next", headers=two)
                assert refused.status_code == 409 and refused.json()["code"] == "no_ticket_waiting"
                # ...quay-1 calls the first; the console marks it.
                assert http.post(f"{desk1}/next", headers=one).json()["ticket_id"] == second[0].ticket_id
                view = http.get(f"{desk1}/view", headers=one).json()
                assert view["current"]["channel"] == "return"
                assert view["waiting"][OTHER_FIELD][0]["channel"] == "return"
                # Still incomplete: a new code for a third visit keeps the dossier's code.
                third_visit = http.post(f"{desk1}/complete", headers=one, json={"outcome": "guided", "return_code": True})
                assert third_visit.status_code == 200, third_visit.text
                assert third_visit.json()["return_code"]["dossier_code"] == returns[0]["dossier_code"]
                assert third_visit.json()["return_code"]["code"] != returns[0]["code"]
                # ...a paused quay-1 still keeps the other for itself...
                assert http.post(f"{desk1}/pause", headers=one, json={"reason": "Đi họp"}).status_code == 200
                assert http.post(f"{desk2}/next", headers=two).json()["code"] == "no_ticket_waiting"
                # ...and once quay-1 closes, quay-2 takes it.
                assert http.post(f"{desk1}/close", headers=one).status_code == 200
                taken = http.post(f"{desk2}/next", headers=two)
                assert taken.status_code == 200 and taken.json()["ticket_id"] == second[1].ticket_id

                # Refusals print nothing and signal: a used code, an unknown code.
                buzzer = factory.pin(LED_PINS["buzzer"])
                printed = len(app.printer.transport.jobs)
                for scanned, outcome in ((returns[0]["code"], "refused:code_used"),
                                         ("ABCDE-FGHJK", "refused:unknown_code")):
                    buzzer.clear_states()
                    scanner.feed(f"{scanned}\n")
                    assert app.wait_idle(15)
                    assert app.results[-1].outcome == outcome
                    assert len(app.printer.transport.jobs) == printed
                    assert any(state for _at, state in buzzer.states), "the beeper signals the refusal"
                assert _count(server, "SELECT COUNT(*) FROM tickets WHERE channel = 'return'") == 2

                # The report of both days counts two visits for each dossier.
                days = sorted({_local_day(clock() - timedelta(days=1)), _local_day(clock())})
                report = http.get("/api/v1/reports", headers=tokens["lanh-dao"],
                                  params={"site": SITE_ID, "from": days[0], "to": days[-1]})
                assert report.status_code == 200, report.text
                visits = report.json()["visits"]
                assert {r["dossier_code"]: r["visits"] for r in visits["repeated"]} == {
                    returns[0]["dossier_code"]: 2, returns[1]["dossier_code"]: 2}
                assert visits["histogram"] == {"2": 2} and visits["visits_per_dossier"] == 2.0

                # An expired code prints nothing: a third guided ticket, then past its validity.
                http.post(f"{desk1}/open", headers=one)
                assert app.press(Press(FIELD, None)) == "accepted"
                assert app.wait_idle(15) and app.results[-1].outcome == "printed"
                third = app.results[-1].ticket_id
                wait_until(lambda: _row(server, third))
                assert http.post(f"{desk1}/next", headers=one).json()["ticket_id"] == third
                late = http.post(f"{desk1}/complete", headers=one, json={"outcome": "guided", "return_code": True}).json()
                valid_days = settings.sites[0].return_visit.valid_days
                shift[0] += timedelta(days=valid_days, minutes=1)
                printed = len(app.printer.transport.jobs)
                scanner.feed(f"{late['return_code']['code']}\n")
                assert app.wait_idle(15)
                assert app.results[-1].outcome == "refused:code_expired"
                assert len(app.printer.transport.jobs) == printed
            assert _count(server, "SELECT COUNT(*) FROM audit_log WHERE action = 'return_code' AND ok = 1") == 4
        finally:
            app.stop()


def _local_day(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()


def _row(server, ticket_id):
    conn = server.runtime.store.reader()
    try:
        row = conn.execute("SELECT channel, preferred_counter, status, dossier_code FROM tickets WHERE ticket_id = ?",
                           (ticket_id,)).fetchone()
        return tuple(row) if row else None
    finally:
        conn.close()


def _count(server, sql):
    conn = server.runtime.store.reader()
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()
