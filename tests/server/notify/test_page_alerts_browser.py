"""The ticket page as a notification channel, in Debian's Chromium (Playwright) on a
phone viewport with notifications permitted, against a real server and broker: the page
alerts when the turn is near and when it is called (in-page alert, chime played, title
changed, system notification shown through the page's service worker and read back from
it), each once."""

from __future__ import annotations

import asyncio

from playwright.async_api import async_playwright, expect

from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

PHONE = {"width": 390, "height": 844}


async def _follow(server: LiveServer, ticket_id: str) -> None:
    dispatcher = server.runtime.dispatcher
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM,
                                          args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                            locale="vi-VN")
        await context.grant_permissions(["notifications"], origin=server.url)
        page = await context.new_page()
        await page.goto(f"{server.url}/t/{ticket_id}")
        ticket = page.locator("#ticket")
        assert await page.inner_text("#ahead") == "2"
        assert await page.is_hidden("#notice")
        title = await page.title()
        # The service worker (it shows pushed messages too) is in place: notifications go through it.
        await expect(ticket).to_have_attribute("data-worker", "ready", timeout=10000)
        await page.click("#notify-on")
        await expect(ticket).to_have_attribute("data-permission", "granted", timeout=10000)

        # A001 is called: A003 has one person ahead, the "near" threshold of this site.
        await asyncio.to_thread(dispatcher.call_next, SITE_ID, "quay-1", "test")
        await expect(page.locator("#notice")).to_be_visible(timeout=15000)
        assert await page.inner_text("#notice-title") == "Sắp đến lượt của bạn"
        assert "còn 1 người trước bạn" in await page.inner_text("#notice-text")
        await expect(ticket).to_have_attribute("data-sound", "played", timeout=10000)
        await expect(ticket).to_have_attribute("data-notified", "near", timeout=10000)
        assert await page.title() != title and "Sắp đến lượt" in await page.title()

        # A002, then A003 is called: the page says so, chimes, and notifies again.
        for _ in range(2):
            await asyncio.to_thread(dispatcher.complete, SITE_ID, "quay-1", "returned", None, "test")
            await asyncio.to_thread(dispatcher.call_next, SITE_ID, "quay-1", "test")
        await expect(ticket).to_have_attribute("data-alerted", "called", timeout=15000)
        assert await page.inner_text("#notice-title") == "Đã đến lượt bạn"
        assert await page.inner_text("#notice-text") == "Mời công dân có số thứ tự A003 (a, ba) đến quầy số 1."
        await expect(ticket).to_have_attribute("data-notified", "called", timeout=10000)
        assert "Đã đến lượt bạn" in await page.title()

        # A reload does not alert again: each kind once per browser.
        await page.reload()
        await expect(page.locator("#ticket")).to_have_attribute("data-polls", "1", timeout=10000)
        assert await page.is_hidden("#notice")
        await browser.close()


def test_ticket_page_alerts_when_near_and_when_called(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["notify"] = {"channels": ["page"], "near_people": 1, "near_minutes": 0}
    settings = load_settings(ServerSettings, None, **data)
    office = office_clock()
    with LiveServer(settings, clock=office) as server:
        kiosk = Kiosk(broker, clock=office)
        ids = {n: kiosk.issue(n, "tu-phap-ho-tich") for n in ("A001", "A002", "A003")}
        wait_until(lambda: server.runtime.store.counts()["stored"] >= 3)
        asyncio.run(_follow(server, ids["A003"]))
        kiosk.close()
        notifier = server.runtime.notifier
        rows = [(r["kind"], r["state"]) for r in notifier.outbox.rows("ticket_id = ?", (ids["A003"],))]
        assert rows == [("near", "sent"), ("called", "sent")]
