"""The managers' dashboard in real Chromium (Playwright) against a real server, broker
and SQLite file holding a month of realistic events at five reception points.

Set XEPHANG_DOCS_SCREENSHOTS=1 to also copy the screenshots to docs/images/.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import sync_playwright

from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from protocol.sites import Site
from server.settings import ServerSettings
from server.storage.events import EventStore, Incoming
from server.web.auth import create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.support import OTHER_SITE_ID, SITE_ID, office_clock, server_settings_dict, site_dict, wait_until

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SITES = [
    (SITE_ID, "Trung tâm Phục vụ hành chính công phường Ba Đình", 0.55),
    (OTHER_SITE_ID, "Điểm tiếp nhận phường Hoàn Kiếm", 1.0),
    ("xa-dong-anh", "Điểm tiếp nhận xã Đông Anh", 0.8),
    ("xa-soc-son", "Điểm tiếp nhận xã Sóc Sơn", 1.35),
    ("phuong-cau-giay", "Trung tâm Phục vụ hành chính công phường Cầu Giấy", 1.7),
]
HOURS = [(7, 5), (8, 14), (9, 16), (10, 12), (11, 6), (13, 4), (14, 12), (15, 10), (16, 4)]
LOCAL = timezone(timedelta(hours=7))


def month_of_events(sites: list[Site], today: datetime, seed: int = 8) -> list:
    """The 30 days before today: office-hour arrivals, waits that grow at the peaks and
    with each site's load, recalls, transfers, no-shows and ratings."""
    rng = random.Random(seed)
    events, seqs = [], {}

    def add(kind, site, when, source="server", **data):
        seqs[source] = seqs.get(source, 0) + 1
        events.append(make_event(kind, site=site, source=source, seq=seqs[source], data=data, ts=when,
                                 id=uuid.UUID(int=rng.getrandbits(128), version=4)))

    for site, (_, _, load) in zip(sites, SITES):
        for back in range(30, 0, -1):
            day = (today.astimezone(LOCAL) - timedelta(days=back)).date()  # site-local days
            if day.weekday() >= 5:
                continue
            for _ in range(rng.randint(70, 130)):
                hour = rng.choices([h for h, _ in HOURS], [w for _, w in HOURS])[0]
                issued = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=LOCAL)
                service = rng.choices(site.services, [4, 4, 2])[0]
                counter = rng.choice([c for c in site.counters if service.id in c.services])
                number = f"{service.letter}{rng.randrange(1, 999):03d}" if service.letter else str(rng.randrange(3001, 3999))
                ticket_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                add("ticket.issued", site.id, issued, "kiosk-1", ticket_id=ticket_id, number=number,
                    service=service.id, priority=None)
                if rng.random() < 0.02 and service.letter == "A":
                    add("ticket.transferred", site.id, issued + timedelta(seconds=50), ticket_id=ticket_id,
                        counter=counter.id, to_service="chung-thuc")
                peak = 1.6 if hour in (8, 9, 14) else 1.0
                called = issued + timedelta(seconds=rng.gammavariate(2.0, 330 * load * peak))
                add("ticket.called", site.id, called, ticket_id=ticket_id, number=number, counter=counter.id)
                if rng.random() < 0.06:
                    add("ticket.recalled", site.id, called + timedelta(seconds=90), ticket_id=ticket_id, number=number,
                        counter=counter.id)
                if rng.random() < 0.04:
                    add("ticket.no_show", site.id, called + timedelta(seconds=200), ticket_id=ticket_id, counter=counter.id)
                    continue
                started = called + timedelta(seconds=rng.uniform(20, 70))
                add("ticket.started", site.id, started, ticket_id=ticket_id, counter=counter.id)
                done = started + timedelta(seconds=rng.lognormvariate(math.log(760 * (0.8 + 0.3 * load)), 0.45))
                outcome = rng.choices(["returned", "appointment", "guided", "info"], [60, 25, 10, 5])[0]
                add("ticket.completed", site.id, done, ticket_id=ticket_id, counter=counter.id, outcome=outcome)
                if rng.random() < 0.4:
                    add("feedback.given", site.id, done + timedelta(seconds=30), "feedback-1", ticket_id=ticket_id,
                        counter=counter.id, rating=rng.choices([1, 2, 3, 4], [50 / load, 30, 12, 8 * load])[0],
                        scale="4-level")
    # Today: people waiting now, two of them past 45 minutes.
    for site_id, minutes in ((SITE_ID, [52, 47, 31, 12, 4]), (OTHER_SITE_ID, [22, 6])):
        for i, age in enumerate(minutes):
            add("ticket.issued", site_id, today - timedelta(minutes=age), "kiosk-1",
                ticket_id=uuid.UUID(int=rng.getrandbits(128), version=4), number=f"A{900 + i}",
                service="tu-phap-ho-tich", priority=None)
    return events


def _publisher(broker, user):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, broker.passwords[user])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def _status(client, site, device, **body):
    payload = json.dumps({"ts": datetime.now(UTC).isoformat(), **body})
    client.publish(topics.device_status(site, device), payload, qos=1, retain=True).wait_for_publish(10)


def _overflowing(page, width: int) -> list[str]:
    """Elements reaching past the right edge of a `width` px viewport (inner scroll areas excepted)."""
    return page.evaluate(
        "w => [...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll') && !e.ownerSVGElement && "
        "e.getBoundingClientRect().right > w + 1).slice(0, 5).map(e => e.tagName + '.' + e.className)", width)


def test_dashboard_in_chromium_desktop_and_phone(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["sites"] = [site_dict(site_id, name) for site_id, name, _ in SITES]
    settings = load_settings(ServerSettings, None, **data)
    # 10:00 on the project clock's date: the month before it, and tickets 46 minutes old
    # that are still today's, at any hour the test runs.
    office = office_clock()
    now = office()
    events = month_of_events(list(settings.sites), now)
    store = EventStore(tmp_path / "server.db", settings.sites)
    for i in range(0, len(events), 500):
        store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in events[i:i + 500]])
    create_user(store, "lanh-dao", "mat-khau-lanh-dao", "manager", [s[0] for s in SITES])
    create_user(store, "can-bo", "mat-khau-can-bo", "desk", [SITE_ID], ["quay-1"])
    store.close()
    shots = tmp_path / "shots"
    shots.mkdir()
    with LiveServer(settings, clock=office) as server:
        kiosk, server_client = _publisher(broker, "kiosk-1"), _publisher(broker, "server")
        _status(kiosk, SITE_ID, "kiosk-1", state="online", printer="paper_out")
        _status(server_client, OTHER_SITE_ID, "kiosk-2", state="offline")
        counter_events = [
            make_event("counter.opened", site=site_id, source="bench-desk", seq=i, ts=now - timedelta(hours=2),
                       data={"counter": counter})
            for i, (site_id, counter) in enumerate(
                [(s, c) for s, _, _ in SITES for c in ("quay-1", "quay-2", "quay-3")], start=1)
        ]
        counter_events.append(make_event("counter.paused", site=SITE_ID, source="keypad-1", seq=1,
                                         ts=now - timedelta(minutes=25), data={"counter": "quay-1", "reason": "Đi họp"}))
        for event in counter_events:
            server_client.publish(topics.event(event.site, event.type), event.to_json(), qos=1).wait_for_publish(10)
        wait_until(lambda: len(server.runtime.alerts.current[SITE_ID]) >= 4, timeout_s=20)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            errors: list[str] = []
            page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)

            # A desk user is refused; a manager signs in through the real login page.
            page.goto(f"{server.url}/dashboard")
            page.fill("#username", "can-bo")
            page.fill("#password", "mat-khau-can-bo")
            page.click("button[type=submit]")
            assert "dành cho lãnh đạo" in page.content()
            page.context.clear_cookies()
            page.goto(f"{server.url}/dashboard")
            page.fill("#username", "lanh-dao")
            page.fill("#password", "mat-khau-lanh-dao")
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            errors.clear()  # the desk user's 403 above was expected
            page.wait_for_selector("#league tbody tr:nth-child(5)")
            for chart in ("days", "dist", "hours", "counters"):
                page.wait_for_selector(f"#chart-{chart} svg.main-svg", timeout=15_000)
            page.wait_for_selector("#alerts li.alert.device_fault")

            # The league table is the API's numbers, best first.
            api = page.evaluate(
                "fetch('/api/v1/stats?' + new URLSearchParams({from: document.getElementById('dashboard').dataset.from, "
                "to: document.getElementById('dashboard').dataset.today, group_by: 'site'})).then(r => r.json())"
            )
            best = max(api["rows"], key=lambda r: r["pct_within_target"])
            first = page.locator("#league tbody tr").first
            assert first.get_attribute("data-site") == best["site"]
            shown = first.locator(".bar-label").inner_text().replace("\u00a0", " ")
            assert shown == f"{best['pct_within_target']:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " %"
            assert page.locator("#league tbody tr").count() == len(SITES)
            assert "hạng gần nhất" in page.locator("#definitions").inner_text()
            alerts = page.locator("#alerts").inner_text()
            assert "Phiếu sắp trễ hạn" in alerts and "A900" in alerts and "A901" in alerts
            assert "Quầy tạm dừng" in alerts and "Đi họp" in alerts
            assert "hết giấy" in alerts and "Thiết bị mất kết nối" in alerts
            page.screenshot(path=str(shots / "dashboard-desktop.png"))
            page.screenshot(path=str(shots / "dashboard-desktop-full.png"), full_page=True)
            assert _overflowing(page, 1366) == []

            # The live panel follows the server without a reload: the printer gets paper.
            marker = page.evaluate("window.__marker = Math.random()")
            _status(kiosk, SITE_ID, "kiosk-1", state="online", printer="ok")
            page.wait_for_function("!document.querySelector('#alerts li.alert.device_fault')", timeout=20_000)
            assert page.evaluate("window.__marker") == marker  # same page, not reloaded

            # Another site from the league table redraws the charts.
            page.locator(f"#league tbody tr[data-site='{OTHER_SITE_ID}']").click()
            page.wait_for_function(f"document.getElementById('site').value === '{OTHER_SITE_ID}'")
            page.wait_for_timeout(800)
            assert not errors, errors

            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                     device_scale_factor=2, locale="vi-VN")
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.url}/dashboard")
            phone.wait_for_selector("#chart-hours svg.main-svg", timeout=15_000)
            phone.wait_for_selector("#alerts li.alert")
            assert _overflowing(phone, 390) == []
            width = phone.evaluate("document.getElementById('chart-days').getBoundingClientRect().width")
            assert 300 < width <= 390
            phone.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
            browser.close()
        kiosk.loop_stop()
        server_client.loop_stop()
    for name in ("dashboard-desktop.png", "dashboard-desktop-full.png", "dashboard-phone.png"):
        assert (shots / name).stat().st_size > 20_000
        if os.environ.get("XEPHANG_DOCS_SCREENSHOTS") == "1":
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copy(shots / name, DOCS_IMAGES / name)
