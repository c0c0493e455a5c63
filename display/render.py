"""Draws the board from a BoardModel onto a pygame Surface, region by region.

The screen is split into regions (header, newest call, counters, last calls, waiting,
notice, status banner), laid out in proportion to the screen so 1920x1080 and 1366x768
both work. Each region has a key made from what it shows; a region is drawn again only
when its key changes, and `draw()` returns the rectangles that changed (for
`pygame.display.update`). The notice scrolls only when it is wider than the screen.

Imports pygame; never touches MQTT or audio.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pygame

from display.board import BoardModel
from display.text import Fonts

BLACK = (0, 0, 0)
BACKGROUND = (8, 14, 32)
PANEL = (18, 30, 64)
HEADER = (0, 56, 120)
WHITE = (255, 255, 255)
MUTED = (190, 200, 220)
YELLOW = (255, 214, 0)
RED = (200, 24, 24)
AMBER = (230, 140, 0)
GREY = (120, 128, 140)
MARK = (0, 190, 170)  # the badge beside a booked or remote number (teal: apart from every other colour here)
MARK_LABELS = {"appointment": "Booked slot", "online": "Remote number"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _rect(x: float, y: float, w: float, h: float) -> pygame.Rect:
    return pygame.Rect(round(x), round(y), round(w), round(h))


class Layout:
    """Region rectangles for one screen size; `banner` shrinks the body."""

    def __init__(self, width: int, height: int, banner: bool):
        self.width, self.height = width, height
        pad = round(height * 0.012)
        header_h = height * 0.105
        notice_h = height * 0.07
        banner_h = height * 0.065 if banner else 0
        self.pad = pad
        self.header = _rect(0, 0, width, header_h)
        self.banner = _rect(0, header_h, width, banner_h)
        self.notice = _rect(0, height - notice_h, width, notice_h)
        top = header_h + banner_h + pad
        body_h = height - notice_h - pad - top
        left_w = width * 0.43
        upper_h = body_h * 0.60
        self.call = _rect(pad, top, left_w - pad, upper_h)
        self.recent = _rect(pad, top + upper_h + pad, left_w - pad, body_h - upper_h - pad)
        right_x = left_w + pad
        right_w = width - right_x - pad
        self.counters = _rect(right_x, top, right_w, upper_h)
        self.waiting = _rect(right_x, top + upper_h + pad, right_w, body_h - upper_h - pad)
        self.all = pygame.Rect(0, 0, width, height)


class Renderer:
    """Keeps what each region last showed and redraws only what changed."""

    def __init__(
        self,
        surface: pygame.Surface,
        fonts: Fonts,
        translate: Callable[[str], str],
        zone: ZoneInfo,
        notice_speed_px_s: float = 90,
    ):
        self.surface = surface
        self.fonts = fonts
        self._ = translate
        self.zone = zone
        self.notice_speed_px_s = notice_speed_px_s
        self.keys: dict[str, object] = {}
        self.layout = Layout(*surface.get_size(), banner=False)
        self.frames = 0
        self._notice_since: tuple[str, float] = ("", 0.0)
        self._strip_key: tuple | None = None
        self._strip: tuple[pygame.Surface, int] | None = None
        # What each region drew beside a number last time: (number, mark text, badge box).
        self.marks: dict[str, list[tuple[str, str, pygame.Rect]]] = {}

    # -- entry point ----------------------------------------------------------------------
    def draw(self, model: BoardModel, now_s: float, now_at: datetime) -> list[pygame.Rect]:
        status = model.status(now_s)
        banner = status in ("offline", "stale")
        if banner != (self.layout.banner.height > 0):
            self.layout = Layout(*self.surface.get_size(), banner=banner)
            self.keys.clear()
        full = not self.keys
        if full:
            self.surface.fill(BACKGROUND)
        changed: list[pygame.Rect] = []
        local = now_at.astimezone(self.zone)
        regions = [
            ("header", (model.office_name, local.strftime("%Y-%m-%d %H:%M:%S")), self._header),
            ("banner", (status, model.data_at), self._banner),
            ("call", self._call_key(model, now_s), self._call),
            ("counters", (model.revision, tuple(model.counters.values())), self._counters),
            ("recent", tuple(model.previous), self._recent),
            ("waiting", tuple(model.waiting_rows()), self._waiting),
            ("notice", self._notice_key(model, now_s), self._notice),
        ]
        for name, key, painter in regions:
            rect = getattr(self.layout, name)
            if rect.height <= 0 or self.keys.get(name) == key:
                continue
            self.keys[name] = key
            self.marks[name] = []
            self.surface.set_clip(rect)
            painter(model, rect, now_s, local)
            self.surface.set_clip(None)
            changed.append(rect)
        if changed:
            self.frames += 1
        # After a layout change the gaps between regions changed too.
        return [self.layout.all] if full else changed

    def needs_motion(self, model: BoardModel, now_s: float) -> bool:
        """True while something moves (flash, scrolling notice): draw at full frame rate."""
        return model.flashing(now_s) or self._notice_scrolls(model)

    # -- regions --------------------------------------------------------------------------
    def _header(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        self.surface.fill(HEADER, rect)
        pad = self.layout.pad * 2
        clock_w = rect.width * 0.30
        date = f"{self._(WEEKDAYS[local.weekday()])}, {local:%d/%m/%Y}"
        clock_box = _rect(rect.right - clock_w - pad, rect.top, clock_w, rect.height)
        half = rect.height // 2
        fit = self.fonts.fit(date, clock_box.width, half, round(rect.height * 0.32), bold=False)
        self.fonts.draw(self.surface, fit, _rect(clock_box.x, rect.top + 4, clock_box.width, half), MUTED, "right")
        fit = self.fonts.fit(f"{local:%H:%M:%S}", clock_box.width, half, round(rect.height * 0.42), bold=True)
        self.fonts.draw(self.surface, fit, _rect(clock_box.x, rect.top + half - 4, clock_box.width, half), WHITE, "right")
        name_box = _rect(rect.left + pad, rect.top, rect.width - clock_w - 3 * pad, rect.height)
        fit = self.fonts.fit(model.office_name, name_box.width, name_box.height - 8, round(rect.height * 0.40), bold=True, lines=2)
        self.fonts.draw(self.surface, fit, name_box, WHITE)

    def _banner(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        status = model.status(now_s)
        when = model.data_at.astimezone(self.zone).strftime("%H:%M %d/%m/%Y") if model.data_at else ""
        if status == "stale":
            text, color = self._("No new data since {time}").format(time=when), AMBER
        elif model.data_at:
            text, color = self._("Offline - showing data from {time}").format(time=when), RED
        else:
            text, color = self._("Offline - no data yet"), RED
        self.surface.fill(color, rect)
        box = rect.inflate(-4 * self.layout.pad, -self.layout.pad)
        fit = self.fonts.fit(text, box.width, box.height, round(rect.height * 0.6), bold=True)
        self.fonts.draw(self.surface, fit, box, WHITE, "center")

    def _call_key(self, model: BoardModel, now_s: float) -> tuple:
        phase = int(now_s * 2) % 2 if model.flashing(now_s) else -1
        call = model.current_call
        waiting = model.status(now_s) == "waiting" and call is None
        return (call, phase, waiting, model.all_closed, model.counter_name(call.counter) if call else "")

    def _call(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        call = model.current_call
        lit = self._call_key(model, now_s)[1] == 1
        back, ink, number_ink = (YELLOW, BLACK, BLACK) if lit else (PANEL, WHITE, YELLOW)
        self.surface.fill(BACKGROUND, rect)
        pygame.draw.rect(self.surface, back, rect, border_radius=self.layout.pad)
        inner = rect.inflate(-4 * self.layout.pad, -2 * self.layout.pad)
        if call is None:
            if model.status(now_s) == "waiting":
                text = self._("Connecting…")
            else:
                text = self._("All counters are closed") if model.all_closed else self._("No call yet")
            fit = self.fonts.fit(text, inner.width, inner.height, round(rect.height * 0.12))
            self.fonts.draw(self.surface, fit, inner, MUTED, "center")
            return
        title = self._("Recall") + " · " + self._("Now calling number") if call.recall else self._("Now calling number")
        rows = [(title, 0.15, False, ink), (call.number, 0.45, True, number_ink)]
        where = self._("to counter {number}").format(number=call.counter_number or "?")
        rows += [(where, 0.17, True, ink), (model.counter_name(call.counter), 0.15, False, ink)]
        y: float = inner.top
        for index, (text, share, bold, color) in enumerate(rows):
            box = _rect(inner.left, y, inner.width, inner.height * share)
            if index == 1:
                self._number("call", text, call.channel, box, round(box.height * 0.9), color)
            else:
                fit = self.fonts.fit(text, box.width, box.height, round(box.height * 0.9), bold=bold, lines=2)
                self.fonts.draw(self.surface, fit, box, color, "center")
            y += inner.height * (share + 0.02)

    def _counters(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        self.surface.fill(BACKGROUND, rect)
        # Open and paused counters (a paused one says why); closed ones are left out.
        counters = [c for c in model.counters.values() if c.state != "closed"]
        rows = max(len(counters), 3) + 1
        row_h = rect.height / rows
        number_w, ticket_w = rect.width * 0.13, rect.width * 0.27
        header = _rect(rect.left, rect.top, rect.width, row_h)
        self.surface.fill(HEADER, header)
        size = round(row_h * 0.42)
        # The header row has no names: "Đang phục vụ" may use the name column's width too,
        # so it stays readable on a 1024x768 board (issue 22), flush with the tickets' right edge.
        pad = self.layout.pad
        wide_w = ticket_w + rect.width * 0.25
        self.counter_header_sizes = []
        for text, x, w, align in (
            (self._("Counter"), rect.left, number_w, "center"),
            (self._("Serving"), rect.right - wide_w - pad, wide_w, "right"),
        ):
            fit = self.fonts.fit(text, round(w * 0.9), round(row_h), size, bold=True)
            self.counter_header_sizes.append(fit.size)
            self.fonts.draw(self.surface, fit, _rect(x, header.top, w, row_h), WHITE, align)
        names = [self._counter_label(c) for c in counters]
        for index, counter in enumerate(counters):
            top = rect.top + row_h * (index + 1)
            row = _rect(rect.left, top, rect.width, row_h)
            if index % 2:
                self.surface.fill(PANEL, row)
            is_open = counter.state == "open"
            ink = WHITE if is_open else GREY
            number_box = _rect(rect.left, top, number_w, row_h)
            fit = self.fonts.fit(str(counter.number), number_box.width, row_h, round(row_h * 0.6), bold=True)
            self.fonts.draw(self.surface, fit, number_box, YELLOW if is_open else GREY, "center")
            name_box = _rect(rect.left + number_w + self.layout.pad, top, rect.width - number_w - ticket_w - 2 * self.layout.pad, row_h)
            name = names[index]
            fit = self._uniform(name, name_box, round(row_h * 0.92), round(row_h * 0.38), max(10, round(row_h * 0.18)), names)
            self.fonts.draw(self.surface, fit, name_box, ink)
            ticket_box = _rect(rect.right - ticket_w, top, ticket_w, row_h)
            ticket = counter.ticket_number if is_open else "–"
            channel = counter.channel if is_open and ticket else ""
            self._number("counters", ticket or "–", channel, ticket_box, round(row_h * 0.62), YELLOW if is_open else GREY,
                         stacked=True)

    def _number(self, region: str, text: str, channel: str, box: pygame.Rect, max_size: int,
                color: tuple[int, int, int], stacked: bool = False) -> None:
        """A ticket number centred in `box`; a booked or remote ticket gets its mark beside
        it: a teal badge ("Lịch hẹn" / "Từ xa") right of the number, the pair centred
        (`stacked`: under the number, for the narrow ticket column and the last calls)."""
        label = self._(MARK_LABELS[channel]) if channel in MARK_LABELS else ""
        if not label:
            fit = self.fonts.fit(text, box.width, box.height, max_size, bold=True)
            self.fonts.draw(self.surface, fit, box, color, "center")
            return
        pad = max(2, self.layout.pad // 2)
        if stacked:
            badge_h = round(box.height * 0.3)
            number_box = _rect(box.left, box.top + pad, box.width, box.height - badge_h - 2 * pad)
            fit = self.fonts.fit(text, number_box.width, number_box.height, max_size, bold=True)
            self.fonts.draw(self.surface, fit, number_box, color, "center")
            label_fit = self.fonts.fit(label, box.width - 2 * pad, badge_h - pad, round(badge_h * 0.7), 8, True)
            badge_w = self.fonts.width(label_fit.lines[0], label_fit.size, True) + 2 * pad
            badge = _rect(box.centerx - badge_w / 2, box.bottom - badge_h - pad, badge_w, badge_h)
            pygame.draw.rect(self.surface, MARK, badge, border_radius=max(2, badge_h // 4))
            self.fonts.draw(self.surface, label_fit, badge, BLACK, "center")
            self.marks.setdefault(region, []).append((text, " ".join(label_fit.lines), badge))
            return
        badge_h = max(12, round(min(box.height * 0.55, max_size * 0.7)))
        label_fit = self.fonts.fit(label, round(box.width * 0.42) - 2 * pad, badge_h - pad, round(badge_h * 0.7), 8, True)
        badge_w = self.fonts.width(label_fit.lines[0], label_fit.size, True) + 2 * pad
        fit = self.fonts.fit(text, box.width - badge_w - 2 * pad, box.height, max_size, bold=True)
        number_w = self.fonts.width(fit.lines[0], fit.size, True)
        left = box.centerx - (number_w + 2 * pad + badge_w) // 2
        self.fonts.draw(self.surface, fit, _rect(left, box.top, number_w, box.height), color)
        badge = _rect(left + number_w + 2 * pad, box.centery - badge_h / 2, badge_w, badge_h)
        pygame.draw.rect(self.surface, MARK, badge, border_radius=max(2, badge_h // 4))
        self.fonts.draw(self.surface, label_fit, badge, BLACK, "center")
        self.marks.setdefault(region, []).append((text, " ".join(label_fit.lines), badge))

    def _counter_label(self, counter) -> str:
        if counter.state != "paused":
            return counter.name
        reason = f": {counter.reason}" if counter.reason else ""
        return f"{counter.name} ({self._('Paused')}{reason})"

    def _uniform(self, text: str, box: pygame.Rect, height: int, max_size: int, min_size: int, texts: list[str]):
        """Fit `text` at the size the longest of `texts` gets, so a column reads evenly."""
        common = min(self.fonts.fit(t, box.width, height, max_size, min_size, False, 2).size for t in texts)
        return self.fonts.fit(text, box.width, height, max(common, min_size), min_size, False, 2, True)

    def _titled(self, rect: pygame.Rect, title: str) -> pygame.Rect:
        self.surface.fill(BACKGROUND, rect)
        pygame.draw.rect(self.surface, PANEL, rect, border_radius=self.layout.pad)
        title_h = rect.height * 0.2
        box = _rect(rect.left + 2 * self.layout.pad, rect.top, rect.width - 4 * self.layout.pad, title_h)
        self.fonts.draw(self.surface, self.fonts.fit(title, box.width, box.height, round(title_h * 0.6), bold=True), box, MUTED)
        pad = self.layout.pad
        return _rect(rect.left + 2 * pad, rect.top + title_h, rect.width - 4 * pad, rect.height - title_h - pad)

    def _recent(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        inner = self._titled(rect, self._("Last calls"))
        calls = model.previous
        columns, rows = 3, max(1, (model.recent_size + 2) // 3)
        cell_w, cell_h = inner.width / columns, inner.height / rows
        for index, call in enumerate(calls[: columns * rows]):
            x = inner.left + cell_w * (index % columns)
            y = inner.top + cell_h * (index // columns)
            cell = _rect(x, y, cell_w - self.layout.pad, cell_h - self.layout.pad)
            pygame.draw.rect(self.surface, BACKGROUND, cell, border_radius=self.layout.pad)
            text = f"{call.number} → {call.counter_number or '?'}"
            box = cell.inflate(-2 * self.layout.pad, 0)
            self._number("recent", text, call.channel, box, round(cell_h * 0.5), YELLOW if call.recall else WHITE, stacked=True)

    def _waiting(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        inner = self._titled(rect, self._("Waiting"))
        rows = model.waiting_rows()[:8]
        if not rows:
            return
        columns = 1 if len(rows) <= 3 else 2
        per_column = -(-len(rows) // columns)
        cell_w, cell_h = inner.width / columns, inner.height / max(per_column, 3)
        names = [n for n, _ in rows]
        for index, (name, count) in enumerate(rows):
            x = inner.left + cell_w * (index // per_column)
            y = inner.top + cell_h * (index % per_column)
            count_w = cell_w * 0.2
            name_box = _rect(x, y, cell_w - count_w - 2 * self.layout.pad, cell_h)
            fit = self._uniform(name, name_box, round(cell_h * 0.95), round(cell_h * 0.5), max(10, round(cell_h * 0.25)), names)
            self.fonts.draw(self.surface, fit, name_box, WHITE)
            count_box = _rect(x + cell_w - count_w - 2 * self.layout.pad, y, count_w, cell_h)
            fit = self.fonts.fit(str(count), count_box.width, cell_h, round(cell_h * 0.7), bold=True)
            self.fonts.draw(self.surface, fit, count_box, YELLOW, "right")

    # -- notice ---------------------------------------------------------------------------
    def _notice_size(self) -> int:
        return round(self.layout.notice.height * 0.5)

    def _notice_scrolls(self, model: BoardModel) -> bool:
        if not model.notice:
            return False
        return self.fonts.width(model.notice, self._notice_size()) > self.layout.notice.width - 4 * self.layout.pad

    def _notice_key(self, model: BoardModel, now_s: float) -> tuple:
        if not self._notice_scrolls(model):
            return (model.notice, 0)
        return (model.notice, int(now_s * self.notice_speed_px_s))

    def _notice(self, model: BoardModel, rect: pygame.Rect, now_s: float, local: datetime) -> None:
        if not model.notice:
            self.surface.fill(BLACK, rect)
            return
        if not self._notice_scrolls(model):
            self.surface.fill(BLACK, rect)
            text = self.fonts.render(model.notice, self._notice_size(), False, YELLOW)
            self.surface.blit(text, text.get_rect(center=rect.center))
            return
        strip, period = self._notice_strip(model.notice, rect)
        if self._notice_since[0] != model.notice:
            self._notice_since = (model.notice, now_s)  # a new notice starts at its beginning
        offset = int((now_s - self._notice_since[1]) * self.notice_speed_px_s) % period
        # An opaque copy from a pre-drawn strip: no text rendering or blending per frame.
        self.surface.blit(strip, rect.topleft, pygame.Rect(offset, 0, rect.width, rect.height))

    def _notice_strip(self, notice: str, rect: pygame.Rect) -> tuple[pygame.Surface, int]:
        key = (notice, rect.size)
        if self._strip_key != key or self._strip is None:
            text = self.fonts.render(notice, self._notice_size(), False, YELLOW)
            period = text.get_width() + rect.width // 3
            strip = pygame.Surface((period + rect.width, rect.height))
            if pygame.display.get_surface() is not None:
                strip = strip.convert()
            strip.fill(BLACK)
            y = (rect.height - text.get_height()) // 2
            strip.blit(text, (0, y))
            strip.blit(text, (period, y))  # so every window [offset, offset + width) is whole
            self._strip_key, self._strip = key, (strip, period)
        return self._strip
