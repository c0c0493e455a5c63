"""One clock for every page (issue 22, point 1): with the server on a sped-up clock hours
away from the real time (as in `xephang demo`), the dashboard's live panel, the ticket
page's "updated at" and the desk console's timers show the server's time, never the
browser's. Real Chromium, real server, real Mosquitto.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from datetime import time as day_time

from playwright.sync_api import sync_playwright

from protocol import clock as project_clock
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, Kiosk, LiveServer
from tests.support import SITE_ID, server_settings_dict, wait_until

HANOI = timezone(timedelta(hours=7))
SPEEDUP = 60.0


def demo_like_clock() -> tuple:
    """A clock on the project clock's date, at least three hours away from the real time of
    day, running 60 times faster than real time: a demo's clock."""
    real_hour = project_clock.real_now().astimezone(HANOI).hour
    hour = 9 if not 6 <= real_hour <= 12 else 15
    day = project_clock.now().astimezone(HANOI).date()
    return project_clock.scaled_clock(datetime.combine(day, day_time(hour), HANOI), time.time(), SPEEDUP), hour


def _seconds_apart(shown: str, expected: datetime) -> float:
    """Distance in simulated seconds between an 'HH:MM:SS' shown and `expected` (site-local)."""
    h, m, s = (int(x) for x in re.search(r"(\d\d):(\d\d):(\d\d)", shown).groups())
    local = expected.astimezone(HANOI)
    diff = abs((h * 3600 + m * 60 + s) - (local.hour * 3600 + local.minute * 60 + local.second))
    return min(diff, 86400 - diff)


def _mmss(text: str) -> int:
    parts = [int(p) for p in text.strip().split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def test_pages_show_the_servers_sped_up_clock(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    demo_clock, hour = demo_like_clock()
    with LiveServer(settings, clock=demo_clock, clock_rate=SPEEDUP) as server:
        store = server.runtime.store
        create_user(store, "lanh-dao", "mat-khau-lanh-dao", "manager", [SITE_ID])
        create_user(store, "can-bo", "mat-khau-can-bo", "desk", [SITE_ID], ["quay-1"])
        kiosk = Kiosk(broker, clock=demo_clock)
        now = demo_clock()
        first = kiosk.issue("A001", "tu-phap-ho-tich", at=now - timedelta(minutes=20))
        kiosk.issue("A002", "tu-phap-ho-tich", at=now - timedelta(minutes=10))
        wait_until(lambda: store.counts()["stored"] >= 2)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # Dashboard: "Cập nhật lúc" and the longest wait are on the server's clock.
            page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
            page.goto(f"{server.url}/dashboard")
            page.fill("#username", "lanh-dao")
            page.fill("#password", "mat-khau-lanh-dao")
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            page.wait_for_function("document.getElementById('live-updated').textContent.includes('Cập nhật lúc')")
            updated = page.inner_text("#live-updated")
            assert _seconds_apart(updated, demo_clock()) < 10 * 60, (updated, demo_clock(), hour)
            longest = page.inner_text("#live-table tbody tr td:nth-child(3)")
            minutes = int(re.search(r"\d+", longest).group())
            elapsed_min = (demo_clock() - now).total_seconds() / 60
            assert 20 <= minutes <= 20 + elapsed_min + 10, (longest, elapsed_min)

            # Ticket page: "updated at" is the server's time of the reading.
            ticket = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
            ticket.goto(f"{server.url}/t/{first}")
            shown = ticket.inner_text("#updated")
            assert shown.startswith("Cập nhật lúc") and _seconds_apart(shown, demo_clock()) < 5 * 60, (shown, demo_clock())

            # Desk console: the current ticket's timer runs at the server clock's rate.
            desk = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
            desk.goto(f"{server.url}/desk")
            desk.fill("#username", "can-bo")
            desk.fill("#password", "mat-khau-can-bo")
            desk.click("button[type=submit]")
            desk.wait_for_selector("#live.on")
            desk.click("button[data-action=next]")
            desk.wait_for_function("document.getElementById('cur-number').textContent === 'A001'")
            before, real_before = _mmss(desk.inner_text("#cur-timer")), time.monotonic()
            expected_before = (demo_clock() - (now - timedelta(minutes=20))).total_seconds()
            assert abs(before - expected_before) < 120, (before, expected_before)
            time.sleep(3)
            after, real_after = _mmss(desk.inner_text("#cur-timer")), time.monotonic()
            # Three real seconds are three simulated minutes (allowing for one page tick).
            assert after - before >= (real_after - real_before - 1.5) * SPEEDUP, (before, after)
            browser.close()
        kiosk.close()
