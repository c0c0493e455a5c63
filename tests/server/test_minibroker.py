"""The embedded demo broker speaks enough MQTT 3.1.1 for xephang, with our passwords and ACL."""

from __future__ import annotations

import queue
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.events import make_event
from protocol.sites import Site
from server.broker import free_port, write_config
from server.ingest import Ingestor
from server.minibroker import MiniBroker, topic_matches
from server.store import EventStore
from server.synthetic import default_start, ticket_lives
from tests.support import DEVICES, SITE_ID, password_for, site_dict, wait_until


def _broker(tmp_path):
    port = free_port()
    write_config(tmp_path, DEVICES, {d.id: password_for(d.id) for d in DEVICES}, port)
    return MiniBroker(port, tmp_path / "passwd", tmp_path / "acl").start(), port


def _client(port, user, password=None, client_id=None, clean=True, will=None):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or uuid.uuid4().hex[:8], clean_session=clean)
    client.username_pw_set(user, password if password is not None else password_for(user))
    if will:
        client.will_set(will, b"offline", qos=1, retain=True)
    results, messages = queue.Queue(), queue.Queue()
    client.on_connect = lambda c, u, f, reason, p: results.put(reason)
    client.on_message = lambda c, u, m: messages.put(m)
    client.connect("127.0.0.1", port, keepalive=5)
    client.loop_start()
    return client, results.get(timeout=5), messages


def test_topic_filters():
    assert topic_matches("xephang/+/events/#", "xephang/s/events/ticket.issued")
    assert topic_matches("a/#", "a")  # '#' also matches the parent level in MQTT
    assert not topic_matches("a/+", "b/c")
    assert not topic_matches("xephang/s/state/+", "xephang/s/state/board/x")


def test_passwords_acl_retained_and_wills(tmp_path):
    broker, port = _broker(tmp_path)
    try:
        _, refused, _ = _client(port, "kiosk-1", "wrong")
        assert refused.is_failure
        server, ok, received = _client(port, "server")
        assert not ok.is_failure
        server.subscribe("xephang/#", qos=1)
        wait_until(lambda: broker.sessions and any(s.subscriptions for s in broker.sessions.values()))
        kiosk, _, _ = _client(port, "kiosk-1", will=topics.device_status(SITE_ID, "kiosk-1"))
        forged = make_event("ticket.completed", site=SITE_ID, source="kiosk-1", seq=1,
                            data={"ticket_id": uuid.uuid4(), "counter": "quay-1", "outcome": "returned"})
        kiosk.publish(topics.event(SITE_ID, "ticket.completed"), forged.to_json(), qos=1).wait_for_publish(5)
        kiosk.publish(topics.event(SITE_ID, "ticket.issued"), b"{}", qos=1).wait_for_publish(5)
        assert received.get(timeout=5).topic == topics.event(SITE_ID, "ticket.issued")
        server.publish(topics.board_state(SITE_ID), b'{"x": 1}', qos=1, retain=True).wait_for_publish(5)
        display, _, display_messages = _client(port, "display-1")
        display.subscribe(topics.board_state(SITE_ID), qos=1)
        late = display_messages.get(timeout=5)
        assert late.retain and late.payload == b'{"x": 1}'
        kiosk._sock_close()  # an abnormal end: the will is published
        wait_until(lambda: broker.retained.get(topics.device_status(SITE_ID, "kiosk-1")) == b"offline")
    finally:
        broker.stop()


def test_server_ingest_through_the_embedded_broker_loses_nothing(tmp_path):
    broker, port = _broker(tmp_path / "b")
    try:
        site = Site.model_validate(site_dict())
        store = EventStore(tmp_path / "s.db", [site])
        from protocol.settings import BrokerSettings

        ingestor = Ingestor(store, BrokerSettings(port=port, username="server", password=password_for("server"))).start()
        ingestor.link.wait_connected(5)
        events = ticket_lives(site, 300, default_start(), seed=2)
        publisher, _, _ = _client(port, "server")
        for info in [publisher.publish(topics.event(e.site, e.type), e.to_json(), qos=1) for e in events]:
            info.wait_for_publish(10)
        wait_until(lambda: store.counts()["stored"] == len(events), timeout_s=30)
        ingestor.stop()
        # Offline: messages for the persistent session are queued and delivered on return.
        more = ticket_lives(site, 20, default_start(), seed=3)
        for info in [publisher.publish(topics.event(e.site, e.type), e.to_json(), qos=1) for e in more]:
            info.wait_for_publish(10)
        again = Ingestor(store, BrokerSettings(port=port, username="server", password=password_for("server"))).start()
        wait_until(lambda: store.counts()["stored"] == len(events) + len(more), timeout_s=30)
        again.stop()
    finally:
        broker.stop()
