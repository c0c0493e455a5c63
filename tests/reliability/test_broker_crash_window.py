"""The broker dies (SIGKILL, power cut) moments after acknowledging tickets while the
server is away (restarting, or the link to it is down).

Mosquitto keeps queued messages in memory and writes them to disk only every
`autosave_interval` (1 s in xephang's config; `autosave_on_changes` still leaves the
last change unsaved, measured), so what it acknowledged in the last second is gone.
The kiosk marks an event `sent` on that acknowledgement; without more, the
printed ticket would never reach the queue. So (kiosk/publisher.py, kiosk/outbox.py)
on every reconnect the kiosk publishes again the events marked sent in the last
`resend_window_s` (30 s); the server stores each id once, so a resend is harmless.
"""

from __future__ import annotations

import time

from tests.reliability.support import KioskProcess, ServerProcess, reconcile
from tests.support import wait_until


def test_tickets_acknowledged_just_before_a_broker_crash_still_reach_the_server(broker, tmp_path):
    server = ServerProcess(broker, tmp_path / "server").start()
    server.stop()  # its persistent session stays at the broker, queueing for it
    kiosk = KioskProcess(broker, tmp_path / "kiosk").start()
    try:
        time.sleep(1.5)  # the session is on disk
        for letter in "ABAB":
            assert kiosk.issue(letter)
        deadline = time.monotonic() + 10
        while kiosk.unsent() and time.monotonic() < deadline:
            time.sleep(0.002)
        broker.kill()  # right after the broker acknowledged the last ticket
        broker.start()
        server.start()
        kiosk.issue("A")  # the kiosk is back on the broker
        wait_until(lambda: server.health()["events"]["stored"] >= 1, 20)
        time.sleep(3.0)  # time for anything the broker kept or the kiosk resent to arrive
        assert kiosk.stop() == 0
        reconcile(server, [kiosk])
    finally:
        kiosk.stop(5)
        server.stop()
