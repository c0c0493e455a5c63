"""Fault injection at the kiosk: a real kiosk process (keypad on stdin, file printer)
killed with SIGKILL at each step of issuing, then restarted; a real server process
stores what it sends. Each run ends with the reconciliation (tests/reliability/support.py)."""

from __future__ import annotations

import signal

import pytest

from tests.reliability.support import KioskProcess, reconcile
from tests.support import wait_until

STEPS = ["after_allocate", "after_print", "after_confirm"]


@pytest.mark.parametrize("crash_at", STEPS)
def test_kiosk_killed_at_each_step_every_printed_ticket_reaches_the_server_once(broker, server, tmp_path, crash_at):
    kiosk = KioskProcess(broker, tmp_path / "kiosk")
    # A few tickets go through normally, then the crash lands on the next press.
    kiosk.start()
    for letter in "ABA":
        assert kiosk.issue(letter)
    wait_until(lambda: server.health()["events"]["stored"] == 3, 30, 0.1)
    kiosk.stop()
    kiosk.start(crash_at=crash_at)
    assert kiosk.issue("B") is False  # the process died before announcing the ticket
    assert kiosk.process.wait(20) == -signal.SIGKILL
    cuts_at_crash = kiosk.cuts()
    assert cuts_at_crash == (3 if crash_at == "after_allocate" else 4)
    # Restart: the held or unsent ticket goes out, then the kiosk keeps working.
    kiosk.start()
    for letter in "AB":
        assert kiosk.issue(letter)
    wait_until(lambda: server.health()["events"]["stored"] == 6, 30, 0.1)
    assert kiosk.stop() == 0
    figures = reconcile(server, [kiosk])
    # Killed before the print was confirmed (after_allocate: no slip; after_print: a slip
    # the kiosk never recorded), the number is published marked unconfirmed (docs/kiosk.md).
    unconfirmed = 0 if crash_at == "after_confirm" else 1
    assert figures == {"printed": 6 - unconfirmed, "unconfirmed": unconfirmed, "stored": 6, "doubled": 0, "lost": 0}
    assert kiosk.unsent() == 0
    numbers = sorted(r["number"] for r in kiosk.records().values())
    assert numbers == ["A001", "A002", "A003", "B001", "B002", "B003"]
