"""Status lights (ready / printing / fault) and an optional buzzer on gpiozero pins.

`StatusLights.show(state)` sets the steady lights; `signal_refusal()` blinks the fault
light (and beeps when a buzzer is wired) so a citizen whose press gives no ticket sees
why something did not happen. Any light may be left unwired (pin None).
No kiosk or printer imports here; gpiozero is imported only inside the constructor.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

STATES = ("ready", "printing", "fault", "closed", "off")


class StatusLights:
    def __init__(
        self,
        factory: Any,
        *,
        ready: int | None = None,
        printing: int | None = None,
        fault: int | None = None,
        buzzer: int | None = None,
        beep: bool = False,
    ):
        from gpiozero import LED, Buzzer

        self.ready = LED(ready, pin_factory=factory) if ready is not None else None
        self.printing = LED(printing, pin_factory=factory) if printing is not None else None
        self.fault = LED(fault, pin_factory=factory) if fault is not None else None
        # The buzzer exists whenever it is wired; `beep` only decides refusal beeps.
        self.buzzer = Buzzer(buzzer, pin_factory=factory) if buzzer is not None else None
        self.beep_on_refusal = beep
        self._timers: list[threading.Timer] = []
        self.state = "off"

    def show(self, state: str) -> None:
        """ready: green on; printing: amber on; fault: red on; closed: all off."""
        if state not in STATES:
            raise ValueError(f"unknown light state {state!r}")
        self.state = state
        self._set(self.ready, state == "ready")
        self._set(self.printing, state == "printing")
        self._set(self.fault, state == "fault")

    def signal_refusal(self, times: int = 3) -> None:
        """Blink the fault light (then restore the steady state) and beep if enabled."""
        if self.fault is not None:
            self.fault.blink(on_time=0.15, off_time=0.15, n=times, background=True)
            # blink() leaves the light off; a standing fault must stay lit afterwards.
            restore = threading.Timer(0.3 * times + 0.05, self._restore)
            restore.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [restore]
            restore.start()
        if self.buzzer is not None and self.beep_on_refusal:
            self.buzzer.beep(on_time=0.1, off_time=0.1, n=times, background=True)

    def confirm(self) -> None:
        """One short beep: a ticket was printed (for citizens who cannot see the slot)."""
        if self.buzzer is not None:
            self.buzzer.beep(on_time=0.08, off_time=0.05, n=1, background=True)

    def _restore(self) -> None:
        if self.fault is not None and self.state == "fault" and not self.fault.is_lit:
            self.fault.on()

    def describe(self) -> list[str]:
        names = (("ready", self.ready), ("printing", self.printing), ("fault", self.fault), ("buzzer", self.buzzer))
        return [f"{name}: {device.pin}" for name, device in names if device is not None]

    def close(self) -> None:
        for timer in self._timers:  # a pending restore must not touch a closed light
            timer.cancel()
        for device in (self.ready, self.printing, self.fault, self.buzzer):
            if device is not None:
                device.close()

    @staticmethod
    def _set(led: Any, on: bool) -> None:
        if led is None:
            return
        if on:
            led.on()
        else:
            led.off()
