"""A ticket the kiosk published without a confirmed print (`"unconfirmed": true` on
`ticket.issued`, docs/kiosk.md) is stored with its mark and shown as such beside its
number in the desk console (Debian's Chromium via Playwright, real server and broker):
in the waiting list, and beside the number once it is called. Tickets without the mark
show none."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

from playwright.async_api import async_playwright

from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

SERVICE = "tu-phap-ho-tich"
MARK_VI = "Chưa rõ đã in phiếu"
MARK_EN = "Print not confirmed"


def _publish(kiosk: Kiosk, number: str, unconfirmed: bool, minutes_ago: int) -> str:
    """One ticket.issued as the kiosk sends it (the optional field only when set)."""
    kiosk.seq += 1
    ticket_id = str(uuid.uuid4())
    data = {"ticket_id": ticket_id, "number": number, "service": SERVICE, "priority": None}
    if unconfirmed:
        data["unconfirmed"] = True
    event = make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=kiosk.seq, data=data,
                       ts=kiosk.clock() - timedelta(minutes=minutes_ago))
    kiosk.client.publish(topics.event(SITE_ID, event.type), event.to_json(), qos=1).wait_for_publish(10)
    return ticket_id


def _marks(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT number, unconfirmed FROM tickets WHERE site = ?", (SITE_ID,)).fetchall())
    finally:
        conn.close()


async def _console(base: str) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}/desk")
        await page.fill("#username", "officer1")
        await page.fill("#password", "officer1-pass")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/desk")
        await page.wait_for_selector("#live.on")
        await page.wait_for_function("document.querySelectorAll('#waiting li .num').length === 2")
        rows = await page.eval_on_selector_all(
            "#waiting li", "items => items.filter(i => i.querySelector('.num')).map(i => ["
            "i.querySelector('.num').textContent, i.querySelector('.tag.unconfirmed')?.textContent ?? null,"
            "i.querySelector('.tag.unconfirmed')?.title ?? null])",
        )
        assert [r[:2] for r in rows] == [["A001", None], ["A002", MARK_VI]]
        assert "Vắng mặt" in rows[1][2]  # the hint says what to do if nobody comes

        # Called: the mark stands beside the current number, and only for that ticket.
        await page.keyboard.press("n")
        await page.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")
        assert await page.is_hidden("#cur-unconfirmed")
        await page.keyboard.press("x")  # nobody came: no-show
        await page.wait_for_function("document.getElementById('cur-number').textContent === '—'")
        await page.keyboard.press("n")
        await page.wait_for_function("document.getElementById('cur-number').textContent === 'A002'")
        await page.wait_for_selector("#cur-unconfirmed", state="visible")
        assert await page.inner_text("#cur-unconfirmed") == MARK_VI

        await page.goto(f"{base}/desk?lang=en&site={SITE_ID}&counter=quay-1")
        await page.wait_for_selector("#live.on")
        await page.wait_for_function("document.getElementById('cur-number').textContent === 'A002'")
        await page.wait_for_selector("#cur-unconfirmed", state="visible")
        assert await page.inner_text("#cur-unconfirmed") == MARK_EN
        await browser.close()


def test_console_marks_a_number_published_without_a_confirmed_print(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()  # 10:00 on the project clock's date: the tickets stay on today
    with LiveServer(settings, clock=office) as server:
        create_user(server.runtime.store, "officer1", "officer1-pass", "desk", [SITE_ID], ["quay-1"])
        kiosk = Kiosk(broker, clock=office)
        try:
            _publish(kiosk, "A001", unconfirmed=False, minutes_ago=5)
            _publish(kiosk, "A002", unconfirmed=True, minutes_ago=4)
            wait_until(lambda: _marks(db) == {"A001": 0, "A002": 1})
            asyncio.run(_console(server.url))
        finally:
            kiosk.close()
