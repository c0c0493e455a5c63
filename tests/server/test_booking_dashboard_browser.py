"""The booking figures on the managers' dashboard (issue 17): appointments booked,
cancelled, checked in, not come, punctuality, online numbers and the share of tickets
served by booking, for the chosen reception point and period. Chromium against a real
server, broker and SQLite, on the project clock (10:00 on its date)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from server.web.auth import create_user
from tests.server.bookingsite import booking_settings, slot_key
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, wait_until

SERVICE = "tu-phap-ho-tich"


def test_the_dashboard_shows_the_booking_figures_of_the_site(broker, tmp_path):
    clock = office_clock()
    settings = booking_settings(broker, tmp_path / "server.db", {"early_checkin_minutes": 120})
    with LiveServer(settings, clock=clock) as server:
        store = server.runtime.store
        create_user(store, "lanh-dao", "mat-khau-lanh-dao", "manager", [SITE_ID])
        kiosk = Kiosk(broker, clock=clock)
        try:
            kiosk.issue("A001", SERVICE)
            wait_until(lambda: store.counts()["stored"] >= 1)
        finally:
            kiosk.close()
        start = clock().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=90)  # 11:30 today
        with httpx.Client(base_url=server.url) as http:
            kept = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot_key(start)}).json()
            dropped = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                          "slot": slot_key(start + timedelta(minutes=30))}).json()
            assert http.post(f"/api/v1/bookings/{dropped['code']}/cancel").status_code == 200
            online = http.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": SERVICE}).json()
        server.runtime.bookings.check_in(kept["code"], SITE_ID)  # 90 minutes before its slot
        server.runtime.bookings.check_in(online["code"], SITE_ID)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
            page.goto(f"{server.url}/dashboard")
            page.fill("#username", "lanh-dao")
            page.fill("#password", "mat-khau-lanh-dao")
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            page.wait_for_selector("#booking-figures dd[data-figure=share]")
            figures = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#booking-figures dd')]
                .map(dd => [dd.dataset.figure, dd.textContent]))""")
            labels = page.eval_on_selector_all("#booking-figures dt", "es => es.map(e => e.textContent)")
            punctuality = figures.pop("punctuality")
            # Checked in 90 minutes early, give or take the seconds this test took.
            assert re.fullmatch(r"-(90|89) / -(90|89) phút", punctuality), punctuality
            assert figures == {"bookings": "2", "cancelled": "1", "checked_in": "1", "no_show": "0",
                               "online": "1 (1)", "share": "33,3 %"}, figures
            assert labels[0] == "Lịch hẹn đã đặt" and labels[-1] == "Tỷ lệ phục vụ theo lịch hẹn"
            assert page.inner_text("#booking-card h3").startswith("Lịch hẹn và số lấy từ xa")
            if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
                page.locator("#booking-card").screenshot(
                    path=str(Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "dashboard-bookings.png"))
            browser.close()
