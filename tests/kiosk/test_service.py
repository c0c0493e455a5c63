"""The issuing core on its own (no MQTT): site-local day boundary, text mode, a render
failure and an exhausted block all leave nothing to publish."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hardware.buttons import Press
from hardware.printer import TicketPrinter
from kiosk import outbox
from kiosk.queue_view import QueueView
from kiosk.service import Kiosk
from kiosk.store import open_store
from tests.kiosk.conftest import make_settings


class Wall:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make_kiosk(tmp_path, at: datetime, **overrides):
    settings = make_settings(tmp_path, **overrides)
    wall = Wall(at)
    db = open_store(settings.kiosk.data_dir)
    printer = TicketPrinter(settings.kiosk.printer)
    kiosk = Kiosk(settings, db, printer, QueueView(settings.site_config, 300, wall), clock=wall)
    return kiosk, wall, db


def test_numbers_restart_at_the_site_local_midnight_not_utc(tmp_path):
    # 16:58 UTC is 23:58 in Hanoi; 17:01 UTC is 00:01 the next day there.
    kiosk, wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 16, 58, tzinfo=timezone.utc))
    numbers = [kiosk.issue(Press("tu-phap-ho-tich")).number for _ in range(2)]
    wall.at += timedelta(minutes=3)
    numbers.append(kiosk.issue(Press("tu-phap-ho-tich")).number)
    wall.at = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)  # still 1 December in Hanoi
    numbers.append(kiosk.issue(Press("tu-phap-ho-tich")).number)
    assert numbers == ["A001", "A002", "A001", "A002"]
    days = [r[0] for r in db.execute("SELECT day FROM tickets ORDER BY issued_at")]
    assert days == ["2026-11-30", "2026-11-30", "2026-12-01", "2026-12-01"]


def test_text_mode_sends_text_a_native_qr_and_a_cut(tmp_path):
    kiosk, _wall, _db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc), text_mode=True)
    result = kiosk.issue(Press("chung-thuc"))
    job = kiosk.printer.transport.jobs[-1]
    assert result.printed
    assert b"B001" in job
    assert b"\x1d(k" in job and f"/t/{result.ticket_id}".encode() in job  # GS ( k: the printer draws the QR
    assert b"\x1dv0" not in job  # no raster
    assert job.endswith(b"\x1dV\x00")


def test_a_render_failure_voids_the_ticket(tmp_path, monkeypatch):
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc))

    def broken(*args, **kwargs):
        raise OSError("cannot open font")

    monkeypatch.setattr("kiosk.service.render_ticket", broken)
    with pytest.raises(OSError):
        kiosk.issue(Press("tu-phap-ho-tich"))
    assert outbox.counts(db) == {"held": 0, "ready": 0, "sent": 0}
    assert db.execute("SELECT number, state FROM tickets").fetchall()[0][1] == "voided"
    assert kiosk.printer.transport.jobs == []


def test_an_exhausted_block_refuses_without_a_ticket(tmp_path):
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc))
    db.execute("INSERT INTO numbers (site, service, day, last) VALUES ('test-site', 'dat-dai', '2026-11-30', 999)")
    result = kiosk.issue(Press("dat-dai"))
    assert result.outcome == "exhausted"
    assert "Đất đai" in result.message
    assert db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0
    assert db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone() is None


def test_a_service_without_a_button_here_is_refused(tmp_path):
    kiosk, _wall, _db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc),
                                   buttons={"tu-phap-ho-tich": 17})
    assert kiosk.issue(Press("chung-thuc")).outcome == "unknown_service"
