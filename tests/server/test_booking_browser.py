"""The booking page in Debian's Chromium (Playwright) on phones of 390×844 and 360×740,
against a real server, broker and SQLite: book, see and save the QR, cancel, book again,
move; take an online number, follow it, the desk checks it in by code and calls it.
Geometry is checked on every page: nothing wider than the screen, touch targets at least
44 px high, the QR inside the screen; only this server is ever asked for anything."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from server.web.auth import create_token, create_user
from tests.server.bookingsite import booking_settings
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.support import SITE_ID, office_clock

SITE_NAME = "Trung tâm Phục vụ hành chính công xã Thử Nghiệm"
GEOMETRY = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && (r.right > width + 0.5 || r.left < -0.5);
  }).map(e => e.tagName + '#' + e.id + '.' + e.className);
  const small = [...document.querySelectorAll('a.choice, a.button, button, a.day')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height < 44;
  }).map(e => e.outerHTML.slice(0, 80));
  return {scroll: document.scrollingElement.scrollWidth, width, wide, small};
}"""


async def _fits(page: Page) -> None:
    found = await page.evaluate(GEOMETRY)
    assert found["scroll"] <= found["width"], found
    assert found["wide"] == [] and found["small"] == [], found


async def _flow(server: LiveServer, token: str, shots: Path, width: int, height: int) -> None:
    base = server.url
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=2,
                                            is_mobile=True, has_touch=True, locale="vi-VN")
        page = await context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))

        # Reception point -> field -> day -> slot.
        await page.goto(f"{base}/book")
        assert await page.inner_text("h1") == "Đặt lịch làm thủ tục"
        await _fits(page)
        await page.get_by_role("link", name=SITE_NAME).click()
        await page.get_by_role("link", name="Tư pháp - Hộ tịch").click()
        assert await page.is_visible("#take-number")
        assert await page.locator("a.day").count() >= 2
        await _fits(page)
        await page.screenshot(path=str(shots / f"booking-slots-{width}.png"), full_page=False)
        first_open = page.locator("button.slot:not([disabled])").first
        slot_text = await first_open.locator(".time").inner_text()
        await first_open.click()

        # The booking: code, QR (really an image), day and time, move and cancel.
        await expect(page.locator("h1")).to_have_text("Lịch hẹn của bạn")
        code = await page.inner_text("#code")
        assert len(code) == 11 and code[5] == "-"
        assert await page.inner_text("#status") == "Đã đặt lịch"
        assert await page.inner_text("#slot") == slot_text
        # the QR is its own image request: wait until it has loaded (a busy machine may be slower than the page)
        await page.wait_for_function("() => { const i = document.querySelector('#qr'); return i && i.complete; }",
                                     timeout=15000)
        qr = await page.evaluate("() => { const i = document.querySelector('#qr'); const r = i.getBoundingClientRect();"
                                 " return {w: i.naturalWidth, alt: i.alt, left: r.left, right: r.right}; }")
        assert qr["w"] > 100 and code in qr["alt"] and qr["left"] >= 0 and qr["right"] <= width, qr
        async with page.expect_download() as saving:
            await page.click("#save-qr")
        download = await saving.value
        assert download.suggested_filename == f"booking-{code.replace('-', '')}.png"
        await _fits(page)
        await page.screenshot(path=str(shots / f"booking-code-{width}.png"), full_page=True)

        # Cancel, then book again.
        await page.click("#cancel")
        await expect(page.locator("#status")).to_have_text("Đã hủy")
        assert await page.is_hidden("#qr") and await page.is_hidden("#cancel")
        await page.click("#again")
        await page.get_by_role("link", name=SITE_NAME).click()
        await page.get_by_role("link", name="Tư pháp - Hộ tịch").click()
        await page.locator("button.slot:not([disabled])").first.click()
        await expect(page.locator("#status")).to_have_text("Đã đặt lịch")
        second = await page.inner_text("#code")
        assert second != code

        # Move it to the next day's first open slot.
        await page.click("#move")
        await expect(page.locator("h1")).to_have_text("Đổi lịch hẹn")
        await page.locator("a.day").nth(1).click()
        target = page.locator("button.slot:not([disabled])").first
        new_time = await target.locator(".time").inner_text()
        await target.click()
        await expect(page.locator("#slot")).to_have_text(new_time)
        assert await page.inner_text("#code") == second

        # An online number: in the queue at once, followed on the ticket page.
        await page.goto(f"{base}/book/{SITE_ID}/tu-phap-ho-tich")
        await page.click("#take-number")
        await expect(page.locator("h1")).to_have_text("Số thứ tự của bạn")
        number = await page.inner_text("#number")
        assert number.startswith("TX")
        assert await page.inner_text("#status") == "Đang trong hàng chờ"
        assert (await page.inner_text("#come-by")).startswith("Vui lòng đến trước")
        online_code = await page.inner_text("#code")
        await _fits(page)
        await page.screenshot(path=str(shots / f"booking-online-{width}.png"), full_page=True)
        await page.get_by_role("link", name="Theo dõi số của bạn").click()
        await expect(page.locator("#number")).to_have_text(number)

        # The desk checks the citizen in by code; then the desk's call shows on the phone.
        checked = await page.request.post(f"{base}/api/v1/sites/{SITE_ID}/check-in", data={"code": online_code},
                                          headers={"Authorization": f"Bearer {token}"})
        assert checked.status == 200 and (await checked.json())["number"] == number
        called = await asyncio.to_thread(server.runtime.dispatcher.call_next, SITE_ID, "quay-1", "test")
        assert called["number"] == number
        await page.wait_for_selector("#call:not([hidden])", timeout=15000)
        await asyncio.to_thread(server.runtime.dispatcher.complete, SITE_ID, "quay-1", "returned", None, "test")

        # English on request; nothing but this server was asked for anything.
        await page.goto(f"{base}/b/{second}?lang=en")
        assert await page.inner_text("h1") == "Your booking"
        assert requested and all(url.startswith(base) for url in requested), requested
        await browser.close()


def test_booking_page_flow_on_phones(broker, tmp_path):
    settings = booking_settings(broker, tmp_path / "server.db")
    shots = tmp_path / "shots"
    shots.mkdir()
    with LiveServer(settings, clock=office_clock()) as server:
        create_user(server.runtime.store, "can-bo", "mat-khau-dai-1", "desk", [SITE_ID], ["quay-1"])
        token = create_token(server.runtime.store, "can-bo")
        for width, height in ((390, 844), (360, 740)):
            asyncio.run(_flow(server, token, shots, width, height))
    assert (shots / "booking-code-390.png").stat().st_size > 20_000
    if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
        for name in ("booking-slots-390.png", "booking-code-390.png", "booking-online-390.png", "booking-code-360.png"):
            shutil.copy(shots / name, Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / name)


async def _console(server: LiveServer, codes: dict[str, str], shots: Path) -> None:
    base = server.url
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}/desk")
        await page.fill("#username", "can-bo-1")
        await page.fill("#password", "mat-khau-can-bo-1")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/desk")
        # Today's bookings: the appointment at its slot, the online number, neither checked in.
        await expect(page.locator("#booking-list li")).to_have_count(2, timeout=15000)
        assert "Chưa đến" in await page.inner_text("#booking-list")
        # Check in the appointment by its code typed in lower case without the dash.
        await page.fill("#checkin-code", codes["appointment"].replace("-", "").lower())
        await page.click("#checkin-button")
        await expect(page.locator("#checkin-message")).to_have_text("Đã xác nhận có mặt: số LH001")
        await expect(page.locator("#booking-list li.checked")).to_have_count(1)
        # The same code again: a clear refusal, nothing issued.
        await page.fill("#checkin-code", codes["appointment"])
        await page.click("#checkin-button")
        await expect(page.locator("#checkin-message")).to_have_text("Lịch hẹn này đã được sử dụng.")
        await page.fill("#checkin-code", codes["online"])
        await page.click("#checkin-button")
        await expect(page.locator("#checkin-message")).to_have_text("Đã xác nhận có mặt: số TX001")
        await expect(page.locator("#booking-list li.checked")).to_have_count(2)
        await page.screenshot(path=str(shots / "desk-bookings.png"))
        await browser.close()


def test_console_checks_in_by_code(broker, tmp_path):
    import httpx

    from tests.server.bookingsite import slot_key

    clock = office_clock()
    settings = booking_settings(broker, tmp_path / "server.db", {"early_checkin_minutes": 120})
    shots = tmp_path / "shots"
    shots.mkdir()
    with LiveServer(settings, clock=clock) as server:
        create_user(server.runtime.store, "can-bo-1", "mat-khau-can-bo-1", "desk", [SITE_ID], ["quay-1"])
        start = clock().replace(minute=0, second=0, microsecond=0) + __import__("datetime").timedelta(minutes=90)
        with httpx.Client(base_url=server.url) as http:
            codes = {
                "appointment": http.post("/api/v1/bookings", json={"site": SITE_ID, "service": "tu-phap-ho-tich",
                                                                   "slot": slot_key(start)}).json()["code"],
                "online": http.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": "chung-thuc"}).json()["code"],
            }
        asyncio.run(_console(server, codes, shots))
        conn = server.runtime.store.reader()
        try:
            issued = conn.execute("SELECT number FROM tickets WHERE channel IS NOT NULL ORDER BY number").fetchall()
        finally:
            conn.close()
    assert [r[0] for r in issued] == ["LH001", "TX001"]
    if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
        shutil.copy(shots / "desk-bookings.png", Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "desk-bookings.png")
