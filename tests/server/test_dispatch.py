"""The dispatcher through a real broker and a real SQLite file: order, fairness,
concurrency, every action's event, retained state, day end."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from server.desk.boardstate import estimated_wait_s
from server.desk.errors import DeskRefused
from server.settings import ServerSettings
from server.web.app import create_app
from server.web.auth import create_token, create_user
from server.web.errors import STATUS
from tests.support import OTHER_SITE_ID, SITE_ID, server_settings_dict, wait_until

BASE = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City
_SEQ = itertools.count(1)  # kiosk sequence numbers, rising across the whole module as the kiosk's would


class Clock:
    def __init__(self, start: datetime = BASE):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def issue(store, number: str, service: str, at: datetime, priority: str | None = None) -> str:
    ticket_id = str(uuid.uuid4())
    event = make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=next(_SEQ), ts=at,
                       data={"ticket_id": ticket_id, "number": number, "service": service, "priority": priority})
    store.append_local([event])
    return ticket_id


class Watcher:
    """A real MQTT subscriber to everything of the test site."""

    def __init__(self, broker):
        self.messages: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set("display-1", broker.passwords["display-1"])
        self.client.on_message = self._on
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topics.site_filter(SITE_ID), 1)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _on(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))

    def of(self, topic: str) -> list[dict]:
        with self.lock:
            return [body for t, body, _ in self.messages if t == topic]

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def server(broker, tmp_path):
    clock = Clock()
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    app = create_app(settings)

    with TestClient(app) as client:
        runtime = app.state.runtime
        dispatcher = runtime.dispatcher
        dispatcher.clock = clock
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        yield client, runtime, dispatcher, clock


def test_priority_first_then_first_come_first_served_and_only_own_services(server):
    client, runtime, dispatcher, clock = server
    store = runtime.store
    a1 = issue(store, "A001", "tu-phap-ho-tich", BASE)
    land = issue(store, "3001", "dat-dai", BASE + timedelta(seconds=1))
    b1 = issue(store, "B001", "chung-thuc", BASE + timedelta(seconds=2))
    p1 = issue(store, "A002", "tu-phap-ho-tich", BASE + timedelta(seconds=3), priority="elderly")
    order = []
    for _ in range(3):
        row = dispatcher.call_next(SITE_ID, "quay-1", "tester")
        order.append(row["ticket_id"])
        assert row["status"] == "called" and row["counter"] == "quay-1"
        dispatcher.complete(SITE_ID, "quay-1", "returned", actor="tester")
    assert order == [p1, a1, b1]
    with pytest.raises(DeskRefused) as refused:
        dispatcher.call_next(SITE_ID, "quay-1", "tester")
    assert refused.value.code == "no_ticket_waiting" and STATUS[refused.value.code] == 409
    assert dispatcher.call_next(SITE_ID, "quay-3", "tester")["ticket_id"] == land


def test_cap_on_consecutive_priority_calls(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["sites"][0]["max_consecutive_priority"] = 2
    settings = load_settings(ServerSettings, None, **data)
    app = create_app(settings)
    with TestClient(app):
        dispatcher = app.state.runtime.dispatcher
        store = app.state.runtime.store
        normal = issue(store, "B001", "chung-thuc", BASE)
        prio = [issue(store, f"B00{i}", "chung-thuc", BASE + timedelta(seconds=i), priority="elderly") for i in (2, 3, 4)]
        got = []
        for _ in range(4):
            got.append(dispatcher.call_next(SITE_ID, "quay-2", "t")["ticket_id"])
            dispatcher.complete(SITE_ID, "quay-2", "info", actor="t")
        assert got == [prio[0], prio[1], normal, prio[2]]


def test_every_action_emits_its_event_and_state_follows(server, broker):
    client, runtime, dispatcher, clock = server
    watcher = Watcher(broker)
    try:
        wait_until(lambda: watcher.client.is_connected())
        ticket = issue(runtime.store, "A001", "tu-phap-ho-tich", BASE)
        issue(runtime.store, "A002", "tu-phap-ho-tich", BASE + timedelta(seconds=5))
        dispatcher.open(SITE_ID, "quay-1", "t")
        clock.advance(60)
        called = dispatcher.call_next(SITE_ID, "quay-1", "t")
        assert called["ticket_id"] == ticket and called["wait_s"] == 60
        dispatcher.recall(SITE_ID, "quay-1", "t")
        dispatcher.start(SITE_ID, "quay-1", "t")
        clock.advance(120)
        dispatcher.transfer(SITE_ID, "quay-1", "chung-thuc", "t")
        moved = dispatcher.call_next(SITE_ID, "quay-2", "t")
        # The transferred ticket keeps its arrival time: it is still ahead of A002 in its new service.
        assert moved["ticket_id"] == ticket and moved["service"] == "chung-thuc" and moved["issued_at"] == BASE.timestamp()
        done = dispatcher.complete(SITE_ID, "quay-2", "appointment", "000.00.00.H01-260302-0001", actor="t")
        assert done["status"] == "completed" and done["dossier_code"] == "000.00.00.H01-260302-0001"
        dispatcher.call_next(SITE_ID, "quay-1", "t")
        dispatcher.no_show(SITE_ID, "quay-1", "t")
        dispatcher.pause(SITE_ID, "quay-1", "Đi họp", "t")
        with pytest.raises(DeskRefused) as paused:
            dispatcher.call_next(SITE_ID, "quay-1", "t")
        assert paused.value.code == "counter_paused"
        dispatcher.resume(SITE_ID, "quay-1", "t")
        dispatcher.close(SITE_ID, "quay-1", "t")
        expected = ["counter.opened", "ticket.called", "ticket.recalled", "ticket.started", "ticket.transferred",
                    "counter.opened", "ticket.called", "ticket.completed", "ticket.called", "ticket.no_show",
                    "counter.paused", "counter.opened", "counter.closed"]

        def events_seen():
            with watcher.lock:
                return [body["type"] for t, body, _ in watcher.messages if "/events/" in t]

        wait_until(lambda: len(events_seen()) >= len(expected))
        assert events_seen() == expected
        with watcher.lock:
            pause_event = next(b for t, b, _ in watcher.messages if t.endswith("counter.paused"))
            seqs = [b["seq"] for t, b, _ in watcher.messages if "/events/" in t]
        assert pause_event["data"] == {"counter": "quay-1", "reason": "Đi họp"}
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        board_topic = topics.board_state(SITE_ID)
        wait_until(lambda: any(
            next(c for c in b["counters"] if c["id"] == "quay-1")["state"] == "closed" for b in watcher.of(board_topic)
        ))
        # The last retained queue state: nobody waits for civil status; quay-2 is still open.
        wait_until(lambda: {k: watcher.of(topics.queue_state(SITE_ID))[-1]["services"]["tu-phap-ho-tich"][k]
                            for k in ("waiting", "priority_waiting", "open_counters")}
                   == {"waiting": 0, "priority_waiting": 0, "open_counters": 1})
        last = watcher.of(topics.queue_state(SITE_ID))[-1]["services"]["tu-phap-ho-tich"]
        assert last["wait_low_s"] <= last["estimated_wait_s"] <= last["wait_high_s"]
        audit_rows = runtime.store.conn.execute("SELECT action, ok, code FROM audit_log ORDER BY id").fetchall()
        assert ("call_next", 0, "counter_paused") in audit_rows
        assert sum(1 for r in audit_rows if r[1] == 1) == 12
    finally:
        watcher.stop()


def test_estimated_wait_is_the_estimators_range_for_a_ticket_issued_now(server):
    client, runtime, dispatcher, clock = server
    store = runtime.store
    for i in range(3):
        issue(store, f"B00{i + 1}", "chung-thuc", clock())
        dispatcher.call_next(SITE_ID, "quay-2", "t")
        clock.advance(300 + 60 * i)  # 300, 360, 420 s: median 360
        dispatcher.complete(SITE_ID, "quay-2", "returned", actor="t")
    for i in range(4):
        issue(store, f"B01{i}", "chung-thuc", clock())
    dispatcher.open(SITE_ID, "quay-1", "t")
    _, queue = dispatcher.publish_state(SITE_ID)
    service = queue.services["chung-thuc"]
    assert (service.waiting, service.open_counters) == (4, 2)
    # Two free counters, four ahead: the new ticket is called after two rounds of service:
    # 2 x 360 s by this history, 2 x 750 s by the prior (12.5 min); with three completions
    # the history is thin, so the estimate lies between the two, nearer the prior.
    assert service.wait_low_s is not None and service.wait_high_s is not None and service.estimated_wait_s is not None
    assert 2 * 360 < service.estimated_wait_s < 2 * 750
    assert service.wait_low_s <= service.estimated_wait_s <= service.wait_high_s
    assert service.priority_wait_s == 0  # a priority ticket goes first, and a counter is free
    assert estimated_wait_s(4, 360, 2) == 4 * 360 // 2  # today's formula, kept for the benchmark
    dat_dai = queue.services["dat-dai"]
    assert (dat_dai.estimated_wait_s, dat_dai.wait_low_s, dat_dai.wait_high_s) == (None, None, None)  # no counter serves it


def test_two_counters_pressing_next_together_never_share_a_ticket(server):
    client, runtime, dispatcher, clock = server
    create_user(runtime.store, "admin", "admin-pass-123", "admin", [SITE_ID], [])
    token = create_token(runtime.store, "admin")
    for i in range(40):
        issue(runtime.store, f"B{i:03d}", "chung-thuc", BASE + timedelta(seconds=i))
    got: dict[str, list[str]] = {"quay-1": [], "quay-2": []}
    barrier = threading.Barrier(2)
    headers = {"Authorization": f"Bearer {token}"}

    def desk(counter: str):
        for _ in range(20):
            barrier.wait(10)
            response = client.post(f"/api/v1/sites/{SITE_ID}/counters/{counter}/next", headers=headers)
            assert response.status_code == 200, response.text
            got[counter].append(response.json()["ticket_id"])
            done = client.post(f"/api/v1/sites/{SITE_ID}/counters/{counter}/complete", headers=headers,
                               json={"outcome": "info"})
            assert done.status_code == 200, done.text

    threads = [threading.Thread(target=desk, args=(c,)) for c in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = got["quay-1"] + got["quay-2"]
    assert len(everything) == 40 and len(set(everything)) == 40
    calls = runtime.store.conn.execute("SELECT COUNT(*), COUNT(DISTINCT ticket_id) FROM events WHERE type = 'ticket.called'").fetchone()
    assert calls == (40, 40)


def test_actions_queued_together_share_one_commit_and_fail_alone(server):
    """While the writer is held up, actions queue; they then run in one transaction,
    each in its own savepoint: a refusal keeps its audit row without undoing the others,
    and an unexpected error fails only its own action (the rest run again, once)."""
    client, runtime, dispatcher, clock = server
    store = runtime.store
    a1 = issue(store, "A001", "tu-phap-ho-tich", BASE)
    b1 = issue(store, "B001", "chung-thuc", BASE + timedelta(seconds=1))
    land = issue(store, "3001", "dat-dai", BASE + timedelta(seconds=2))

    def broken(turn):
        raise RuntimeError("a bug in one action")

    before = dispatcher.writer.batches
    with store.lock:  # the writer cannot start a transaction until this is released
        first = dispatcher.submit("call_next", SITE_ID, "quay-1", "t")
        wait_until(lambda: dispatcher.writer.batches == before + 1)  # the writer took it and waits
        queued = [
            dispatcher.submit("call_next", SITE_ID, "quay-2", "t"),
            dispatcher.submit("recall", SITE_ID, "quay-3", "t"),  # refused: nothing in progress
            dispatcher._act("recall", SITE_ID, "quay-1", "t", broken),  # queued, not waited for
            dispatcher.submit("call_next", SITE_ID, "quay-3", "t"),
        ]
        time.sleep(0.2)
        assert not first.done() and not any(f.done() for f in queued)
    assert first.result(10)["ticket_id"] == a1
    assert queued[0].result(10)["ticket_id"] == b1
    with pytest.raises(DeskRefused) as refused:
        queued[1].result(10)
    assert refused.value.code == "no_current_ticket"
    with pytest.raises(RuntimeError):
        queued[2].result(10)
    assert queued[3].result(10)["ticket_id"] == land
    # [first], then the four together (rolled back for the broken one), then the three again.
    assert dispatcher.writer.batches == before + 3
    conn = store.conn
    called = conn.execute("SELECT ticket_id FROM events WHERE type = 'ticket.called' ORDER BY seq").fetchall()
    assert [r[0] for r in called] == [a1, b1, land]
    audit = conn.execute("SELECT action, counter, ok, code FROM audit_log ORDER BY id").fetchall()
    assert [tuple(r) for r in audit] == [
        ("call_next", "quay-1", 1, None), ("call_next", "quay-2", 1, None),
        ("recall", "quay-3", 0, "no_current_ticket"), ("call_next", "quay-3", 1, None),
    ]


def test_errors_have_stable_codes(server):
    client, runtime, dispatcher, clock = server
    create_user(runtime.store, "admin", "admin-pass-123", "admin", [], [])
    headers = {"Authorization": f"Bearer {create_token(runtime.store, 'admin')}"}
    base = f"/api/v1/sites/{SITE_ID}/counters/quay-1"
    assert client.post(f"{base}/next", headers=headers).json()["code"] == "no_ticket_waiting"
    assert client.post(f"{base}/recall", headers=headers).json()["code"] == "no_current_ticket"
    bad = client.post(f"{base}/complete", headers=headers, json={"outcome": "teleported"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    other = client.post(f"/api/v1/sites/{OTHER_SITE_ID}/counters/quay-1/next", headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "not_dispatcher"
    assert client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-9/next", headers=headers).json()["code"] == "unknown_counter"
    assert client.post(f"{base}/next").json()["code"] == "unauthenticated"


def test_day_end_closes_open_tickets_as_no_show(server):
    client, runtime, dispatcher, clock = server
    store = runtime.store
    waiting = issue(store, "A001", "tu-phap-ho-tich", BASE)
    called = issue(store, "B001", "chung-thuc", BASE + timedelta(seconds=1))
    dispatcher.call_next(SITE_ID, "quay-2", "t")
    dayend = runtime.dayend
    assert dayend.run_once() == 0  # before closing time nothing happens
    # The test site closes at 23:59:59 local (16:59:59 UTC).
    clock.now = datetime(2026, 3, 2, 16, 59, 59, 500000, tzinfo=UTC)
    made = dayend.run_once()
    rows = dict(store.conn.execute("SELECT ticket_id, status FROM tickets").fetchall())
    assert rows[waiting] == "no_show" and rows[called] == "no_show"
    assert made == 3  # two no-shows and quay-2, open since the morning, closed
    states = dict(store.conn.execute("SELECT counter, state FROM counters WHERE site = ?", (SITE_ID,)).fetchall())
    assert states["quay-2"] == "closed"
    assert dayend.run_once() == 0  # idempotent
    # A ticket of an earlier day still open (server down at closing) is closed at the next run.
    late = issue(store, "A002", "tu-phap-ho-tich", BASE + timedelta(hours=2))
    clock.now = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    assert dayend.run_once() == 1
    assert store.conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (late,)).fetchone()[0] == "no_show"


def test_day_end_lets_the_officer_finish_a_citizen_being_served(server):
    client, runtime, dispatcher, clock = server
    store = runtime.store
    served = issue(store, "A001", "tu-phap-ho-tich", BASE)
    dispatcher.call_next(SITE_ID, "quay-1", "t")
    dispatcher.start(SITE_ID, "quay-1", "t")
    waiting = issue(store, "A002", "tu-phap-ho-tich", BASE + timedelta(seconds=5))
    clock.now = datetime(2026, 3, 2, 16, 59, 59, 500000, tzinfo=UTC)  # closing time
    dayend = runtime.dayend
    dayend.run_once()
    status = dict(store.conn.execute("SELECT ticket_id, status FROM tickets").fetchall())
    assert status[served] == "serving" and status[waiting] == "no_show"
    states = dict(store.conn.execute("SELECT counter, state FROM counters WHERE site = ?", (SITE_ID,)).fetchall())
    assert states["quay-1"] != "closed"  # still serving
    clock.now += timedelta(minutes=10)
    dispatcher.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert store.conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (served,)).fetchone()[0] == "completed"
    # A dossier left "serving" overnight is closed at the first run of the next day.
    left = issue(store, "A003", "tu-phap-ho-tich", BASE + timedelta(seconds=9))
    dispatcher.call_next(SITE_ID, "quay-1", "t")
    dispatcher.start(SITE_ID, "quay-1", "t")
    clock.now = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    dayend.run_once()
    # The citizen came (started): closed, never counted as a no-show (docs/measures.md).
    assert store.conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (left,)).fetchone()[0] == "closed"
    assert dayend.run_once() == 0  # and not closed again at every run


def test_supervisor_calls_a_ticket_out_of_turn(server):
    client, runtime, dispatcher, clock = server
    store = runtime.store
    first = issue(store, "B001", "chung-thuc", BASE)
    later = issue(store, "B002", "chung-thuc", BASE + timedelta(seconds=30))
    create_user(store, "chief", "chief-pass-123", "admin", [], [])
    headers = {"Authorization": f"Bearer {create_token(store, 'chief')}"}
    called = client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-2/call", headers=headers, json={"ticket_id": later})
    assert called.status_code == 200 and called.json()["ticket_id"] == later and called.json()["counter"] == "quay-2"
    again = client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/call", headers=headers, json={"ticket_id": later})
    assert again.status_code == 409 and again.json()["code"] == "ticket_not_waiting"
    assert dispatcher.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == first
    row = store.conn.execute("SELECT actor, via, target FROM audit_log WHERE action = 'call_ticket' AND ok = 1").fetchone()
    assert row == ("chief", "api", later)


def test_counter_events_from_another_server_update_the_counters_projection(server, broker):
    client, runtime, dispatcher, clock = server
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"other-{uuid.uuid4().hex[:6]}")
    publisher.username_pw_set("server", broker.passwords["server"])
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    at = datetime.now(UTC)
    paused = make_event("counter.paused", site=OTHER_SITE_ID, source="server-b", seq=2, ts=at,
                        data={"counter": "quay-2", "reason": "Nghỉ trưa"})
    older = make_event("counter.opened", site=OTHER_SITE_ID, source="server-b", seq=1, ts=at - timedelta(minutes=5),
                       data={"counter": "quay-2"})
    for event in (paused, older):  # the older one arrives late and must not win
        publisher.publish(topics.event(event.site, event.type), event.to_json(), qos=1).wait_for_publish(10)

    def state():
        return store_row(runtime.store, OTHER_SITE_ID, "quay-2")

    wait_until(lambda: runtime.store.counts()["stored"] >= 2 and state() is not None)
    time.sleep(0.5)  # let the listener finish with the late event too
    assert state() == ("paused", "Nghỉ trưa")
    publisher.loop_stop()


def store_row(store, site, counter):
    with store.lock:
        return store.conn.execute("SELECT state, reason FROM counters WHERE site = ? AND counter = ?", (site, counter)).fetchone()


def test_quiet_sites_get_a_state_heartbeat(server, broker):
    client, runtime, dispatcher, clock = server
    received = []
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hb-{uuid.uuid4().hex[:6]}")
    subscriber.username_pw_set("display-1", broker.passwords["display-1"])
    subscriber.on_message = lambda c, u, m: received.append(m.retain)
    subscriber.connect("127.0.0.1", broker.port)
    subscriber.loop_start()
    subscriber.subscribe(topics.queue_state(SITE_ID), qos=1)
    try:
        wait_until(lambda: received, 10)  # the retained state
        dispatcher.states.heartbeat_s = 0.5
        before = len(received)
        time.sleep(2.6)  # nothing changes at the site meanwhile
        assert len(received) - before >= 2
        assert not any(received[before:])  # live publishes, not the retained copy again
    finally:
        subscriber.loop_stop()
