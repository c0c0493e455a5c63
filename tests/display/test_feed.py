"""The board fed by a real Mosquitto: retained state on start and restart, calls
shown within one frame of arrival, and the offline banner when the link is lost."""

from __future__ import annotations

import queue
import time
from datetime import UTC, datetime, timedelta

from display.feed import Feed
from display.render import RED
from protocol import topics
from protocol.link import MqttLink
from tests.display.conftest import board_state, call_event, display_settings
from tests.display.test_render import _has_colour
from tests.support import SITE_ID, wait_until


def server_link(broker) -> MqttLink:
    link = MqttLink("test-server-publisher", broker.settings_for("server"), clean_session=True).start()
    assert link.wait_connected(10)
    return link


def publish(link: MqttLink, topic: str, payload: bytes, retain: bool = False) -> None:
    info = link.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(5)


def start_board(broker, make_app):
    settings = display_settings(broker.settings_for("display-1"), stale_after_s=0)
    inbox: queue.Queue = queue.Queue()
    app = make_app(settings, inbox=inbox)
    feed = Feed(SITE_ID, "display-1", settings.broker, inbox).start()
    return app, feed


def step_until(app, predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "board did not get there in time"
        app.step(0.05)


def test_board_recovers_state_from_retained_messages_after_a_restart(broker, make_app, clocks):
    server = server_link(broker)
    now = datetime.now(UTC)
    clocks.wall_at = now
    publish(server, topics.board_state(SITE_ID), board_state(now).model_dump_json().encode(), retain=True)
    app, feed = start_board(broker, make_app)
    try:
        step_until(app, lambda: app.model.state_at is not None)
        assert app.model.status(clocks.mono()) == "online"
        assert app.model.counters["quay-2"].ticket_number == "B002"
    finally:
        feed.stop()
    # While the board is off: the server calls a ticket and publishes a newer board.
    later = now + timedelta(seconds=20)
    publish(server, topics.event(SITE_ID, "ticket.called"), call_event("A005", "quay-1", ts=later).to_json())
    newer = board_state(later, waiting={"tu-phap-ho-tich": 9, "chung-thuc": 1, "dat-dai": 0})
    publish(server, topics.board_state(SITE_ID), newer.model_dump_json().encode(), retain=True)
    # A new board process (fresh model) shows the right state at once.
    clocks.wall_at = later + timedelta(seconds=1)
    app, feed = start_board(broker, make_app)
    try:
        step_until(app, lambda: app.model.state_at == later and app.model.newest and app.model.newest.number == "A005")
        assert app.model.waiting["tu-phap-ho-tich"] == 9
        assert app.renderer.keys["call"][0].number == "A005"
    finally:
        feed.stop()
        server.stop()


def test_call_from_the_broker_is_drawn_in_the_first_frame_after_arrival(broker, make_app, clocks):
    server = server_link(broker)
    app, feed = start_board(broker, make_app)
    try:
        step_until(app, lambda: app.model.link_up)
        clocks.wall_at = datetime.now(UTC)
        publish(server, topics.event(SITE_ID, "ticket.called"), call_event("B077", "quay-2", ts=clocks.wall_at).to_json())
        wait_until(lambda: not app.inbox.empty(), timeout_s=5)
        app.step(0)  # one iteration
        assert app.model.newest.number == "B077"
        assert app.renderer.keys["call"][0].number == "B077"
        assert app.latencies_s and max(app.latencies_s) < 1.0
    finally:
        feed.stop()
        server.stop()


def test_lost_link_shows_offline_with_last_numbers_then_recovers(broker, make_app, clocks):
    server = server_link(broker)
    now = datetime.now(UTC)
    clocks.wall_at = now
    publish(server, topics.board_state(SITE_ID), board_state(now).model_dump_json().encode(), retain=True)
    server.stop()
    app, feed = start_board(broker, make_app)
    try:
        step_until(app, lambda: app.model.state_at is not None)
        broker.stop()
        step_until(app, lambda: not app.model.link_up)
        app.step(0)
        assert app.model.status(clocks.mono()) == "offline"
        assert app.renderer.keys["banner"] == ("offline", now)
        assert _has_colour(app.surface, app.renderer.layout.banner, RED)
        assert app.model.counters["quay-1"].ticket_number == "A001"
        broker.start()
        step_until(app, lambda: app.model.link_up, timeout_s=40)
        server = server_link(broker)
        clocks.wall_at = datetime.now(UTC)
        publish(server, topics.event(SITE_ID, "ticket.called"), call_event("A042", "quay-1", ts=clocks.wall_at).to_json())
        step_until(app, lambda: app.model.newest.number == "A042")
        assert app.renderer.layout.banner.height == 0
    finally:
        feed.stop()
        server.stop()


def test_garbage_on_the_wire_is_counted_and_the_next_call_still_shows(broker, make_app, clocks):
    server = server_link(broker)
    app, feed = start_board(broker, make_app)
    try:
        step_until(app, lambda: app.model.link_up)
        called = topics.event(SITE_ID, "ticket.called")
        for payload in [b"\x00\xff", b"{}", b'{"v": 1, "type": "ticket.called", "data": {}}', b"[" * 5000]:
            publish(server, called, payload)
        publish(server, topics.board_state(SITE_ID), b'{"site": "test-site", "ts": "yesterday"}', retain=True)
        clocks.wall_at = datetime.now(UTC)
        publish(server, called, call_event("A099", "quay-1", ts=clocks.wall_at).to_json())
        step_until(app, lambda: app.model.newest is not None and app.model.newest.number == "A099")
        assert app.model.bad_messages == 5
        assert feed.link.callback_errors == 0
    finally:
        feed.stop()
        server.stop()
