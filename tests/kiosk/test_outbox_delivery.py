"""No lost tickets, no duplicates at the server: the outbox across a broker outage and
across kill -9 of a real kiosk process (keypad on stdin, file printer)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.app import KioskApp
from kiosk.store import open_store
from tests.kiosk.conftest import make_settings, write_config
from tests.support import child_env, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_500_tickets_with_the_broker_down_all_arrive_in_order_of_issue(tmp_path, broker, inbox):
    settings = make_settings(tmp_path, broker.settings_for("kiosk-1"), rate_limit_count=1000, debounce_s=0,
                             printer={"transport": "dummy"})
    factory = MockFactory()
    app = KioskApp(settings, pin_factory=factory)
    app.start()
    try:
        assert app.link.wait_connected(10)
        broker.stop()
        wait_until(lambda: not app.link.connected.is_set(), 10)
        pins = [17, 27, 22]
        for i in range(500):
            pin = pins[i % 3]
            factory.pin(pin).drive_low()
            factory.pin(pin).drive_high()
            assert app.wait_idle(10)
        printed = [r for r in app.results if r.printed]
        assert len(printed) == 500
        assert app.unsent() == 500
        assert inbox.issued() == []
        broker.start()
        wait_until(lambda: len(inbox.issued()) >= 500, 90, 0.2)
        wait_until(lambda: app.unsent() == 0, 30, 0.2)
    finally:
        app.stop()
    received = inbox.issued()
    assert [str(e.data.ticket_id) for e in received] == [r.ticket_id for r in printed]
    assert [e.seq for e in received] == list(range(1, 501))
    assert [e.data.number for e in received[:4]] == ["A001", "B001", "3001", "A002"]


def _start_kiosk(config: Path, crash_at: str | None) -> subprocess.Popen:
    env = child_env(PYTHONPATH=str(ROOT))  # the test's project clock, no settings overrides
    if crash_at:
        env["XEPHANG_KIOSK_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--config", str(config)],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _type(process: subprocess.Popen, line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def _cuts(path: Path) -> int:
    return path.read_bytes().count(b"\x1dV\x00") if path.exists() else 0


@pytest.mark.parametrize("crash_at", ["after_print", "after_confirm"])
def test_kill_9_between_print_and_publish_loses_nothing_and_duplicates_nothing(tmp_path, broker, inbox, crash_at):
    spool = tmp_path / "lp0"
    config = write_config(tmp_path, broker, pin_factory="keyboard", printer={"transport": "file", "path": str(spool)},
                          leds={}, priority_pin=None)
    first = _start_kiosk(config, crash_at)
    try:
        _type(first, "A")
        assert first.wait(20) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    assert _cuts(spool) == 1  # the slip came out, then the process died
    time.sleep(1.0)
    assert inbox.issued() == []  # nothing was published before the kill
    second = _start_kiosk(config, None)
    try:
        wait_until(lambda: len(inbox.issued()) == 1, 20)
        _type(second, "A")
        wait_until(lambda: len(inbox.issued()) == 2, 20)
        second.stdin.close()  # end of input: the kiosk stops cleanly
        assert second.wait(20) == 0, second.stderr.read()
    finally:
        if second.poll() is None:
            second.kill()
    numbers = [e.data.number for e in inbox.issued()]
    assert numbers == ["A001", "A002"]
    assert [e.seq for e in inbox.issued()] == [1, 2]
    assert _cuts(spool) == 2
    db = open_store(tmp_path / "kiosk-data")
    # Killed before the print was recorded (after_print), the first ticket cannot be
    # confirmed: published, marked unconfirmed; once recorded (after_confirm), printed.
    first_state = "unconfirmed" if crash_at == "after_print" else "printed"
    rows = [tuple(r) for r in db.execute("SELECT number, state FROM tickets ORDER BY number")]
    assert rows == [("A001", first_state), ("A002", "printed")]
    assert [e.data.unconfirmed for e in inbox.issued()] == [crash_at == "after_print", False]
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE state != 'sent'").fetchone()[0] == 0
    db.close()


def test_kill_9_before_the_print_finishes_publishes_the_unconfirmed_number(tmp_path, broker, inbox):
    """Documented choice: a number whose print cannot be confirmed is published, marked
    unconfirmed and never counted as printed (a citizen holding a ticket that is never
    called is worse than a no-show the desk marks)."""
    spool = tmp_path / "lp0"
    config = write_config(tmp_path, broker, pin_factory="keyboard", printer={"transport": "file", "path": str(spool)},
                          leds={}, priority_pin=None)
    first = _start_kiosk(config, "after_allocate")
    _type(first, "B")
    assert first.wait(20) == -signal.SIGKILL
    assert _cuts(spool) == 0
    second = _start_kiosk(config, None)
    try:
        wait_until(lambda: len(inbox.issued()) == 1, 20)
        second.stdin.close()
        assert second.wait(20) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert [(e.data.number, e.data.unconfirmed) for e in inbox.issued()] == [("B001", True)]
    assert "B001" in second.stderr.read()  # the warning names the number
    db = open_store(tmp_path / "kiosk-data")
    assert [tuple(r) for r in db.execute("SELECT number, state FROM tickets")] == [("B001", "unconfirmed")]
    db.close()


def test_a_broker_restart_mid_stream_keeps_the_order_of_issue(tmp_path, broker, inbox):
    settings = make_settings(tmp_path, broker.settings_for("kiosk-1"), rate_limit_count=1000, debounce_s=0,
                             printer={"transport": "dummy"})
    factory = MockFactory()
    app = KioskApp(settings, pin_factory=factory)
    app.start()
    try:
        assert app.link.wait_connected(10)
        for i in range(240):
            if i == 120:
                broker.kill()  # events in flight are lost with the TCP connection
            if i == 160:
                broker.start()
            factory.pin(17).drive_low()
            factory.pin(17).drive_high()
            assert app.wait_idle(10)
        printed = [r.ticket_id for r in app.results if r.printed]
        wait_until(lambda: len(inbox.issued()) >= 240, 90, 0.2)
        wait_until(lambda: app.unsent() == 0, 30, 0.2)
    finally:
        app.stop()
    assert len(printed) == 240
    assert [str(e.data.ticket_id) for e in inbox.issued()] == printed
