"""The desk console's rough edges (issue 22, point 7), in Chromium against a real server
and broker: buttons enabled only when their action applies, the transfer list never
offering the ticket's own service, waiting times that stay after each action, messages
that say what was done, a pause that needs a reason, tickets past the target apart from
those about to pass it, and a page (not JSON) for another counter's address."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

ACTIONS = ("next", "recall", "start", "no-show", "reprint", "complete", "transfer", "pause", "resume", "close")


def _enabled(page) -> dict[str, bool]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.actions button[data-action]')]
        .map(b => [b.dataset.action, !b.disabled]))""")


def _ages(page) -> list[str]:
    return page.eval_on_selector_all("#waiting .age", "es => es.map(e => e.textContent)")


def test_console_buttons_transfer_waits_messages_pause_and_risk(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()
    with LiveServer(settings, clock=office) as server:
        store = server.runtime.store
        create_user(store, "officer1", "officer1-pass", "desk", [SITE_ID], ["quay-1"])
        kiosk = Kiosk(broker, clock=office)
        now = office()
        kiosk.issue("A001", "tu-phap-ho-tich", at=now - timedelta(minutes=70))  # past the 60 minutes
        kiosk.issue("A002", "tu-phap-ho-tich", at=now - timedelta(minutes=50))  # about to pass them
        kiosk.issue("B001", "chung-thuc", at=now - timedelta(minutes=5))
        wait_until(lambda: store.counts()["stored"] >= 3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
            page.goto(f"{server.url}/desk")
            page.fill("#username", "officer1")
            page.fill("#password", "officer1-pass")
            page.click("button[type=submit]")
            page.wait_for_selector("#live.on")
            page.wait_for_function("document.querySelectorAll('#waiting .age').length === 3")

            # Closed counter, nothing in progress: only next, pause and open apply.
            enabled = _enabled(page)
            assert enabled == {"next": True, "recall": False, "start": False, "no-show": False, "reprint": False,
                               "complete": False, "transfer": False, "pause": True, "resume": True, "close": False}, enabled
            assert all(a for a in _ages(page)), _ages(page)  # waits shown with no ticket in progress
            # Past the target apart from about to pass it.
            assert "A001" in page.inner_text("#over-target") and "A002" not in page.inner_text("#over-target")
            assert "A002" in page.inner_text("#at-risk") and "A001" not in page.inner_text("#at-risk")

            # Call: the message says what was done; the transfer list skips the ticket's own service.
            page.click("button[data-action=next]")
            page.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")
            assert page.inner_text("#message") == "Đã gọi số A001"
            page.wait_for_function("document.querySelector('button[data-action=next]').disabled")
            assert page.eval_on_selector("#transfer-to", "s => s.value") == "chung-thuc"
            assert page.eval_on_selector("#transfer-to option[value=tu-phap-ho-tich]", "o => o.disabled")
            enabled = _enabled(page)
            assert enabled["recall"] and enabled["start"] and enabled["transfer"] and enabled["complete"]
            assert not enabled["next"] and not enabled["pause"] and not enabled["close"]

            # Complete: "A001: Trả kết quả ngay", and the waits are still there at once.
            page.click("button[data-action=complete][data-outcome=returned]")
            page.wait_for_function("document.getElementById('cur-number').textContent === '—'")
            assert page.inner_text("#message") == "A001: Trả kết quả ngay"
            ages = _ages(page)
            assert len(ages) == 2 and all(ages), ages
            page.screenshot(path=str(tmp_path / "desk-console.png"))

            # A pause needs a reason: none chosen, nothing sent; the API refuses one too.
            page.click("button[data-action=next]")
            page.wait_for_function("document.getElementById('cur-number').textContent === 'A002'")
            page.click("button[data-action=complete][data-outcome=info]")
            page.wait_for_function("document.getElementById('cur-number').textContent === '—'")
            page.click("button[data-action=pause]")
            assert page.inner_text("#message") == "Hãy chọn lý do tạm dừng."
            assert "open" in page.get_attribute("#counter-state", "class")
            token = page.get_attribute("meta[name=csrf-token]", "content")
            empty = page.request.post(f"{server.url}/api/v1/sites/{SITE_ID}/counters/quay-1/pause",
                                      headers={"X-CSRF-Token": token}, data={"reason": "  "})
            assert empty.status == 422 and empty.json()["code"] == "reason_required"
            page.select_option("#pause-reason", "Đi họp")
            page.click("button[data-action=pause]")
            page.wait_for_function("document.getElementById('counter-state').classList.contains('paused')")
            assert page.inner_text("#message") == "Quầy tạm dừng: Đi họp"
            page.wait_for_function("document.querySelector('button[data-action=next]').disabled")
            # "Other reason…" asks for the words.
            page.select_option("#pause-reason", "other")
            assert page.is_visible("#pause-other")

            # Another counter's address: a page that says so, with the counters one may use.
            response = page.goto(f"{server.url}/desk?site={SITE_ID}&counter=quay-2")
            assert response.status == 403
            assert "Không phải quầy của bạn" in page.inner_text("h1")
            assert page.locator("a[href*='counter=quay-1']").count() == 1
            browser.close()
        kiosk.close()
    if os.environ.get("XEPHANG_DOCS_SCREENSHOTS"):
        shutil.copy(tmp_path / "desk-console.png", Path(__file__).resolve().parents[2] / "docs" / "images" / "desk-console.png")
