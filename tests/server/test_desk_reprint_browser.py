"""The reprint button of the desk console (issue 20), in Chromium against a real server, a
real kiosk (MockFactory pins, fake printer) and a real broker: enabled only while the
counter serves a ticket a kiosk of the site printed; pressed, the kiosk prints the same
number again, the console says so, and the audit log has the row. A ticket the server
numbered (not printed by a kiosk) leaves the button disabled, and the API refuses it."""

from __future__ import annotations

import sqlite3
import uuid

from playwright.sync_api import sync_playwright

from protocol.events import make_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.kiosk.test_app import press, start_app
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.support import SITE_ID, office_clock, server_settings_dict, wait_until

REPRINT = "button[data-action=reprint]"


def _audit(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT actor, action, ok, code, target FROM audit_log WHERE action = 'reprint' ORDER BY rowid")]
    finally:
        conn.close()


def test_the_reprint_button_prints_the_kiosk_ticket_again_and_only_that(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    office = office_clock()
    with LiveServer(settings, clock=office) as server:
        store = server.runtime.store
        create_user(store, "officer1", "officer1-pass", "desk", [SITE_ID], ["quay-1"])
        kiosk, factory, _gate = start_app(tmp_path, broker, clock=office)
        try:
            press(factory, 17)  # Tư pháp - Hộ tịch, printed by kiosk-1
            assert kiosk.wait_idle(10)
            slip = kiosk.results[-1]
            assert slip.printed
            wait_until(lambda: store.counts()["stored"] >= 1)
            # A ticket the server numbered itself (not a kiosk's slip), after the kiosk's one.
            numbered = str(uuid.uuid4())
            store.append_local([make_event(
                "ticket.issued", site=SITE_ID, source="server-booking", seq=1, ts=office(),
                data={"ticket_id": numbered, "number": "TX001", "service": "tu-phap-ho-tich", "priority": None})])

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
                page.goto(f"{server.url}/desk")
                page.fill("#username", "officer1")
                page.fill("#password", "officer1-pass")
                page.click("button[type=submit]")
                page.wait_for_selector("#live.on")
                page.wait_for_function("document.querySelectorAll('#waiting .age').length === 2")
                assert page.is_disabled(REPRINT)  # nothing in progress
                assert page.inner_text(REPRINT).startswith("In lại phiếu")

                page.click("button[data-action=next]")
                page.wait_for_function(f"document.getElementById('cur-number').textContent === '{slip.number}'")
                page.wait_for_function(f"!document.querySelector('{REPRINT}').disabled")
                page.keyboard.press("i")  # the button's key
                page.wait_for_function("document.getElementById('message').textContent.startsWith('Đã gửi')")
                assert page.inner_text("#message") == f"Đã gửi lệnh in lại số {slip.number} tới kiosk-1"
                # The kiosk got it over the broker and printed the same number again, marked a copy.
                copy = wait_until(lambda: next((r for r in kiosk.results if r.outcome == "reprinted"), None), 10)
                assert (copy.number, copy.ticket_id) == (slip.number, slip.ticket_id)
                assert copy.content.reprinted_at is not None and len(kiosk.printer.transport.jobs) == 2

                # The server's own number: no kiosk printed it, so no button; the API says why.
                page.click("button[data-action=complete][data-outcome=returned]")
                page.wait_for_function("document.getElementById('cur-number').textContent === '—'")
                page.click("button[data-action=next]")
                page.wait_for_function("document.getElementById('cur-number').textContent === 'TX001'")
                page.wait_for_function("!document.querySelector('button[data-action=recall]').disabled")
                assert page.is_disabled(REPRINT)
                page.keyboard.press("i")  # a disabled button's key does nothing
                assert page.inner_text("#message") == "Đã gọi số TX001"
                token = page.get_attribute("meta[name=csrf-token]", "content")
                refused = page.request.post(f"{server.url}/api/v1/sites/{SITE_ID}/counters/quay-1/reprint",
                                            headers={"X-CSRF-Token": token}, data={"ticket_id": numbered})
                assert refused.status == 409 and refused.json()["code"] == "not_printed_by_a_kiosk"
                browser.close()
            assert len(kiosk.printer.transport.jobs) == 2  # nothing more printed
        finally:
            kiosk.stop()
        assert _audit(store.path) == [("officer1", "reprint", 1, None, slip.ticket_id),
                                      ("officer1", "reprint", 0, "not_printed_by_a_kiosk", numbered)]
