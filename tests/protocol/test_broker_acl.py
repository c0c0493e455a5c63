"""The broker config xephang generates: real Mosquitto, passwords and per-role ACLs."""

from __future__ import annotations

import queue
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.events import make_event
from tests.support import SITE_ID, wait_until


def _client(broker, user, password=None, client_id=None):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(user, password if password is not None else broker.passwords.get(user, "x"))
    results = queue.Queue()
    client.on_connect = lambda c, u, f, reason, p: results.put(reason)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, results.get(timeout=5)


def _subscriber(broker, topic_filter):
    client, reason = _client(broker, "server")
    assert not reason.is_failure
    received = queue.Queue()
    client.on_message = lambda c, u, m: received.put(m)
    subscribed = queue.Queue()
    client.on_subscribe = lambda *a: subscribed.put(True)
    client.subscribe(topic_filter, qos=1)
    subscribed.get(timeout=5)
    return client, received


def _event(kind, data):
    return make_event(kind, site=SITE_ID, source="kiosk-1", seq=1, data=data).to_json()


def test_anonymous_and_wrong_password_are_refused(broker):
    _, reason = _client(broker, "kiosk-1", "not-the-password")
    assert reason.is_failure
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anon")
    results = queue.Queue()
    client.on_connect = lambda c, u, f, r, p: results.put(r)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert results.get(timeout=5).is_failure
    client.loop_stop()


def test_kiosk_may_publish_ticket_issued_but_not_completion(broker):
    server, received = _subscriber(broker, "xephang/#")
    kiosk, reason = _client(broker, "kiosk-1")
    assert not reason.is_failure
    ticket_id = str(uuid.uuid4())
    forged = _event("ticket.completed", {"ticket_id": ticket_id, "counter": "quay-1", "outcome": "returned"})
    kiosk.publish(topics.event(SITE_ID, "ticket.completed"), forged, qos=1).wait_for_publish(5)
    kiosk.publish(topics.command(SITE_ID, "quay-1"), b'{"action":"next"}', qos=1).wait_for_publish(5)
    issued = _event("ticket.issued", {"ticket_id": ticket_id, "number": "A001", "service": "chung-thuc"})
    kiosk.publish(topics.event(SITE_ID, "ticket.issued"), issued, qos=1).wait_for_publish(5)
    # The allowed message arrives; the forged ones published before it never do.
    first = received.get(timeout=5)
    assert first.topic == topics.event(SITE_ID, "ticket.issued")
    with pytest.raises(queue.Empty):
        received.get(timeout=0.5)


def test_kiosk_cannot_publish_for_another_site(broker):
    server, received = _subscriber(broker, "xephang/#")
    kiosk, _ = _client(broker, "kiosk-1")
    other = make_event("ticket.issued", site="other-site", source="kiosk-1", seq=1,
                       data={"ticket_id": str(uuid.uuid4()), "number": "A001", "service": "chung-thuc"})
    kiosk.publish(topics.event("other-site", "ticket.issued"), other.to_json(), qos=1).wait_for_publish(5)
    with pytest.raises(queue.Empty):
        received.get(timeout=0.7)


def test_display_reads_only_its_site(broker):
    display, reason = _client(broker, "display-1")
    assert not reason.is_failure
    got = queue.Queue()
    display.on_message = lambda c, u, m: got.put(m.topic)
    display.subscribe("xephang/#", qos=1)
    server, _ = _client(broker, "server")
    server.publish(topics.board_state("other-site"), b"{}", qos=1).wait_for_publish(5)
    server.publish(topics.board_state(SITE_ID), b"{}", qos=1).wait_for_publish(5)
    assert wait_until(lambda: got.get(timeout=5)) == topics.board_state(SITE_ID)
    with pytest.raises(queue.Empty):
        got.get(timeout=0.5)


def test_mosquitto_accepts_our_password_hashes(broker):
    for user in ("server", "kiosk-1", "display-1", "keypad-1", "feedback-1"):
        _, reason = _client(broker, user)
        assert not reason.is_failure, user


def test_a_monitor_reads_alerts_of_every_site_and_publishes_nothing(tmp_path):
    from protocol.settings import Device
    from tests.support import DEVICES, start_broker

    running = start_broker(tmp_path / "b", DEVICES + [Device(id="city-monitor", role="monitor")])
    try:
        monitor, reason = _client(running, "city-monitor")
        assert not reason.is_failure
        got = queue.Queue()
        monitor.on_message = lambda c, u, m: got.put(m.topic)
        subscribed = queue.Queue()
        monitor.on_subscribe = lambda *a: subscribed.put(True)
        monitor.subscribe("xephang/#", qos=1)
        subscribed.get(timeout=5)
        server, _ = _client(running, "server")
        server.publish(topics.event(SITE_ID, "ticket.called"), b"{}", qos=1).wait_for_publish(5)
        server.publish(topics.alert("other-site"), b'{"kind": "at_risk"}', qos=1).wait_for_publish(5)
        assert got.get(timeout=5) == topics.alert("other-site")
        monitor.publish(topics.alert(SITE_ID), b"{}", qos=1).wait_for_publish(5)
        with pytest.raises(queue.Empty):
            got.get(timeout=0.5)
    finally:
        running.process.stop()
