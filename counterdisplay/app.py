"""The running counter display: the retained board state of its site in, one short line
out. paho's thread only parses and keeps the newest state; a loop redraws when the line
changes and at least every second checks staleness (offline state). Imports protocol and
this package; luma through `screen`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from counterdisplay.screen import draw, open_screen
from counterdisplay.settings import CounterDisplaySettings
from counterdisplay.view import CounterView, counter_view
from protocol import clock as project_clock
from protocol import topics
from protocol.link import MqttLink
from protocol.state import BoardState

log = logging.getLogger(__name__)


class CounterDisplay:
    def __init__(self, settings: CounterDisplaySettings, *, clock: Callable[[], datetime] = project_clock.now,
                 device: Any | None = None, interval_s: float = 1.0):
        section = settings.counter_display
        site = settings.site_config
        counter = site.counter(section.counter) if site else None
        self.settings = settings
        self.section = section
        self.number = counter.number if counter else 0
        self.clock = clock
        self.interval_s = interval_s
        self.device = device if device is not None else open_screen(section)
        self.board: BoardState | None = None
        self.shown: CounterView | None = None
        self.frames = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.link = MqttLink(
            section.device, settings.broker_login(),
            subscriptions=[(topics.board_state(section.site), 1)],
            on_message=self._on_message,
            status_topic=topics.device_status(section.site, section.device),
            status_details={"role": "counter-display", "counter": section.counter},
            on_connection_change=lambda _up: self._wake.set(),
        )

    def _on_message(self, message: Any) -> None:
        try:
            board = BoardState.model_validate_json(message.payload)
        except ValidationError:
            self.rejected += 1
            log.warning("board state not readable; keeping the last one")
            return
        with self._lock:
            self.board = board
        self._wake.set()

    def view(self) -> CounterView:
        with self._lock:
            board = self.board
        return counter_view(board, self.section.counter, self.number, self.clock(), self.section.stale_after_s,
                            self.link.connected.is_set())

    def refresh(self) -> CounterView:
        view = self.view()
        if view != self.shown:
            draw(self.device, view, self.section.snapshot)
            self.shown = view
            self.frames += 1
        return view

    def start(self) -> CounterDisplay:
        self.refresh()  # the offline state until the first board state arrives
        self._thread = threading.Thread(target=self._run, name="counter-display", daemon=True)
        self._thread.start()
        self.link.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a screen hiccup must not end the program
                log.exception("drawing failed")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self.link.stop()
