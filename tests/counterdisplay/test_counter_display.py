"""The counter display (issue 20): what it says for each counter state, and the running
program on a real broker with luma's dummy screen: it shows the ticket the retained board
state gives its counter, and falls back to its offline state when the state goes stale or
the broker goes away."""

from __future__ import annotations

from datetime import timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image

from counterdisplay.app import CounterDisplay
from counterdisplay.settings import CounterDisplaySettings
from counterdisplay.view import counter_view
from protocol import topics
from protocol.settings import load_settings
from protocol.state import BoardState, CounterBoard
from tests.support import SITE_ID, office_clock, settings_dict, wait_until


def board(now, **quay1) -> BoardState:
    first = {"id": "quay-1", "number": 1, "name": "Quầy 1", "state": "open", **quay1}
    return BoardState(site=SITE_ID, name="Trung tâm", ts=now, counters=[
        CounterBoard(**first), CounterBoard(id="quay-2", number=2, name="Quầy 2", state="closed")])


def test_what_the_counter_says_in_each_state():
    now = office_clock()()
    def say(state, connected=True, at=now):
        return counter_view(state, "quay-1", 1, at, 120, connected)
    assert say(board(now, ticket_id="t1", ticket_number="A012")).text == "1 A012"
    assert say(board(now)).text == "1 ---"
    assert say(board(now, state="paused", reason="Đi họp")).text == "1 NGHI"
    assert say(board(now, state="closed")).text == "1 DONG"
    assert counter_view(board(now), "quay-9", 9, now, 120, True).state == "closed"  # not on the board: closed
    assert say(None).text == "1 ..."
    assert say(board(now, ticket_number="A012"), connected=False).state == "offline"
    assert say(board(now, ticket_number="A012"), at=now + timedelta(seconds=121)).state == "offline"
    assert say(board(now, ticket_number="A012"), at=now + timedelta(seconds=119)).state == "serving"


def _publish_board(broker, state: BoardState) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-server-board")
    client.username_pw_set("server", broker.passwords["server"])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish(topics.board_state(SITE_ID), state.model_dump_json(), qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def lit(device) -> int:
    histogram = device.image.convert("L").histogram()
    return sum(histogram) - histogram[0]


def test_the_running_display_follows_the_board_and_shows_its_offline_state(tmp_path, broker):
    start = office_clock()()
    moments = [start]
    clock = lambda: moments[-1]  # noqa: E731 - a clock the test moves
    data = settings_dict(broker.settings_for("display-1"))
    data["counter_display"] = {"site": SITE_ID, "counter": "quay-1", "device": "display-1", "screen": "dummy",
                               "stale_after_s": 120, "snapshot": str(tmp_path / "counter.png")}
    settings = load_settings(CounterDisplaySettings, None, **data)
    display = CounterDisplay(settings, clock=clock, interval_s=0.1).start()
    try:
        assert display.shown.text == "1 ..."  # before anything arrives
        _publish_board(broker, board(start, ticket_id="t1", ticket_number="A012"))
        wait_until(lambda: display.shown.text == "1 A012", 10)
        assert lit(display.device) > 20
        picture = Image.open(tmp_path / "counter.png")
        assert picture.size == (32 * 16, 8 * 16)
        # the board state stops coming (a server down, a bridge cut): offline after the limit
        moments.append(start + timedelta(seconds=121))
        wait_until(lambda: display.shown.state == "offline", 5)
        _publish_board(broker, board(moments[-1], state="paused", reason="Đi họp"))
        wait_until(lambda: display.shown.text == "1 NGHI", 10)
        broker.stop()  # the broker goes away: offline at once, not after the stale limit
        wait_until(lambda: display.shown.state == "offline", 15)
    finally:
        display.stop()
