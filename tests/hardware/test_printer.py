"""The printer seam: status decoding (unknown is never "paper OK"), the failing fake,
a fault that begins during a job seen by the status read after it, escpos Dummy and
File transports, exact job bytes (whole, and in the pieces the kiosk pre-encodes)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops
from pydantic import ValidationError

from hardware.printer import (
    PrintError,
    PrinterSettings,
    PrinterStatus,
    TicketPrinter,
    build_image_job,
    job_end,
    job_start,
    parse_status,
    raster_bytes,
)
from tests.kiosk.raster import decode_rasters, decode_ticket

GS_V0 = b"\x1dv0"


def test_status_bytes_decode():
    assert parse_status(0x12, 0x12, 0x12) == PrinterStatus(online=True, paper="ok", cover="closed")
    assert parse_status(0x1A, 0x16, 0x12).summary == "cover_open"
    assert parse_status(0x1A, 0x32, 0x72).summary == "paper_out"
    assert parse_status(0x12, 0x12, 0x1E).summary == "paper_near_end"
    assert parse_status(0x1A, 0x52, 0x12).summary == "offline"


def test_unanswered_or_garbage_status_is_unknown_not_ok():
    for answers in [(None, None, None), (0xFF, 0x00, 0x80), (0x12, None, None)]:
        status = parse_status(*answers)
        assert status.paper == "unknown"
        assert status.summary == "unknown"
        assert status.can_print  # unknown still tries; a failing print voids the ticket


def test_dummy_and_file_transports_cannot_answer_so_status_is_unknown(tmp_path):
    for settings in (PrinterSettings(transport="dummy"), PrinterSettings(transport="file", path=tmp_path / "lp0")):
        assert TicketPrinter(settings).status() == PrinterStatus()


@pytest.mark.parametrize(
    "fault, summary, can_print",
    [("none", "ok", True), ("near_end", "paper_near_end", True), ("paper_out", "paper_out", False),
     ("cover_open", "cover_open", False), ("offline", "offline", False), ("jam", "offline", False),
     ("no_answer", "unknown", True)],
)
def test_fake_printer_answers_like_a_real_one(fault, summary, can_print):
    printer = TicketPrinter(PrinterSettings(transport="fake", fake_fault=fault))
    status = printer.status()
    assert (status.summary, status.can_print) == (summary, can_print)


def test_fake_printer_fails_jobs_while_faulty():
    printer = TicketPrinter(PrinterSettings(transport="fake"))
    printer.send(b"job-1")
    printer.transport.fault = "paper_out"
    with pytest.raises(PrintError, match="paper_out"):
        printer.send(b"job-2")
    printer.transport.fault = "none"
    printer.transport.fail_next_jobs = 1
    with pytest.raises(PrintError):
        printer.send(b"job-3")
    printer.send(b"job-4")
    assert printer.transport.jobs == [b"job-1", b"job-4"]


@pytest.mark.parametrize("fault", ["paper_out", "jam"])
def test_a_fault_that_begins_during_the_job_shows_in_the_status_after_it(fault):
    """The printer accepts the bytes, then the roll runs out or the paper jams: the write
    succeeds, only the status read after the job tells."""
    printer = TicketPrinter(PrinterSettings(transport="fake"))
    assert printer.status().can_print
    printer.transport.fault_after_next_job = fault
    printer.send(b"ticket")
    assert printer.transport.jobs == [b"ticket"]  # accepted
    after = printer.status_after_job()
    assert after is not None and not after.can_print
    assert after.summary == ("paper_out" if fault == "paper_out" else "offline")


def test_no_status_after_the_job_where_the_printer_cannot_answer(tmp_path):
    silent = TicketPrinter(PrinterSettings(transport="fake", fake_fault="no_answer"))
    silent.status()
    silent.send(b"ticket")
    assert silent.status_after_job() is None
    spool = TicketPrinter(PrinterSettings(transport="file", path=tmp_path / "lp0"))
    spool.status()
    spool.send(b"ticket")
    assert spool.status_after_job() is None


def test_a_job_in_pieces_is_the_same_bytes_as_the_whole():
    """The kiosk encodes the parts around the number before numbering; stacked, the
    pieces print the same picture as one raster."""
    image = Image.new("1", (576, 300), 1)
    for y in range(0, 300, 7):
        image.putpixel((y % 576, y), 0)
    top, band, bottom = (image.crop((0, a, 576, b)) for a, b in ((0, 100), (100, 180), (180, 300)))
    bands = raster_bytes(top, "TM-T20II") + raster_bytes(band, "TM-T20II") + raster_bytes(bottom, "TM-T20II")
    pieces = job_start() + bands + job_end("TM-T20II")
    whole = build_image_job(image, "TM-T20II")
    assert pieces.startswith(b"\x1b@") and pieces.endswith(whole[-4:])
    assert len(decode_rasters(pieces)) == 3
    assert ImageChops.difference(decode_ticket(pieces).convert("L"), decode_ticket(whole).convert("L")).getbbox() is None


def test_image_job_bytes_are_init_raster_and_cut():
    image = Image.new("1", (576, 40), 1)
    job = build_image_job(image, "TM-T20II")
    assert job.startswith(b"\x1b@")
    header = job.index(GS_V0)
    width_bytes = job[header + 4] + 256 * job[header + 5]
    height = job[header + 6] + 256 * job[header + 7]
    assert (width_bytes, height) == (576 // 8, 40)
    assert job.endswith(b"\x1dV\x00")  # full cut after the feed


def test_file_transport_appends_across_restarts(tmp_path):
    path = tmp_path / "lp0"
    for text in (b"first", b"second"):
        printer = TicketPrinter(PrinterSettings(transport="file", path=path))
        printer.send(text)
        printer.close()
    assert path.read_bytes() == b"firstsecond"


def test_missing_device_file_is_a_print_error(tmp_path):
    printer = TicketPrinter(PrinterSettings(transport="file", path=tmp_path / "no-dir" / "lp0"))
    with pytest.raises(PrintError, match="printer not available"):
        printer.send(b"x")
    assert printer.status().online is False


def test_settings_parse_hex_ids_and_profile_widths():
    usb = PrinterSettings(transport="usb", vendor_id="0x0416", product_id="0x5011")
    assert (usb.vendor_id, usb.product_id) == (0x0416, 0x5011)
    assert PrinterSettings(profile="TM-T20II").width() == 576
    assert PrinterSettings(profile="POS-5890").width() == 384
    assert PrinterSettings(profile="default").width() == 576
    with pytest.raises(ValidationError, match="unknown python-escpos profile"):
        PrinterSettings(profile="no-such-printer")
    with pytest.raises(ValidationError, match="0x0416"):
        PrinterSettings(vendor_id="zebra")


def test_transports_need_their_addresses():
    for settings in (PrinterSettings(transport="usb"), PrinterSettings(transport="network"), PrinterSettings(transport="file")):
        with pytest.raises(PrintError, match="needed"):
            TicketPrinter(settings).send(b"x")
