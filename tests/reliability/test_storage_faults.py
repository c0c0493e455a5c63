"""The server's SQLite cannot write: disk full, or read-only. Ingest must stop
acknowledging (so the broker keeps the messages), say so on /healthz, and resume
without loss when space returns.

Three stand-ins, each a real SQLite write failure on the server's own connection:
- `PRAGMA max_page_count` at the current size, after a VACUUM: SQLite answers
  SQLITE_FULL ("database or disk is full") exactly as when the file system refuses to
  grow the file. The VACUUM packs every b-tree and empties the freelist, so each event's
  insert into the random `events.id` index needs a new page: without it a few small
  batches fitted in free space of existing pages (1,003 stored, 1,000 expected);
- `PRAGMA query_only`: SQLITE_READONLY, as for a file or mount turned read-only
  (chmod does not stop root, and tests run as root);
- a real, tiny tmpfs filled to the last byte: the kernel's ENOSPC, failing at COMMIT
  when the WAL must grow (needs root for `mount`, as `make test` has here and in CI).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time

from fastapi.testclient import TestClient

from protocol import topics
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from tests.reliability.support import publisher, synthetic_events
from tests.support import server_settings_dict, wait_until


def _publish(client, events) -> None:
    for info in [client.publish(topics.event(e.site, e.type), e.to_json(), qos=1) for e in events]:
        info.wait_for_publish(30)


def _stored(client: TestClient) -> int:
    return client.get("/healthz").json()["events"]["stored"]


def _ids(database) -> set[str]:
    """Event ids in the database. The test waits on sets of ids, not counts: the server
    dispatches the site, so its day-end may add events of its own (the synthetic data is
    of a fixed day, any day may be later)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM events")}
    finally:
        conn.close()


def _check_own_events_and_fold(database, expected: set[str]) -> int:
    """Events the server made are day-end's only, and no completed ticket is a no-show.
    Returns how many the server made."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        own = [
            (t, json.loads(p)["data"]) for i, t, p in conn.execute("SELECT id, type, payload FROM events")
            if i not in expected
        ]
        wrong = conn.execute(
            "SELECT COUNT(*) FROM tickets WHERE status != 'completed' AND ticket_id IN "
            "(SELECT ticket_id FROM events WHERE type = 'ticket.completed')"
        ).fetchone()[0]
    finally:
        conn.close()
    for kind, data in own:
        assert kind == "counter.closed" or (kind == "ticket.no_show" and data.get("auto") is True), (kind, data)
    assert wrong == 0, "a completed ticket must never end as a no-show"
    return len(own)


def _limit(runtime, sql: str) -> None:
    with runtime.store.lock:
        runtime.store.conn.execute(sql)


def _fault(runtime, fault_sql: str) -> None:
    with runtime.store.lock:
        conn = runtime.store.conn
        if "max_page_count" in fault_sql:
            conn.execute("VACUUM")  # no free pages, no free room in the random-key indexes
            assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(fault_sql.format(pages=pages))


def _fault_then_recover(broker, database, fault_sql: str, recover_sql: str, expected_error: str) -> None:
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, database))
    events = synthetic_events("test-site", 900, seed=21)
    first, during, after_restart = events[:1000], events[1000:2500], events[2500:]
    client = publisher(broker)
    database = settings.server.database
    first_ids, during_ids, all_ids = ({str(e.id) for e in part} for part in (first, during, events))
    with TestClient(create_app(settings)) as http:
        runtime = http.app.state.runtime
        wait_until(lambda: http.get("/healthz").json()["broker"] == "connected")
        _publish(client, first)
        wait_until(lambda: first_ids <= _ids(database), 30)
        # The disk fills (or turns read-only) while traffic goes on.
        _fault(runtime, fault_sql)
        _publish(client, during)
        response = wait_until(lambda: (r := http.get("/healthz")).status_code == 503 and r, 30)
        health = response.json()
        assert health["ok"] is False
        assert expected_error in health["database"], health["database"]
        assert health["ingest"]["commit_failures"] >= 1
        time.sleep(1.0)
        assert not during_ids & _ids(database), "nothing may be stored while the disk is full"
        # Space returns: ingest resumes by itself, nothing lost, nothing doubled.
        _limit(runtime, recover_sql)
        wait_until(lambda: first_ids | during_ids <= _ids(database), 60, 0.1)
        wait_until(lambda: http.get("/healthz").status_code == 200, 10)
        # A second fault, and this time the server stops while it lasts: what it could
        # not store was never acknowledged, so the broker hands it to the next run.
        _fault(runtime, fault_sql)
        _publish(client, after_restart)
        wait_until(lambda: http.get("/healthz").status_code == 503, 30)
    with TestClient(create_app(settings)) as http:
        wait_until(lambda: all_ids <= _ids(database), 60, 0.1)
        wait_until(lambda: http.app.state.runtime.dayend.runs >= 1, 150)
        time.sleep(0.5)
        health = http.get("/healthz").json()
        assert health["ok"] is True
        made = _check_own_events_and_fold(database, all_ids)
        # Only what the server published itself may come back a second time.
        assert health["events"]["duplicates"] <= made
    client.loop_stop()
    assert _ids(database) >= all_ids


def test_disk_full_stops_acknowledging_reports_and_resumes_without_loss(broker, tmp_path):
    _fault_then_recover(
        broker, tmp_path / "server.db",
        "PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 1073741823", "database or disk is full",
    )


def test_read_only_database_stops_acknowledging_reports_and_resumes_without_loss(broker, tmp_path):
    _fault_then_recover(
        broker, tmp_path / "server.db", "PRAGMA query_only = ON", "PRAGMA query_only = OFF", "readonly",
    )


def _fill(directory, name: str = "filler") -> None:
    """Write until the file system says ENOSPC (then small files for the last blocks)."""
    chunk = b"\0" * 65536
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, chunk)
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC: the file system is full, as wanted
    finally:
        os.close(fd)
    for size in (4096, 512, 1):
        for i in range(64):
            try:
                (directory / f"{name}-{size}-{i}").write_bytes(b"\0" * size)
            except OSError:
                break


def test_real_enospc_on_a_tiny_tmpfs_commit_fails_then_resumes(broker, tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], check=True)
    try:
        database = mount_point / "server.db"
        settings = load_settings(ServerSettings, None, **server_settings_dict(broker, database))
        events = synthetic_events("test-site", 900, seed=22)
        first, during = events[:800], events[800:2400]
        first_ids, both_ids = {str(e.id) for e in first}, {str(e.id) for e in first + during}
        client = publisher(broker)
        with TestClient(create_app(settings)) as http:
            wait_until(lambda: http.get("/healthz").json()["broker"] == "connected")
            _publish(client, first)
            wait_until(lambda: first_ids <= _ids(database), 30)
            _fill(mount_point)
            _publish(client, during)
            response = wait_until(lambda: (r := http.get("/healthz")).status_code == 503 and r, 30)
            assert "full" in response.json()["database"] or "disk" in response.json()["database"]
            assert not both_ids <= _ids(database)  # stalled before the end
            for leftover in mount_point.glob("filler*"):
                leftover.unlink()
            wait_until(lambda: both_ids <= _ids(database), 60, 0.1)
            wait_until(lambda: http.get("/healthz").status_code == 200, 10)
            duplicates = http.get("/healthz").json()["events"]["duplicates"]
        client.loop_stop()
        made = _check_own_events_and_fold(database, both_ids)
        assert duplicates <= made  # only the server's own events may come back twice
        assert _ids(database) >= both_ids
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
