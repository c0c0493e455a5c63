"""The wait range on the printed ticket (issue 16): the words, the state the kiosk reads
(range, priority, tickets printed since the state), and the line found in the ticket's
picture, pixel for pixel, from a real kiosk fed a retained state through Mosquitto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from kiosk.queue_view import Estimate, QueueView
from kiosk.ticket_image import FONT_REGULAR, TicketContent, font, ticket_image, wait_text
from protocol import topics
from protocol.sites import Site
from protocol.waitrange import printed_range
from tests.kiosk.conftest import publish_as_server
from tests.kiosk.test_app import ShiftedClock, press, start_app
from tests.support import SITE_ID, RunningBroker, site_dict, wait_until

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_words_of_the_range() -> None:
    assert wait_text(None, "vi", 10 * 60, 20 * 60) == "khoảng 10–20 phút"
    assert wait_text(None, "en", 10 * 60, 20 * 60) == "about 10–20 min"
    assert wait_text(None, "vi", 26 * 60, 41 * 60) == "khoảng 25–40 phút"  # nearest 5-minute steps
    assert wait_text(None, "vi", 0, 4 * 60) == "dưới 5 phút"
    assert wait_text(None, "en", 30, 200) == "under 5 min"
    assert wait_text(None, "vi", 50 * 60, 100 * 60) == "khoảng 50–100 phút"  # 10-minute steps past an hour
    assert wait_text(None, "vi") == "chưa ước tính được"  # never a made-up figure
    assert wait_text(17 * 60, "vi") == "khoảng 17 phút"  # a server without the range


def test_printed_range_rounding() -> None:
    assert printed_range(0, 0) == printed_range(60, 299)
    assert printed_range(9 * 60, 11 * 60).low_min < printed_range(9 * 60, 11 * 60).high_min
    assert printed_range(100 * 60, 130 * 60).high_min == 135  # 15-minute steps past two hours
    assert printed_range(10 * 60, 20 * 60).holds(15 * 60) and not printed_range(10 * 60, 20 * 60).holds(21 * 60)


def view() -> QueueView:
    return QueueView(Site.model_validate(site_dict()), max_age_s=300, clock=lambda: NOW)


def state(**service: object) -> bytes:
    body = {"site": "test-site", "ts": (NOW - timedelta(seconds=20)).isoformat(),
            "services": {"chung-thuc": {"waiting": 3, "estimated_wait_s": 900, **service}}}
    return json.dumps(body).encode()


def test_the_kiosk_reads_the_range_and_moves_it_for_tickets_printed_since() -> None:
    queue = view()
    queue.update(state(wait_low_s=600, wait_high_s=1500, wait_step_s=240,
                       priority_wait_s=60, priority_wait_low_s=0, priority_wait_high_s=300))
    assert queue.estimate("chung-thuc", NOW, lambda since: 0) == Estimate(3, 900, 600, 1500)
    assert queue.estimate("chung-thuc", NOW, lambda since: 2) == Estimate(5, 900, 1080, 1980)
    assert queue.estimate("chung-thuc", NOW, lambda since: 0, priority=True) == Estimate(3, 60, 0, 300)
    queue.update(state(wait_low_s=600, wait_high_s=1500))  # no step: the range cannot be moved
    assert queue.estimate("chung-thuc", NOW, lambda since: 1) == Estimate(4, 900, None, None)


def line_strip(text: str, width: int = 576, size: int = 24) -> Image.Image:
    """`text` drawn as the ticket draws a centred line (mode "1", tight height)."""
    face = font(FONT_REGULAR, size)
    probe = ImageDraw.Draw(Image.new("1", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=face)
    strip = Image.new("1", (width, int(bottom - top)), 255)
    draw = ImageDraw.Draw(strip)
    draw.fontmode = "1"
    draw.text(((width - (right - left)) // 2 - left, -top), text, font=face, fill=0)
    return strip


def contains(image: Image.Image, strip: Image.Image) -> bool:
    """Whether `strip` appears in `image` at full width, at some height."""
    gray, wanted = image.convert("L"), strip.convert("L")
    for y in range(image.height - strip.height + 1):
        if ImageChops.difference(gray.crop((0, y, image.width, y + strip.height)), wanted).getbbox() is None:
            return True
    return False


def content(**changes: object) -> TicketContent:
    base: dict[str, object] = dict(office="Trung tâm Phục vụ hành chính công xã Thử Nghiệm", number="B004", service="Chứng thực",
                      counter_hint=None, issued_at=NOW, people_ahead=3, wait_s=900, notice=None,
                      url="http://xephang.test/t/6f1c1f0e-3b5a-4f7e-9d55-0d7e1b9a1c11")
    base.update(changes)
    return TicketContent(**base)  # type: ignore[arg-type]


def test_the_ticket_picture_shows_the_range_line() -> None:
    image = ticket_image(content(wait_low_s=600, wait_high_s=1200))
    assert contains(image, line_strip("Thời gian chờ dự kiến: khoảng 10–20 phút"))
    assert not contains(image, line_strip("Thời gian chờ dự kiến: khoảng 15 phút"))
    unknown = ticket_image(content(people_ahead=None, wait_s=None))
    assert contains(unknown, line_strip("Thời gian chờ dự kiến: chưa ước tính được"))
    assert contains(unknown, line_strip("Số người chờ trước bạn: —"))


def test_a_real_kiosk_prints_the_servers_range(tmp_path: Path, broker: RunningBroker, inbox: object) -> None:
    now = datetime.now(UTC)
    body = {"site": SITE_ID, "ts": (now - timedelta(seconds=30)).isoformat(),
            "services": {"tu-phap-ho-tich": {"waiting": 4, "estimated_wait_s": 1500, "wait_low_s": 1200,
                                             "wait_high_s": 2400, "wait_step_s": 300}}}
    publish_as_server(broker, topics.queue_state(SITE_ID), json.dumps(body).encode())
    app, factory, clock = start_app(  # type: ignore[no-untyped-call]
        tmp_path, broker, clock=ShiftedClock(), ticket_png_dir=str(tmp_path / "png"))
    try:
        wait_until(lambda: app.queue_view.state is not None, 10)
        clock.now += 5
        press(factory, 17)
        assert app.wait_idle(10)
        first = app.results[-1]
        clock.now += 5
        press(factory, 17)
        assert app.wait_idle(10)
        second = app.results[-1]
    finally:
        app.stop()
    assert (first.content.people_ahead, first.content.wait_low_s, first.content.wait_high_s) == (4, 1200, 2400)
    assert (second.content.people_ahead, second.content.wait_low_s, second.content.wait_high_s) == (5, 1500, 2700)
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 2
    with Image.open(pngs[0]) as printed:
        assert contains(printed, line_strip("Thời gian chờ dự kiến: khoảng 20–40 phút", printed.width,
                                            round(24 * printed.width / 576)))
