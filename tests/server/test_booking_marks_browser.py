"""The appointment mark beside the number (issue 17): the server's retained board state
says which ticket a counter serves was booked (`ticket_channel`, `channel` of a call), and
the desk console shows the mark in its waiting list and beside the ticket in progress,
with "not checked in yet" for a number taken on a phone. Chromium against a real server,
broker and SQLite, on the project clock."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from server.desk.boardstate import board_state
from server.web.auth import create_user
from tests.server.bookingsite import booking_settings, slot_key
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, office_clock, wait_until

SERVICE = "tu-phap-ho-tich"


def _marks(page) -> dict[str, list[str]]:
    """number -> the tags beside it in the console's waiting list."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#waiting li')]
        .filter(li => li.querySelector('.num'))
        .map(li => [li.querySelector('.num').textContent, [...li.querySelectorAll('.tag')].map(t => t.textContent)]))""")


def _board(server):
    conn = server.runtime.store.reader()
    try:
        site = server.runtime.settings.sites[0]
        return board_state(conn, site, server.runtime.clock())
    finally:
        conn.close()


def test_booked_and_remote_numbers_carry_their_mark_on_the_board_state_and_the_console(broker, tmp_path):
    clock = office_clock()  # 10:00 on the project clock's date
    settings = booking_settings(broker, tmp_path / "server.db", {"early_checkin_minutes": 120})
    with LiveServer(settings, clock=clock) as server:
        store = server.runtime.store
        create_user(store, "can-bo-1", "mat-khau-can-bo-1", "desk", [SITE_ID], ["quay-1"])
        kiosk = Kiosk(broker, clock=clock)
        try:
            kiosk.issue("A001", SERVICE, at=clock() - timedelta(minutes=5))
            wait_until(lambda: store.counts()["stored"] >= 1)
        finally:
            kiosk.close()
        start = clock().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=90)  # 11:30 today
        with httpx.Client(base_url=server.url) as http:
            online = http.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": SERVICE}).json()
            booked = http.post("/api/v1/bookings", json={"site": SITE_ID, "service": SERVICE, "slot": slot_key(start)}).json()
        checked = server.runtime.bookings.check_in(booked["code"], SITE_ID)
        assert (online["number"], checked["number"]) == ("TX001", "LH001")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
            page.goto(f"{server.url}/desk")
            page.fill("#username", "can-bo-1")
            page.fill("#password", "mat-khau-can-bo-1")
            page.click("button[type=submit]")
            page.wait_for_selector("#live.on")
            page.wait_for_function("document.querySelectorAll('#waiting li .num').length === 3")
            # The waiting list: the walk-in bare, the booked slot and the remote number marked,
            # the remote number also "not here yet" (it is not called before its check-in).
            assert _marks(page) == {"A001": [], "TX001": ["Từ xa", "Chưa có mặt"], "LH001": ["Lịch hẹn"]}, _marks(page)
            colour = page.eval_on_selector("#waiting .tag.channel.appointment", "e => getComputedStyle(e).backgroundColor")
            assert colour == "rgb(0, 190, 169)"

            # Walk-in first (issued first), then LH001: TX001 is skipped until it checks in.
            page.click("button[data-action=next]")
            page.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")
            assert page.is_hidden("#cur-channel")
            page.click("button[data-action=complete][data-outcome=returned]")
            page.wait_for_function("document.getElementById('cur-number').textContent === '—'")
            page.wait_for_function("!document.querySelector('button[data-action=next]').disabled")
            page.click("button[data-action=next]")
            page.wait_for_function("document.getElementById('cur-number').textContent === 'LH001'")
            page.wait_for_selector("#cur-channel", state="visible")
            assert page.inner_text("#cur-channel") == "Lịch hẹn"
            page.wait_for_function("document.querySelectorAll('#waiting li .num').length === 1")
            if os.environ.get("XEPHANG_SCREENSHOT_DIR"):
                page.screenshot(path=str(Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "desk-marks.png"))
            browser.close()

        # The board's retained state: counter 1 serves a booked ticket; the last calls say
        # which was booked and which was a walk-in.
        state = _board(server)
        counter = next(c for c in state.counters if c.id == "quay-1")
        assert (counter.ticket_number, counter.ticket_channel) == ("LH001", "appointment")
        assert [(c.number, c.channel) for c in state.recent_calls] == [("LH001", "appointment"), ("A001", None)]
