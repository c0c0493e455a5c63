"""The ticket page in Debian's Chromium (Playwright) on a phone-sized screen, against a
real server and broker: it follows a ticket from waiting to called to completed by
itself, takes one rating, refuses a second, and cannot read another ticket."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import uuid
from pathlib import Path

from playwright.async_api import async_playwright, expect

from protocol.settings import load_settings
from protocol.speech import call_sentence
from server.settings import ServerSettings
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

PHONE = {"width": 390, "height": 844}


def _ratings(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT payload FROM events WHERE type = 'feedback.given'").fetchall()
    finally:
        conn.close()
    return [json.loads(r[0])["data"] for r in rows]


async def _follow(server: LiveServer, ids: dict[str, str], db: Path, shots: Path) -> None:
    dispatcher = server.runtime.dispatcher
    base = server.url
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                            has_touch=True, locale="vi-VN")
        page = await context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await page.goto(f"{base}/t/{ids['A002']}")

        # Waiting: the number, how it is said, the service, one person ahead.
        assert await page.inner_text("#number") == "A002"
        assert await page.inner_text("#spoken-words") == "a, hai"
        assert await page.inner_text("#service") == "Tư pháp - Hộ tịch"
        assert await page.inner_text("#status") == "Đang chờ"
        assert await page.inner_text("#ahead") == "1"
        assert await page.is_hidden("#call") and await page.is_hidden("#rate")
        # The wait is the estimator's range in words, the same as the JSON says (issue 16).
        shown = await page.inner_text("#wait")
        answer = await (await page.request.get(f"{base}/api/v1/tickets/{ids['A002']}")).json()
        assert shown == answer["wait_text"]
        assert re.fullmatch(r"khoảng \d+–\d+ phút|dưới 5 phút|chưa ước tính được \(1 người phía trước\)", shown), shown
        # The number is really large on a phone.
        size = await page.eval_on_selector("#number", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 80, size
        await page.screenshot(path=str(shots / "ticket-waiting.png"))

        # The desk calls A001 then A002: the page follows by itself (polling), no reload.
        await asyncio.to_thread(dispatcher.call_next, SITE_ID, "quay-1", "test")
        # (The page's CSP forbids eval, so waits use selectors, never wait_for_function.)
        await expect(page.locator("#ahead")).to_have_text("0", timeout=15000)
        assert (await page.inner_text("#wait")).startswith("Sắp đến lượt bạn")
        await asyncio.to_thread(dispatcher.complete, SITE_ID, "quay-1", "returned", None, "test")
        await asyncio.to_thread(dispatcher.call_next, SITE_ID, "quay-1", "test")
        await page.wait_for_selector("#call:not([hidden])", timeout=15000)
        assert await page.inner_text("#status") == "Đang gọi số của bạn"
        assert await page.inner_text("#go") == "Mời đến quầy số 1"
        assert await page.inner_text("#counter-name") == "Quầy 1"
        # The same words as the board's call.
        assert await page.inner_text("#sentence") == call_sentence("A002", 1)
        assert await page.is_hidden("#queue")
        await page.screenshot(path=str(shots / "ticket-page.png"))

        # The officer starts receiving the dossier: serving, at counter 1.
        await asyncio.to_thread(dispatcher.start, SITE_ID, "quay-1", "test")
        await expect(page.locator("#status")).to_have_text("Đang được tiếp nhận", timeout=15000)
        assert await page.is_hidden("#go") and await page.is_hidden("#sentence")
        assert await page.inner_text("#counter-name") == "Quầy 1"

        # Completed: the rating buttons appear; one press is taken.
        await asyncio.to_thread(dispatcher.complete, SITE_ID, "quay-1", "returned", None, "test")
        await page.wait_for_selector("#rate:not([hidden])", timeout=15000)
        assert await page.inner_text("#status") == "Đã hoàn thành"
        labels = await page.eval_on_selector_all("#rate button", "bs => bs.map(b => b.textContent)")
        assert labels == ["Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng"]
        await page.screenshot(path=str(shots / "ticket-rate.png"))
        await page.click("#rate button[data-rating='1']")
        await page.wait_for_selector("#thanks:not([hidden])")
        assert await page.is_hidden("#rate")
        assert await page.inner_text("#thanks") == "Cảm ơn bạn đã đánh giá!"
        wait_until(lambda: len(_ratings(db)) == 1)
        assert _ratings(db) == [{"ticket_id": ids["A002"], "counter": "quay-1", "rating": 1, "scale": "4-level"}]

        # A second rating is refused, by the API and after a reload by the page.
        again = await page.request.post(f"{base}/api/v1/tickets/{ids['A002']}/rating",
                                        data={"rating": 4, "scale": "4-level"})
        assert again.status == 409 and (await again.json())["code"] == "already_rated"
        await page.reload()
        assert await page.is_hidden("#rate") and await page.is_visible("#thanks")
        assert len(_ratings(db)) == 1

        # From this page, another ticket cannot be read: not by guessing ids, not by number.
        for probe in (ids["A001"][:-4] + "ffff", "A001", str(uuid.uuid4())):
            other = await page.request.get(f"{base}/api/v1/tickets/{probe}")
            assert other.status == 404 and await other.json() == {"code": "not_found", "detail": "no such ticket"}
        html = await page.content()
        assert "A001" not in html and ids["A001"] not in html
        # Nothing but this server was asked for anything.
        assert requested and all(url.startswith(base) for url in requested), requested

        # English on request.
        await page.goto(f"{base}/t/{ids['A002']}?lang=en")
        assert await page.inner_text("#status") == "Completed"
        assert await page.inner_text("#thanks") == "Thank you for your rating!"
        await browser.close()


def test_page_follows_a_ticket_and_takes_one_rating(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()  # 10:00 on the project clock's date: no midnight mid-test
    with LiveServer(settings, clock=office) as server:
        kiosk = Kiosk(broker, clock=office)
        ids = {n: kiosk.issue(n, "tu-phap-ho-tich") for n in ("A001", "A002")}
        wait_until(lambda: server.runtime.store.counts()["stored"] >= 2)
        shots = tmp_path / "shots"
        shots.mkdir()
        asyncio.run(_follow(server, ids, db, shots))
        kiosk.close()
    assert (shots / "ticket-page.png").stat().st_size > 20_000
    if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
        for name in ("ticket-page.png", "ticket-waiting.png", "ticket-rate.png"):
            shutil.copy(shots / name, Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / name)
