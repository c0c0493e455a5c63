"""Issuing one ticket, in the order that leaves no ghost numbers and no lost tickets:

1. refuse outside opening hours or when staff closed the day;
2. check the printer (a known fault refuses; "unknown" still tries);
3. prepare the ticket: draw and encode everything but the number (a failure here
   takes no number);
4. one transaction: allocate the number, insert the ticket and its held event;
5. stamp the number into its band and write the job (the only work between taking a
   number and the printer write: a crash in this window leaves a held event);
6. on a failed write void the ticket (the held event is deleted, so no `ticket.issued`
   reaches the queue); where the printer answers status, ask it again: a fault now
   (paper ran out, jam) publishes the ticket marked `unconfirmed`; else mark it printed
   and ready to publish.

`XEPHANG_KIOSK_CRASH_AT=after_allocate|after_print|after_confirm` is a test hook: the
process kills itself with SIGKILL at that step (see docs/kiosk.md).
Runs on the kiosk loop thread, which owns the SQLite connection. No GPIO or MQTT here.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from hardware.buttons import Press
from hardware.printer import (
    PrintError,
    PrinterStatus,
    TicketPrinter,
    build_text_job,
    job_end,
    job_start,
    raster_bytes,
)
from kiosk import outbox
from kiosk.numbering import NumbersExhausted, allocate
from kiosk.queue_view import QueueView
from kiosk.settings import KioskSettings
from kiosk.store import transaction
from kiosk.ticket_image import PreparedTicket, TicketContent, prepare_ticket, wait_text
from protocol import clock as project_clock
from protocol.i18n import translator
from protocol.sites import Site

log = logging.getLogger(__name__)

CRASH_ENV = "XEPHANG_KIOSK_CRASH_AT"
CRASH_POINTS = ("after_allocate", "after_print", "after_confirm")


@dataclass
class IssueResult:
    outcome: str  # printed | unconfirmed | closed | printer_fault | print_failed | exhausted | unknown_service
    message: str
    number: str | None = None
    ticket_id: str | None = None
    job_size: int = 0  # bytes sent to the printer
    timings_s: dict[str, float] = field(default_factory=dict)
    bytes_ready_at: float | None = None  # time.perf_counter() when the job bytes were ready
    content: TicketContent | None = None  # what was printed

    @property
    def printed(self) -> bool:
        return self.outcome == "printed"

    @property
    def issued(self) -> bool:
        """The number joined the queue (printed, or published as unconfirmed)."""
        return self.outcome in ("printed", "unconfirmed")


@dataclass
class Draft:
    """A ticket ready but for its number: the job's bytes before and after the number's
    band (raster mode), or the text lines (text mode)."""

    content: TicketContent  # number still empty
    prepared: PreparedTicket | None = None
    before: bytes = b""
    after: bytes = b""
    lines: list[str] = field(default_factory=list)

    def job(self, number: str, profile: str) -> bytes:
        """The whole job with `number`: only the band is drawn and encoded here."""
        if self.prepared is None:
            return build_text_job(self.lines, number, self.content.url, profile)
        return self.before + raster_bytes(self.prepared.stamp(number), profile) + self.after


def counter_hint(site: Site, service_id: str, locale: str = "vi", open_numbers: list[int] | None = None) -> str | None:
    """The service's own hint, else the counters that serve it ("Quầy 1, 2"): only the
    open ones when the server's queue state says which (a closed counter is no invitation,
    issue 22), all of them when it does not say or none is open yet."""
    service = site.service(service_id)
    if service is not None and service.counter_hint:
        return service.counter_hint
    numbers = [str(c.number) for c in site.counters if service_id in c.services]
    if open_numbers:
        numbers = [n for n in numbers if int(n) in open_numbers] or numbers
    if not numbers:
        return None
    return translator("kiosk", locale)("Counter {numbers}").format(numbers=", ".join(numbers))


def problem_text(summary: str, locale: str = "vi") -> str:
    _ = translator("kiosk", locale)
    return {
        "paper_out": _("out of paper"),
        "cover_open": _("cover open"),
        "offline": _("offline"),
    }.get(summary, _("not answering"))


class Kiosk:
    """The ticket-issuing core: numbering, outbox and printer in the safe order."""

    def __init__(
        self,
        settings: KioskSettings,
        db: sqlite3.Connection,
        printer: TicketPrinter,
        queue_view: QueueView,
        *,
        clock: Callable[[], datetime] = project_clock.now,
    ):
        self.settings = settings
        self.site = settings.site_config
        self.db = db
        self.printer = printer
        self.queue_view = queue_view
        self._clock = clock
        self._ = translator("kiosk", settings.locale)
        self.last_status: PrinterStatus = PrinterStatus()
        crash_at = os.environ.get(CRASH_ENV, "").strip()
        if crash_at and crash_at not in CRASH_POINTS:
            raise ValueError(f"{CRASH_ENV} must be one of {CRASH_POINTS}")
        self._crash_at = crash_at or None

    # -- the one public operation -----------------------------------------------------
    def issue(self, press: Press) -> IssueResult:
        _ = self._
        started = time.perf_counter()
        now = self._clock()
        service = self.site.service(press.service)
        if service is None or press.service not in self.settings.kiosk.buttons:
            return IssueResult("unknown_service", _("This service is not offered at this kiosk"))
        if not self.site.is_open_for_tickets(now) or self.queue_view.day_closed(now):
            hours = self.site.hours
            return IssueResult(
                "closed",
                _("No more tickets today. Tickets are issued from {open} to {last}.").format(
                    open=hours.open.strftime("%H:%M"), last=hours.last_ticket.strftime("%H:%M")
                ),
            )
        status = self.printer.status(quick=True)
        self.last_status = status
        if not status.can_print:
            return IssueResult(
                "printer_fault",
                _("The printer is not ready ({problem}). Please ask the staff.").format(
                    problem=problem_text(status.summary, self.settings.locale)),
            )
        checked = time.perf_counter()
        ticket_id = str(uuid.uuid4())
        draft = self.draft(ticket_id, service.id, press.priority, now)  # raises: no number was taken
        prepared = time.perf_counter()
        day = self.site.local_day(now)
        try:
            with transaction(self.db):
                number = allocate(self.db, self.site.id, service, day)
                outbox.add_issued(
                    self.db,
                    site=self.site.id,
                    source=self.settings.kiosk.device_id,
                    day=day.isoformat(),
                    number=number,
                    service=service.id,
                    priority=press.priority,
                    issued_at=now,
                    ticket_id=ticket_id,
                )
        except NumbersExhausted:
            label = service.label(self.settings.locale)
            return IssueResult("exhausted", _("No numbers left today for {service}. Please ask the staff.").format(service=label))
        allocated = time.perf_counter()
        self._maybe_crash("after_allocate")
        ready = allocated
        try:
            job = draft.job(number, self.printer.settings.profile)
            ready = time.perf_counter()
            self.printer.send(job)
        except PrintError as exc:
            log.error("ticket %s voided: %s", number, exc)
            self._void(ticket_id)
            self.last_status = PrinterStatus(online=False)
            return IssueResult(
                "print_failed", _("Printing failed, no ticket was issued. Please ask the staff."), number=number, ticket_id=ticket_id
            )
        except Exception:
            # Nothing was printed (the number could not be drawn): it must not reach the queue.
            log.error("ticket %s voided: it could not be rendered", number)
            self._void(ticket_id)
            raise
        printed = time.perf_counter()
        self._maybe_crash("after_print")
        after = self.printer.status_after_job()
        checked_after = time.perf_counter()
        content = replace(draft.content, number=number)
        if after is not None and (not after.can_print or after.online is None):
            # The bytes were accepted but the printer reports a fault (or stopped
            # answering): the slip may be cut short or missing. It joins the queue
            # marked unconfirmed (a citizen may hold it), never counted as printed.
            self.last_status = after
            with transaction(self.db):
                outbox.release_unconfirmed(self.db, ticket_id)
            log.error("ticket %s: the printer reported %s after the job; published as unconfirmed", number, after.summary)
            return IssueResult(
                "unconfirmed",
                _("The printer reported a problem ({problem}) while printing ticket {number}. "
                  "If your ticket did not come out, please ask the staff.").format(
                    problem=problem_text(after.summary, self.settings.locale), number=number),
                number, ticket_id, len(job), {}, ready, content,
            )
        with transaction(self.db):
            outbox.confirm_printed(self.db, ticket_id)
        confirmed = time.perf_counter()
        self._maybe_crash("after_confirm")
        if after is not None:
            self.last_status = after
        self._save_copy(draft, number, now)
        timings = {
            "check_s": checked - started,
            "prepare_s": prepared - checked,
            "allocate_s": allocated - prepared,
            "render_s": ready - allocated,  # stamping the number and encoding its band
            "bytes_ready_s": ready - started,
            "print_s": printed - ready,
            "status_after_s": checked_after - printed,
            "number_to_write_s": printed - allocated,  # numbered, slip not yet written
            "unconfirmed_window_s": confirmed - allocated,  # a crash here publishes it unconfirmed
            "total_s": time.perf_counter() - started,
        }
        log.info("ticket %s (%s) printed", number, service.id)
        message = _("Ticket {number} printed").format(number=number)
        return IssueResult("printed", message, number, ticket_id, len(job), timings, ready, content)

    # -- pieces -----------------------------------------------------------------------
    def content(self, number: str, ticket_id: str, service_id: str, priority: str | None, now: datetime) -> TicketContent:
        locale = self.settings.locale
        service = self.site.service(service_id)
        estimate = self.queue_view.estimate(
            service_id, now, lambda since: outbox.issued_since(self.db, self.site.id, service_id, since),
            priority=priority is not None,
        )
        priority_name = next((p.name for p in self.site.priorities if p.id == priority), priority)
        return TicketContent(
            office=self.site.name,
            number=number,
            service=service.label(locale) if service else service_id,
            counter_hint=counter_hint(self.site, service_id, locale, self.queue_view.open_counter_numbers(service_id, now)),
            issued_at=now.astimezone(self.site.zone),
            people_ahead=estimate.people_ahead,
            wait_s=estimate.wait_s,
            wait_low_s=estimate.low_s,
            wait_high_s=estimate.high_s,
            notice=self.settings.kiosk.notice or self._("Please keep this ticket and wait until your number is called. Thank you!"),
            url=f"{self.settings.kiosk.public_url.rstrip('/')}/t/{ticket_id}",
            priority=priority_name,
            documents=tuple(service.documents) if service else (),
        )

    def draft(self, ticket_id: str, service_id: str, priority: str | None, now: datetime, mark: str | None = None,
              content: TicketContent | None = None) -> Draft:
        """Everything of the ticket that does not depend on its number, drawn and encoded;
        `mark` replaces the notice line (a checked-in booking's "appointment" mark);
        `content` given: that content (a reprint's)."""
        content = content or self.content("", ticket_id, service_id, priority, now)
        if mark:
            content = replace(content, notice=mark)
        profile = self.printer.settings.profile
        if self.settings.kiosk.text_mode:
            _ = self._
            ahead = "—" if content.people_ahead is None else str(content.people_ahead)
            lines = [content.office, content.service, content.counter_hint or "",
                     _("Time: {when}").format(when=content.issued_at.strftime("%d/%m/%Y %H:%M")),
                     _("People waiting ahead: {count}").format(count=ahead),
                     _("Estimated wait: {wait}").format(wait=wait_text(content.wait_s, self.settings.locale,
                                                                          content.wait_low_s, content.wait_high_s)),
                     content.notice or ""]
            return Draft(content, lines=[line for line in lines if line])
        ticket = prepare_ticket(content, self.printer.width, self.settings.locale)
        image, top, bottom = ticket.image, ticket.band_top, ticket.band_top + ticket.band_height
        before = job_start() + raster_bytes(image.crop((0, 0, image.width, top)), profile)
        after = raster_bytes(image.crop((0, bottom, image.width, image.height)), profile) + job_end(profile)
        return Draft(content, ticket, before, after)

    def print_checked_in(self, number: str, ticket_id: str, service_id: str, kind: str,
                         counter: int | None = None) -> IssueResult:
        """Print the slip of a ticket the server issued at a check-in (docs/booking.md): the
        number is the server's and already in the queue, so a failed print voids nothing;
        the citizen is told the number and sent to a counter."""
        _ = self._
        now = self._clock()
        mark = _("Appointment: checked in") if kind == "appointment" else _("Online number: checked in")
        if kind == "return":  # the second visit (docs/second-visit.md): "bổ sung", to the same counter
            mark = (_("ADDITIONAL DOCUMENTS: please go to counter {counter}").format(counter=counter)
                    if counter is not None else _("ADDITIONAL DOCUMENTS"))
        status = self.printer.status(quick=True)
        self.last_status = status
        try:
            if not status.can_print:
                raise PrintError(status.summary)
            draft = self.draft(ticket_id, service_id, None, now, mark=mark)
            self.printer.send(draft.job(number, self.printer.settings.profile))
        except PrintError as exc:
            log.error("checked-in ticket %s not printed: %s", number, exc)
            return IssueResult("print_failed", _("Checked in. Your number is {number}; the slip could not be printed, "
                                                 "please tell a counter.").format(number=number), number=number,
                               ticket_id=ticket_id)
        self._save_copy(draft, number, now)
        return IssueResult("printed", _("Checked in. Your number is {number}.").format(number=number), number=number,
                           ticket_id=ticket_id, content=replace(draft.content, number=number))

    def _save_copy(self, draft: Draft, number: str, now: datetime) -> None:
        """Keep a PNG of the printed ticket when `kiosk.ticket_png_dir` is set (the demo)."""
        folder = self.settings.kiosk.ticket_png_dir
        if folder is None or draft.prepared is None:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            draft.prepared.with_number(number).image.save(folder / f"{self.site.local_day(now).isoformat()}-{number}.png")
        except OSError as exc:  # a copy is a convenience; the printed ticket is what counts
            log.warning("could not save a PNG copy of ticket %s: %s", number, exc)

    def reprint(self, ticket_id: str) -> IssueResult:
        """Print again a ticket this kiosk issued (a desk asked for it: the citizen lost the
        slip): same number, same time of issue, marked as a copy; no new number, no event.
        A ticket this kiosk did not print, or voided, is refused."""
        _ = self._
        row = self.db.execute(
            "SELECT number, service, priority, issued_at FROM tickets WHERE ticket_id = ? AND state != 'voided'",
            (ticket_id,),
        ).fetchone()
        if row is None:
            return IssueResult("unknown_ticket", _("This ticket was not printed here"), ticket_id=ticket_id)
        number, service_id, priority, issued_text = row
        now = self._clock()
        status = self.printer.status(quick=True)
        self.last_status = status
        if not status.can_print:
            return IssueResult(
                "printer_fault",
                _("The printer is not ready ({problem}). Please ask the staff.").format(
                    problem=problem_text(status.summary, self.settings.locale)),
                number=number, ticket_id=ticket_id,
            )
        content = replace(
            self.content(number, ticket_id, service_id, priority, now),
            issued_at=datetime.fromisoformat(issued_text).astimezone(self.site.zone),
            reprinted_at=now.astimezone(self.site.zone),
        )
        draft = self.draft(ticket_id, service_id, priority, now, content=content)
        try:
            job = draft.job(number, self.printer.settings.profile)
            self.printer.send(job)
        except PrintError as exc:
            log.error("reprint of ticket %s failed: %s", number, exc)
            return IssueResult("print_failed", _("Printing failed, no ticket was issued. Please ask the staff."),
                               number=number, ticket_id=ticket_id)
        log.info("ticket %s printed again", number)
        return IssueResult("reprinted", _("Ticket {number} printed again").format(number=number), number, ticket_id,
                           len(job), {}, None, content)

    def _void(self, ticket_id: str) -> None:
        with transaction(self.db):
            outbox.void(self.db, ticket_id)

    def recover(self) -> list[str]:
        """At start: held events of a crashed run are published marked unconfirmed (see
        outbox.recover_held)."""
        with transaction(self.db):
            numbers = outbox.recover_held(self.db)
            outbox.prune(self.db, self._clock(), self.settings.kiosk.outbox_keep_days)
        return numbers

    def poll_printer(self) -> PrinterStatus:
        self.last_status = self.printer.status()
        return self.last_status

    def _maybe_crash(self, step: str) -> None:
        if self._crash_at == step:
            log.warning("test hook %s=%s: killing this process", CRASH_ENV, step)
            os.kill(os.getpid(), signal.SIGKILL)
