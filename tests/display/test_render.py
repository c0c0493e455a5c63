"""Drawing the board headless (SDL dummy video): fonts, fitting, one-frame calls,
the offline banner, redrawing only what changed, and snapshots at both sizes."""

from __future__ import annotations

import os
import queue
import uuid
from datetime import timedelta
from pathlib import Path

import pygame
import pygame.freetype
import pytest

from display.app import BoardApp, save_png
from display.demo import demo_state
from display.feed import Inbound
from display.render import AMBER, MARK, MARK_LABELS, RED, YELLOW
from display.text import VIETNAMESE_ALL, Fonts, missing_glyphs
from tests.display.conftest import T0, board_state, call_event, display_settings, event_item, state_item
from tests.support import SITE_ID

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def test_board_fonts_cover_every_vietnamese_letter():
    assert len(VIETNAMESE_ALL) == 2 * (12 * 6 + 17)
    assert missing_glyphs(FONT) == []
    assert missing_glyphs(BOLD) == []


def test_the_coverage_check_finds_gaps_in_a_font_without_vietnamese():
    # pygame's bundled default font lacks most Vietnamese letters: the check must say so.
    default = Path(pygame.freetype.get_default_font())
    if not default.is_absolute():
        default = Path(pygame.__file__).parent / default
    assert len(missing_glyphs(default)) > 50


@pytest.mark.parametrize("width", [200, 420, 900])
def test_fit_never_overflows(width):
    pygame.freetype.init()
    fonts = Fonts(FONT, BOLD)
    long = "Trung tâm Phục vụ hành chính công xã Phù Đổng – Điểm tiếp nhận số 2 (Thôn Thượng Quát, xã Ngũ Hiệp mới)"
    for text in [long, "Quầy 1", "Ủy ban nhân dân", "A023", "Nghiêng" * 30]:
        for lines in (1, 2):
            fitted = fonts.fit(text, width, 90, 72, 12, True, lines)
            assert all(fonts.width(line, fitted.size, True) <= width for line in fitted.lines)
            assert fonts.line_height(fitted.size, True) * len(fitted.lines) <= 90
            joined = " ".join(fitted.lines)
            assert joined == text or joined.endswith("…")


def _has_colour(surface: pygame.Surface, rect: pygame.Rect, colour) -> bool:
    area = surface.subsurface(rect)
    return any(
        area.get_at((x, y))[:3] == colour
        for x in range(0, rect.width, 3)
        for y in range(0, rect.height, 3)
    )


def test_call_event_appears_within_one_frame(make_app, clocks):
    app = make_app()
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(board_state(T0)))
    app.step()
    before = app.surface.subsurface(app.renderer.layout.call).copy()
    app.inbox.put(event_item(call_event("C123", "quay-3", ts=T0)))
    clocks.advance(0.01)
    app.step()  # exactly one loop iteration
    assert app.model.newest.number == "C123"
    assert app.renderer.keys["call"][0].number == "C123"
    call_rect = app.renderer.layout.call
    after = app.surface.subsurface(call_rect)
    assert pygame.image.tobytes(after, "RGB") != pygame.image.tobytes(before, "RGB")
    assert _has_colour(app.surface, call_rect, YELLOW)
    assert len(app.latencies_s) == 1 and app.latencies_s[0] < 0.5


def test_only_changed_regions_are_redrawn(make_app, clocks):
    presented = []
    app = make_app()
    app.present = presented.append
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(board_state(T0, notice="Ngắn.")))
    app.step()
    assert presented[-1] == [app.renderer.layout.all]  # first frame: the whole screen
    assert set(app.renderer.keys) == {"header", "call", "counters", "recent", "waiting", "notice"}
    clocks.advance(0.2)
    app.step()
    assert len(presented) == 1  # same second, nothing moved: nothing drawn
    clocks.advance(1.0)
    app.step()
    assert presented[-1] == [app.renderer.layout.header]  # the clock only


def test_stale_then_offline_banner_keeps_numbers_and_says_data_time(make_app, clocks):
    app = make_app(display_settings(stale_after_s=60))
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(board_state(T0)))
    app.step()
    assert app.renderer.layout.banner.height == 0
    clocks.advance(61)
    app.step()
    banner = app.renderer.layout.banner
    assert banner.height > 0 and _has_colour(app.surface, banner, AMBER)
    app.inbox.put(Inbound("link", up=False))
    clocks.advance(1)
    app.step()
    assert _has_colour(app.surface, banner, RED)
    assert app.renderer.keys["banner"] == ("offline", T0)
    assert app.model.counters["quay-1"].ticket_number == "A001"
    assert _has_colour(app.surface, app.renderer.layout.counters, YELLOW)


def test_banner_text_names_the_data_time(make_app):
    app = make_app()
    text = app.renderer._("Offline - showing data from {time}").format(time="10:15 30/11/2026")
    assert text == "MẤT KẾT NỐI – đang hiển thị dữ liệu lúc 10:15 30/11/2026"


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)])
def test_snapshot_with_long_names_at_both_sizes(size, clocks, tmp_path):
    surface = pygame.Surface(size)
    app = BoardApp(display_settings(), surface, queue.Queue(), wall=clocks.wall, mono=clocks.mono, present=lambda r: None)
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(demo_state(T0, SITE_ID)))
    app.step()
    path = tmp_path / f"board-{size[0]}x{size[1]}.png"
    save_png(surface, path)
    loaded = pygame.image.load(str(path))
    assert loaded.get_size() == size
    assert app.model.newest.number == "A023"
    layout = app.renderer.layout
    for rect in (layout.call, layout.counters, layout.recent, layout.waiting, layout.notice):
        assert layout.all.contains(rect)
    assert not layout.call.colliderect(layout.counters)


def test_counter_table_header_reads_at_1024x768(clocks):
    """The demo's headless board was 1024x768, where "Đang phục vụ" shrank to a tiny line
    (issue 22): the header now keeps most of its row's type size at that size too."""
    sizes = {}
    for size in ((1024, 768), (1366, 768), (1920, 1080)):
        surface = pygame.Surface(size)
        app = BoardApp(display_settings(), surface, queue.Queue(), wall=clocks.wall, mono=clocks.mono, present=lambda r: None)
        app.inbox.put(Inbound("link", up=True))
        app.inbox.put(state_item(demo_state(T0, SITE_ID)))
        app.step()
        sizes[size] = app.renderer.counter_header_sizes
    counter_1024, serving_1024 = sizes[(1024, 768)]
    assert serving_1024 >= 0.9 * counter_1024, sizes  # "Đang phục vụ" as large as "Quầy"
    assert serving_1024 >= 0.6 * sizes[(1366, 768)][1], sizes


def _marked_state(ts):
    """Counter 1 serves a booked ticket, counter 2 a kiosk ticket; the newest call is the
    booked one and an older call was a number taken on a phone."""
    state = board_state(ts)
    counters = [c.model_copy(update={"ticket_number": "LH001", "ticket_channel": "appointment"}) if c.id == "quay-1" else c
                for c in state.counters]
    calls = [
        {"ticket_id": str(uuid.uuid4()), "number": "LH001", "counter": "quay-1", "counter_number": 1,
         "ts": ts - timedelta(seconds=10), "channel": "appointment"},
        {"ticket_id": str(uuid.uuid4()), "number": "B002", "counter": "quay-2", "counter_number": 2, "ts": ts - timedelta(seconds=30)},
        {"ticket_id": str(uuid.uuid4()), "number": "TX004", "counter": "quay-2", "counter_number": 2,
         "ts": ts - timedelta(seconds=90), "channel": "online"},
    ]
    return board_state(ts, counters=[c.model_dump() for c in counters], recent_calls=calls)


def _row_box(app, index):
    """The counters table's row `index` (0 = first counter), as the renderer lays it out."""
    rect = app.renderer.layout.counters
    shown = [c for c in app.model.counters.values() if c.state != "closed"]
    row_h = rect.height / (max(len(shown), 3) + 1)
    return pygame.Rect(rect.left, round(rect.top + row_h * (index + 1)), rect.width, round(row_h))


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768), (1024, 768)])
def test_a_booked_number_carries_its_mark_beside_the_number(size, clocks, tmp_path):
    surface = pygame.Surface(size)
    app = BoardApp(display_settings(), surface, queue.Queue(), wall=clocks.wall, mono=clocks.mono, present=lambda r: None)
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(_marked_state(T0)))
    app.step()
    marks = app.renderer.marks
    # The big call, the counters table and the last calls each draw the mark in Vietnamese.
    assert [(n, t) for n, t, _ in marks["call"]] == [("LH001", "Lịch hẹn")]
    assert [(n, t) for n, t, _ in marks["counters"]] == [("LH001", "Lịch hẹn")]
    assert [(n, t) for n, t, _ in marks["recent"]] == [("TX004 → 2", "Từ xa")]
    for region in ("call", "counters", "recent"):
        for _, _, badge in marks[region]:
            assert getattr(app.renderer.layout, region).contains(badge)
            assert _has_colour(surface, badge, MARK)
    # Pixels: the teal badge is in counter 1's row, beside the number, and not in counter 2's row (a kiosk ticket).
    first, second = _row_box(app, 0), _row_box(app, 1)
    assert _has_colour(surface, first, MARK)
    assert not _has_colour(surface, second, MARK)
    badge = marks["counters"][0][2]
    assert first.contains(badge) and badge.left > first.centerx  # in the ticket column, under the number
    if os.environ.get("XEPHANG_SCREENSHOT_DIR") and size == (1366, 768):
        save_png(surface, Path(os.environ["XEPHANG_SCREENSHOT_DIR"]) / "board-appointment.png")


def test_a_state_without_channels_draws_no_mark(clocks):
    """An old server's board state (no channel fields) and kiosk tickets: no badge anywhere."""
    surface = pygame.Surface((1366, 768))
    app = BoardApp(display_settings(), surface, queue.Queue(), wall=clocks.wall, mono=clocks.mono, present=lambda r: None)
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(board_state(T0)))
    app.step()
    assert all(not drawn for drawn in app.renderer.marks.values())
    assert not _has_colour(surface, surface.get_rect(), MARK)


def test_the_mark_texts_are_covered_by_the_board_fonts(make_app):
    app = make_app()
    labels = [app.renderer._(text) for text in MARK_LABELS.values()]
    assert labels == ["Lịch hẹn", "Từ xa"]
    for font in (FONT, BOLD):
        assert missing_glyphs(font, "".join(labels)) == []
