"""Online backup while the event store writes, restore, and schema refusal (upgrades)."""

from __future__ import annotations

import argparse
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from protocol.errors import XephangError
from protocol.sites import Site
from server.commands import backup as backup_cli
from server.storage.backup import backup_database, prune_backups, restore_database
from server.storage.db import open_database
from server.storage.events import EventStore
from tests.support import site_dict
from tests.synthetic import default_start, ticket_lives


def _events(n_tickets: int, seed: int = 3):
    site = Site.model_validate(site_dict())
    return ticket_lives(site, n_tickets, default_start(), seed=seed)


def _dump(path, table):
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    backup_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_backup_while_the_store_writes_is_consistent_and_restores_exactly(tmp_path):
    db_path = tmp_path / "server.db"
    store = EventStore(db_path, [Site.model_validate(site_dict())])
    events = _events(600)
    stop = threading.Event()

    def write() -> None:
        for start in range(0, len(events), 20):
            if stop.is_set():
                return
            store.append_local(events[start:start + 20])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copies = []
        for i in range(5):
            copies.append(backup_database(db_path, tmp_path / f"during-{i}.db"))
    finally:
        writer.join(60)
        stop.set()
    counts = [c.events for c in copies]
    assert counts == sorted(counts) and counts[-1] <= len(events)
    for copy in copies:  # each copy is a consistent snapshot: tickets agree with events
        conn = sqlite3.connect(copy.path)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        issued = conn.execute("SELECT COUNT(DISTINCT ticket_id) FROM events").fetchone()[0]
        assert conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == issued
        conn.close()

    final = backup_database(db_path, tmp_path / "final.db")
    assert final.events == len(events)
    store.close()
    restored = tmp_path / "restored" / "server.db"
    assert restore_database(final.path, restored) is None
    for table in ("events", "tickets", "sources", "_sqlite_migrations"):
        assert _dump(restored, table) == _dump(db_path, table)
    open_database(restored).conn.close()  # the server opens it as it is


def test_restore_keeps_the_replaced_database_and_refuses_bad_files(tmp_path):
    db_path = tmp_path / "server.db"
    store = EventStore(db_path, [Site.model_validate(site_dict())])
    store.append_local(_events(10))
    store.close()
    good = backup_database(db_path, tmp_path / "good.db")
    store = EventStore(db_path, [Site.model_validate(site_dict())])
    store.append_local(_events(5, seed=9))
    store.close()
    kept = restore_database(good.path, db_path, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert kept == tmp_path / "server.db.replaced-20260102T030405Z"
    assert _dump(db_path, "events") == _dump(good.path, "events")
    assert len(_dump(kept, "events")) > len(_dump(db_path, "events"))

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(XephangError, match="not a readable SQLite database"):
        restore_database(junk, db_path)
    with pytest.raises(XephangError, match="no backup at"):
        restore_database(tmp_path / "missing.db", db_path)
    with pytest.raises(XephangError, match="exists already"):
        backup_database(db_path, good.path)


def test_newer_schema_is_refused_by_the_server_and_by_restore(tmp_path):
    db_path = tmp_path / "server.db"
    db = open_database(db_path)
    db["_sqlite_migrations"].insert(
        {"migration_set": "xephang", "name": "m999_from_the_future", "applied_at": "2030-01-01T00:00:00"}
    )
    db.conn.close()
    with pytest.raises(XephangError, match="newer xephang.*m999_from_the_future"):
        open_database(db_path)
    with pytest.raises(XephangError, match="newer xephang"):
        restore_database(db_path, tmp_path / "target.db")
    assert not (tmp_path / "target.db").exists()


def test_older_schema_is_migrated_on_start(tmp_path):
    from server.storage.db import migrations

    db_path = tmp_path / "server.db"
    import sqlite_utils

    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m101_desk_counters")  # a database of the first release
    assert "counters" not in old.table_names()
    old.conn.close()
    db = open_database(db_path)
    assert {"counters", "users", "stats_agg"} <= set(db.table_names())
    db.conn.close()


def test_backup_command_names_copies_by_date_and_keeps_the_newest(tmp_path, capsys):
    db_path = tmp_path / "server.db"
    store = EventStore(db_path, [Site.model_validate(site_dict())])
    store.append_local(_events(3))
    store.close()
    folder = tmp_path / "backups"
    folder.mkdir()
    for name in ("xephang-20250101T000000Z.db", "xephang-20250102T000000Z.db", "xephang-20250103T000000Z.db"):
        (folder / name).write_bytes(b"")
    assert _cli("backup", "--database", str(db_path), "--out", str(folder), "--keep", "2") == 0
    out = capsys.readouterr().out
    assert "kiểm tra toàn vẹn đạt" in out and "Đã xóa bản sao lưu cũ" in out
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[0] == "xephang-20250103T000000Z.db"
    with pytest.raises(XephangError):
        prune_backups(folder, 0)
    fresh = tmp_path / "not-yet" / "backups"  # as the nightly unit's first run finds it
    assert _cli("backup", "--database", str(db_path), "--out", str(fresh)) == 0
    assert [p.name.startswith("xephang-") and p.suffix == ".db" for p in fresh.iterdir()] == [True]
    capsys.readouterr()
    restored = tmp_path / "again.db"
    assert _cli("restore", "--database", str(restored), str(folder / names[1])) == 0
    assert _dump(restored, "events") == _dump(db_path, "events")


def test_a_v1_device_keeps_working_with_this_server(tmp_path):
    """Upgrades: a kiosk of the first release sends exactly the documented v1 envelope;
    a newer device may add optional fields, which the server ignores."""
    import time

    from server.storage.events import EventStore, Incoming

    store = EventStore(tmp_path / "server.db", [Site.model_validate(site_dict())])
    old_device = (
        b'{"v": 1, "id": "0b7c9a52-3a7e-4f4e-9a55-2f1d7c1f0a01", "type": "ticket.issued", "site": "test-site", '
        b'"source": "kiosk-1", "seq": 1, "ts": "2026-11-30T08:01:02+07:00", '
        b'"data": {"ticket_id": "5d0f1c2e-9a8b-4c3d-8e7f-6a5b4c3d2e1f", "number": "A001", '
        b'"service": "tu-phap-ho-tich", "priority": null}}'
    )
    newer_device = old_device.replace(b'"seq": 1', b'"seq": 2, "firmware": "2.3"').replace(
        b"0b7c9a52-3a7e-4f4e-9a55-2f1d7c1f0a01", b"0b7c9a52-3a7e-4f4e-9a55-2f1d7c1f0a02").replace(
        b"5d0f1c2e-9a8b-4c3d-8e7f-6a5b4c3d2e1f", b"5d0f1c2e-9a8b-4c3d-8e7f-6a5b4c3d2e20").replace(
        b'"priority": null', b'"priority": null, "paper_left_m": 12.5').replace(b"A001", b"A002")
    topic = "xephang/v1/test-site/events/ticket.issued"
    result = store.ingest([Incoming(topic, old_device, time.time()), Incoming(topic, newer_device, time.time())])
    assert (len(result.stored), result.rejected) == (2, 0)
    rows = store.conn.execute("SELECT number, issued_at IS NOT NULL FROM tickets ORDER BY number").fetchall()
    assert [tuple(r) for r in rows] == [("A001", 1), ("A002", 1)]
    store.close()
