"""The booking page's reminder opt-in on a 390×844 phone in Chromium (issue 18): the form
shows only where the office sends SMS or Zalo, says what the number is for, refuses a
number without the consent box ticked (and keeps nothing), keeps it with the box ticked,
and lays out within the screen with large targets. No script on the page."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.server.bookingsite import BOOKING, slot_key, tomorrow_at
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.server.notify.fakes import FakeSms
from tests.server.test_booking_browser import GEOMETRY
from tests.support import SITE_ID, office_clock, server_settings_dict

SERVICE = "tu-phap-ho-tich"


def test_the_booking_page_takes_a_phone_for_reminders_only_with_consent(broker, tmp_path):
    sms = FakeSms()
    data = server_settings_dict(broker, tmp_path / "server.db")
    for site in data["sites"]:
        site["booking"] = dict(BOOKING)
    data["notify"] = {"channels": ["page", "sms"],
                      "sms": {"url": f"{sms.server.url}/send", "brandname": "UBND-XA", "api_key": "k", "secret_key": "s"}}
    settings = load_settings(ServerSettings, None, **data)
    clock = office_clock()
    try:
        with LiveServer(settings, clock=clock) as server:
            outbox = server.runtime.notifier.outbox
            with httpx.Client(base_url=server.url) as http:
                code = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE,
                                                           "slot": slot_key(tomorrow_at(clock(), 11))}).json()["code"]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN", java_script_enabled=False)
                page.goto(f"{server.url}/b/{code}")
                form = page.locator("#remind-form")
                assert form.is_visible()
                assert "chỉ dùng để nhắc lịch hẹn này" in form.inner_text()
                assert not page.is_checked("#remind-consent")  # never ticked for the citizen
                found = page.evaluate(GEOMETRY)
                assert found["scroll"] <= found["width"] and found["wide"] == [] and found["small"] == [], found
                box = page.locator("#remind-phone").bounding_box()
                assert box is not None and box["height"] >= 44
                # Without the tick: refused in words, nothing kept.
                page.fill("#remind-phone", "0912 345 678")
                page.click("#remind-button")
                assert "đánh dấu ô đồng ý" in page.inner_text("#error")
                assert outbox.contact_count() == 0
                # With it: kept (encrypted, with this booking only), and the page says when it will remind.
                page.goto(f"{server.url}/b/{code}")
                page.fill("#remind-phone", "0912 345 678")
                page.check("#remind-consent")
                page.click("#remind-button")
                page.wait_for_selector("#reminded")
                assert outbox.channels_of(code.replace("-", "")) == {"sms"}
                if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
                    form.screenshot(path=str(Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "booking-remind-390.png"))
                browser.close()
    finally:
        sms.close()
