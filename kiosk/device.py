"""The skeleton of a button program (the kiosk, the feedback keypad): one loop thread owns
the device's SQLite file and does all the work; `start` returns once that thread has
opened its store (or raises what stopped it) and then connects the MQTT link; `stop` ends
the loop and releases the link, buttons and lights. Subclasses give the loop (`_run`,
which calls `_started` or `_failed` once) and how to ask it to stop (`_request_stop`).
Imports only the standard library.
"""

from __future__ import annotations

import threading
from typing import Any


class DeviceLoop:
    thread_name = "device-loop"
    link: Any
    buttons: Any
    lights: Any

    def _init_loop(self) -> None:
        self._ready = threading.Event()
        self._idle = threading.Event()  # set when every accepted press has been handled
        self._idle.set()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- for the loop thread ----------------------------------------------------------
    def _started(self) -> None:
        self._ready.set()

    def _failed(self, exc: BaseException) -> None:
        self._start_error = exc
        self._ready.set()

    def _run(self) -> None:
        raise NotImplementedError

    def _request_stop(self) -> None:
        raise NotImplementedError

    # -- life cycle -------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Any:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the {self.thread_name} did not start")
        if self._start_error is not None:
            raise self._start_error
        self.link.start()
        return self

    def _stop_loop(self) -> None:
        self._request_stop()
        if self._thread is not None:
            self._thread.join(10)
        self.link.stop()
        if self.buttons:
            self.buttons.close()
        if self.lights:
            self.lights.close()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """True once every accepted press has been handled."""
        return self._idle.wait(timeout_s)
