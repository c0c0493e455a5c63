"""The national pages in real Chromium (Playwright) against a real uvicorn and a real
PostgreSQL: the league of provinces, drill-down province -> point, and a province
viewer who sees only their province."""

from __future__ import annotations

import threading
from datetime import date

import uvicorn
from argon2 import PasswordHasher
from playwright.sync_api import sync_playwright

from broker.config import free_port
from national.settings import NationalSettings
from national.store import NationalStore
from national.web import create_app
from protocol.rollup import COUNTS, DayRollup, row_of
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS
from tests.support import wait_until

DAY = date(2026, 3, 31)  # generated data on a fixed date; the pages are asked for that date
PASSWORD = "xem-so-lieu-2"


def day_of(point: str, province: str, received: int, within: int, waits: list[int]) -> DayRollup:
    counts = dict.fromkeys(COUNTS, 0) | {"issued": len(waits), "called": len(waits), "completed": received,
                                          "received": received, "within_target": within}
    hist: dict[int, int] = {}
    for w in waits:
        hist[w] = hist.get(w, 0) + 1
    return DayRollup(site=point, day=DAY, revision=1, province=province, site_name=f"Điểm {point}",
                     rows=[row_of("chung-thuc", "quay-1", counts, {"wait": hist, "service": {}, "total": {}})])


def test_league_and_drill_down_in_chromium(national_dsn):
    store = NationalStore(national_dsn)
    store.migrate()
    store.ingest([
        day_of("hn-xa-a", "ha-noi", 10, 9, [60] * 10),      # 90 %
        day_of("hn-xa-b", "ha-noi", 10, 5, [600] * 10),     # 50 %
        day_of("hue-xa-c", "hue", 10, 10, [30] * 10),       # 100 %
    ])
    store.close()
    hashed = PasswordHasher().hash(PASSWORD)
    settings = NationalSettings(aggregator={"dsn": national_dsn, "viewers": [
        {"name": "bo-noi-vu", "password_hash": hashed}, {"name": "so-hue", "password_hash": hashed, "province": "hue"}]})
    app = create_app(settings, lambda: NationalStore(national_dsn), lambda: DAY)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=20)
    base = f"http://127.0.0.1:{port}"
    query = f"?from={DAY.isoformat()}&to={DAY.isoformat()}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(http_credentials={"username": "bo-noi-vu", "password": PASSWORD}).new_page()
                page.goto(base + "/" + query)
                league = page.locator("section", has_text="Xếp hạng tỉnh").locator("tbody tr")
                # Hue's 100 % ranks above Hanoi's (9 + 5) / 20 = 70 %.
                assert [league.nth(i).locator("td").first.inner_text() for i in range(league.count())] == ["hue", "ha-noi"]
                assert "70.0" in league.nth(1).inner_text()
                page.click("text=ha-noi")
                page.wait_for_url("**/province/ha-noi**")
                points = page.locator("section", has_text="Xếp hạng điểm").locator("tbody tr")
                assert [points.nth(i).locator("td").first.inner_text() for i in range(points.count())] == ["hn-xa-a", "hn-xa-b"]
                page.click("text=hn-xa-b")
                page.wait_for_url("**/point/hn-xa-b**")
                assert "600" in page.locator("section", has_text="theo tháng").inner_text()  # p50 and p90 wait 600 s

                viewer = browser.new_context(http_credentials={"username": "so-hue", "password": PASSWORD}).new_page()
                viewer.goto(base + "/" + query)
                assert "hue-xa-c" in viewer.content() and "hn-xa-a" not in viewer.content()
                assert viewer.goto(base + "/province/ha-noi" + query).status == 403
                assert viewer.goto(base + "/point/hn-xa-a" + query).status == 403
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(15)
