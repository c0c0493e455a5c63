"""The dashboard's rough edges (issue 22, point 8), in Chromium against a real server and
broker: one date label per day for a short period, counters named as the office names
them, device faults from the same source as the desk console (a printer that cannot
report its state is not a fault; part names in Vietnamese), a ticket past the target not
called "about to be late", and date mistakes answered in Vietnamese before any request."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import sync_playwright

from protocol import topics
from protocol.events import make_event
from protocol.link import MqttLink
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until


def test_dashboard_labels_faults_overdue_and_date_errors(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()  # 10:00 today on the project clock's date
    with LiveServer(settings, clock=office) as server:
        store = server.runtime.store
        create_user(store, "lanh-dao", "mat-khau-lanh-dao", "manager", [SITE_ID])
        kiosk = Kiosk(broker, clock=office)
        now = office()
        kiosk.issue("A001", "tu-phap-ho-tich", at=now - timedelta(minutes=200))  # long past the 60 minutes
        b_tickets = [kiosk.issue(f"B00{i + 1}", "chung-thuc", at=now - timedelta(minutes=30 - i)) for i in range(3)]
        wait_until(lambda: store.counts()["stored"] >= 4)
        dispatcher = server.runtime.dispatcher
        for ticket_id in b_tickets[:2]:  # (A001 stays waiting, long past its target)
            dispatcher.call_ticket(SITE_ID, "quay-2", ticket_id, "test")
            dispatcher.complete(SITE_ID, "quay-2", "returned", None, "test")
        kiosk.issue("3001", "dat-dai", at=now - timedelta(minutes=20))  # waiting for counter 3
        # A kiosk whose printer cannot report its state (a file or USB printer without status).
        printer = MqttLink("kiosk-1", broker.settings_for("kiosk-1"), status_topic=topics.device_status(SITE_ID, "kiosk-1"))
        printer.start()
        printer.wait_connected()
        printer.set_status("online", printer="unknown", paper="unknown", cover="unknown")
        links = [printer]
        wait_until(lambda: _device_rows(server) == 1)
        # Counter 3 paused 40 minutes ago with a citizen waiting for it: an alert that names it.
        keypad = MqttLink("keypad-test", broker.settings_for("server"))
        keypad.start()
        keypad.wait_connected()
        paused = make_event("counter.paused", site=SITE_ID, source="keypad-1", seq=1, ts=now - timedelta(minutes=40),
                            data={"counter": "quay-3", "reason": "Đi họp"})
        keypad.publish(topics.event(SITE_ID, paused.type), paused.to_json(), qos=1)
        links.append(keypad)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
            page.goto(f"{server.url}/dashboard")
            page.fill("#username", "lanh-dao")
            page.fill("#password", "mat-khau-lanh-dao")
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            page.wait_for_selector("#alerts li.alert.ticket_at_risk")
            page.wait_for_selector("#alerts li.alert.counter_paused", timeout=20_000)
            alerts = page.inner_text("#alerts")
            assert re.search(r"Quầy 3 — 4\d phút \(Đi họp\)", page.inner_text("#alerts li.alert.counter_paused")), alerts
            # Past the target: "Phiếu đã quá hạn", not "sắp trễ hạn".
            overdue = page.inner_text("#alerts li.alert.ticket_at_risk")
            assert overdue.startswith("Phiếu đã quá hạn") and "A001" in overdue, overdue
            # A printer that cannot tell is no fault, here as on the desk console.
            assert page.locator("#alerts li.alert.device_fault").count() == 0
            assert "kiosk-1" not in alerts and "không rõ" not in alerts and dispatcher_faults(server) == []
            # Out of paper: one fault, in Vietnamese, the same the desk console lists.
            printer.set_status("online", printer="paper_out", paper="out", cover="closed")
            page.wait_for_selector("#alerts li.alert.device_fault", timeout=20_000)
            fault = page.inner_text("#alerts li.alert.device_fault")
            assert "kiosk-1 · Máy in — hết giấy" in fault and "paper" not in fault and "cover" not in fault, fault
            assert page.locator("#alerts li.alert.device_fault").count() == 1
            assert [(f["device"], f["problems"]) for f in dispatcher_faults(server)] == [("kiosk-1", {"printer": "paper_out"})]

            # One day: one label per day on the days chart; counters by name.
            today = now.astimezone(office().tzinfo).strftime("%d/%m/%Y")
            page.fill("#from", today)
            page.fill("#to", today)
            page.click("#filters button[type=submit]")
            page.wait_for_selector("#chart-counters .xtick text")
            page.wait_for_function("document.querySelectorAll('#chart-days .xtick text').length >= 1")
            labels = page.eval_on_selector_all("#chart-days .xtick text", "ts => ts.map(t => t.textContent)")
            assert len(labels) == len(set(labels)), labels
            counters = page.eval_on_selector_all("#chart-counters .xtick text", "ts => ts.map(t => t.textContent)")
            assert "Quầy 2" in counters and "quay-2" not in counters, counters

            # Date mistakes: said in Vietnamese, nothing asked of the server.
            for start, end, said in (("abc", today, "Nhập ngày theo dạng dd/mm/yyyy"),
                                     ("01/01/1900", today, "Chỉ nhận ngày từ năm 2000"),
                                     (today, "01/01/2099", "Chỉ nhận ngày từ năm 2000"),
                                     ("02/01/2026", "01/01/2026", "Ngày bắt đầu không được sau ngày kết thúc.")):
                page.fill("#from", start)
                page.fill("#to", end)
                page.click("#filters button[type=submit]")
                shown = page.inner_text("#error")
                assert said in shown and "must" not in shown, (start, end, shown)
            browser.close()
        for link in links:
            link.stop()
        kiosk.close()


def _device_rows(server) -> int:
    conn = server.runtime.store.reader()
    try:
        return conn.execute("SELECT COUNT(*) FROM devices WHERE site = ?", (SITE_ID,)).fetchone()[0]
    finally:
        conn.close()


def dispatcher_faults(server) -> list[dict]:
    from server.storage.devices import device_faults

    conn = server.runtime.store.reader()
    try:
        return device_faults(conn, SITE_ID)
    finally:
        conn.close()
