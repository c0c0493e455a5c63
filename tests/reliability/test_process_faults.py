"""Fault injection on the broker and the server: real Mosquitto, a real server process, a
real kiosk process and a desk working over the REST API. SIGKILL lands while tickets
are issued and called; every run ends with the reconciliation."""

from __future__ import annotations

import time

from protocol import topics
from tests.reliability.support import Desk, KioskProcess, ServerProcess, publisher, reconcile, server_rows, synthetic_events
from tests.support import OTHER_SITE_ID, wait_until


def _settle(server: ServerProcess, kiosk: KioskProcess, desk: Desk) -> None:
    """Everything printed is sent, the desk has emptied the queue, nothing pending."""
    wait_until(lambda: kiosk.unsent() == 0, 60, 0.1)
    printed = sum(1 for r in kiosk.records().values() if r["state"] == "printed")
    wait_until(lambda: len(desk.log.completed) == printed, 60, 0.1)
    wait_until(lambda: (server.health() or {}).get("ingest", {}).get("pending") == 0, 30, 0.1)


def test_broker_killed_and_restarted_while_tickets_are_issued_and_called(broker, server, tmp_path):
    kiosk = KioskProcess(broker, tmp_path / "kiosk").start()
    desk = Desk(server).start()
    letters = "AB" * 30
    try:
        for i, letter in enumerate(letters):
            assert kiosk.issue(letter)
            if i in (15, 40):
                broker.kill()  # SIGKILL: a power cut of the broker's machine
                # The kiosk keeps printing while the broker is gone.
                for extra in "AB":
                    assert kiosk.issue(extra)
                time.sleep(0.5)
                broker.start()
        _settle(server, kiosk, desk)
    finally:
        log = desk.stop()
        assert kiosk.stop() == 0
    figures = reconcile(server, [kiosk], log)
    assert figures["printed"] == len(letters) + 4
    assert figures["lost"] == figures["doubled"] == 0
    assert server.health()["ok"] is True


def test_server_killed_mid_ingest_and_restarted(broker, server, tmp_path):
    kiosk = KioskProcess(broker, tmp_path / "kiosk").start()
    desk = Desk(server).start()
    # Another site's traffic arrives in bursts, so each kill lands mid-batch.
    burst = synthetic_events(OTHER_SITE_ID, 1600, seed=3)
    halves = [burst[: len(burst) // 2], burst[len(burst) // 2 :]]
    client = publisher(broker)

    def stored_other() -> int:
        return server_rows(server.database, "SELECT COUNT(*) FROM events WHERE site = ?", (OTHER_SITE_ID,))[0][0]

    infos = []
    try:
        for i, letter in enumerate("AB" * 25):
            assert kiosk.issue(letter)
            if i in (10, 30):
                half = halves.pop(0)
                before = stored_other()
                infos += [client.publish(topics.event(e.site, e.type), e.to_json(), qos=1) for e in half]
                wait_until(lambda: stored_other() > before + 200, 30, 0.002)
                server.kill()  # SIGKILL mid-ingest: the kiosk and the desk carry on
                assert stored_other() < before + len(half), "the kill must land mid-burst"
                assert kiosk.issue("A")
                server.start()
        _settle(server, kiosk, desk)
        for info in infos:
            info.wait_for_publish(30)
        wait_until(lambda: stored_other() == len(burst), 60, 0.1)
        time.sleep(0.5)  # a late redelivery must still not double
    finally:
        client.loop_stop()
        log = desk.stop()
        assert kiosk.stop() == 0
    figures = reconcile(server, [kiosk], log)
    assert figures["printed"] == 52
    ids = [r[0] for r in server_rows(server.database, "SELECT id FROM events WHERE site = ?", (OTHER_SITE_ID,))]
    assert sorted(ids) == sorted(str(e.id) for e in burst)
    assert log.errors, "the desk must have met the server down at least once"
