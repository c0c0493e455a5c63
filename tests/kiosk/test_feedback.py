"""The rating keypad on gpiozero MockFactory pins, a real Mosquitto and a real server:
a press after a completion at its counter becomes one feedback.given that the server
counts in its stats; presses outside the window, for another counter's completion, or a
second time are refused; the kiosk's broker account cannot publish ratings."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from kiosk.feedback import FeedbackApp, FeedbackSettings, RatingWindow
from protocol import topics
from protocol.events import make_event
from protocol.settings import ConfigError, load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from server.web.auth import create_token, create_user
from tests.server.livedesk import Kiosk
from tests.support import SITE_ID, server_settings_dict, settings_dict, wait_until

PINS = {1: 5, 2: 6, 3: 13, 4: 19}
LEDS = {"open": 20, "thanks": 21, "refused": 16}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def feedback_settings(tmp_path, broker=None, **overrides: Any) -> FeedbackSettings:
    data = settings_dict(broker.settings_for("feedback-1") if broker else None)
    data["feedback"] = {
        "site": SITE_ID, "device_id": "feedback-1", "counter": "quay-1", "scale": "4-level",
        "buttons": {str(k): v for k, v in PINS.items()}, "leds": dict(LEDS), "pin_factory": "mock",
        "data_dir": str(tmp_path / "feedback-data"), **overrides,
    }
    return load_settings(FeedbackSettings, None, **data)


def press(factory: MockFactory, clock: FakeClock, rating: int) -> None:
    pin = factory.pin(PINS[rating])
    pin.drive_low()
    pin.drive_high()
    clock.advance(1.0)  # past the debounce


@pytest.fixture
def office(broker, tmp_path):
    db = tmp_path / "server.db"
    app = create_app(load_settings(ServerSettings, None, **server_settings_dict(broker, db)))
    with TestClient(app) as client:
        runtime = app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        kiosk = Kiosk(broker)
        factory, clock = MockFactory(), FakeClock()
        keypad = FeedbackApp(feedback_settings(tmp_path, broker), pin_factory=factory, clock=clock).start()
        wait_until(lambda: keypad.link.connected.is_set())
        yield client, runtime, kiosk, keypad, factory, clock, db
        keypad.stop()
        kiosk.close()


def _serve(runtime, kiosk, counter: str, number: str, service: str = "chung-thuc") -> str:
    ticket_id = kiosk.issue(number, service)
    wait_until(lambda: _one(runtime.store.path, "SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", ticket_id))
    dispatcher = runtime.dispatcher
    dispatcher.call_next(SITE_ID, counter, "test")
    dispatcher.complete(SITE_ID, counter, "returned", actor="test")
    return ticket_id


def _one(db, sql: str, *args: Any) -> Any:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def _stored_ratings(db) -> list[dict]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT source, payload FROM events WHERE type = 'feedback.given' ORDER BY rowid").fetchall()
    finally:
        conn.close()
    return [{"source": source, **json.loads(payload)["data"]} for source, payload in rows]


def test_a_press_after_a_completion_reaches_the_stats(office):
    client, runtime, kiosk, keypad, factory, clock, db = office
    ticket_id = _serve(runtime, kiosk, "quay-1", "B001")
    wait_until(lambda: keypad.window.ticket_id == ticket_id)
    wait_until(lambda: factory.pin(LEDS["open"]).state == 1)  # the "rate now" light is on

    press(factory, clock, 1)
    keypad.wait_idle()
    wait_until(lambda: _stored_ratings(db))
    assert _stored_ratings(db) == [
        {"source": "feedback-1", "ticket_id": ticket_id, "counter": "quay-1", "rating": 1, "scale": "4-level"}
    ]
    wait_until(lambda: keypad.unsent() == 0)  # the broker acknowledged it
    assert keypad.outcomes["accepted"] == 1
    wait_until(lambda: factory.pin(LEDS["thanks"]).state == 1)

    # A second press for the same ticket is refused; the page agrees it is rated.
    press(factory, clock, 4)
    keypad.wait_idle()
    assert keypad.outcomes["already_rated"] == 1
    assert client.get(f"/api/v1/tickets/{ticket_id}").json()["rated"] is True
    page = client.post(f"/api/v1/tickets/{ticket_id}/rating", json={"rating": 4, "scale": "4-level"})
    assert page.status_code == 409 and page.json()["code"] == "already_rated"

    # Another ticket rated "không hài lòng" (4): satisfaction 1 of 2 at quay-1, per service too.
    second = _serve(runtime, kiosk, "quay-1", "A001", "tu-phap-ho-tich")
    wait_until(lambda: keypad.window.ticket_id == second)
    press(factory, clock, 4)
    keypad.wait_idle()
    wait_until(lambda: len(_stored_ratings(db)) == 2)
    assert len(_stored_ratings(db)) == 2

    create_user(runtime.store, "boss", "boss-pass", "manager", [SITE_ID])
    token = create_token(runtime.store, "boss")
    headers = {"Authorization": f"Bearer {token}"}
    by_counter = client.get("/api/v1/stats?group_by=counter", headers=headers).json()["rows"]
    rated = [(r["counter"], r["ratings"], r["satisfied"], r["satisfaction_pct"]) for r in by_counter if r["ratings"]]
    assert rated == [("quay-1", 2, 1, 50.0)]
    by_service = client.get("/api/v1/stats?group_by=service", headers=headers).json()["rows"]
    rated = sorted((r["service"], r["ratings"], r["satisfaction_pct"]) for r in by_service if r["ratings"])
    assert rated == [("chung-thuc", 1, 100.0), ("tu-phap-ho-tich", 1, 0.0)]
    site = client.get("/api/v1/stats", headers=headers).json()["rows"]
    assert [(r["site"], r["ratings"], r["satisfaction_pct"]) for r in site] == [(SITE_ID, 2, 50.0)]


def test_presses_outside_the_window_or_for_another_counter_do_nothing(office):
    client, runtime, kiosk, keypad, factory, clock, db = office
    # Nothing completed yet.
    press(factory, clock, 2)
    keypad.wait_idle()
    assert keypad.outcomes["no_ticket"] == 1

    # Completed at quay-2: heard, but this keypad (quay-1) stays closed.
    _serve(runtime, kiosk, "quay-2", "B001")
    wait_until(lambda: keypad.heard["other_counters"] == 1)
    assert factory.pin(LEDS["open"]).state == 0
    press(factory, clock, 1)
    keypad.wait_idle()
    assert keypad.outcomes["no_ticket"] == 2 and keypad.window.ticket_id is None

    # Completed here, but pressed after window_s = 60: refused, the light is off again.
    ours = _serve(runtime, kiosk, "quay-1", "B002")
    wait_until(lambda: keypad.window.ticket_id == ours)
    wait_until(lambda: factory.pin(LEDS["open"]).state == 1)
    clock.advance(60.5)
    press(factory, clock, 1)
    keypad.wait_idle()
    assert keypad.outcomes["expired"] == 1 and keypad.outcomes["accepted"] == 0
    wait_until(lambda: factory.pin(LEDS["open"]).state == 0)
    assert _stored_ratings(db) == [] and keypad.unsent() == 0 and keypad.published == 0


def test_a_completion_at_another_counter_never_opens_the_window(tmp_path):
    settings = feedback_settings(tmp_path)
    keypad = FeedbackApp(settings, pin_factory=MockFactory(), clock=FakeClock())
    messages = []
    for counter in ("quay-2", "quay-1"):
        event = make_event("ticket.completed", site=SITE_ID, source="server", seq=1,
                           data={"ticket_id": str(uuid.uuid4()), "counter": counter, "outcome": "returned"})
        message = mqtt.MQTTMessage(topic=topics.event(SITE_ID, "ticket.completed").encode())
        message.payload = event.to_json()
        keypad._on_message(message)
        messages.append(event)
    queued = [keypad._items.get_nowait() for _ in range(keypad._items.qsize())]
    assert [(kind, value) for kind, value, _at in queued] == [("completed", str(messages[1].data.ticket_id))]
    keypad.buttons.close()
    keypad.lights.close()


def test_rating_window_rules():
    window = RatingWindow(60)
    assert window.verdict(0) == "no_ticket"
    window.open("t1", 100)
    assert window.verdict(160) == "open" and window.verdict(160.5) == "expired"
    window.mark_rated()
    assert window.verdict(101) == "already_rated"
    window.open("t2", 200)
    assert window.verdict(201) == "open"


def test_settings_refuse_a_keypad_that_does_not_match_its_scale(tmp_path):
    with pytest.raises(ConfigError, match="ratings 1..3"):
        feedback_settings(tmp_path, scale="3-level")
    with pytest.raises(ConfigError, match="not a counter"):
        feedback_settings(tmp_path, counter="quay-9")
    with pytest.raises(ConfigError, match="share a GPIO pin"):
        feedback_settings(tmp_path, leds={"open": 5})
    with pytest.raises(ConfigError, match="not a feedback keypad"):
        feedback_settings(tmp_path, counter="quay-2")  # feedback-1 is registered at quay-1
    three = feedback_settings(tmp_path, scale="3-level", buttons={"1": 5, "2": 6, "3": 13})
    assert three.feedback.window_s == 60 and three.keypad_keys() == {"1": "1", "2": "2", "3": "3"}


def test_the_kiosk_account_cannot_publish_ratings(office, broker):
    client, runtime, kiosk, keypad, factory, clock, db = office
    ticket_id = _serve(runtime, kiosk, "quay-1", "B001")
    forged = make_event("feedback.given", site=SITE_ID, source="kiosk-1", seq=99,
                        data={"ticket_id": ticket_id, "counter": "quay-1", "rating": 1, "scale": "4-level"})
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"forger-{uuid.uuid4().hex[:6]}")
    sender.username_pw_set("kiosk-1", broker.passwords["kiosk-1"])
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    sender.publish(topics.event(SITE_ID, "feedback.given"), forged.to_json(), qos=1).wait_for_publish(5)
    # A ticket.issued sent after it on the same connection is stored; the rating never is.
    marker = make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=100,
                        data={"ticket_id": str(uuid.uuid4()), "number": "B099", "service": "chung-thuc"})
    sender.publish(topics.event(SITE_ID, "ticket.issued"), marker.to_json(), qos=1).wait_for_publish(5)
    wait_until(lambda: _one(db, "SELECT COUNT(*) FROM events WHERE id = ?", str(marker.id)))
    sender.loop_stop()
    sender.disconnect()
    assert _stored_ratings(db) == []
    assert _one(db, "SELECT COUNT(*) FROM events WHERE id = ?", str(forged.id)) == 0


def _parser():
    import argparse

    from kiosk import feedback_cli

    parser = argparse.ArgumentParser(prog="xephang")
    feedback_cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_toml_file_env_and_every_setting_documented(tmp_path, monkeypatch):
    from pathlib import Path

    from kiosk.feedback import FeedbackLeds, FeedbackSection
    from tests.support import write_toml

    data = settings_dict()
    data["feedback"] = {"site": SITE_ID, "device_id": "feedback-1", "counter": "quay-1", "scale": "3-level",
                        "buttons": {"1": 5, "2": 6, "3": 13}, "pin_factory": "keyboard"}
    path = write_toml(tmp_path / "feedback.toml", data)
    assert "[feedback.buttons]" in path.read_text(encoding="utf-8")
    monkeypatch.setenv("XEPHANG_FEEDBACK__WINDOW_S", "90")
    settings = load_settings(FeedbackSettings, path)
    assert settings.feedback.buttons == {1: 5, 2: 6, 3: 13}
    assert settings.feedback.window_s == 90 and settings.feedback.scale == "3-level"

    doc = (Path(__file__).resolve().parents[2] / "docs" / "feedback.md").read_text(encoding="utf-8")
    for model, prefix in ((FeedbackSection, ""), (FeedbackLeds, "leds.")):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            assert f"`{prefix}{name}`" in doc, f"docs/feedback.md does not document {prefix}{name}"
    feedback = _parser()._subparsers._group_actions[0].choices["feedback"]
    for action in feedback._actions:
        assert action.help, f"{action.dest} has no help"


def test_cli_runs_a_keyboard_keypad_until_q(tmp_path, monkeypatch, capsys):
    import io

    from tests.support import write_toml

    data = settings_dict()
    data["broker"] = {"host": "127.0.0.1", "port": 9}  # nothing listens: the keypad starts anyway
    data["feedback"] = {"site": SITE_ID, "device_id": "feedback-1", "counter": "quay-1",
                        "buttons": {"1": 5, "2": 6, "3": 13, "4": 19}, "pin_factory": "keyboard",
                        "data_dir": str(tmp_path / "fb")}
    path = write_toml(tmp_path / "feedback.toml", data)
    monkeypatch.setattr("sys.stdin", io.StringIO("7\n2\nq\n"))
    args = _parser().parse_args(["feedback", "--config", str(path)])
    assert args.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Bàn phím đánh giá sẵn sàng. Gõ phím rồi Enter: 1 = 1, 2 = 2, 3 = 3, 4 = 4 (q để thoát)"
    assert out[1] == "Phím không hợp lệ: 7"
    assert (tmp_path / "fb" / "feedback.sqlite3").is_file()

    bad = write_toml(tmp_path / "bad.toml", {**data, "feedback": {**data["feedback"], "scale": "5-star"}})
    with pytest.raises(ConfigError) as caught:
        args = _parser().parse_args(["feedback", "--config", str(bad)])
        args.run(args)
    assert any("feedback.scale" in line for line in caught.value.lines)


def test_rated_tickets_seq_and_unsent_ratings_survive_a_restart(tmp_path):
    """No broker reachable: the rating waits in SQLite; after a restart the same
    completion delivered again does not reopen the ticket, and seq goes on."""
    data = settings_dict()
    data["broker"] = {"host": "127.0.0.1", "port": 9}
    data["feedback"] = {"site": SITE_ID, "device_id": "feedback-1", "counter": "quay-1",
                        "buttons": {str(k): v for k, v in PINS.items()}, "pin_factory": "mock",
                        "data_dir": str(tmp_path / "fb")}
    settings = load_settings(FeedbackSettings, None, **data)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    def run(completions: list[str], rating: int) -> FeedbackApp:
        factory, clock = MockFactory(), FakeClock()
        keypad = FeedbackApp(settings, pin_factory=factory, clock=clock).start()
        for ticket_id in completions:
            keypad._put("completed", ticket_id)
        wait_until(lambda: keypad._items.qsize() == 0)
        press(factory, clock, rating)
        assert keypad.wait_idle()
        keypad.stop()
        return keypad

    before = run([first], 2)
    assert before.outcomes["accepted"] == 1 and before.unsent() == 1
    after = run([first], 3)  # a redelivered completion of the rated ticket
    assert after.outcomes == {"accepted": 0, "no_ticket": 1, "expired": 0, "already_rated": 0}
    again = run([second], 1)
    assert again.outcomes["accepted"] == 1 and again.unsent() == 2
    conn = sqlite3.connect(tmp_path / "fb" / "feedback.sqlite3")
    rows = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM ratings ORDER BY created_at")]
    conn.close()
    assert [(r["seq"], r["data"]["ticket_id"], r["data"]["rating"]) for r in rows] == [(1, first, 2), (2, second, 1)]
