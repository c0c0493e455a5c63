"""The issuing core on its own (no MQTT): site-local day boundary, text mode, a render
failure and an exhausted block all leave nothing to publish; the ticket is drawn before
its number is taken; a fault the printer reports after the job publishes the ticket
marked unconfirmed, never counted as printed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PIL import ImageChops

from hardware.buttons import Press
from hardware.printer import TicketPrinter
from kiosk import outbox
from kiosk import service as service_module
from kiosk.queue_view import QueueView
from kiosk.service import Kiosk
from kiosk.store import open_store
from kiosk.ticket_image import PreparedTicket, render_ticket
from protocol.events import parse_event
from tests.kiosk.conftest import make_settings
from tests.kiosk.raster import decode_rasters, decode_ticket


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
    kiosk, wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 16, 58, tzinfo=UTC))
    numbers = [kiosk.issue(Press("tu-phap-ho-tich")).number for _ in range(2)]
    wall.at += timedelta(minutes=3)
    numbers.append(kiosk.issue(Press("tu-phap-ho-tich")).number)
    wall.at = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # still 1 December in Hanoi
    numbers.append(kiosk.issue(Press("tu-phap-ho-tich")).number)
    assert numbers == ["A001", "A002", "A001", "A002"]
    days = [r[0] for r in db.execute("SELECT day FROM tickets ORDER BY issued_at")]
    assert days == ["2026-11-30", "2026-11-30", "2026-12-01", "2026-12-01"]


def test_text_mode_sends_text_a_native_qr_and_a_cut(tmp_path):
    kiosk, _wall, _db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC), text_mode=True)
    result = kiosk.issue(Press("chung-thuc"))
    job = kiosk.printer.transport.jobs[-1]
    assert result.printed
    assert b"B001" in job
    assert b"\x1d(k" in job and f"/t/{result.ticket_id}".encode() in job  # GS ( k: the printer draws the QR
    assert b"\x1dv0" not in job  # no raster
    assert job.endswith(b"\x1dV\x00")


def test_a_render_failure_takes_no_number(tmp_path, monkeypatch):
    """The ticket is drawn before its number is taken: a font that cannot be opened
    uses up nothing, and the next ticket still gets the first number."""
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))

    def broken(*args, **kwargs):
        raise OSError("cannot open font")

    monkeypatch.setattr("kiosk.service.prepare_ticket", broken)
    with pytest.raises(OSError):
        kiosk.issue(Press("tu-phap-ho-tich"))
    assert db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM numbers").fetchone()[0] == 0
    assert outbox.counts(db) == {"held": 0, "ready": 0, "sent": 0}
    assert kiosk.printer.transport.jobs == []
    monkeypatch.undo()
    assert kiosk.issue(Press("tu-phap-ho-tich")).number == "A001"


def test_a_failure_to_stamp_the_number_voids_the_ticket(tmp_path, monkeypatch):
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))

    def broken(self, number):
        raise OSError("cannot open font")

    monkeypatch.setattr(PreparedTicket, "stamp", broken)
    with pytest.raises(OSError):
        kiosk.issue(Press("tu-phap-ho-tich"))
    assert outbox.counts(db) == {"held": 0, "ready": 0, "sent": 0}
    assert db.execute("SELECT number, state FROM tickets").fetchall()[0][1] == "voided"
    assert kiosk.printer.transport.jobs == []


def test_everything_but_the_number_is_drawn_before_the_number_is_taken(tmp_path, monkeypatch):
    """The window between numbering and the printer write holds only the number's band:
    when the ticket is drawn no number is taken yet, and the job is the pre-encoded
    bytes around the band, which decode to the same picture as the whole ticket."""
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    numbers_taken_when_drawn = []
    real_prepare = service_module.prepare_ticket

    def watched(*args, **kwargs):
        numbers_taken_when_drawn.append(db.execute("SELECT COUNT(*) FROM numbers").fetchone()[0])
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr("kiosk.service.prepare_ticket", watched)
    result = kiosk.issue(Press("tu-phap-ho-tich"))
    assert result.printed and numbers_taken_when_drawn == [0]
    job = kiosk.printer.transport.jobs[-1]
    picture = decode_ticket(job)
    whole = render_ticket(result.content, kiosk.printer.width)
    assert ImageChops.difference(picture.convert("L"), whole.image.convert("L")).getbbox() is None
    assert result.content.number == "A001" and result.content.url.endswith(f"/t/{result.ticket_id}")
    # Three rasters: above the band, the band (the only one drawn after numbering), below.
    assert len(decode_rasters(job)) == 3
    assert set(result.timings_s) >= {"number_to_write_s", "unconfirmed_window_s"}


def test_paper_out_reported_after_the_job_publishes_the_ticket_unconfirmed(tmp_path):
    """The printer took the bytes, then said the roll ran out: the slip may be cut
    short. The ticket joins the queue marked unconfirmed (a citizen may hold half a
    slip), is not counted as printed, and the fault is reported."""
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    kiosk.printer.transport.fault_after_next_job = "paper_out"
    result = kiosk.issue(Press("tu-phap-ho-tich"))
    assert result.outcome == "unconfirmed" and not result.printed and result.issued
    assert "A001" in result.message and "hết giấy" in result.message
    assert len(kiosk.printer.transport.jobs) == 1  # the bytes were accepted
    assert kiosk.last_status.summary == "paper_out"
    assert [tuple(r) for r in db.execute("SELECT number, state FROM tickets")] == [("A001", "unconfirmed")]
    rows = outbox.ready_after(db, 0, 10)
    assert len(rows) == 1
    event = parse_event(rows[0].payload)
    assert (event.data.number, event.data.unconfirmed, str(event.data.ticket_id)) == ("A001", True, result.ticket_id)
    # The next press is refused on the known fault: no number taken.
    assert kiosk.issue(Press("tu-phap-ho-tich")).outcome == "printer_fault"
    assert db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 1


def test_a_jam_mid_ticket_is_a_device_fault_and_the_ticket_unconfirmed(tmp_path):
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    assert kiosk.issue(Press("chung-thuc")).printed
    kiosk.printer.transport.fault_after_next_job = "jam"
    result = kiosk.issue(Press("chung-thuc"))
    assert result.outcome == "unconfirmed"
    assert not kiosk.last_status.can_print and kiosk.last_status.summary == "offline"
    assert [tuple(r) for r in db.execute("SELECT number, state FROM tickets ORDER BY number")] == [
        ("B001", "printed"), ("B002", "unconfirmed")]
    marks = [parse_event(r.payload).data.unconfirmed for r in outbox.ready_after(db, 0, 10)]
    assert marks == [False, True]


def test_a_printer_that_cannot_answer_is_not_asked_after_the_job(tmp_path):
    """File and dummy transports cannot report status: a written job counts as printed
    (as before; docs/kiosk.md says what this cannot catch)."""
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC),
                                  printer={"transport": "file", "path": str(tmp_path / "lp0")})
    assert kiosk.issue(Press("tu-phap-ho-tich")).printed
    assert [tuple(r) for r in db.execute("SELECT number, state FROM tickets")] == [("A001", "printed")]


def test_an_exhausted_block_refuses_without_a_ticket(tmp_path):
    kiosk, _wall, db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    db.execute("INSERT INTO numbers (site, service, day, last) VALUES ('test-site', 'dat-dai', '2026-11-30', 999)")
    result = kiosk.issue(Press("dat-dai"))
    assert result.outcome == "exhausted"
    assert "Đất đai" in result.message
    assert db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0
    assert db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone() is None


def test_a_service_without_a_button_here_is_refused(tmp_path):
    kiosk, _wall, _db = make_kiosk(tmp_path, datetime(2026, 11, 30, 3, 0, tzinfo=UTC),
                                   buttons={"tu-phap-ho-tich": 17})
    assert kiosk.issue(Press("chung-thuc")).outcome == "unknown_service"
