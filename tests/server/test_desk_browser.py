"""The desk console in Debian's Chromium (Playwright), against a real server and broker:
log in, call next (the retained board follows), complete, transfer, pause; two desks
pressing next together; a desk user of one site refused on another."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path

from playwright.async_api import async_playwright

from protocol import topics
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer, retained
from tests.support import OTHER_SITE_ID, SITE_ID, office_clock, server_settings_dict, wait_until


def _status(db: Path, ticket_id: str) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status, service, counter, outcome FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
    finally:
        conn.close()


def _counter_board(broker, counter: str) -> dict:
    board = retained(broker, topics.board_state(SITE_ID))
    return next(c for c in board["counters"] if c["id"] == counter) if board else {}


async def _login(browser, base: str, user: str, password: str):
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    page = await context.new_page()
    await page.goto(f"{base}/desk")
    assert "/login" in page.url
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/desk")
    await page.wait_for_selector("#live.on")
    return context, page


async def _scenario(server: LiveServer, broker, db: Path, kiosk: Kiosk, numbers: dict[str, str], shot: Path) -> None:
    base = server.url
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx1, page1 = await _login(browser, base, "officer1", "officer1-pass")
        assert await page1.inner_text("#counter-state") == "Đóng"
        assert "Gọi số tiếp" in await page1.inner_text("button[data-action=next]")

        # Call next: the priority ticket goes first, though issued last; the retained board follows.
        await page1.click("button[data-action=next]")
        await page1.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")
        wait_until(lambda: _counter_board(broker, "quay-1").get("ticket_number") == "A001")
        assert _counter_board(broker, "quay-1")["state"] == "open"
        assert _status(db, numbers["A001"])[:3] == ("called", "tu-phap-ho-tich", "quay-1")

        # Complete with an outcome and a dossier code, by keyboard shortcut.
        await page1.fill("#dossier", "000.00.00.H01-260302-0001")
        await page1.click("body")
        await page1.keyboard.press("1")
        await page1.wait_for_function("document.getElementById('cur-number').textContent === '—'")
        assert _status(db, numbers["A001"]) == ("completed", "tu-phap-ho-tich", "quay-1", "returned")
        await page1.wait_for_function("document.querySelector('.total-completed').textContent === '1'")

        # Next, then transfer to civil status: the ticket waits again in the other service.
        await page1.click("button[data-action=next]")
        await page1.wait_for_function("document.getElementById('cur-number').textContent === 'B001'")
        await page1.select_option("#transfer-to", "tu-phap-ho-tich")
        await page1.click("button[data-action=transfer]")
        wait_until(lambda: _status(db, numbers["B001"])[:2] == ("waiting", "tu-phap-ho-tich"))
        await page1.wait_for_function("document.getElementById('cur-number').textContent === '—'")

        # Pause with a reason: next is refused with a clear message; the board shows the pause.
        await page1.select_option("#pause-reason", "Đi họp")
        await page1.click("button[data-action=pause]")
        await page1.wait_for_function("document.getElementById('counter-state').classList.contains('paused')")
        assert "Đi họp" in await page1.inner_text("#counter-state")
        wait_until(lambda: _counter_board(broker, "quay-1").get("reason") == "Đi họp")
        await page1.wait_for_function("document.querySelector('button[data-action=next]').disabled")  # resume first
        await page1.click("button[data-action=resume]")
        await page1.wait_for_function("document.getElementById('counter-state').classList.contains('open')")

        # Two desks press next at the same moment: different tickets.
        ctx2, page2 = await _login(browser, base, "officer2", "officer2-pass")
        await asyncio.gather(page1.click("button[data-action=next]"), page2.click("button[data-action=next]"))
        got = []
        for page in (page1, page2):
            await page.wait_for_function("/^[A-Z0-9]+$/.test(document.getElementById('cur-number').textContent)")
            got.append(await page.inner_text("#cur-number"))
        assert got[0] != got[1], got
        assert set(got) <= set(numbers)

        # Site A's desk user is refused on site B, by the API and by the page.
        token = await page1.get_attribute("meta[name=csrf-token]", "content")
        refused = await page1.request.post(f"{base}/api/v1/sites/{OTHER_SITE_ID}/counters/quay-1/next",
                                           headers={"X-CSRF-Token": token})
        assert refused.status == 403 and (await refused.json())["code"] == "forbidden"
        page_b = await page1.request.get(f"{base}/desk?site={OTHER_SITE_ID}&counter=quay-1")
        assert page_b.status == 403
        no_csrf = await page1.request.post(f"{base}/api/v1/sites/{SITE_ID}/counters/quay-1/recall")
        assert no_csrf.status == 403 and (await no_csrf.json())["code"] == "csrf"

        # The console as officers see it, at 1366x768.
        await page1.wait_for_timeout(1200)
        await page1.screenshot(path=str(shot))
        await browser.close()


def test_officer_works_a_day_in_the_browser(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()  # 10:00 on the project clock's date: no midnight mid-test
    with LiveServer(settings, clock=office) as server:
        store = server.runtime.store
        create_user(store, "officer1", "officer1-pass", "desk", [SITE_ID], ["quay-1"])
        create_user(store, "officer2", "officer2-pass", "desk", [SITE_ID], ["quay-2"])
        kiosk = Kiosk(broker, clock=office)
        numbers = {}
        for i in range(1, 9):
            numbers[f"B{i:03d}"] = kiosk.issue(f"B{i:03d}", "chung-thuc")
        numbers["A001"] = kiosk.issue("A001", "tu-phap-ho-tich", priority="elderly")
        wait_until(lambda: store.counts()["stored"] >= 9)
        shot = tmp_path / "desk-console.png"
        asyncio.run(_scenario(server, broker, db, kiosk, numbers, shot))
        kiosk.close()
    assert shot.stat().st_size > 20_000


async def _busy_console(server: LiveServer, shot: Path) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx, page = await _login(browser, server.url, "officer1", "officer1-pass")
        await page.keyboard.press("n")
        await page.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")
        # Issued 48 minutes ago: past 75 % of the 60-minute target, so the timer turns amber.
        await page.wait_for_selector("#cur-timer.near")
        assert (await page.inner_text("#cur-timer")).startswith("48:")
        assert "60 phút" in await page.inner_text("#cur-target")
        # At risk: past 45 minutes since arrival, waiting or at a counter (A001 here).
        await page.wait_for_function("document.querySelectorAll('#at-risk li:not(.none)').length === 3")
        risk = await page.inner_text("#at-risk")
        assert "B001" in risk and "A002" in risk and "A001" in risk and "3001" not in risk
        await page.wait_for_function("document.getElementById('faults').textContent.includes('Hết giấy')")
        await page.click("button[data-action=start]")
        await page.wait_for_function("document.getElementById('cur-status').textContent === 'Đang tiếp nhận'")
        waiting = await page.inner_text("#waiting")
        assert "Ưu tiên" in waiting and "B003" in waiting
        assert "Máy in: Hết giấy" in await page.inner_text("#faults")
        assert "tại quầy 1" in await page.inner_text("#at-risk")
        # English is available without reloading anything but the page.
        await page.screenshot(path=str(shot))
        await page.goto(f"{server.url}/desk?lang=en&site={SITE_ID}&counter=quay-1")
        await page.wait_for_selector("#live.on")
        assert "Call next" in await page.inner_text("button[data-action=next]")
        await browser.close()


def test_console_shows_timer_risk_and_device_faults(broker, tmp_path):
    from datetime import timedelta

    from protocol.link import MqttLink

    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    # 10:00 on the project clock's date: tickets 48 minutes old stay on today at any hour.
    office = office_clock()
    with LiveServer(settings, clock=office) as server:
        store = server.runtime.store
        create_user(store, "officer1", "officer1-pass", "desk", [SITE_ID], ["quay-1"])
        kiosk = Kiosk(broker, clock=office)
        now = office()  # the server's clock
        kiosk.issue("A001", "tu-phap-ho-tich", at=now - timedelta(minutes=48))
        kiosk.issue("B001", "chung-thuc", at=now - timedelta(minutes=47))
        kiosk.issue("A002", "tu-phap-ho-tich", at=now - timedelta(minutes=46))
        kiosk.issue("3001", "dat-dai", at=now - timedelta(minutes=20))
        for i in range(3, 12):
            kiosk.issue(f"B{i:03d}", "chung-thuc", at=now - timedelta(minutes=30 - 2 * i))
        kiosk.issue("3002", "dat-dai", priority="elderly", at=now - timedelta(minutes=3))
        printer = MqttLink("kiosk-1", broker.settings_for("kiosk-1"), status_topic=topics.device_status(SITE_ID, "kiosk-1"))
        printer.start()
        printer.wait_connected()
        printer.set_status("online", printer="paper_out")
        wait_until(lambda: store.counts()["stored"] >= 14)
        shot = tmp_path / "desk-console.png"
        asyncio.run(_busy_console(server, shot))
        printer.stop()
        kiosk.close()
    if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "desk-console.png")
