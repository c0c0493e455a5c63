"""The second visit in the browsers (Debian's Chromium via Playwright, real server and
broker, docs/second-visit.md): the desk console completes a called ticket as "guided"
with a return code and shows the code; the citizen's ticket page, open since the call,
shows it on its next poll; checked in by that code, the "bổ sung" ticket is marked in
the console's waiting list, beside the number once called, and on its own ticket page."""

from __future__ import annotations

import asyncio
import re

import httpx
from playwright.async_api import async_playwright

from server.web.auth import create_token, create_user
from tests.server.bookingsite import booking_settings
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, wait_until

SERVICE = "tu-phap-ho-tich"
CODE = re.compile(r"Mã quay lại cho công dân: ([2-9A-Z]{5}-[2-9A-Z]{5})")


async def _browsers(base: str, first_id: str, token: dict[str, str]) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
        desk = await context.new_page()
        await desk.goto(f"{base}/desk")
        await desk.fill("#username", "officer1")
        await desk.fill("#password", "officer1-pass")
        await desk.click("button[type=submit]")
        await desk.wait_for_url(f"{base}/desk")
        await desk.wait_for_selector("#live.on")
        await desk.keyboard.press("n")
        await desk.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")

        phone = await context.new_page()
        await phone.goto(f"{base}/t/{first_id}")
        assert await phone.is_hidden("#return-code")

        await desk.check("#return-code")
        await desk.keyboard.press("3")  # the shortcut works with the box just ticked (focus on it)
        await desk.wait_for_function("document.getElementById('message').textContent.includes('Mã quay lại')")
        found = CODE.search(await desk.inner_text("#message"))
        assert found, await desk.inner_text("#message")
        code = found.group(1)
        assert not await desk.is_checked("#return-code")

        # The ticket page, open since the call, shows the code on its next poll.
        await phone.wait_for_selector("#return-code", state="visible", timeout=20_000)
        assert await phone.inner_text("#return-code-text") == code
        assert "Có giá trị đến ngày" in await phone.inner_text("#return-until")

        # Second visit, checked in at a desk by the code: marked in the console.
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            done = await http.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code}, headers=token)
        assert done.status_code == 200, done.text
        second = done.json()
        assert (second["number"], second["kind"], second["counter"]) == ("BS001", "return", 1)
        await desk.wait_for_function(
            "[...document.querySelectorAll('#waiting li')].some(i => i.querySelector('.num')?.textContent === 'BS001'"
            " && i.querySelector('.tag.second-visit')?.textContent === 'Bổ sung')")
        await desk.keyboard.press("n")
        await desk.wait_for_function("document.getElementById('cur-number').textContent === 'BS001'")
        assert "Bổ sung" in await desk.inner_text("#cur-service")

        await phone.goto(f"{base}/t/{second['ticket_id']}")
        assert "Bổ sung hồ sơ (lần thứ hai)" in await phone.inner_text(".second-visit")
        await browser.close()


def test_console_and_ticket_page_carry_the_return_code_and_the_mark(broker, tmp_path):
    db = tmp_path / "server.db"
    office = office_clock()  # 10:00 on the project clock's date: the tickets stay on today
    with LiveServer(booking_settings(broker, db), clock=office) as server:
        store = server.runtime.store
        create_user(store, "officer1", "officer1-pass", "desk", [SITE_ID], ["quay-1"])
        create_user(store, "check-in", "check-in-pass-1", "desk", [SITE_ID], [])
        token = {"Authorization": f"Bearer {create_token(store, 'check-in')}"}
        kiosk = Kiosk(broker, clock=office)
        try:
            first_id = kiosk.issue("A001", SERVICE)
            wait_until(lambda: _status(server, first_id) == "waiting")
            asyncio.run(_browsers(server.url, first_id, token))
        finally:
            kiosk.close()


def _status(server, ticket_id):
    conn = server.runtime.store.reader()
    try:
        row = conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()
