"""The printer seam: ESC/POS transports chosen by configuration, status polling, and a
failing fake for paper-out / offline / cover-open.

- `PrinterSettings`: which transport (dummy, file, usb, serial, network, fake), where,
  and the python-escpos profile that gives the paper width (576 dots for 80 mm, 384 for
  58 mm) and what the printer can do (cut, ...).
- `build_image_job(image, profile)`: the exact bytes of one ticket (raster image + cut),
  built on an escpos `Dummy`, so the kiosk can measure and send a job in one write.
  `job_start`, `raster_bytes` and `job_end` are its three pieces: the kiosk encodes
  everything but the number's band before it takes a number (docs/kiosk.md).
- `TicketPrinter`: polls the status (DLE EOT 1/2/4) where the transport can answer and
  sends jobs. An unanswered status is "unknown", never "paper OK". `status_after_job`
  asks again once the bytes were accepted, so a jam or paper-out mid-ticket is seen.
- `FakePrinter`: an escpos printer that answers status queries like a real one and
  fails jobs while its `fault` says so. Selected with `transport = "fake"`.

No kiosk imports here; escpos is imported inside functions (pyusb/pyserial are only
needed for those transports).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

Transport = Literal["dummy", "file", "usb", "serial", "network", "fake"]
Fault = Literal["none", "paper_out", "near_end", "offline", "cover_open", "jam", "no_answer"]

DLE_EOT = b"\x10\x04"
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits every real-time status byte must show


class EscposTransport(Protocol):
    """What we use of a python-escpos printer object (escpos ships no type hints)."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def query_status(self, mode: bytes) -> bytes | None: ...

    def _raw(self, msg: bytes) -> None: ...


class PrintError(Exception):
    """A job could not be sent (printer offline, paper out, unplugged, ...)."""


class PrinterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Transport = Field(default="usb", description="dummy | file | usb | serial | network | fake (test fake)")
    path: Path | None = Field(
        default=None, description="file transport: device or file, e.g. /dev/usb/lp0; serial: port, e.g. /dev/ttyUSB0"
    )
    vendor_id: int | None = Field(default=None, description="usb transport: vendor id, e.g. 0x0416")
    product_id: int | None = Field(default=None, description="usb transport: product id, e.g. 0x5011")
    baudrate: int = Field(default=9600, description="serial transport: baud rate")
    host: str | None = Field(default=None, description="network transport: printer host")
    port: int = Field(default=9100, ge=1, le=65535, description="network transport: TCP port")
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="network/serial timeout in seconds")
    profile: str = Field(default="TM-T20II", description="python-escpos profile: TM-T20II = 80 mm / 576 dots, POS-5890 = 58 mm / 384 dots")
    width_dots: int | None = Field(default=None, ge=200, le=1024, description="override the profile's paper width in dots")
    fake_fault: Fault = Field(default="none", description="fake transport only: the fault it starts with")

    @field_validator("vendor_id", "product_id", mode="before")
    @classmethod
    def _hex(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                raise ValueError("give a number such as 0x0416") from None
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        from escpos.capabilities import CAPABILITIES

        if value not in CAPABILITIES["profiles"]:
            raise ValueError(f"unknown python-escpos profile {value!r}")
        return value

    def width(self) -> int:
        """Paper width in dots: the override, else the profile's, else 576."""
        if self.width_dots:
            return self.width_dots
        from escpos.capabilities import get_profile

        pixels = get_profile(self.profile).profile_data.get("media", {}).get("width", {}).get("pixels")
        return int(pixels) if isinstance(pixels, int) or str(pixels).isdigit() else 576


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said. None / "unknown" when it did not answer."""

    online: bool | None = None
    paper: Literal["ok", "near_end", "out", "unknown"] = "unknown"
    cover: Literal["open", "closed", "unknown"] = "unknown"

    @property
    def can_print(self) -> bool:
        """False only for a known fault; unknown still tries (the print itself can fail)."""
        return self.online is not False and self.paper != "out" and self.cover != "open"

    @property
    def summary(self) -> str:
        if self.cover == "open":
            return "cover_open"
        if self.paper == "out":
            return "paper_out"
        if self.online is False:
            return "offline"
        if self.online is None and self.paper == "unknown":
            return "unknown"
        if self.paper == "near_end":
            return "paper_near_end"
        return "ok" if self.paper == "ok" and self.online else "unknown"


UNKNOWN = PrinterStatus()


def _valid(byte: int | None) -> TypeGuard[int]:
    return byte is not None and (byte & _FIXED_MASK) == _FIXED_BITS


def parse_status(printer_byte: int | None, offline_byte: int | None, paper_byte: int | None) -> PrinterStatus:
    """Decode the answers to DLE EOT 1 (printer), 2 (offline cause), 4 (paper sensor)."""
    online = None if not _valid(printer_byte) else not (printer_byte & 0x08)
    cover: Literal["open", "closed", "unknown"] = "unknown"
    paper: Literal["ok", "near_end", "out", "unknown"] = "unknown"
    if _valid(offline_byte):
        cover = "open" if offline_byte & 0x04 else "closed"
        if offline_byte & 0x20:
            paper = "out"
    if _valid(paper_byte) and paper != "out":
        if paper_byte & 0x60:
            paper = "out"
        elif paper_byte & 0x0C:
            paper = "near_end"
        else:
            paper = "ok"
    return PrinterStatus(online=online, paper=paper, cover=cover)


def _dummy_base() -> type:
    from escpos.printer import Dummy

    base: type = Dummy
    return base


def fake_status_answers(fault: str) -> dict[int, int] | None:
    """Status bytes a real printer gives for each fault (None: it does not answer)."""
    if fault == "no_answer":
        return None
    answers = {1: 0x12, 2: 0x12, 4: 0x12}
    if fault in ("paper_out", "offline", "cover_open", "jam"):
        answers[1] |= 0x08
    if fault == "paper_out":
        answers[2] |= 0x20
        answers[4] |= 0x60
    if fault == "cover_open":
        answers[2] |= 0x04
    if fault in ("offline", "jam"):
        answers[2] |= 0x40  # "error occurred" (a jam stops the mechanism: offline with an error)
    if fault == "near_end":
        answers[4] |= 0x0C
    return answers


def make_fake_printer(fault: str = "none", profile: str | None = None) -> EscposTransport:
    """A FakePrinter instance (the class derives from escpos Dummy, imported lazily)."""
    base = _dummy_base()

    class FakePrinter(base):  # type: ignore[misc, valid-type]  # escpos ships no type hints; base chosen at run time
        """escpos Dummy that answers status queries and fails jobs while faulty.

        `fault`: none | paper_out | near_end | offline | cover_open | jam | no_answer;
        `fail_next_jobs`: fail that many jobs even though the status looked fine
        (a jam or an unplugged cable in the middle of a print);
        `fault_after_next_job`: the next job is accepted (its bytes kept, as a real
        printer's buffer does) and then this fault begins: the roll ran out or the
        paper jammed part-way through the ticket. Only the status shows it.
        """

        def __init__(self) -> None:
            super().__init__(profile=profile)
            self.fault = fault
            self.fail_next_jobs = 0
            self.fault_after_next_job: str | None = None
            self.jobs: list[bytes] = []
            self._query: int | None = None

        def _raw(self, msg: bytes) -> None:
            if len(msg) == 3 and msg[:2] == DLE_EOT:
                self._query = msg[2]
                return
            if self.fault in ("paper_out", "offline", "cover_open"):
                raise PrintError(f"fake printer: {self.fault}")
            if self.fail_next_jobs > 0:
                self.fail_next_jobs -= 1
                raise PrintError("fake printer: job failed part-way")
            self.jobs.append(bytes(msg))
            super()._raw(msg)
            if self.fault_after_next_job is not None:
                self.fault, self.fault_after_next_job = self.fault_after_next_job, None

        def _read(self) -> bytes:
            answers = fake_status_answers(self.fault)
            query, self._query = self._query, None
            if answers is None or query not in answers:
                return b""
            return bytes([answers[query]])

    return FakePrinter()


def open_transport(settings: PrinterSettings) -> EscposTransport:
    """The python-escpos printer object for the configured transport."""
    from escpos import printer as escpos_printer

    kind = settings.transport
    profile = settings.profile
    made: EscposTransport  # escpos ships no type hints: its classes are Any to mypy
    if kind == "dummy":
        made = escpos_printer.Dummy(profile=profile)
        return made
    if kind == "fake":
        return make_fake_printer(settings.fake_fault, profile)
    if kind == "file":
        if settings.path is None:
            raise PrintError("printer.path is needed for the file transport")
        return _append_file(str(settings.path), profile)
    if kind == "usb":
        if settings.vendor_id is None or settings.product_id is None:
            raise PrintError("printer.vendor_id and printer.product_id are needed for the usb transport")
        made = escpos_printer.Usb(settings.vendor_id, settings.product_id, timeout=int(settings.timeout_s * 1000), profile=profile)
        return made
    if kind == "serial":
        if settings.path is None:
            raise PrintError("printer.path (e.g. /dev/ttyUSB0) is needed for the serial transport")
        made = escpos_printer.Serial(str(settings.path), baudrate=settings.baudrate, timeout=settings.timeout_s, profile=profile)
        return made
    if kind == "network":
        if not settings.host:
            raise PrintError("printer.host is needed for the network transport")
        made = escpos_printer.Network(settings.host, port=settings.port, timeout=settings.timeout_s, profile=profile)
        return made
    raise PrintError(f"unknown printer transport {kind!r}")


def _append_file(path: str, profile: str) -> EscposTransport:
    """escpos File that appends: a restart must not truncate a spool file of earlier jobs."""
    from escpos.exceptions import DeviceNotFoundError
    from escpos.printer import File

    class AppendFile(File):  # type: ignore[misc]  # escpos ships no type hints: File is Any
        device: BinaryIO | None

        def open(self, raise_not_found: bool = True) -> None:
            try:
                self.device = open(self.devfile, "ab")
            except OSError as exc:
                self.device = None
                if raise_not_found:
                    raise DeviceNotFoundError(f"cannot open {self.devfile}: {exc}") from None

    return AppendFile(path, profile=profile)


JOB_START = b"\x1b@"  # ESC @: reset, so a half-sent earlier job cannot garble this one


def job_start() -> bytes:
    """The first bytes of every job."""
    return JOB_START


def raster_bytes(image: Image.Image, profile: str) -> bytes:
    """One mode "1" image as GS v 0 raster blocks (960 rows at most per block).

    Images printed one after the other in one job come out as one picture: a raster
    block advances the paper by exactly its height."""
    from escpos.printer import Dummy

    job = Dummy(profile=profile)
    job.image(image, impl="bitImageRaster", fragment_height=960)
    output: bytes = job.output
    return output


def job_end(profile: str, *, cut: bool = True) -> bytes:
    """The last bytes of a ticket job: feed and cut (per the profile)."""
    from escpos.printer import Dummy

    job = Dummy(profile=profile)
    if cut:
        job.cut()
    output: bytes = job.output
    return output


def build_image_job(image: Image.Image, profile: str, *, cut: bool = True) -> bytes:
    """The bytes of one ticket: init, raster image (GS v 0), feed and cut."""
    return job_start() + raster_bytes(image, profile) + job_end(profile, cut=cut)


def build_text_job(lines: list[str], number: str, url: str, profile: str) -> bytes:
    """Text mode (opt-in): only for printers whose Vietnamese code page is known to work."""
    from escpos.printer import Dummy

    job = Dummy(profile=profile)
    job._raw(b"\x1b@")
    job.set(align="center", bold=True, double_height=True, double_width=True)
    job.textln(number)
    job.set(align="center", normal_textsize=True)
    for line in lines:
        job.textln(line)
    job.qr(url, native=True, size=6)
    job.cut()
    output: bytes = job.output
    return output


class TicketPrinter:
    """One configured printer: status polling and job sending."""

    def __init__(self, settings: PrinterSettings, transport: EscposTransport | None = None):
        self.settings = settings
        self.width = settings.width()
        self._transport = transport
        self.readable = True  # False once the transport showed it cannot read
        self.answered: bool | None = None  # did the last status poll get answers?

    @property
    def transport(self) -> EscposTransport:
        if self._transport is None:
            try:
                transport = open_transport(self.settings)
                if self.settings.transport not in ("dummy", "fake"):
                    transport.open()  # surface a missing device now, not inside a status query
                self._transport = transport
            except PrintError:
                raise
            except Exception as exc:  # noqa: BLE001 - escpos/pyusb raise many kinds
                raise PrintError(f"printer not available: {exc}") from None
        return self._transport

    def status(self, quick: bool = False) -> PrinterStatus:
        """Ask DLE EOT 1, 2 and 4; anything unanswered stays unknown.

        `quick` (before each ticket): skip the questions when the last poll got no
        answer, so a printer without status support does not add timeouts to every
        press; the periodic poll keeps asking.
        """
        try:
            transport = self.transport
        except PrintError as exc:
            log.debug("%s", exc)  # polled every few seconds: the kiosk reports changes, not each poll
            return PrinterStatus(online=False)
        if not self.readable or (quick and self.answered is False):
            return PrinterStatus()
        answers: list[int | None] = []
        for query in (1, 2, 4):
            answer = self._ask(transport, query)
            if answer is None:
                # A late reply would be read as the answer to the next question: stop, and
                # drop the connection so a stale byte cannot be misread later.
                self.answered = False
                if self.readable:
                    self.reset()
                return parse_status(*answers, *([None] * (3 - len(answers))))
            answers.append(answer)
        self.answered = True
        return parse_status(*answers)

    def _ask(self, transport: EscposTransport, query: int) -> int | None:
        try:
            reply = transport.query_status(DLE_EOT + bytes([query]))
        except NotImplementedError:
            self.readable = False  # this transport cannot read (dummy, file)
            return None
        except Exception as exc:  # noqa: BLE001 - usb/serial/socket errors all mean "no answer"
            log.debug("status query %d unanswered: %s", query, exc)
            return None
        return reply[-1] if reply else None  # the newest byte answers this question

    def status_after_job(self) -> PrinterStatus | None:
        """Ask again once a job was accepted; None where the printer cannot answer.

        A write only says the bytes reached the printer (or its buffer); a roll that ran
        out or a jam part-way through the ticket shows only in the status. A printer
        that answered before and now does not is reported as not answering (unknown).
        """
        if not self.readable or self.answered is not True:
            return None
        return self.status()

    def send(self, job: bytes) -> None:
        """Write one whole job; raises PrintError when the transport fails."""
        try:
            self.transport._raw(job)
        except PrintError:
            raise
        except Exception as exc:  # noqa: BLE001 - escpos/pyusb/serial/socket errors
            self.reset()
            raise PrintError(f"print failed: {exc}") from None

    def reset(self) -> None:
        """Drop the connection so the next job reopens it (replugged USB, restarted printer)."""
        if self._transport is not None and self.settings.transport not in ("dummy", "fake"):
            try:
                self._transport.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken device may fail any way
                log.debug("closing printer failed: %s", exc)
            self._transport = None

    def describe(self) -> str:
        s = self.settings
        where = {
            "file": str(s.path),
            "serial": str(s.path),
            "usb": f"{s.vendor_id or 0:#06x}:{s.product_id or 0:#06x}",
            "network": f"{s.host}:{s.port}",
        }.get(s.transport, "")
        return f"{s.transport} {where} profile {s.profile}, {self.width} dots".replace("  ", " ")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
