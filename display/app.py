"""The board's loop: drain the inbox -> update the model -> draw what changed -> wait.

`BoardApp.step()` is one iteration; it waits on the inbox (not a busy loop) until a
message arrives or the next frame is due, so a call is drawn as soon as it arrives
and an idle board wakes once a second for the clock (or at the frame rate while the
notice scrolls or a call flashes). Snapshots are written atomically as PNG.

Imports pygame; the MQTT side (display.feed) only hands it queued items.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pygame

from display.announcer import Announcer
from display.board import BoardModel
from display.feed import Inbound, apply_inbound
from display.render import Renderer
from display.settings import DisplaySettings
from display.text import Fonts
from protocol import clock
from protocol.i18n import translator
from protocol.sites import DEFAULT_ZONE

log = logging.getLogger(__name__)


def build_model(settings: DisplaySettings) -> BoardModel:
    section = settings.display
    site_id = section.site or ""
    return BoardModel(
        site_id,
        settings.site(site_id),
        stale_after_s=section.stale_after_s,
        flash_s=section.flash_s,
        recent_size=section.recent_calls,
        announce_max_age_s=section.announce_max_age_s,
        notice=section.notice,
    )


def save_png(surface: pygame.Surface, path: Path) -> None:
    """Write a PNG atomically, so a monitor never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    pygame.image.save(surface, str(temporary))
    os.replace(temporary, path)


class BoardApp:
    def __init__(
        self,
        settings: DisplaySettings,
        surface: pygame.Surface,
        inbox: queue.Queue[Inbound],
        announcer: Announcer | None = None,
        *,
        model: BoardModel | None = None,
        wall: Callable[[], datetime] = clock.now,  # the project clock
        mono: Callable[[], float] = time.monotonic,
        present: Callable[[list[pygame.Rect]], None] | None = None,
    ):
        section = settings.display
        self.settings = settings
        self.surface = surface
        self.inbox = inbox
        self.announcer = announcer
        self.model = model or build_model(settings)
        site = settings.site(self.model.site_id)
        zone = site.zone if site else DEFAULT_ZONE
        self.renderer = Renderer(
            surface, Fonts(section.font, section.font_bold), translator("display", settings.locale),
            zone, section.notice_speed_px_s,
        )
        self.wall = wall
        self.mono = mono
        self.present = present or (lambda rects: pygame.display.update(rects))
        self.frame_s = 1.0 / section.fps
        self.snapshot_path = section.snapshot
        self.snapshot_every_s = section.snapshot_every_s
        self._next_snapshot_s = mono() + section.snapshot_every_s if section.snapshot_every_s else None
        self.latencies_s: deque[float] = deque(maxlen=10_000)
        self.running = True

    def next_timeout_s(self) -> float:
        """How long the loop may sleep: one frame while something moves, else until the
        clock's next second."""
        now_s = self.mono()
        if self.renderer.needs_motion(self.model, now_s):
            return self.frame_s
        wall = self.wall()
        return max(0.01, 1.0 - wall.microsecond / 1_000_000)

    def _drain(self, timeout_s: float) -> list[Inbound]:
        items: list[Inbound] = []
        try:
            items.append(self.inbox.get(timeout=timeout_s) if timeout_s > 0 else self.inbox.get_nowait())
            while True:
                items.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return items

    def _handle_input(self) -> None:
        if not pygame.display.get_init():
            return  # an off-screen board (snapshot) has no window to close
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.running = False
            elif event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_q):
                self.running = False

    def step(self, timeout_s: float = 0.0) -> bool:
        """One loop iteration; returns False once the board should stop."""
        items = self._drain(timeout_s)
        now_s, now_at = self.mono(), self.wall()
        for item in items:
            _, announcement = apply_inbound(item, self.model, now_s, now_at)
            if announcement is not None and self.announcer is not None:
                self.announcer.announce(announcement)
        self._handle_input()
        rects = self.renderer.draw(self.model, now_s, now_at)
        if rects:
            self.present(rects)
            presented = time.perf_counter()
            self.latencies_s.extend(presented - item.put_s for item in items if item.put_s)
        if self._next_snapshot_s is not None and now_s >= self._next_snapshot_s and self.snapshot_path:
            self._next_snapshot_s = now_s + self.snapshot_every_s
            try:
                save_png(self.surface, self.snapshot_path)
                self._save_shown(now_at)
            except (OSError, pygame.error) as exc:
                log.warning("could not write snapshot %s: %s", self.snapshot_path, exc)
        return self.running

    def _save_shown(self, now_at: datetime) -> None:
        """Beside the PNG, what it shows as JSON (`board.json` for `board.png`): the board's
        clock, the big call, the counters. A monitor or a test reads the board's time from
        it without reading pixels; `real_ts` is the real time it was written."""
        call = self.model.current_call
        shown = {
            "shown_at": now_at.isoformat(), "real_ts": time.time(),
            "call": {"number": call.number, "counter": call.counter} if call else None,
            "counters": {c.id: {"state": c.state, "ticket": c.ticket_number} for c in self.model.counters.values()},
        }
        if self.snapshot_path is None:
            return
        path = Path(self.snapshot_path).with_suffix(".json")
        temporary = path.with_name(f".{path.stem}.tmp.json")
        temporary.write_text(json.dumps(shown, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, path)

    def run(self, until: Callable[[], bool] | None = None) -> None:
        while self.step(self.next_timeout_s()):
            if until is not None and until():
                break
