"""Server ingest through a real Mosquitto: exactly once, whatever the delivery."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import free_port
from protocol import topics
from protocol.settings import load_settings
from protocol.sites import Site
from server.settings import ServerSettings
from server.web.app import create_app
from tests.support import SITE_ID, server_settings_dict, site_dict, wait_until, write_toml
from tests.synthetic import default_start, ticket_lives


def _publisher(broker, user="server"):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, broker.passwords[user])
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def _publish_all(client, items):
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(30)


def _count(db_path, sql):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _events_for(n_tickets, seed=1):
    site = Site.model_validate(site_dict())
    return ticket_lives(site, n_tickets, default_start(), seed=seed)


def test_ten_thousand_events_with_duplicates_shuffled_end_exactly_once(broker, tmp_path):
    db_path = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db_path))
    events = _events_for(2600)[:10_000]
    assert len(events) == 10_000
    rng = random.Random(11)
    noisy = events + rng.sample(events, 500)
    rng.shuffle(noisy)
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        publisher = _publisher(broker)
        _publish_all(publisher, [(topics.event(e.site, e.type), e.to_json()) for e in noisy])
        wait_until(lambda: client.get("/healthz").json()["events"]["stored"] == 10_000, timeout_s=60)
        time.sleep(0.3)
        health = client.get("/healthz").json()
        assert health["events"] == {"stored": 10_000, "duplicates": 500, "rejected": 0}
        assert health["ok"] is True
    stored_ids = {r[0] for r in sqlite3.connect(db_path).execute("SELECT id FROM events")}
    assert stored_ids == {str(e.id) for e in events}
    tickets = {e.ticket_id for e in events}
    assert _count(db_path, "SELECT COUNT(*) FROM tickets") == len(tickets)
    assert _count(db_path, "SELECT COUNT(*) FROM tickets WHERE issued_at IS NULL") == sum(
        1 for t in tickets if not any(e.ticket_id == t and e.type == "ticket.issued" for e in events)
    )


def test_malformed_payloads_are_rejected_while_valid_ones_flow(broker, tmp_path):
    db_path = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db_path))
    events = _events_for(100, seed=4)
    topic = topics.event(SITE_ID, "ticket.issued")
    junk = [
        b"not json at all",
        b'{"v": 1, "type": "ticket.issued", "id": 5, "site": [], "seq": "x"}',  # wrong types
        b'{"v": 1, "type": "ticket.teleported", "id": "x"}',  # unknown type
        os.urandom(1024 * 1024),  # 1 MB of junk
        b"\xff\xfe\x00 invalid utf-8 \xc3\x28",
        b"[1, 2, 3]",
        b"",
    ]
    mixed = []
    for i, event in enumerate(events):
        mixed.append((topics.event(event.site, event.type), event.to_json()))
        if i % 50 == 0:
            mixed.extend((topic, j) for j in junk)
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        _publish_all(_publisher(broker), mixed)
        expected_rejected = len(junk) * len(range(0, len(events), 50))
        wait_until(
            lambda: client.get("/healthz").json()["events"]
            == {"stored": len(events), "duplicates": 0, "rejected": expected_rejected},
            timeout_s=30,
        )
    conn = sqlite3.connect(db_path)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM rejected_events")]
    assert any(r.startswith("not JSON") for r in reasons)
    assert any(r.startswith("not UTF-8") for r in reasons)
    assert any("unknown event type 'ticket.teleported'" in r for r in reasons)
    assert any(r.startswith("payload too large") for r in reasons)
    sizes = [r[0] for r in conn.execute("SELECT size FROM rejected_events")]
    assert 1024 * 1024 in sizes
    raw = [r[0] for r in conn.execute("SELECT payload FROM rejected_events WHERE reason LIKE 'not JSON%'")]
    assert b"not json at all" in raw


def _server_process(config, port):
    log = open(config.parent / "server.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "xephang.cli", "server", "--config", str(config), "--port", str(port)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def _health(port):
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    except OSError:
        return {}


def _ids(db_path) -> set[str]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM events")}
    finally:
        conn.close()


def test_server_killed_mid_stream_loses_none_and_duplicates_none(broker, tmp_path):
    db_path = tmp_path / "server.db"
    config = write_toml(tmp_path / "xephang.toml", server_settings_dict(broker, db_path))
    events = _events_for(1300, seed=7)[:5000]
    port = free_port()
    server = _server_process(config, port)
    try:
        wait_until(lambda: _health(port).get("broker") == "connected", 30)  # subscribed, so nothing is missed
        publisher = _publisher(broker)
        infos = [publisher.publish(topics.event(e.site, e.type), e.to_json(), qos=1) for e in events]
        wait_until(lambda: _count(db_path, "SELECT COUNT(*) FROM events") > 500, timeout_s=30, interval_s=0.005)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        expected = {str(e.id) for e in events}
        assert not expected <= _ids(db_path), "the kill must land mid-stream"
        for info in infos:
            info.wait_for_publish(30)
        server = _server_process(config, port)
        # Wait on the set of ids, not a count: the server dispatches the site, and its
        # day-end may add events of its own to this fixed day's data (any day may be later).
        wait_until(lambda: expected <= _ids(db_path), timeout_s=60)
        time.sleep(0.5)  # anything redelivered late must still not double
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT id, type, payload FROM events").fetchall()
            completed_not = conn.execute(
                "SELECT COUNT(*) FROM tickets WHERE status != 'completed' AND ticket_id IN "
                "(SELECT ticket_id FROM events WHERE type = 'ticket.completed')").fetchone()[0]
        finally:
            conn.close()
        assert len([r for r in rows if r[0] in expected]) == len(events)  # each once (id is the key)
        for _id, kind, payload in (r for r in rows if r[0] not in expected):
            data = json.loads(payload)["data"]
            assert kind == "counter.closed" or (kind == "ticket.no_show" and data.get("auto") is True), (kind, data)
        assert completed_not == 0, "a completed ticket must never end as a no-show"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
