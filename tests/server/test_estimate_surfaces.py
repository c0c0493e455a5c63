"""The estimate where staff and other systems read it (issue 16): the REST API's queue
state and the desk console's view, on a real server with a real broker and SQLite, at a
fixed instant of the test's own clock."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from protocol.events import make_event
from protocol.settings import load_settings
from server.desk.waits import history
from server.settings import ServerSettings
from server.web.app import create_app
from server.web.auth import create_token, create_user
from tests.support import SITE_ID, RunningBroker, server_settings_dict, wait_until

BASE = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Ho Chi Minh City
RANGE_WORDS = re.compile(r"khoảng \d+–\d+ phút|dưới 5 phút")


class Clock:
    def __init__(self) -> None:
        self.now = BASE

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def office(broker: RunningBroker, tmp_path: Any) -> Iterator[tuple[TestClient, Any, Clock, dict[str, str]]]:
    clock = Clock()
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    app = create_app(settings)
    with TestClient(app) as client:
        runtime = app.state.runtime
        runtime.dispatcher.clock = clock
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        create_user(runtime.store, "admin", "admin-pass-123", "admin", [SITE_ID], [])
        headers = {"Authorization": f"Bearer {create_token(runtime.store, 'admin')}"}
        yield client, runtime, clock, headers


def issue(store: Any, seq: int, number: str, service: str, at: datetime, priority: str | None = None) -> str:
    ticket_id = str(uuid.uuid4())
    store.append_local([make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=seq, ts=at,
                                   data={"ticket_id": ticket_id, "number": number, "service": service,
                                         "priority": priority})])
    return ticket_id


def test_api_and_desk_console_give_the_estimators_range(office: tuple[TestClient, Any, Clock, dict[str, str]]) -> None:
    client, runtime, clock, headers = office
    dispatcher = runtime.dispatcher
    base = f"/api/v1/sites/{SITE_ID}"
    # Nobody open yet: no figure anywhere, only the honest words.
    ids = [issue(runtime.store, i + 1, f"A00{i + 1}", "tu-phap-ho-tich", BASE + timedelta(seconds=i)) for i in range(4)]
    view = client.get(f"{base}/counters/quay-1/view", headers=headers).json()
    civil = next(s for s in view["services"] if s["id"] == "tu-phap-ho-tich")
    assert civil["wait_text"] == "chưa ước tính được (4 người phía trước)"
    assert [t["wait_text"] for t in view["waiting"]["tu-phap-ho-tich"]] == [
        f"chưa ước tính được ({n} người phía trước)" for n in range(4)]

    # Three services of five minutes each at quay-1; then four wait, one of them priority.
    for _ in range(3):
        dispatcher.call_next(SITE_ID, "quay-1", "t")
        clock.now += timedelta(minutes=5)
        dispatcher.complete(SITE_ID, "quay-1", "returned", actor="t")
    elderly = issue(runtime.store, 10, "A010", "tu-phap-ho-tich", clock.now, "elderly")
    normal = [issue(runtime.store, 11 + i, f"A01{i + 1}", "tu-phap-ho-tich", clock.now) for i in range(3)]

    queue = client.get(f"{base}/queue", headers=headers).json()["services"]
    civil_q = queue["tu-phap-ho-tich"]
    assert civil_q["waiting"] == 5 and civil_q["open_counters"] == 1
    assert 0 < civil_q["wait_low_s"] <= civil_q["estimated_wait_s"] <= civil_q["wait_high_s"]
    assert civil_q["priority_wait_s"] < civil_q["estimated_wait_s"]  # a priority ticket goes first
    assert queue["dat-dai"]["estimated_wait_s"] is None and queue["dat-dai"]["wait_high_s"] is None

    view = client.get(f"{base}/counters/quay-1/view", headers=headers).json()
    civil = next(s for s in view["services"] if s["id"] == "tu-phap-ho-tich")
    assert RANGE_WORDS.fullmatch(civil["wait_text"]), civil["wait_text"]
    waiting = {t["ticket_id"]: t["wait_text"] for t in view["waiting"]["tu-phap-ho-tich"]}
    assert waiting[elderly] == "dưới 5 phút"  # first in line at a free counter
    assert all(RANGE_WORDS.fullmatch(waiting[t]) for t in normal + [ids[3]])
    english = client.get(f"{base}/counters/quay-1/view?lang=en", headers=headers).json()
    assert next(t for t in english["waiting"]["tu-phap-ho-tich"] if t["ticket_id"] == elderly)["wait_text"] == "under 5 min"


def test_history_is_read_from_what_the_server_stores(office: tuple[TestClient, Any, Clock, dict[str, str]]) -> None:
    client, runtime, clock, _headers = office
    dispatcher = runtime.dispatcher
    site = runtime.settings.sites[0]
    # Yesterday: two priority tickets for land (a whole earlier day gives the rate; quay-3,
    # the only land counter, stays closed, so they do not get in the way below).
    yesterday = BASE - timedelta(days=1)
    issue(runtime.store, 1, "3001", "dat-dai", yesterday, "elderly")
    issue(runtime.store, 2, "3002", "dat-dai", yesterday + timedelta(minutes=1), "elderly")
    # Today: one service of 7 minutes, then a pause of 10 minutes with a reason.
    issue(runtime.store, 3, "B001", "chung-thuc", BASE)
    dispatcher.open(SITE_ID, "quay-2", "t")
    dispatcher.call_next(SITE_ID, "quay-2", "t")
    clock.now += timedelta(minutes=7)
    dispatcher.complete(SITE_ID, "quay-2", "returned", actor="t")
    dispatcher.pause(SITE_ID, "quay-2", "Đi họp", actor="t")
    clock.now += timedelta(minutes=10)
    dispatcher.resume(SITE_ID, "quay-2", "t")
    conn = runtime.store.reader()
    try:
        past = history(conn, site, clock.now)
    finally:
        conn.close()
    assert [round(s.occupancy_s) for s in past.occupancy["chung-thuc"]] == [420]
    assert past.occupancy["chung-thuc"][0].hour == 9  # site-local hour of the call
    assert past.pauses_s == (600.0,)
    open_h = (23 * 3600 + 59 * 60 + 59) / 3600  # the test site's hours, 00:00-23:59:59
    assert past.priority_per_h == {"dat-dai": pytest.approx(2 / open_h)}
