"""What the `xephang kiosk` commands do: run, check, preview. Called by kiosk/cli.py.

Turns expected failures (bad pins, missing printer, unwritable data directory) into
XephangError with one clear line; the CLI prints it without a traceback.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from protocol.errors import XephangError
from protocol.i18n import translator
from protocol.settings import load_settings

log = logging.getLogger(__name__)


def _settings(config: str | None):  # -> KioskSettings
    from kiosk.settings import KioskSettings

    return load_settings(KioskSettings, config)


def _say(text: str) -> None:
    print(text, flush=True)


def run(config: str | None) -> int:
    from hardware.buttons import KeypadReader
    from kiosk.app import KioskApp

    settings = _settings(config)
    logging.getLogger().setLevel(settings.log_level)
    _ = translator("kiosk", settings.locale)
    try:
        from protocol import clock

        app = KioskApp(settings, announce=_say, clock=clock.now)  # real time unless a demo speeds it up
        app.start()
    except (RuntimeError, ValueError, OSError, sqlite3.Error) as exc:
        raise XephangError(f"kiosk cannot start: {exc}") from None
    stop = threading.Event()

    def _terminate(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    k = settings.kiosk
    try:
        if k.pin_factory in ("keyboard", "mock"):
            keys = settings.keypad_keys()
            _say(_("Kiosk ready. Type a key and Enter: {keys} (P + key for priority, q to quit)").format(
                keys=", ".join(f"{key} = {service}" for key, service in keys.items())))
            reader = KeypadReader(
                keys, app.press, priority_category=settings.priority(),
                on_unknown=lambda line: _say(_("Unknown key {key}").format(key=line)),
                on_scan=app.scan,  # a USB QR scanner types into the same reader (docs/booking.md)
            )
            reader.run(sys.stdin)
        else:
            _say(_("Kiosk ready."))
            if app.checkin is not None:  # the QR scanner types into the kiosk's console
                scans = KeypadReader({}, app.press, on_scan=app.scan)
                threading.Thread(target=scans.run, args=(sys.stdin,), name="kiosk-scanner", daemon=True).start()
            stop.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        app.stop()
    return 0


def check(config: str | None) -> int:
    """Report which buttons, lights and printer were found and whether the broker answers."""
    from hardware.buttons import ButtonBoard, make_pin_factory
    from hardware.leds import StatusLights
    from hardware.printer import PrintError, TicketPrinter
    from kiosk import outbox
    from kiosk.store import open_store
    from protocol.link import MqttLink

    settings = _settings(config)
    _ = translator("kiosk", settings.locale)
    k = settings.kiosk
    site = settings.site_config
    healthy = True
    _say(_("Kiosk {device} at {site} ({name})").format(device=k.device_id, site=site.id, name=site.name))
    if k.pin_factory == "keyboard":
        _say(_("Buttons: keypad on standard input: {keys}").format(keys=", ".join(f"{a}={b}" for a, b in settings.keypad_keys().items())))
    else:
        try:
            factory = make_pin_factory(k.pin_factory)
            board = ButtonBoard(factory, k.buttons, lambda press, button: None, priority_pin=k.priority_pin)
            lights = StatusLights(
                factory, ready=k.leds.ready, printing=k.leds.printing, fault=k.leds.fault, buzzer=k.leds.buzzer, beep=True
            )
            _say(_("Buttons ({factory}): {list}").format(factory=k.pin_factory, list="; ".join(board.describe())))
            _say(_("Lights: {list}").format(list="; ".join(lights.describe()) or "-"))
            board.close()
            lights.close()
        except Exception as exc:  # noqa: BLE001 - gpiozero raises many kinds; all mean "not found"
            healthy = False
            _say(_("Buttons and lights: NOT FOUND ({reason})").format(reason=exc))
    printer = TicketPrinter(k.printer)
    try:
        printer.transport  # noqa: B018 - the property opens the device, so a missing printer raises here
        status = printer.status()
        _say(_("Printer: {printer}; status {status}").format(printer=printer.describe(), status=status.summary))
        healthy = healthy and status.can_print
    except PrintError as exc:
        healthy = False
        _say(_("Printer: NOT FOUND ({reason})").format(reason=exc))
    login = settings.broker_login()
    link = MqttLink(f"{k.device_id}-check", login, clean_session=True)
    link.start()
    reachable = link.wait_connected(5.0)
    link.stop()
    where = f"{login.host}:{login.port} ({login.username})"
    if reachable:
        _say(_("Broker {where}: reachable").format(where=where))
    else:
        healthy = False
        _say(_("Broker {where}: NOT reachable ({reason})").format(where=where, reason=link.last_connect_error or _("no answer")))
    try:
        db = open_store(k.data_dir)
        found = outbox.counts(db)
        db.close()
        waiting = found["held"] + found["ready"]
        _say(_("Data: {path}; {count} event(s) waiting to be sent").format(path=Path(k.data_dir).resolve(), count=waiting))
    except (OSError, sqlite3.Error) as exc:
        healthy = False
        _say(_("Data: {path} NOT writable ({reason})").format(path=k.data_dir, reason=exc))
    _say(_("Result: OK") if healthy else _("Result: PROBLEMS FOUND"))
    return 0 if healthy else 1


def preview(config: str | None, out: str, *, width: int | None, number: str | None, service: str | None, locale: str | None) -> int:
    """Render a sample ticket to a PNG (no printer needed)."""
    from kiosk.numbering import format_number
    from kiosk.service import counter_hint
    from kiosk.ticket_image import TicketContent, ticket_image
    from protocol.sites import Site

    if config:
        settings = _settings(config)
        site = settings.site_config
        locale = locale or settings.locale
        width = width or settings.kiosk.printer.width()
        service_id = service or next(iter(settings.kiosk.buttons))
        notice = settings.kiosk.notice
        public_url = settings.kiosk.public_url
    else:
        site = Site.model_validate(SAMPLE_SITE)
        locale = locale or "vi"
        width = width or 576
        service_id = service or site.services[0].id
        notice = None
        public_url = "http://192.168.1.10:8000"
    chosen = site.service(service_id)
    if chosen is None:
        raise XephangError(f"unknown service {service_id!r}; known: {', '.join(s.id for s in site.services)}")
    _ = translator("kiosk", locale)
    content = TicketContent(
        office=site.name,
        number=number or format_number(chosen, 23),
        service=chosen.label(locale),
        counter_hint=counter_hint(site, chosen.id, locale),
        issued_at=datetime.now(UTC).astimezone(site.zone),
        people_ahead=5,
        wait_s=17 * 60,
        wait_low_s=12 * 60,
        wait_high_s=28 * 60,
        notice=notice or _("Please keep this ticket and wait until your number is called. Thank you!"),
        url=f"{public_url.rstrip('/')}/t/{uuid.uuid4()}",
    )
    image = ticket_image(content, width, locale)
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    except (OSError, ValueError) as exc:
        raise XephangError(f"cannot write {path}: {exc}") from None
    _say(_("Ticket preview written to {path} ({width} x {height} dots)").format(path=path, width=image.width, height=image.height))
    return 0


SAMPLE_SITE = {
    "id": "xa-phu-dong",
    "name": "Trung tâm Phục vụ hành chính công xã Phù Đổng",
    "services": [
        {"id": "tu-phap-ho-tich", "name": "Tư pháp - Hộ tịch", "name_en": "Justice and civil status", "letter": "A"},
        {"id": "dat-dai", "name": "Nông nghiệp - Môi trường (đất đai)", "name_en": "Land", "block": [3001, 3999]},
    ],
    "counters": [
        {"id": "quay-1", "number": 1, "name": "Quầy 1", "services": ["tu-phap-ho-tich"]},
        {"id": "quay-2", "number": 2, "name": "Quầy 2", "services": ["tu-phap-ho-tich", "dat-dai"]},
    ],
}
