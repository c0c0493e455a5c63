"""The printed ticket as a 1-bit raster image (Pillow), Vietnamese-capable.

Cheap thermal printers cannot print Vietnamese from their code pages, so the whole
ticket (office name, the number very large, service, counter, date and time, people
ahead, estimated wait, notice, QR code) is drawn here with DejaVu Sans and sent as a
raster. Width comes from the printer profile: 576 dots (80 mm) or 384 dots (58 mm).

The number is the only part that needs the number: `prepare_ticket` draws everything
else around a blank band of fixed height, and `PreparedTicket.stamp` draws the number
into that band. The kiosk prepares (and encodes) before it takes a number, so the time
between taking a number and writing to the printer stays small (docs/kiosk.md).
`render_ticket` is the two steps in one (preview, tests).
No printer, MQTT or GPIO imports here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from protocol.i18n import translator
from protocol.text import nfc as _nfc
from protocol.waitrange import printed_range

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_REGULAR = f"{FONT_DIR}/DejaVuSans.ttf"
FONT_BOLD = f"{FONT_DIR}/DejaVuSans-Bold.ttf"
FONT_CONDENSED_BOLD = f"{FONT_DIR}/DejaVuSansCondensed-Bold.ttf"
UNKNOWN = "—"


@dataclass(frozen=True)
class TicketContent:
    office: str
    number: str
    service: str
    counter_hint: str | None
    issued_at: datetime  # aware; shown in the site's zone by the caller's choice
    people_ahead: int | None
    wait_s: int | None
    notice: str | None
    url: str
    priority: str | None = None
    documents: tuple[str, ...] = ()  # "Giấy tờ cần mang", from the service's config
    reprinted_at: datetime | None = None  # a copy a desk asked for (same number), and when
    wait_low_s: int | None = None  # P10-P90 of the wait (docs/estimate.md); printed when known
    wait_high_s: int | None = None


@dataclass(frozen=True)
class RenderedTicket:
    image: Image.Image  # mode "1"
    qr_box: tuple[int, int, int, int]  # left, top, right, bottom of the QR modules
    qr_module: int  # dots per QR module


@dataclass(frozen=True)
class PreparedTicket:
    """A ticket drawn without its number: `image` has a blank band (rows `band_top` to
    `band_top + band_height`) where `stamp` draws it."""

    image: Image.Image  # mode "1"
    band_top: int
    band_height: int
    inner: int  # width the number may use
    qr_box: tuple[int, int, int, int]
    qr_module: int

    def stamp(self, number: str) -> Image.Image:
        """The band with `number` as large as it fits, centred (mode "1", full width)."""
        width = self.image.width
        band = Image.new("1", (width, self.band_height), 255)
        draw = ImageDraw.Draw(band)
        draw.fontmode = "1"
        face = font(FONT_BOLD, _number_size(number, self.inner, self.band_height))
        left, top, right, bottom = draw.textbbox((0, 0), number, font=face)
        x = (width - (right - left)) // 2 - left
        y = (self.band_height - (bottom - top)) // 2 - top
        draw.text((x, y), number, font=face, fill=0)
        return band

    def with_number(self, number: str) -> RenderedTicket:
        """The whole ticket with `number` stamped in."""
        image = self.image.copy()
        image.paste(self.stamp(number), (0, self.band_top))
        return RenderedTicket(image=image, qr_box=self.qr_box, qr_module=self.qr_module)


@lru_cache(maxsize=64)
def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)



def _width(draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=face)
    return int(right - left)  # whole pixels for a FreeType font; Pillow's stubs say float


def wrap(draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap; a single word wider than the line is kept whole (caller shrinks)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and _width(draw, trial, face) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines or [""]


def fit_lines(
    draw: ImageDraw.ImageDraw, text: str, path: str, size: int, width: int, max_lines: int, min_size: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Wrap `text` in at most `max_lines` lines, shrinking the font until it fits."""
    while True:
        face = font(path, size)
        lines = wrap(draw, text, face, width)
        fits = len(lines) <= max_lines and all(_width(draw, line, face) <= width for line in lines)
        if fits or size <= min_size:
            return face, lines[:max_lines]
        size -= 2


@lru_cache(maxsize=128)
def _number_size(text: str, width: int, max_height: int) -> int:
    """Largest bold size at which `text` fits in width x max_height."""
    probe = ImageDraw.Draw(Image.new("1", (1, 1)))
    low, high = 10, 400
    while low < high:
        middle = (low + high + 1) // 2
        left, top, right, bottom = probe.textbbox((0, 0), text, font=font(FONT_BOLD, middle))
        if right - left <= width and bottom - top <= max_height:
            low = middle
        else:
            high = middle - 1
    return low


# A fixed mask pattern: choosing the "best" of eight costs ~10 ms per ticket on a small
# CPU and buys nothing for a short URL printed at 5+ dots per module.
QR_MASK_PATTERN = 2


def _qr_modules(url: str) -> list[list[bool]]:
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=QR_MASK_PATTERN)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


@lru_cache(maxsize=4)
def _notdef_safe() -> bool:  # the fonts are part of fonts-dejavu-core; fail early if absent
    font(FONT_REGULAR, 12)
    font(FONT_BOLD, 12)
    return True


def wait_text(wait_s: int | None, locale: str = "vi", low_s: int | None = None, high_s: int | None = None) -> str:
    """The range in rounded minutes ("khoảng 25–40 phút", "dưới 5 phút"); a server older
    than the range sends only a point ("khoảng 17 phút"); nothing known: "chưa ước tính
    được", never a made-up figure."""
    _ = translator("kiosk", locale)
    if low_s is not None and high_s is not None:
        printed = printed_range(low_s, high_s)
        if printed.under:
            return _("under {minutes} min").format(minutes=printed.high_min)
        return _("about {low}–{high} min").format(low=printed.low_min, high=printed.high_min)
    if wait_s is None:
        return _("not yet estimated")
    minutes = max(1, math.ceil(wait_s / 60))
    return _("about {minutes} min").format(minutes=minutes)


# The band is as tall as a four-character number drawn as large as the width allows
# (shorter numbers are limited by the band's height, longer ones by the width).
BAND_REFERENCE = "A000"


@lru_cache(maxsize=8)
def band_height(inner: int, max_height: int) -> int:
    probe = ImageDraw.Draw(Image.new("1", (1, 1)))
    _, top, _, bottom = probe.textbbox((0, 0), BAND_REFERENCE, font=font(FONT_BOLD, _number_size(BAND_REFERENCE, inner, max_height)))
    return int(bottom - top)  # whole pixels for a FreeType font; Pillow's stubs say float


def render_ticket(content: TicketContent, width: int = 576, locale: str = "vi") -> RenderedTicket:
    """Draw the ticket; returns the mode "1" image and where the QR code is."""
    return prepare_ticket(content, width, locale).with_number(content.number)


def prepare_ticket(content: TicketContent, width: int = 576, locale: str = "vi") -> PreparedTicket:
    """Draw everything but the number (`content.number` is not read)."""
    _notdef_safe()
    _ = translator("kiosk", locale)
    scale = width / 576
    margin = max(8, round(24 * scale))
    inner = width - 2 * margin
    canvas = Image.new("1", (width, 3000), 255)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"  # no anti-aliasing: the printer has only black and white
    y = margin

    def centred(lines: list[str], face: ImageFont.FreeTypeFont, gap: int = 4) -> None:
        nonlocal y
        for line in lines:
            left, top, right, bottom = draw.textbbox((0, 0), line, font=face)
            draw.text(((width - (right - left)) // 2 - left, y - top), line, font=face, fill=0)
            y += int(bottom - top) + gap

    def rule() -> None:
        nonlocal y
        y += round(8 * scale)
        draw.line([(margin, y), (width - margin, y)], fill=0, width=max(2, round(3 * scale)))
        y += round(14 * scale)

    face, lines = fit_lines(draw, _nfc(content.office).upper(), FONT_CONDENSED_BOLD, round(30 * scale), inner, 3, round(16 * scale))
    centred(lines, face, gap=round(6 * scale))
    rule()
    if content.reprinted_at is not None:
        centred([_("COPY printed at {when}").format(when=content.reprinted_at.strftime("%H:%M %d/%m"))],
                font(FONT_BOLD, round(22 * scale)))
    centred([_("QUEUE NUMBER")], font(FONT_REGULAR, round(26 * scale)))
    y += round(6 * scale)
    band_top, band = y, band_height(inner, round(190 * scale))
    y += band + 4
    y += round(10 * scale)
    face, lines = fit_lines(draw, _nfc(content.service), FONT_BOLD, round(34 * scale), inner, 3, round(18 * scale))
    centred(lines, face, gap=round(6 * scale))
    body = font(FONT_REGULAR, round(24 * scale))
    if content.priority:
        text = _("Priority: {category}").format(category=_nfc(content.priority))
        face, lines = fit_lines(draw, text, FONT_BOLD, round(26 * scale), inner, 2, round(16 * scale))
        centred(lines, face)
    if content.counter_hint:
        text = _("Please go to: {counter}").format(counter=_nfc(content.counter_hint))
        face, lines = fit_lines(draw, text, FONT_REGULAR, round(24 * scale), inner, 2, round(16 * scale))
        centred(lines, face)
    rule()
    ahead = UNKNOWN if content.people_ahead is None else str(content.people_ahead)
    details = [
        _("Time: {when}").format(when=content.issued_at.strftime("%d/%m/%Y %H:%M")),
        _("People waiting ahead: {count}").format(count=ahead),
        _("Estimated wait: {wait}").format(wait=wait_text(content.wait_s, locale, content.wait_low_s, content.wait_high_s)),
    ]
    for text in details:
        face, lines = fit_lines(draw, text, FONT_REGULAR, int(body.size), inner, 2, round(16 * scale))
        centred(lines, face, gap=round(8 * scale))
    if content.documents:
        y += round(4 * scale)
        centred([_("Documents to bring:")], font(FONT_BOLD, round(22 * scale)))
        small = round(21 * scale)
        for paper in content.documents:
            face, lines = fit_lines(draw, "• " + _nfc(paper), FONT_REGULAR, small, inner, 2, round(15 * scale))
            for line in lines:
                left, top, _right, bottom = draw.textbbox((0, 0), line, font=face)
                draw.text((margin - left, y - top), line, font=face, fill=0)
                y += round(bottom - top) + round(4 * scale)
    if content.notice:
        y += round(6 * scale)
        face, lines = fit_lines(draw, _nfc(content.notice), FONT_REGULAR, round(20 * scale), inner, 5, round(14 * scale))
        centred(lines, face, gap=round(4 * scale))
    y += round(14 * scale)
    modules = _qr_modules(content.url)
    count = len(modules)
    module = max(2, min(round(7 * scale), (inner // 2) // (count + 8) + 1))
    side = module * count
    left = (width - side) // 2
    top = y + 4 * module  # quiet zone
    cells = Image.new("1", (count, count), 255)
    cells.putdata([0 if dark else 255 for row in modules for dark in row])
    canvas.paste(cells.resize((side, side), Image.Resampling.NEAREST), (left, top))
    qr_box = (left, top, left + side, top + side)
    y = top + side + 4 * module
    centred([_("Scan to follow your ticket")], font(FONT_REGULAR, round(20 * scale)))
    y += margin
    image = canvas.crop((0, 0, width, y))
    return PreparedTicket(image=image, band_top=band_top, band_height=band, inner=inner, qr_box=qr_box, qr_module=module)


def ticket_image(content: TicketContent, width: int = 576, locale: str = "vi") -> Image.Image:
    """The ticket as a mode "1" PIL image `width` dots wide."""
    return render_ticket(content, width, locale).image
