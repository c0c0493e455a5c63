"""The ticket raster: Vietnamese glyph coverage, widths, the bytes decode back to the
same picture, and the QR modules in the print are those of the ticket's status URL."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
import qrcode
from PIL import Image, ImageChops, ImageDraw

from hardware.printer import build_image_job
from kiosk.ticket_image import (
    FONT_BOLD,
    FONT_CONDENSED_BOLD,
    FONT_REGULAR,
    QR_MASK_PATTERN,
    TicketContent,
    font,
    render_ticket,
    ticket_image,
)
from tests.kiosk.raster import decode_ticket

TONES = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]


def vietnamese_letters() -> list[str]:
    lower = [unicodedata.normalize("NFC", v + t) for v in "aăâeêioôơuưy" for t in TONES] + ["đ"]
    return lower + [c.upper() for c in lower]


def content(**changes) -> TicketContent:
    base = dict(
        office="Trung tâm Phục vụ hành chính công xã Phù Đổng, thành phố Hà Nội",
        number="A023",
        service="Tư pháp - Hộ tịch",
        counter_hint="Quầy 1, 2",
        issued_at=datetime(2026, 11, 30, 3, 5, tzinfo=UTC),
        people_ahead=4,
        wait_s=905,
        notice="Công dân vui lòng giữ phiếu và chờ đến khi được mời. Xin cảm ơn!",
        url="http://xephang.test:8000/t/6f1c1f0e-3b5a-4f7e-9d55-0d7e1b9a1c11",
    )
    base.update(changes)
    return TicketContent(**base)


def glyph(face, text: str) -> bytes:
    canvas = Image.new("L", (80, 80), 0)
    ImageDraw.Draw(canvas).text((10, 10), text, font=face, fill=255)
    return canvas.tobytes()


def test_every_vietnamese_letter_has_a_real_glyph_in_the_ticket_fonts():
    letters = vietnamese_letters()
    assert len(letters) == 146
    for path in (FONT_REGULAR, FONT_BOLD, FONT_CONDENSED_BOLD):
        face = font(path, 28)
        notdef = glyph(face, "\ue000")
        base_masks = {}
        for letter in letters:
            mask = glyph(face, letter)
            assert mask != notdef, f"{letter!r} renders as a box in {path}"
            assert any(mask), f"{letter!r} renders empty in {path}"
            base = unicodedata.normalize("NFD", letter)[0]
            base_masks.setdefault(base, glyph(face, base))
            if letter != base:
                assert mask != base_masks[base], f"{letter!r} lost its diacritic in {path}"


@pytest.mark.parametrize("width", [576, 384])
def test_ticket_is_one_bit_and_as_wide_as_the_paper(width):
    image = ticket_image(content(), width)
    assert image.mode == "1"
    assert image.width == width
    assert 400 < image.height < 1400


def test_diacritics_reach_the_picture():
    with_marks = ticket_image(content())
    without = ticket_image(content(service="Tu phap - Ho tich"))
    assert ImageChops.difference(with_marks.convert("L"), without.convert("L")).getbbox() is not None


def test_long_office_name_shrinks_or_wraps_within_the_paper():
    long_name = "Trung tâm Phục vụ hành chính công xã Phước Long Thọ, huyện Đất Đỏ, tỉnh Bà Rịa - Vũng Tàu (điểm tiếp nhận số 2)"
    image = ticket_image(content(office=long_name), 384)
    assert image.width == 384  # nothing is drawn wider than the paper: text is wrapped or shrunk
    assert image.getpixel((0, 40)) != 0 and image.getpixel((383, 40)) != 0  # the margins stay white


def test_unknown_wait_prints_a_dash():
    unknown = ticket_image(content(people_ahead=None, wait_s=None))
    known = ticket_image(content())
    assert ImageChops.difference(unknown.convert("L"), known.convert("L")).getbbox() is not None


def test_printed_bytes_decode_to_the_same_picture_with_the_status_qr():
    rendered = render_ticket(content(), 576)
    job = build_image_job(rendered.image, "TM-T20II")
    printed = decode_ticket(job)
    assert printed.size == rendered.image.size
    assert ImageChops.difference(printed.convert("L"), rendered.image.convert("L")).getbbox() is None
    # Read the QR modules back from the printed picture and compare them with the URL's code.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=QR_MASK_PATTERN)
    code.add_data(content().url)
    code.make(fit=True)
    expected = code.get_matrix()
    left, top, right, bottom = rendered.qr_box
    module = rendered.qr_module
    assert (right - left) == module * len(expected)
    read = [
        [printed.getpixel((left + c * module + module // 2, top + r * module + module // 2)) == 0 for c in range(len(expected))]
        for r in range(len(expected))
    ]
    assert read == expected
    # a white quiet zone of at least 4 modules around the code
    for dx in range(1, 4 * module):
        assert printed.getpixel((left - dx, top + module)) != 0


def test_docs_pictures_exist_and_match_the_renderer(tmp_path):
    from pathlib import Path

    for name, width in (("ticket-80mm.png", 576), ("ticket-58mm.png", 384)):
        picture = Image.open(Path(__file__).resolve().parents[2] / "docs" / "images" / name)
        assert picture.width == width
