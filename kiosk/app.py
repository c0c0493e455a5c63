"""The running kiosk: buttons and keypad in, one loop thread that owns SQLite and the
printer, the MQTT link out.

Threads: gpiozero (or the keypad reader) calls `press()`, which applies the PressGate
and queues the request; the loop thread issues the ticket, releases the gate when the
print is done, polls the printer, publishes the device status and pumps the outbox;
paho's thread only hands acks and queue state over. Hardware comes from configuration
(`pin_factory`, `printer.transport`); tests pass a MockFactory and fake printers.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hardware.buttons import ButtonBoard, Press, PressGate, make_pin_factory
from hardware.leds import StatusLights
from hardware.printer import EscposTransport, TicketPrinter
from hardware.scanner import SerialScanner
from kiosk import outbox
from kiosk.cccd import CardVerdict, read_card
from kiosk.checkin import CheckInClient
from kiosk.device import DeviceLoop
from kiosk.publisher import OutboxPublisher
from kiosk.queue_view import QueueView
from kiosk.service import IssueResult, Kiosk, problem_text
from kiosk.settings import KioskSettings
from kiosk.store import open_store
from protocol import clock as project_clock
from protocol import topics
from protocol.i18n import translator
from protocol.link import MqttLink

log = logging.getLogger(__name__)
# What the kiosk says when the server refuses a scanned code (server/web/errors.py codes).
SCAN_TEXTS = {
    "unknown_code": "Unknown code. Please go to a counter.",
    "code_used": "This code has already been used.",
    "code_cancelled": "This booking was cancelled.",
    "code_expired": "This code can no longer be used. Please take a number.",
    "other_site": "This code is for another reception point.",
    "other_day": "This code is for another day.",
    "too_early": "Too early to check in for this appointment.",
    "too_late": "The appointment time has passed. Please take a number.",
    "turn_passed": "This number is no longer waiting. Please take a new one.",
    "offline": "Cannot check the code now. Please go to a counter.",
    "closed_now": "Tickets are given during opening hours only.",
}
SCAN_OTHER = "The code could not be checked. Please go to a counter."


@dataclass(frozen=True)
class _Scan:
    text: str  # what the QR scanner typed


@dataclass(frozen=True)
class _Request:
    press: Press
    button: str
    pressed_at: float  # time.perf_counter()


@dataclass(frozen=True)
class _Reprint:
    ticket_id: str


class KioskApp(DeviceLoop):
    """The running kiosk: buttons in, tickets printed, ticket.issued out."""

    thread_name = "kiosk loop"

    def __init__(
        self,
        settings: KioskSettings,
        *,
        pin_factory: Any | None = None,
        printer_transport: EscposTransport | None = None,
        clock: Callable[[], datetime] = project_clock.now,
        gate_clock: Callable[[], float] = time.monotonic,
        announce: Callable[[str], None] | None = None,
        on_result: Callable[[IssueResult, float], None] | None = None,
    ):
        self.settings = settings
        self._voice: tuple | None = None
        self.spoken: list[str] = []
        k = settings.kiosk
        self.site = settings.site_config
        self._ = translator("kiosk", settings.locale)
        self._clock = clock
        self._announce = announce or (lambda text: log.info("%s", text))
        self._on_result = on_result
        self._gate_clock = gate_clock
        self._card_armed: tuple[str, float] | None = None  # (priority category, gate clock) after a card scan
        self.scanner: SerialScanner | None = None
        self.gate = PressGate(debounce_s=k.debounce_s, rate_count=k.rate_limit_count, rate_window_s=k.rate_limit_window_s, clock=gate_clock)
        self.printer = TicketPrinter(k.printer, printer_transport)
        self.queue_view = QueueView(self.site, k.state_max_age_s, clock)
        self.results: deque[IssueResult] = deque(maxlen=1000)  # recent outcomes, for tests and --check
        self._requests: queue.SimpleQueue[_Request | _Scan | _Reprint | str] = queue.SimpleQueue()
        token = k.checkin_token.get_secret_value() if k.checkin_token else None
        self.checkin = CheckInClient(k.server_url or k.public_url, self.site.id, token) if token else None
        self._init_loop()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._published_status: tuple[str, bool] | None = None
        self.publisher: OutboxPublisher | None = None
        self.kiosk: Kiosk | None = None
        self.link = MqttLink(
            k.device_id,
            settings.broker_login(),
            subscriptions=[(topics.queue_state(self.site.id), 1), (topics.reprint(self.site.id, k.device_id), 1)],
            on_message=self._on_message,
            status_topic=topics.device_status(self.site.id, k.device_id),
            status_details={"role": "kiosk", "printer": "unknown"},
            on_published=self._on_published,
            on_connection_change=self._on_connection_change,
        )
        self.buttons: ButtonBoard | None = None
        self.lights: StatusLights | None = None
        if k.pin_factory != "keyboard":
            factory = pin_factory if pin_factory is not None else make_pin_factory(k.pin_factory)
            try:
                self.buttons = ButtonBoard(
                    factory, k.buttons, self.press, priority_pin=k.priority_pin,
                    priority_category=settings.priority(), priority_window_s=k.priority_window_s, clock=gate_clock,
                )
                self.lights = StatusLights(
                    factory, ready=k.leds.ready, printing=k.leds.printing, fault=k.leds.fault, buzzer=k.leds.buzzer, beep=k.beep
                )
            except Exception as exc:  # noqa: BLE001 - gpiozero's many pin errors become one clear line
                raise RuntimeError(f"buttons and lights: {type(exc).__name__}: {exc}") from exc

    # -- from buttons / keypad (any thread) -------------------------------------------
    def press(self, press: Press, button: str | None = None) -> str:
        """Apply the gate; queue the request if accepted. Returns the gate's verdict."""
        button = button or press.service
        armed, self._card_armed = self._card_armed, None
        if armed is not None and press.priority is None and self._gate_clock() - armed[1] <= self.settings.kiosk.priority_window_s:
            press = Press(press.service, armed[0])
        verdict = self.gate.try_acquire(button)
        if verdict == "accepted":
            with self._pending_lock:
                self._pending += 1
                self._idle.clear()
            self._requests.put(_Request(press, button, time.perf_counter()))
        elif verdict in ("busy", "rate_limited"):
            if self.lights:
                self.lights.signal_refusal()
            if verdict == "busy":
                self._announce(self._("Please wait: a ticket is being printed"))
            else:
                self._announce(self._("Too many presses, please wait a moment"))
        return verdict

    def scan(self, text: str | bytes) -> CardVerdict | None:
        """A QR scanner's line (any thread). An ID card (fields separated by "|") arms
        priority for the next press at once (`card`); anything else is a booking code,
        checked in on the loop thread, one at a time (docs/booking.md)."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if "|" in text:
            return self.card(text)
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()
        self._requests.put(_Scan(text))
        return None

    def card(self, payload: str | bytes) -> CardVerdict:
        """An ID card's QR was scanned: a qualifying holder's next service press (within
        the priority window) gets the card's priority category. Only the verdict is kept;
        the payload is not stored, logged or sent (kiosk/cccd.py)."""
        verdict = read_card(
            payload, self._clock().astimezone(self.site.zone).date(),
            category=self.settings.card_priority(), age=self.settings.kiosk.card_priority_age,
        )
        del payload
        self._card_armed = (verdict.category, self._gate_clock()) if verdict.category else None
        if verdict.outcome == "unreadable" and self.lights:
            self.lights.signal_refusal()
        self._announce(self._(verdict.message))
        return verdict

    def _on_message(self, message: Any) -> None:
        """paho's thread: the queue state is kept; a reprint request goes to the loop."""
        if message.topic.endswith("/reprint"):
            try:
                ticket_id = str(json.loads(message.payload)["ticket_id"])[:64]
            except (ValueError, KeyError, TypeError):
                log.warning("reprint request not readable; ignored")
                return
            self._requests.put(_Reprint(ticket_id))
            return
        self.queue_view.update(message.payload)

    def _on_connection_change(self, up: bool) -> None:
        if self.publisher is not None:
            self.publisher.on_connection(up)
        self._requests.put("wake")

    def _on_published(self, mid: int) -> None:
        if self.publisher is not None:
            self.publisher.on_published(mid)
        self._requests.put("wake")

    # -- life cycle -------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> KioskApp:
        super().start(timeout_s)
        port = self.settings.kiosk.card_scanner
        if port and port != "keyboard":  # a scanner in its USB COM-port mode
            self.scanner = SerialScanner(port, self.scan).start()
        return self

    def stop(self, drain_s: float = 3.0) -> None:
        """Stop; while connected, wait up to `drain_s` for unsent events to be acknowledged."""
        if self.scanner is not None:
            self.scanner.close()
        deadline = time.monotonic() + drain_s
        while self.link.connected.is_set() and time.monotonic() < deadline and self.unsent() > 0:
            time.sleep(0.05)
        self._stop_loop()

    def _request_stop(self) -> None:
        self._requests.put("stop")

    def unsent(self) -> int:
        """Outbox rows not yet acknowledged (read through a separate connection)."""
        db = open_store(self.settings.kiosk.data_dir)
        try:
            found = outbox.counts(db)
        finally:
            db.close()
        return found["held"] + found["ready"]

    # -- the loop thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            db = open_store(self.settings.kiosk.data_dir)
            kiosk = self.kiosk = Kiosk(self.settings, db, self.printer, self.queue_view, clock=self._clock)
            recovered = kiosk.recover()
            if recovered:
                log.warning("released %d ticket(s) numbered before a crash: %s", len(recovered), ", ".join(recovered))
            publisher = self.publisher = OutboxPublisher(db, self.link, clock=self._clock)
        except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
            self._failed(exc)
            return
        self._started()
        self._refresh_status(force=True)
        next_poll = time.monotonic() + self.settings.kiosk.printer_poll_s
        while True:
            try:
                item = self._requests.get(timeout=0.5)
            except queue.Empty:
                item = None
            if item == "stop":
                break
            if isinstance(item, _Request):
                self._handle(item, kiosk, publisher)
            elif isinstance(item, _Reprint):
                self._reprint(item.ticket_id, kiosk)
            elif isinstance(item, _Scan):
                self._handle_scan(item)
            if time.monotonic() >= next_poll:
                self._refresh_status()
                next_poll = time.monotonic() + self.settings.kiosk.printer_poll_s
            publisher.pump()
        db.close()

    def _reprint(self, ticket_id: str, kiosk: Kiosk) -> None:
        if self.lights:
            self.lights.show("printing")
        try:
            result = kiosk.reprint(ticket_id)
        except Exception:  # noqa: BLE001 - a failed reprint must not stop the kiosk
            log.exception("reprinting a ticket failed")
            self._refresh_status(force=True)
            return
        self.results.append(result)
        self._announce(result.message)
        self._refresh_status(force=True)

    def _handle(self, request: _Request, kiosk: Kiosk, publisher: OutboxPublisher) -> None:
        if self.lights:
            self.lights.show("printing")
        try:
            result = kiosk.issue(request.press)
        except Exception:  # noqa: BLE001 - one bad press must not stop the kiosk
            log.exception("issuing a ticket failed")
            result = IssueResult("error", self._("Something went wrong, no ticket was issued. Please ask the staff."))
        self.gate.release(request.button, issued=result.issued)
        self.results.append(result)
        if self._on_result:
            self._on_result(result, request.pressed_at)
        self._announce(result.message)
        if result.printed:
            self._confirm(result.number)
        elif self.lights:
            self.lights.signal_refusal()
        self._refresh_status(force=result.outcome in ("print_failed", "printer_fault", "unconfirmed"), polled=result.outcome != "closed")
        publisher.pump()
        with self._pending_lock:
            self._pending -= 1
            if self._pending == 0:
                self._idle.set()

    def _handle_scan(self, scan: _Scan) -> None:
        """Ask the server to check the code in; print its ticket, or refuse with a message
        and the refusal light/beep. Nothing is printed for a refused or unchecked code."""
        try:
            if self.checkin is None:
                result = IssueResult("scan_off", self._("Check-in by QR is not available here. Please go to a counter."))
            else:
                answer = self.checkin.check_in(scan.text)
                if answer.ok and answer.number and answer.ticket_id and answer.service:
                    if self.lights:
                        self.lights.show("printing")
                    result = self.kiosk.print_checked_in(answer.number, answer.ticket_id, answer.service,  # type: ignore[union-attr]
                                                         answer.kind or "appointment", answer.counter)
                else:
                    result = IssueResult(f"refused:{answer.code}", self._(SCAN_TEXTS.get(answer.code, SCAN_OTHER)))
        except Exception:  # noqa: BLE001 - one bad scan must not stop the kiosk
            log.exception("check-in by scan failed")
            result = IssueResult("error", self._(SCAN_OTHER))
        self.results.append(result)
        self._announce(result.message)
        if result.printed:
            self._confirm(result.number)
        elif self.lights:
            self.lights.signal_refusal()
        self._refresh_status(polled=True)
        with self._pending_lock:
            self._pending -= 1
            if self._pending == 0:
                self._idle.set()

    def _confirm(self, number: str | None) -> None:
        """The optional confirmation for citizens who cannot see well (kiosk.confirm)."""
        mode = self.settings.kiosk.confirm
        if mode == "beep" and self.lights:
            self.lights.confirm()
        elif mode == "speak" and number:
            threading.Thread(target=self._speak, args=(number,), name="kiosk-voice", daemon=True).start()

    def _speak(self, number: str) -> None:
        from protocol.speech import ticket_words

        sentence = self._("Your number is {words}").format(words=ticket_words(number))
        try:
            from hardware.audio import AudioError, EspeakVoice, MixerOutput

            if self._voice is None:
                self._voice = (EspeakVoice("vi"), MixerOutput())
            voice, output = self._voice
            output.play(voice.speak(sentence, sentence.split()))
            self.spoken.append(sentence)
        except (ImportError, AudioError, OSError) as exc:  # a kiosk without speakers still prints
            log.warning("cannot speak the confirmation: %s", exc)

    def _refresh_status(self, force: bool = False, polled: bool = False) -> None:
        """Poll the printer (unless the issue just did), set the lights, publish the status."""
        kiosk = self.kiosk
        if kiosk is None:
            return
        previous = kiosk.last_status.summary
        status = kiosk.last_status if polled else kiosk.poll_printer()
        now = self._clock()
        open_now = self.site.is_open_for_tickets(now) and not self.queue_view.day_closed(now)
        if self.lights:
            self.lights.show("fault" if not status.can_print else ("ready" if open_now else "closed"))
        accepting = open_now and status.can_print
        if status.summary != previous and not status.can_print:
            problem = problem_text(status.summary, self.settings.locale)
            self._announce(self._("The printer is not ready ({problem}). Please ask the staff.").format(problem=problem))
        if force or self._published_status != (status.summary, accepting):
            self._published_status = (status.summary, accepting)
            self.link.set_status("online", printer=status.summary, paper=status.paper, cover=status.cover, accepting=accepting)
