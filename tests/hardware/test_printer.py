"""The printer seam: status decoding (unknown is never "paper OK"), the failing fake,
escpos Dummy and File transports, exact job bytes."""

from __future__ import annotations

import pytest
from PIL import Image
from pydantic import ValidationError

from hardware.printer import (
    PrintError,
    PrinterSettings,
    PrinterStatus,
    TicketPrinter,
    build_image_job,
    parse_status,
)

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
     ("cover_open", "cover_open", False), ("offline", "offline", False), ("no_answer", "unknown", True)],
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
