"""A device clock off by minutes (a Raspberry Pi without a real-time clock that booted
without NTP): the server measures the skew from the device's live status, lists the
device on /healthz, and the measures stay on event time as docs/reliability.md says."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from tests.reliability.support import publisher
from tests.support import SITE_ID, app_on_clock, clock_from, server_settings_dict, wait_until


def _status(client, device: str, offset: timedelta) -> None:
    body = {"state": "online", "ts": (datetime.now(UTC) + offset).isoformat(), "role": "display"}
    client.publish(topics.device_status(SITE_ID, device), json.dumps(body), qos=1, retain=True).wait_for_publish(10)


def test_skewed_device_is_listed_on_healthz_and_a_correct_one_is_not(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    with TestClient(create_app(settings)) as http:
        wait_until(lambda: http.get("/healthz").json()["broker"] == "connected")
        skewed = publisher(broker, "display-1")
        good = publisher(broker, "kiosk-1")
        _status(skewed, "display-1", timedelta(minutes=-7))
        _status(good, "kiosk-1", timedelta(seconds=0))

        def listed():
            health = http.get("/healthz").json()
            return health if health["clock_skew"]["devices"] else None

        health = wait_until(listed, 10)
        (entry,) = health["clock_skew"]["devices"]
        assert entry["site"] == SITE_ID and entry["device"] == "display-1"
        assert -430 < entry["skew_s"] < -410  # 7 minutes slow, give or take the trip
        assert health["clock_skew"]["limit_s"] == 60
        assert health["ok"] is True  # a skewed clock is reported, not an outage
        # The clock is fixed (NTP came back): the device leaves the list.
        _status(skewed, "display-1", timedelta(0))
        wait_until(lambda: http.get("/healthz").json()["clock_skew"]["devices"] == [], 10)
        skewed.loop_stop()
        good.loop_stop()


def test_measures_follow_event_time_not_arrival_time(broker, tmp_path):
    """An event that arrives late (a kiosk that was offline) keeps its own time: the
    wait is measured between event timestamps, whatever the arrival order and delay."""
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    # Two hours before the server's own time, both pinned: with the real hour, 00:30 would
    # put the ticket on yesterday, which day-end then closes (a third event).
    server_now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi, a Monday
    issued_at = server_now - timedelta(hours=2)
    ticket = uuid.uuid4()
    issued = make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=1, ts=issued_at,
                        data={"ticket_id": ticket, "number": "A001", "service": "chung-thuc", "priority": None})
    called = make_event("ticket.called", site=SITE_ID, source="server", seq=1, ts=issued_at + timedelta(minutes=12),
                        data={"ticket_id": ticket, "number": "A001", "counter": "quay-1"})
    with TestClient(app_on_clock(settings, clock_from(server_now))) as http:
        runtime = http.app.state.runtime
        wait_until(lambda: http.get("/healthz").json()["broker"] == "connected")
        client = publisher(broker)
        sent_at = time.time()
        client.publish(topics.event(SITE_ID, called.type), called.to_json(), qos=1).wait_for_publish(10)
        client.publish(topics.event(SITE_ID, issued.type), issued.to_json(), qos=1).wait_for_publish(10)
        wait_until(lambda: runtime.store.counts()["stored"] == 2, 10)
        conn = runtime.store.reader()
        wait_s, issued_epoch = conn.execute("SELECT wait_s, issued_at FROM tickets WHERE ticket_id = ?",
                                            (str(ticket),)).fetchone()
        received = [r[0] for r in conn.execute("SELECT received_at FROM events")]
        conn.close()
        assert wait_s == 12 * 60
        assert issued_epoch == issued_at.timestamp()
        assert all(r >= sent_at for r in received)  # the real arrival is kept, apart from event time
        client.loop_stop()
