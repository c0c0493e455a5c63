"""Numbers per site, service and site-local day, persisted in a real SQLite file."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk import outbox
from kiosk.numbering import NumbersExhausted, allocate, format_number
from kiosk.store import open_store, transaction
from protocol.sites import Service
from tests.kiosk.conftest import utc

LETTER = Service(id="ho-tich", name="Hộ tịch", letter="A")
BLOCK = Service(id="dat-dai", name="Đất đai", block=(3001, 3003))


def test_formats():
    assert [format_number(LETTER, n) for n in (1, 23, 999, 1000)] == ["A001", "A023", "A999", "A1000"]
    assert [format_number(BLOCK, n) for n in (1, 3)] == ["3001", "3003"]
    with pytest.raises(NumbersExhausted):
        format_number(BLOCK, 4)


def test_numbers_per_service_per_day_survive_reopening(tmp_path):
    day1, day2 = date(2026, 11, 30), date(2026, 12, 1)
    db = open_store(tmp_path)
    with transaction(db):
        got = [allocate(db, "s", LETTER, day1), allocate(db, "s", LETTER, day1), allocate(db, "s", BLOCK, day1)]
    db.close()  # a power cut after commit: the counters are on disk
    db = open_store(tmp_path)
    with transaction(db):
        got += [allocate(db, "s", LETTER, day1), allocate(db, "s", LETTER, day2), allocate(db, "other", LETTER, day1)]
    assert got == ["A001", "A002", "3001", "A003", "A001", "A001"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_rolled_back_allocation_is_not_on_disk(tmp_path):
    db = open_store(tmp_path)
    day = date(2026, 11, 30)
    with pytest.raises(RuntimeError):
        with transaction(db):
            allocate(db, "s", LETTER, day)
            raise RuntimeError("crash inside the transaction")
    with transaction(db):
        assert allocate(db, "s", LETTER, day) == "A001"


def test_block_exhaustion_rolls_back(tmp_path):
    db = open_store(tmp_path)
    day = date(2026, 11, 30)
    with transaction(db):
        assert [allocate(db, "s", BLOCK, day) for _ in range(3)] == ["3001", "3002", "3003"]
    with pytest.raises(NumbersExhausted):
        with transaction(db):
            allocate(db, "s", BLOCK, day)
    assert db.execute("SELECT last FROM numbers WHERE service = 'dat-dai'").fetchone()[0] == 3


def test_voided_number_is_skipped_and_its_seq_given_back(tmp_path):
    db = open_store(tmp_path)
    day = date(2026, 11, 30)
    at = utc(2026, 11, 30, 3, 0)
    issued = []
    for _ in range(3):
        with transaction(db):
            number = allocate(db, "test-site", LETTER, day)
            ticket_id, seq = outbox.add_issued(db, site="test-site", source="kiosk-1", day=day.isoformat(), number=number,
                                               service=LETTER.id, priority=None, issued_at=at)
        issued.append((number, ticket_id, seq))
    with transaction(db):
        outbox.confirm_printed(db, issued[0][1])
        outbox.void(db, issued[2][1])  # the last one failed to print
    with transaction(db):
        number = allocate(db, "test-site", LETTER, day)
        _, seq = outbox.add_issued(db, site="test-site", source="kiosk-1", day=day.isoformat(), number=number,
                                   service=LETTER.id, priority=None, issued_at=at)
    assert [n for n, _, _ in issued] == ["A001", "A002", "A003"]
    assert (number, seq) == ("A004", 3)  # A003 is never reused; seq 3 was never sent
    assert outbox.counts(db) == {"held": 2, "ready": 1, "sent": 0}
    assert outbox.recover_held(db) == ["A002", "A004"]
    assert [r.ticket_id for r in outbox.ready_after(db, 0, 10)] == [issued[0][1], issued[1][1], _]
