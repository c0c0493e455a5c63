"""The sweep of held online numbers (issue 17): an online number whose turn came before
its citizen checked in is held for the grace period, then becomes a no-show even when no
counter calls again. Real server parts, broker and SQLite; the server's clock is the
project clock's date at 10:00, moved forward by the test."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from protocol import topics
from server.web.auth import create_token, create_user
from tests.server.bookingsite import booking_settings
from tests.server.livedesk import Kiosk, retained
from tests.support import SITE_ID, app_on_clock, office_clock, wait_until

SERVICE = "tu-phap-ho-tich"


def _rows(db, sql, *args):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def moved(broker, tmp_path):
    """A server on a clock the test moves: (client, runtime, clock, shift, db)."""
    base = office_clock()
    offset = [timedelta(0)]

    def clock():
        return base() + offset[0]

    def shift(delta: timedelta) -> None:
        offset[0] += delta

    db = tmp_path / "server.db"
    app = app_on_clock(booking_settings(broker, db), clock)  # grace_minutes = 10
    with TestClient(app) as client:
        runtime = app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        yield client, runtime, clock, shift, db


def test_a_held_online_number_becomes_a_no_show_after_the_grace_even_when_nobody_calls(moved, broker):
    client, runtime, clock, shift, db = moved
    made = client.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": SERVICE}).json()
    held_id, code = made["ticket_id"], made["code"]
    kiosk = Kiosk(broker, clock=clock)
    try:
        walk_in = kiosk.issue("A001", SERVICE, at=clock() + timedelta(seconds=1))
        wait_until(lambda: _rows(db, "SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", walk_in)[0][0] == 1)
    finally:
        kiosk.close()
    # Counter 1 calls the walk-in issued after TX001: TX001 is held from this call.
    assert runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")["number"] == "A001"
    held_at = _rows(db, "SELECT held_at, counter FROM ticket_holds WHERE ticket_id = ?", held_id)
    assert held_at and held_at[0][1] == "quay-1"
    runtime.dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
    sweep = runtime.booking_sweep

    # Nobody calls again. Within the grace period the sweep leaves it waiting...
    shift(timedelta(minutes=9, seconds=50))
    assert sweep.expire_holds() == 0
    assert _rows(db, "SELECT status FROM tickets WHERE ticket_id = ?", held_id) == [("waiting",)]
    # ... past it, the sweep marks it an automatic no-show at the counter that held it, once.
    shift(timedelta(seconds=11))
    assert sweep.sweep() == 1
    assert sweep.sweep() == 0
    assert _rows(db, "SELECT status FROM tickets WHERE ticket_id = ?", held_id) == [("no_show",)]
    payloads = _rows(db, "SELECT payload FROM events WHERE ticket_id = ? AND type = 'ticket.no_show'", held_id)
    assert len(payloads) == 1
    data = json.loads(payloads[0][0])["data"]
    assert (data["counter"], data["auto"]) == ("quay-1", True)
    # On the wire: the retained queue state no longer counts it as waiting.
    wait_until(lambda: (retained(broker, topics.queue_state(SITE_ID), timeout_s=1) or {}).get("services", {})
               .get(SERVICE, {}).get("waiting") == 0)
    # The citizen arriving now is refused and nothing is issued; the page says the turn passed.
    create_user(runtime.store, "can-bo", "mat-khau-dai-1", "desk", [SITE_ID], ["quay-1"])
    headers = {"Authorization": f"Bearer {create_token(runtime.store, 'can-bo')}"}
    late = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code}, headers=headers)
    assert (late.status_code, late.json()["code"]) == (409, "turn_passed")
    with pytest.raises(Exception) as nobody:
        runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")
    assert getattr(nobody.value, "code", None) == "no_ticket_waiting"


def test_a_checked_in_or_unheld_number_is_left_alone(moved, broker):
    client, runtime, clock, shift, db = moved
    checked = client.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": SERVICE}).json()
    unheld = client.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": "dat-dai"}).json()
    kiosk = Kiosk(broker, clock=clock)
    try:
        walk_in = kiosk.issue("A001", SERVICE, at=clock() + timedelta(seconds=1))
        wait_until(lambda: _rows(db, "SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", walk_in)[0][0] == 1)
    finally:
        kiosk.close()
    assert runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")["number"] == "A001"
    # Checked in within the grace period: no longer held for a no-show; it is called next.
    shift(timedelta(minutes=5))
    runtime.bookings.check_in(checked["code"], SITE_ID)
    shift(timedelta(minutes=30))
    assert runtime.booking_sweep.expire_holds() == 0
    statuses = dict(_rows(db, "SELECT number, status FROM tickets WHERE channel = 'online'"))
    # TX002 (another field, served at counter 3): its turn never came, so it was never held.
    assert statuses == {"TX001": "waiting", "TX002": "waiting"}
    runtime.dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
    assert runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")["number"] == "TX001"
    assert unheld["number"] == "TX002"
