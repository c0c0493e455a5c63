"""The broker refuses anonymous clients and enforces each device role's ACL, for writes
and for reads (real Mosquitto, xephang's generated config); a kiosk cannot forge
completions at a running server."""

from __future__ import annotations

import queue
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.events import make_event
from tests.security.conftest import issue_tickets
from tests.support import OTHER_SITE_ID, SITE_ID, wait_until

S, OTHER = f"{topics.PREFIX}/{SITE_ID}", f"{topics.PREFIX}/{OTHER_SITE_ID}"

WRITES = {
    "kiosk-1": {
        f"{S}/events/ticket.issued": True, f"{S}/devices/kiosk-1/status": True,
        f"{S}/events/ticket.completed": False, f"{S}/events/ticket.called": False,
        f"{S}/events/feedback.given": False, f"{OTHER}/events/ticket.issued": False,
        f"{S}/devices/display-1/status": False, f"{S}/state/queue": False, f"{S}/state/board": False,
        f"{S}/commands/quay-1": False,
    },
    "display-1": {
        f"{S}/devices/display-1/status": True, f"{S}/events/ticket.called": False,
        f"{S}/state/board": False, f"{S}/commands/quay-1": False, f"{OTHER}/devices/display-1/status": False,
    },
    "keypad-1": {
        f"{S}/commands/quay-1": True, f"{S}/devices/keypad-1/status": True, f"{S}/commands/quay-2": False,
        f"{S}/events/ticket.completed": False, f"{S}/events/ticket.called": False, f"{S}/state/queue": False,
    },
    "feedback-1": {
        f"{S}/events/feedback.given": True, f"{S}/devices/feedback-1/status": True,
        f"{S}/events/ticket.completed": False, f"{OTHER}/events/feedback.given": False, f"{S}/state/board": False,
    },
}
READS = {
    "kiosk-1": {f"{S}/state/queue": True, f"{S}/events/ticket.issued": False, f"{OTHER}/state/queue": False,
                f"{S}/commands/quay-1": False, f"{S}/devices/display-1/status": False},
    "display-1": {f"{S}/state/board": True, f"{S}/events/ticket.called": True, f"{OTHER}/state/board": False,
                  f"{OTHER}/events/ticket.called": False},
    "keypad-1": {f"{S}/state/queue": True, f"{S}/events/ticket.called": False, f"{S}/commands/quay-2": False},
    "feedback-1": {f"{S}/events/ticket.completed": True, f"{S}/events/ticket.called": False,
                   f"{OTHER}/events/ticket.completed": False},
}


def _connect(broker, user: str | None, password: str | None = None) -> tuple[mqtt.Client, object]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    if user is not None:
        client.username_pw_set(user, password if password is not None else broker.passwords[user])
    results: queue.Queue = queue.Queue()
    client.on_connect = lambda c, u, f, reason, p: results.put(reason)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, results.get(timeout=5)


def _collector(broker, user: str, filters: list[str]) -> tuple[mqtt.Client, list]:
    client, reason = _connect(broker, user)
    assert not reason.is_failure
    got: list = []
    client.on_message = lambda c, u, m: got.append(m.topic)
    done: queue.Queue = queue.Queue()
    client.on_subscribe = lambda *a: done.put(True)
    client.subscribe([(f, 1) for f in filters])
    done.get(timeout=5)
    return client, got


def test_anonymous_wrong_password_and_borrowed_names_are_refused(broker):
    for user, password in ((None, None), ("kiosk-1", "wrong"), ("kiosk-1", broker.passwords["kiosk-2"]),
                           ("server", broker.passwords["kiosk-1"]), ("nobody", "x"), ("", "")):
        client, reason = _connect(broker, user, password)
        assert reason.is_failure, (user, reason)
        client.loop_stop()


def test_each_role_may_write_only_its_own_topics(broker):
    watcher, got = _collector(broker, "server", ["xephang/#"])
    for user, rules in WRITES.items():
        client, reason = _connect(broker, user)
        assert not reason.is_failure
        for topic in rules:
            client.publish(topic, b'{"probe": true}', qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
    allowed = {t for rules in WRITES.values() for t, ok in rules.items() if ok}
    wait_until(lambda: allowed <= set(got), 10)
    time.sleep(0.5)  # anything denied would have arrived by now
    status_wills = {t for t in got if t.endswith("/status")} - allowed
    assert set(got) - status_wills == allowed
    assert not status_wills
    watcher.loop_stop()


def test_each_role_may_read_only_its_own_topics(broker):
    readers = {user: _collector(broker, user, list(rules)) for user, rules in READS.items()}
    server, reason = _connect(broker, "server")
    assert not reason.is_failure
    for topic in {t for rules in READS.values() for t in rules}:
        server.publish(topic, b'{"probe": true}', qos=1).wait_for_publish(5)
    for user, rules in READS.items():
        allowed = {t for t, ok in rules.items() if ok}
        wait_until(lambda: allowed <= set(readers[user][1]), 10)
    time.sleep(0.5)
    for user, rules in READS.items():
        assert set(readers[user][1]) == {t for t, ok in rules.items() if ok}, user
        readers[user][0].loop_stop()
    server.loop_stop()


def test_a_kiosk_cannot_forge_completions_at_a_running_server(office, broker):
    runtime = office.client.app.state.runtime
    ticket = office.tickets[0]
    kiosk, reason = _connect(broker, "kiosk-1")
    assert not reason.is_failure
    for kind, data in (
        ("ticket.called", {"ticket_id": ticket, "number": "A001", "counter": "quay-1"}),
        ("ticket.completed", {"ticket_id": ticket, "counter": "quay-1", "outcome": "returned"}),
        ("feedback.given", {"ticket_id": ticket, "counter": "quay-1", "rating": 1, "scale": "4-level"}),
    ):
        event = make_event(kind, site=SITE_ID, source="server", seq=999, data=data)
        kiosk.publish(topics.event(SITE_ID, kind), event.to_json(), qos=1).wait_for_publish(5)
    # A ticket for the other site, sent on the kiosk's own topic, is refused by the server.
    foreign = make_event("ticket.issued", site=OTHER_SITE_ID, source="kiosk-1", seq=50,
                         data={"ticket_id": uuid.uuid4(), "number": "A050", "service": "chung-thuc", "priority": None})
    kiosk.publish(topics.event(SITE_ID, "ticket.issued"), foreign.to_json(), qos=1).wait_for_publish(5)
    wait_until(lambda: runtime.store.counts()["rejected"] == 1, 10)
    # Proof the path is live: a real ticket still arrives after them.
    issue_tickets(broker, runtime, 1, start_seq=10)
    wait_until(lambda: runtime.store.counts()["stored"] == 5, 10)
    conn = runtime.store.reader()
    status = conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (ticket,)).fetchone()[0]
    kinds = {r[0] for r in conn.execute("SELECT DISTINCT type FROM events")}
    conn.close()
    kiosk.loop_stop()
    assert status == "waiting"
    assert kinds == {"ticket.issued"}
