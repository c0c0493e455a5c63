"""The running kiosk with MockFactory pins, the fake / Dummy printers and a real
Mosquitto: one press, one ticket, one event; refusals issue nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from gpiozero.pins.mock import MockFactory
from PIL import ImageChops

from kiosk.app import KioskApp
from kiosk.store import open_store
from kiosk.ticket_image import render_ticket
from protocol import topics
from tests.kiosk.conftest import make_settings, publish_as_server
from tests.kiosk.raster import decode_ticket, qr_matrix, read_qr
from tests.support import SITE_ID, office_clock, wait_until

STATUS_TOPIC = topics.device_status(SITE_ID, "kiosk-1")


class GateClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def press(factory: MockFactory, pin: int) -> None:
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def start_app(tmp_path, broker, clock=None, site_changes=None, **overrides):
    settings = make_settings(tmp_path, broker.settings_for("kiosk-1"), site_changes, **overrides)
    factory = MockFactory()
    gate_clock = GateClock()
    # Default: 10:00 on the project clock's date (real, or as a test run moved it), so no
    # press falls after the test site's last ticket (23:59) whatever the hour.
    app = KioskApp(settings, pin_factory=factory, gate_clock=gate_clock, clock=clock or office_clock())
    app.start()
    if not app.link.wait_connected(10):
        raise AssertionError("kiosk did not connect")
    return app, factory, gate_clock


def ticket_rows(tmp_path):
    db = open_store(tmp_path / "kiosk-data")
    try:
        return [tuple(r) for r in db.execute("SELECT number, state FROM tickets ORDER BY issued_at, number")]
    finally:
        db.close()


def test_one_press_prints_one_ticket_and_publishes_one_event(tmp_path, broker, inbox):
    app, factory, _clock = start_app(tmp_path, broker)
    try:
        press(factory, 17)
        assert app.wait_idle(10)
        jobs = app.printer.transport.jobs
        assert len(jobs) == 1
        job = jobs[0]
        assert b"\x1dv0" in job and job.endswith(b"\x1dV\x00")  # raster image and a cut
        picture = decode_ticket(job)
        assert picture.width == 576
        issued = wait_until(lambda: inbox.issued(), 10)
        assert len(issued) == 1
        event = issued[0]
        assert (event.source, event.seq, event.data.number, event.data.service) == ("kiosk-1", 1, "A001", "tu-phap-ho-tich")
        # the printed picture is the ticket of that event, and its QR goes to that ticket's page
        content = app.results[-1].content
        assert content.url == f"http://xephang.test:8000/t/{event.data.ticket_id}"
        rendered = render_ticket(content, 576)
        assert ImageChops.difference(picture.convert("L"), rendered.image.convert("L")).getbbox() is None
        assert read_qr(picture, rendered) == qr_matrix(content.url)
        assert event.data.priority is None
        wait_until(lambda: app.unsent() == 0, 10)  # PUBACK marked the outbox row sent
        status = wait_until(lambda: inbox.statuses.get(STATUS_TOPIC), 10)
        assert status["state"] == "online"
        assert factory.pin(5).state is True  # ready light
    finally:
        app.stop()
    assert ticket_rows(tmp_path) == [("A001", "printed")]


def test_chatter_and_rapid_presses_give_one_ticket(tmp_path, broker, inbox):
    app, factory, clock = start_app(tmp_path, broker, rate_limit_count=1, rate_limit_window_s=60)
    try:
        for _ in range(8):  # contact chatter: many edges at the same instant
            press(factory, 27)
        assert app.wait_idle(10)
        for _ in range(20):  # a child pressing once a second for twenty seconds
            clock.now += 1.0
            press(factory, 27)
            assert app.wait_idle(10)
        assert len(app.printer.transport.jobs) == 1
        assert wait_until(lambda: len(inbox.issued()) == 1, 10)
        assert app.gate.refused["bounce"] >= 7 and app.gate.refused["rate_limited"] == 20
    finally:
        app.stop()
    assert [n for n, _ in ticket_rows(tmp_path)] == ["B001"]


def test_priority_button_then_service(tmp_path, broker, inbox):
    app, factory, _clock = start_app(tmp_path, broker)
    try:
        press(factory, 26)
        press(factory, 22)
        assert app.wait_idle(10)
        event = wait_until(lambda: inbox.issued(), 10)[0]
        assert (event.data.number, event.data.priority) == ("3001", "elderly")
    finally:
        app.stop()


def test_print_failure_issues_nothing(tmp_path, broker, inbox):
    app, factory, clock = start_app(tmp_path, broker)
    try:
        app.printer.transport.fail_next_jobs = 1  # status looks fine, the job itself fails
        press(factory, 17)
        assert app.wait_idle(10)
        assert app.results[-1].outcome == "print_failed"
        clock.now += 5
        press(factory, 17)
        assert app.wait_idle(10)
        assert app.results[-1].outcome == "printed"
        issued = wait_until(lambda: inbox.issued(), 10)
        wait_until(lambda: app.unsent() == 0, 10)
    finally:
        app.stop()
    assert [(e.data.number, e.seq) for e in inbox.issued()] == [("A002", 1)]  # A001 voided, never sent; seq unbroken
    assert ticket_rows(tmp_path) == [("A001", "voided"), ("A002", "printed")]
    assert len(issued) == 1


def test_paper_out_refuses_lights_fault_and_publishes_status(tmp_path, broker, inbox):
    app, factory, clock = start_app(tmp_path, broker, printer={"transport": "fake", "fake_fault": "paper_out"})
    try:
        status = wait_until(
            lambda: (inbox.statuses.get(STATUS_TOPIC) or {}).get("printer") == "paper_out" and inbox.statuses[STATUS_TOPIC], 10
        )
        assert status["accepting"] is False
        assert factory.pin(13).state is True and factory.pin(5).state is False  # fault on, ready off
        factory.pin(19).clear_states()
        press(factory, 17)
        assert app.wait_idle(10)
        assert app.results[-1].outcome == "printer_fault"
        assert "hết giấy" in app.results[-1].message
        wait_until(lambda: any(s.state for s in factory.pin(19).states), 5)  # the buzzer beeped
        app.printer.transport.fault = "none"  # staff loads paper
        clock.now += 5
        press(factory, 17)
        assert app.wait_idle(10)
        assert app.results[-1].outcome == "printed"
        wait_until(lambda: (inbox.statuses.get(STATUS_TOPIC) or {}).get("printer") == "ok", 10)
        wait_until(lambda: inbox.issued(), 10)
    finally:
        app.stop()
    assert [e.data.number for e in inbox.issued()] == ["A001"]  # no number was used while out of paper


def test_outside_hours_refuses(tmp_path, broker, inbox):
    sunday_night = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)  # 21:00 in Hanoi
    settings_hours = {"weekdays": [0, 1, 2, 3, 4], "open": "07:30:00", "close": "17:00:00", "last_ticket": "16:30:00"}
    app, factory, _clock = start_app(tmp_path, broker, clock=lambda: sunday_night, site_changes={"hours": settings_hours})
    try:
        press(factory, 17)
        assert app.wait_idle(10)
        assert app.results[-1].outcome == "closed"
        assert "16:30" in app.results[-1].message
        status = wait_until(lambda: (inbox.statuses.get(STATUS_TOPIC) or {}).get("accepting") is False and inbox.statuses[STATUS_TOPIC], 10)
        assert status["printer"] == "ok"
        assert factory.pin(5).state is False and factory.pin(13).state is False  # closed: no green, no red
    finally:
        app.stop()
    assert app.printer.transport.jobs == []
    assert ticket_rows(tmp_path) == []


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_people_ahead_and_day_closed_from_retained_queue_state(tmp_path, broker, inbox):
    now = datetime.now(UTC)
    state = {"site": SITE_ID, "ts": (now - timedelta(seconds=30)).isoformat(),
             "services": {"tu-phap-ho-tich": {"waiting": 4, "estimated_wait_s": 600}}}
    publish_as_server(broker, topics.queue_state(SITE_ID), json.dumps(state).encode())
    wall = ShiftedClock()
    app, factory, clock = start_app(tmp_path, broker, clock=wall, rate_limit_count=10)
    try:
        wait_until(lambda: app.queue_view.state is not None, 10)

        def issue(pin: int):
            clock.now += 5
            press(factory, pin)
            assert app.wait_idle(10)
            return app.results[-1]

        first, second, other = issue(17), issue(17), issue(27)
        assert (first.content.people_ahead, first.content.wait_s) == (4, 600)
        assert second.content.people_ahead == 5  # + the ticket this kiosk printed after the state's ts
        assert (other.content.people_ahead, other.content.wait_s) == (None, None)  # not in the state: "—"
        wall.offset = timedelta(minutes=10)  # the state is now older than state_max_age_s
        assert issue(17).content.people_ahead is None
        wall.offset = timedelta(0)
        closed = dict(state, closed=True, ts=datetime.now(UTC).isoformat())
        publish_as_server(broker, topics.queue_state(SITE_ID), json.dumps(closed).encode())
        wait_until(lambda: app.queue_view.day_closed(datetime.now(UTC)), 10)
        assert issue(17).outcome == "closed"
    finally:
        app.stop()
    assert [n for n, _ in ticket_rows(tmp_path)] == ["A001", "A002", "B001", "A003"]


def test_printed_ticket_is_confirmed_by_one_beep_but_a_refusal_is_not(tmp_path, broker, inbox):
    app, factory, clock = start_app(tmp_path, broker, confirm="beep", beep=False)
    try:
        factory.pin(19).clear_states()
        press(factory, 17)
        assert app.wait_idle(10) and app.results[-1].outcome == "printed"
        wait_until(lambda: sum(1 for s in factory.pin(19).states if s.state) == 1, 5)  # one beep
        wait_until(lambda: factory.pin(19).state is False, 5)  # and it ended
        app.printer.transport.fault = "paper_out"
        app._refresh_status(force=True)
        factory.pin(19).clear_states()
        clock.now += 5
        press(factory, 17)
        assert app.wait_idle(10) and app.results[-1].outcome != "printed"
        import time

        time.sleep(0.5)
        # refusal beeps are off (beep=False)
        assert not any(s.state for s in factory.pin(19).states), (factory.pin(19).states, app.results[-1].outcome)
    finally:
        app.stop()


def test_speak_confirmation_says_the_number_in_words(tmp_path, broker, inbox, monkeypatch):
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(tmp_path / "audio.raw"))
    app, factory, _clock = start_app(tmp_path, broker, confirm="speak")
    try:
        press(factory, 17)
        assert app.wait_idle(10) and app.results[-1].outcome == "printed"
        wait_until(lambda: app.spoken, 15)
        assert app.spoken == ["Số của bạn là a, một"]
        wait_until(lambda: (tmp_path / "audio.raw").exists() and (tmp_path / "audio.raw").stat().st_size > 10_000, 10)
    finally:
        app.stop()
