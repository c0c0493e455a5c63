"""100,000 malformed MQTT payloads against a running server process, interleaved with a
real day of valid events: the server stays up, rejects each one with a reason, and the
valid traffic is stored exactly once, unaffected.

Every message goes at QoS 1 (the kiosks' QoS) with a large in-flight window, so the
broker may not drop any and the counts can be checked exactly."""

from __future__ import annotations

import time

from protocol import topics
from tests.reliability.fuzz import junk
from tests.reliability.support import ServerProcess, publish_all, publisher, server_rows, synthetic_events
from tests.support import OTHER_SITE_ID, wait_until

JUNK = 100_000


def test_hundred_thousand_malformed_payloads_are_rejected_and_valid_traffic_flows(broker, tmp_path):
    server = ServerProcess(broker, tmp_path / "server").start()
    # Valid traffic of a site this server does not dispatch: its day-end job adds nothing.
    valid = synthetic_events(OTHER_SITE_ID, 500, seed=9)
    every = JUNK // len(valid)
    client = publisher(broker, inflight=0)  # no client-side cap; publish_all bounds the window
    started = time.monotonic()
    try:
        def stream():
            sent = 0
            for i, item in enumerate(junk(JUNK, seed=2)):
                yield item
                if i % every == 0 and sent < len(valid):
                    yield topics.event(valid[sent].site, valid[sent].type), valid[sent].to_json()
                    sent += 1
            for event in valid[sent:]:
                yield topics.event(event.site, event.type), event.to_json()

        assert publish_all(client, stream()) == JUNK + len(valid)
        published_s = time.monotonic() - started
        expected = {"stored": len(valid), "duplicates": 0, "rejected": JUNK}
        wait_until(lambda: (server.health() or {}).get("events") == expected, 240, 0.5)
        took_s = time.monotonic() - started
        health = server.health()
        assert health["ok"] is True
        assert server.process.poll() is None
        assert health["ingest"]["callback_errors"] == 0
        ids = {r[0] for r in server_rows(server.database, "SELECT id FROM events")}
        assert ids == {str(e.id) for e in valid}
        assert server_rows(server.database, "SELECT COUNT(*) FROM rejected_events")[0][0] == JUNK
        assert server_rows(server.database, "SELECT COUNT(*) FROM rejected_events WHERE reason = ''")[0][0] == 0
        assert "Traceback" not in server.log_text()
        print(f"fuzz: {JUNK} junk + {len(valid)} valid published in {published_s:.1f} s, all settled in {took_s:.1f} s")
    finally:
        client.loop_stop()
        server.stop()
