"""The managers' dashboard shows the messages sent to citizens (issue 18): by channel and
kind, sent / failed / expired / waiting, and who was told in time, for the chosen site and
period, in Vietnamese. Chromium against a real server, broker and SQLite with the
notifier on (the ticket page channel), on the office clock."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import sync_playwright

from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

SERVICE = "tu-phap-ho-tich"


def test_the_dashboard_counts_the_messages_of_the_period(broker, tmp_path):
    clock = office_clock()
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["notify"] = {"channels": ["page"]}
    settings = load_settings(ServerSettings, None, **data)
    with LiveServer(settings, clock=clock) as server:
        runtime = server.runtime
        create_user(runtime.store, "lanh-dao", "mat-khau-lanh-dao", "manager", [SITE_ID])
        kiosk = Kiosk(broker, clock=clock)
        try:
            kiosk.issue("A001", SERVICE)
            kiosk.issue("A002", SERVICE)
        finally:
            kiosk.close()
        outbox = runtime.notifier.outbox
        wait_until(lambda: len(outbox.rows("kind = 'near' AND state = 'sent'")) == 2, timeout_s=30)
        runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")
        wait_until(lambda: len(outbox.rows("kind = 'called' AND state = 'sent'")) == 1, timeout_s=30)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
            page.goto(f"{server.url}/dashboard")
            page.fill("#username", "lanh-dao")
            page.fill("#password", "mat-khau-lanh-dao")
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            page.wait_for_selector("#notify-card:not([hidden]) #notify-table tbody tr[data-kind]")
            rows = page.eval_on_selector_all(
                "#notify-table tbody tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))")
            assert rows == [["Trang phiếu", "Mời đến quầy", "1", "0", "0", "0"],
                            ["Trang phiếu", "Sắp đến lượt", "2", "0", "0", "0"]], rows
            assert page.inner_text("#notify-card h3").startswith("Tin nhắn cho người dân")
            # Both were called (or are next) within minutes: nobody waited the 10 minutes
            # that "told in time" is counted on.
            assert page.inner_text("#notify-in-time") == "Trong kỳ này không có ai chờ đủ lâu để được báo trước."
            if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
                page.locator("#notify-card").screenshot(
                    path=str(Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "dashboard-messages.png"))
            browser.close()


def test_the_summary_of_a_period_adds_its_days_and_refuses_a_bad_one(broker, tmp_path):
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from server.web.auth import create_token
    from tests.support import app_on_clock

    clock = office_clock()
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["notify"] = {"channels": ["page"]}
    settings = load_settings(ServerSettings, None, **data)
    with TestClient(app_on_clock(settings, clock)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        kiosk = Kiosk(broker, clock=clock)
        kiosk.issue("A001", SERVICE)
        kiosk.close()
        wait_until(lambda: len(runtime.notifier.outbox.rows("kind = 'near' AND state = 'sent'")) == 1, timeout_s=30)
        create_user(runtime.store, "lanh-dao", "mat-khau-lanh-dao", "manager", [SITE_ID])
        manager = {"Authorization": f"Bearer {create_token(runtime.store, 'lanh-dao')}"}
        today = settings.sites[0].local_day(clock())
        before, after = (today - timedelta(days=3)).isoformat(), (today + timedelta(days=1)).isoformat()
        url = f"/api/v1/notify/summary?site={SITE_ID}"
        assert client.get(f"{url}&from={before}&to={after}", headers=manager).json()["messages"] == {
            "page": {"near": {"sent": 1}}}
        assert client.get(f"{url}&from={before}&to={before}", headers=manager).json()["messages"] == {}
        assert client.get(f"{url}&day={today.isoformat()}", headers=manager).json()["messages"] == {
            "page": {"near": {"sent": 1}}}
        assert client.get(f"{url}&from={after}&to={before}", headers=manager).json()["code"] == "invalid_period"
        assert client.get(f"{url}&from={before}", headers=manager).json()["code"] == "invalid_day"
