"""`xephang doctor` checks of the hardware: GPIO pins, printer, screen, audio, fonts.

Every hardware library is imported inside its check; when it is missing the finding
says so. Nothing here opens the screen or the sound card (the running board owns them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from xephang.doctor.findings import Context, Finding, _, skipped
from xephang.fontcheck import VIETNAMESE_SAMPLE, covered

# The fonts kiosk/ticket_image.py draws tickets with, and the Debian package of each.
KIOSK_FONTS = {
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"): "fonts-dejavu-core",
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"): "fonts-dejavu-core",
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"): "fonts-dejavu-extra",
}


def check_gpio(ctx: Context) -> Iterator[Finding]:
    kiosk = getattr(ctx.settings, "kiosk", None)
    factory_name = kiosk.pin_factory if kiosk is not None else "lgpio"
    if factory_name == "keyboard":
        yield Finding("gpio", "ok", _("Buttons: a keypad on standard input (no GPIO pins used)"))
        return
    if factory_name == "mock":
        yield Finding("gpio", "warn", _("GPIO pins are simulated (pin_factory = \"mock\"): right for tests, not for an office"))
    elif not any(Path("/dev").glob("gpiochip*")):
        yield Finding("gpio", "fail", _("No GPIO chip (/dev/gpiochip*): this is not a Raspberry Pi or the GPIO driver is off"))
        return
    if kiosk is None:
        yield Finding("gpio", "ok", _("GPIO chip present"))
        return
    try:
        from hardware.buttons import ButtonBoard, make_pin_factory
    except ImportError as exc:
        yield Finding("gpio", "fail", _("The GPIO library is not installed ({error})"), {"error": exc.name})
        return
    try:
        factory = make_pin_factory(factory_name)
        board = ButtonBoard(factory, kiosk.buttons, lambda press, button: None, priority_pin=kiosk.priority_pin)
        board.close()
    except Exception as exc:  # noqa: BLE001 - gpiozero and lgpio raise many kinds; each means "pins unusable"
        yield Finding("gpio", "fail", _("GPIO pins {pins} cannot be used: {error}"),
                      {"pins": sorted(kiosk.buttons.values()), "error": exc})
        return
    yield Finding("gpio", "ok", _("GPIO pins {pins} ready for the buttons"), {"pins": sorted(kiosk.buttons.values())})


PAPER = {"ok": _("paper loaded"), "near_end": _("paper nearly out"), "out": _("paper out"), "unknown": _("paper not reported")}


def check_printer(ctx: Context) -> Iterator[Finding]:
    settings = ctx.settings.kiosk.printer
    try:
        from hardware.printer import PrintError, TicketPrinter
    except ImportError as exc:
        yield Finding("printer", "fail", _("The printer library is not installed ({error})"), {"error": exc.name})
        return
    printer = TicketPrinter(settings)
    try:
        printer.transport  # noqa: B018 - the property opens the device, so a missing printer raises here
    except PrintError as exc:
        yield Finding("printer", "fail", _("Printer not found ({printer}): {error}"), {"printer": printer.describe(), "error": exc})
        return
    except ImportError as exc:
        yield Finding("printer", "fail", _("The printer library is not installed ({error})"), {"error": exc.name})
        return
    try:
        status = printer.status()
    finally:
        printer.close()
    params = {"printer": printer.describe(), "paper_msg": PAPER[status.paper]}
    if status.cover == "open":
        yield Finding("printer", "fail", _("Printer {printer}: the cover is open"), params)
    elif status.paper == "out":
        yield Finding("printer", "fail", _("Printer {printer}: {paper_msg}; load a new roll"), params)
    elif status.online is False:
        yield Finding("printer", "fail", _("Printer {printer} is offline"), params)
    elif status.paper in ("near_end", "unknown"):
        yield Finding("printer", "warn", _("Printer {printer}: {paper_msg}"), params)
    else:
        yield Finding("printer", "ok", _("Printer {printer}: ready, {paper_msg}"), params)


def check_screen(ctx: Context) -> Iterator[Finding]:
    try:
        import pygame  # noqa: F401 - only whether it is there
    except ImportError:
        yield Finding("screen", "fail", _("pygame is not installed: the board cannot draw (pip install 'xephang[display]')"))
        return
    driver = ctx.environ.get("SDL_VIDEODRIVER", "")
    if driver in ("dummy", "offscreen"):
        yield Finding("screen", "warn", _("No screen in use: SDL_VIDEODRIVER={driver} draws nowhere"), {"driver": driver})
        return
    if ctx.environ.get("DISPLAY") or ctx.environ.get("WAYLAND_DISPLAY"):
        yield Finding("screen", "ok", _("A desktop session is available for the board"))
        return
    cards = sorted(p.name for p in Path("/dev/dri").glob("card*")) if Path("/dev/dri").is_dir() else []
    if cards:
        yield Finding("screen", "ok", _("Screen output available ({cards})"), {"cards": ", ".join(cards)})
    else:
        yield Finding("screen", "fail",
                      _("No screen output found (no /dev/dri/card*, no desktop): is the TV connected and the KMS driver on?"))


def check_audio(ctx: Context) -> Iterator[Finding]:
    display = getattr(ctx.settings, "display", None)
    if display is not None and display.audio_output == "silent":
        yield Finding("audio", "warn", _("Sound is switched off (audio_output = \"silent\"): calls are not spoken"))
        return
    if ctx.environ.get("SDL_AUDIODRIVER") in ("dummy", "disk"):
        yield Finding("audio", "warn", _("No sound card in use: SDL_AUDIODRIVER={driver}"), {"driver": ctx.environ["SDL_AUDIODRIVER"]})
    else:
        cards_file = Path("/proc/asound/cards")
        text = cards_file.read_text(encoding="utf-8", errors="replace") if cards_file.exists() else ""
        if not text.strip() or "no soundcards" in text:
            yield Finding("audio", "fail", _("No sound card found: calls cannot be heard"))
        else:
            yield Finding("audio", "ok", _("Sound card found"))
    if display is not None and display.voice == "espeak":
        if shutil.which("espeak-ng"):
            yield Finding("audio", "ok", _("Vietnamese voice: espeak-ng installed"))
        else:
            yield Finding("audio", "fail", _("espeak-ng is not installed: calls fall back to the chime (apt-get install espeak-ng)"))
    elif display is not None and display.voice == "clips":
        clips = display.clips_dir
        if clips is None or not Path(clips).is_dir():
            yield Finding("audio", "fail", _("Recorded voice clips folder {path} not found"), {"path": clips})
        else:
            yield Finding("audio", "ok", _("Recorded voice clips in {path}"), {"path": clips})


def check_fonts(ctx: Context) -> Iterator[Finding]:
    """The display's configured fonts, or the kiosk's fixed ones: never the other role's."""
    if ctx.role == "display":
        display = getattr(ctx.settings, "display", None)
        if display is None:  # the config did not load: its fonts are unknown
            yield skipped("font")
            return
        fonts: dict[Path, str] = {Path(display.font): "fonts-dejavu-core", Path(display.font_bold): "fonts-dejavu-core"}
    else:
        fonts = KIOSK_FONTS
    for path, package in fonts.items():
        if not path.is_file():
            yield Finding("font", "fail", _("Font {path} not found (apt-get install {package})"), {"path": path, "package": package})
            continue
        try:
            missing = covered(path, VIETNAMESE_SAMPLE)
        except (ValueError, OSError) as exc:
            yield Finding("font", "fail", _("Font {path} cannot be read: {error}"), {"path": path, "error": exc})
            continue
        if missing:
            yield Finding("font", "fail", _("Font {path} lacks Vietnamese letters: {letters}"),
                          {"path": path, "letters": " ".join(sorted(missing))})
        else:
            yield Finding("font", "ok", _("Font {path} covers Vietnamese"), {"path": path})


def check_spi(ctx: Context) -> Iterator[Finding]:
    """The counter display's MAX7219 matrix talks SPI: /dev/spidev0.0 must exist and be
    usable by the service user (group spi). The dummy screen needs none."""
    section = getattr(ctx.settings, "counter_display", None)
    if section is not None and section.screen == "dummy":
        yield Finding("spi", "ok", _("Counter display: the dummy screen (no hardware)"))
        return
    device = Path("/dev/spidev0.0")
    if not device.exists():
        yield Finding("spi", "fail", _("No SPI device {path}: turn SPI on (raspi-config, Interface Options, SPI) and reboot"),
                      {"path": device})
    elif not os.access(device, os.R_OK | os.W_OK):
        yield Finding("spi", "warn", _("SPI device {path} is there but this user cannot use it (the service runs in group spi)"),
                      {"path": device})
    else:
        yield Finding("spi", "ok", _("SPI device {path} for the LED matrix"), {"path": device})
