"""Push buttons and keypads that turn one physical press into one request.

- `PressGate`: debounce, a lock held until the print finishes, and a per-button rate
  limit, all on an injected clock (gpiozero's MockPin ignores `bounce_time`, so the
  "one press, one ticket" rule lives here and is tested with a fake clock).
- `make_pin_factory(name)`: the gpiozero back-end chosen by configuration
  ("mock" or "lgpio"), never picked by sniffing what happens to import.
- `ButtonBoard`: gpiozero `Button`s, one per service, plus an optional priority button.
- `KeypadReader`: the same presses from text lines (stdin or a USB keypad): `A`, `P A`.

No kiosk, SQLite or printer imports here; gpiozero is imported only inside functions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

log = logging.getLogger(__name__)

PIN_FACTORIES = ("mock", "lgpio", "keyboard")
SCAN_MIN = 10  # a booking code has 10 symbols; keys are one or two words


@dataclass(frozen=True)
class Press:
    """A request for a ticket: which service, and a priority category or None."""

    service: str
    priority: str | None = None


class PressGate:
    """Decides whether a press becomes a ticket.

    A press is refused when it comes within `debounce_s` of the last accepted press of
    the same button (contact chatter), while a ticket is being issued (`busy`), or when
    the button already gave `rate_count` tickets within `rate_window_s` (a child pressing
    twenty times). Thread-safe: gpiozero calls back from its own threads.
    """

    def __init__(
        self,
        *,
        debounce_s: float = 0.3,
        rate_count: int = 3,
        rate_window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if debounce_s < 0 or rate_count < 1 or rate_window_s <= 0:
            raise ValueError("need debounce_s >= 0, rate_count >= 1, rate_window_s > 0")
        self.debounce_s = debounce_s
        self.rate_count = rate_count
        self.rate_window_s = rate_window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._busy = False
        self._last_edge: dict[str, float] = {}
        self._accepted: dict[str, deque[float]] = {}
        self.refused: dict[str, int] = {"bounce": 0, "busy": 0, "rate_limited": 0}

    def try_acquire(self, button: str) -> str:
        """Return "accepted" (the caller must later call `release()`) or why not."""
        with self._lock:
            now = self._clock()
            last = self._last_edge.get(button)
            # Every edge restarts the debounce window, so a burst of chatter counts once.
            self._last_edge[button] = now
            if last is not None and now - last < self.debounce_s:
                return self._refuse("bounce")
            if self._busy:
                return self._refuse("busy")
            history = self._accepted.setdefault(button, deque())
            while history and now - history[0] >= self.rate_window_s:
                history.popleft()
            if len(history) >= self.rate_count:
                return self._refuse("rate_limited")
            history.append(now)
            self._busy = True
            return "accepted"

    def release(self, button: str | None = None, issued: bool = True) -> None:
        """End the lock. `issued=False` (refused: closed, printer fault, print failed)
        gives the press back, so it does not count towards the button's rate limit."""
        with self._lock:
            self._busy = False
            if not issued and button is not None:
                history = self._accepted.get(button)
                if history:
                    history.pop()

    @property
    def busy(self) -> bool:
        return self._busy

    def _refuse(self, why: str) -> str:
        self.refused[why] += 1
        return why


def make_pin_factory(name: str) -> Any:
    """The gpiozero pin factory named in configuration ("mock" or "lgpio")."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if name == "lgpio":
        try:
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        except (ImportError, OSError, RuntimeError) as exc:
            raise RuntimeError(f"lgpio pins are not available here ({exc}); use pin_factory = \"mock\" or \"keyboard\"") from None
    raise ValueError(f"unknown pin factory {name!r}; use one of {PIN_FACTORIES}")


class ButtonBoard:
    """gpiozero buttons wired to ground (internal pull-up): one per service.

    The priority button arms priority for the next service press within
    `priority_window_s`; pressing it alone issues nothing.
    """

    def __init__(
        self,
        factory: Any,
        buttons: Mapping[str, int],
        on_press: Callable[[Press, str], object],
        *,
        priority_pin: int | None = None,
        priority_category: str | None = None,
        priority_window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        from gpiozero import Button

        self.factory = factory
        self._on_press = on_press
        self._clock = clock
        self._priority_category = priority_category
        self._priority_window_s = priority_window_s
        self._priority_armed_at: float | None = None
        self.devices: dict[str, Any] = {}
        for service, pin in buttons.items():
            button = Button(pin, pull_up=True, bounce_time=None, pin_factory=factory)
            button.when_pressed = self._handler(service)
            self.devices[service] = button
        self.priority_button = None
        if priority_pin is not None:
            self.priority_button = Button(priority_pin, pull_up=True, bounce_time=None, pin_factory=factory)
            self.priority_button.when_pressed = self._arm_priority

    def _handler(self, service: str) -> Callable[[], None]:
        def pressed() -> None:
            priority = None
            armed = self._priority_armed_at
            if armed is not None and self._clock() - armed <= self._priority_window_s:
                priority = self._priority_category
            self._priority_armed_at = None
            self._on_press(Press(service, priority), f"pin:{service}")

        return pressed

    def _arm_priority(self) -> None:
        self._priority_armed_at = self._clock()

    def describe(self) -> list[str]:
        lines = [f"{service}: {button.pin}" for service, button in self.devices.items()]
        if self.priority_button is not None:
            lines.append(f"priority: {self.priority_button.pin}")
        return lines

    def close(self) -> None:
        for button in self.devices.values():
            button.close()
        if self.priority_button is not None:
            self.priority_button.close()


class KeypadReader:
    """Presses from text lines: `A` (service key), `P A` (priority + key), `q` to quit.

    For kiosks without GPIO (a USB keypad types a key and Enter) and for testing by hand.
    Unknown keys are reported through `on_unknown`, never raised.
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        on_press: Callable[[Press, str], object],
        *,
        priority_category: str | None = None,
        on_unknown: Callable[[str], None] | None = None,
        on_scan: Callable[[str], object] | None = None,
    ):
        self.keys = {key.upper(): service for key, service in keys.items()}
        # A USB QR scanner types its text and Enter like a keypad: a line with "|" is an ID
        # card (kiosk/cccd.py, never echoed); a line that is no key and at least SCAN_MIN
        # characters long is a code (booking check-in, docs/booking.md).
        self._on_scan = on_scan
        self._on_press = on_press
        self._priority_category = priority_category
        self._on_unknown = on_unknown or (lambda line: log.warning("unknown key %r", line))

    def parse(self, line: str) -> Press | None:
        words = line.strip().upper().split()
        priority = None
        if len(words) == 2 and words[0] == "P" and self._priority_category:
            priority = self._priority_category
            words = words[1:]
        if len(words) != 1 or words[0] not in self.keys:
            return None
        return Press(self.keys[words[0]], priority)

    def feed(self, line: str) -> bool:
        """Handle one line; False means "quit"."""
        text = line.strip()
        if not text:
            return True
        if text.lower() in ("q", "quit", "exit"):
            return False
        if self._on_scan is not None and "|" in text:
            self._on_scan(text)  # never echoed: it may be an ID card
            return True
        press = self.parse(text)
        if press is None and self._on_scan is not None and len(text) >= SCAN_MIN:
            self._on_scan(text[:500])
            return True
        if press is None:
            self._on_unknown(text[:40])
            return True
        self._on_press(press, f"key:{self.keys_for(press.service)}")
        return True

    def keys_for(self, service: str) -> str:
        return next((k for k, s in self.keys.items() if s == service), service)

    def run(self, stream: TextIO | Iterable[str]) -> None:
        """Read lines until end of input or `q`."""
        for line in stream:
            if not self.feed(line):
                return
