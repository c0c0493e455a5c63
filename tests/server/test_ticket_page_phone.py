"""The ticket page's layout on phones 320 to 430 px wide, measured in Chromium (issue 22,
point 6): "Số người trước bạn" and "Thời gian chờ dự kiến" each fit on one or two lines,
their values on one, and nothing reaches past the screen's edge."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

LINES = """(sel) => { const e = document.querySelector(sel); const r = e.getBoundingClientRect();
  const lh = parseFloat(getComputedStyle(e).lineHeight); return {lines: Math.round(r.height / lh), width: r.width,
  left: r.left, right: r.right, text: e.textContent}; }"""


def test_queue_figures_read_well_at_phone_widths(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()
    with LiveServer(settings, clock=office) as server:
        kiosk = Kiosk(broker, clock=office)
        now = office()
        ids = {n: kiosk.issue(n, "tu-phap-ho-tich", at=now - timedelta(minutes=30 - i))
               for i, n in enumerate(("A001", "A002", "A003", "A004"))}
        wait_until(lambda: server.runtime.store.counts()["stored"] >= 4)
        dispatcher = server.runtime.dispatcher
        dispatcher.call_next(SITE_ID, "quay-1", "test")
        dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")  # a service time to estimate from
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width in (320, 390, 430):
                context = browser.new_context(viewport={"width": width, "height": 800}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True, locale="vi-VN")
                page = context.new_page()
                page.goto(f"{server.url}/t/{ids['A004']}")
                assert page.inner_text("#ahead") == "2"
                assert page.inner_text("#wait").startswith("khoảng")
                # "your turn is near" (2 ahead) promises the same wait the page shows: one estimator
                page.wait_for_selector("#notice:not([hidden])", timeout=15000)
                assert page.inner_text("#wait") in page.inner_text("#notice-text")
                main = page.eval_on_selector("main", "e => e.getBoundingClientRect().width")
                for label in ("#queue dt:nth-of-type(1)", "#queue dt:nth-of-type(2)"):
                    box = page.evaluate(LINES, label)
                    assert box["lines"] <= 2 and box["width"] >= main * 0.6, (width, box)
                for value in ("#ahead", "#wait"):
                    box = page.evaluate(LINES, value)
                    assert box["lines"] == 1, (width, box)
                    assert box["right"] <= width and box["left"] >= 0, (width, box)
                wide = page.evaluate("w => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w)"
                                     ".map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + e.getBoundingClientRect().right)", width)
                assert wide == [] and page.evaluate("document.documentElement.scrollWidth") <= width, (width, wide)
                # the text itself, not only its box (a big number can overflow a narrow box)
                for text in ("#number", "#ahead", "#wait", "#status", "#service"):
                    right = page.eval_on_selector(text, "e => { const r = document.createRange(); r.selectNodeContents(e); "
                                                        "return r.getBoundingClientRect().right; }")
                    assert right <= width, (width, text, right)
                page.screenshot(path=str(tmp_path / f"ticket-page-{width}.png"))
                context.close()
            browser.close()
        kiosk.close()
    if os.environ.get("XEPHANG_DOCS_SCREENSHOTS"):
        shutil.copy(tmp_path / "ticket-page-320.png", Path(__file__).resolve().parents[2] / "docs" / "images" / "ticket-page-320.png")
