"""The desk keypad: a few big buttons at a counter (or a USB keypad) that send
`commands/{counter}` to the server, which treats them exactly as console actions.

Buttons map to actions: `next`, `recall`, `no_show`, `complete` (outcome left to the
server's default, `info`), and `returned` / `appointment` / `guided` / `info` meaning
"complete with this outcome". A command is sent only while the broker link is up:
a "next" pressed while offline must not fire minutes later (the server's command
session is clean for the same reason), so an offline press blinks the fault light and
sends nothing. Same hardware seams and fakes as the kiosk. No SQLite, no FastAPI here.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware.buttons import ButtonBoard, KeypadReader, Press, PressGate, make_pin_factory
from protocol import topics
from protocol.link import MqttLink
from protocol.settings import BrokerSettings, CommonSettings
from protocol.sites import Slug

log = logging.getLogger(__name__)

Action = Literal["next", "recall", "no_show", "complete", "returned", "appointment", "guided", "info"]
OUTCOME_ACTIONS = ("returned", "appointment", "guided", "info")
DEFAULT_KEYS: dict[str, Action] = {"N": "next", "R": "recall", "X": "no_show", "C": "complete", "1": "returned", "2": "appointment"}


class DeskpadLeds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the green 'connected' light")
    fault: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the red 'offline / refused' light")


class DeskpadSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Slug = Field(description="site id of this keypad")
    device_id: Slug = Field(description="device id; also its broker user and MQTT client id")
    counter: Slug = Field(description="the counter this keypad works")
    buttons: dict[Action, int] = Field(
        default_factory=dict, description="action -> GPIO (BCM) pin: next, recall, no_show, complete, returned, ..."
    )
    keys: dict[str, Action] = Field(
        default_factory=lambda: dict(DEFAULT_KEYS), description="keyboard key -> action for pin_factory = keyboard"
    )
    pin_factory: Literal["mock", "lgpio", "keyboard"] = Field(
        default="lgpio", description="lgpio (real pins), mock (tests), keyboard (lines on stdin / USB keypad)"
    )
    leds: DeskpadLeds = Field(default_factory=DeskpadLeds, description="status light pins")
    debounce_s: float = Field(default=0.5, ge=0, le=5, description="presses of one button closer than this count once")

    @model_validator(mode="after")
    def _some_input(self) -> DeskpadSection:
        if self.pin_factory != "keyboard" and not self.buttons:
            raise ValueError("give keypad.buttons (action -> pin), or use pin_factory = \"keyboard\"")
        return self


class DeskpadSettings(CommonSettings):
    """Settings of `xephang keypad`."""

    keypad: DeskpadSection = Field(description="this desk keypad")

    @model_validator(mode="after")
    def _known(self) -> DeskpadSettings:
        k = self.keypad
        site = self.site(k.site)
        if site is None:
            raise ValueError(f"keypad.site {k.site!r} is not one of the configured sites")
        if site.counter(k.counter) is None:
            raise ValueError(f"keypad.counter {k.counter!r} is not a counter of site {k.site!r}")
        return self

    def broker_login(self) -> BrokerSettings:
        if self.broker.username:
            return self.broker
        return self.broker.model_copy(update={"username": self.keypad.device_id})


def command_payload(action: str, device: str) -> dict[str, Any]:
    if action in OUTCOME_ACTIONS:
        return {"action": "complete", "outcome": action, "device": device}
    return {"action": action, "device": device}


class DeskPad:
    """Buttons in, commands out; lights say whether presses can reach the server."""

    def __init__(self, settings: DeskpadSettings, pin_factory: Any | None = None):
        self.settings = settings
        k = settings.keypad
        self.sent: list[dict[str, Any]] = []
        self.refused = 0
        self._lock = threading.Lock()
        self.gate = PressGate(debounce_s=k.debounce_s, rate_count=1000, rate_window_s=1.0)
        self.link = MqttLink(
            k.device_id, settings.broker_login(), clean_session=True,
            status_topic=topics.device_status(k.site, k.device_id), status_details={"counter": k.counter},
            on_connection_change=self._show_link,
        )
        self.buttons = self.lights = None
        if k.pin_factory != "keyboard":
            from gpiozero import LED

            factory = pin_factory or make_pin_factory(k.pin_factory)
            pins: dict[str, int] = {action: pin for action, pin in k.buttons.items()}
            self.buttons = ButtonBoard(factory, pins, self._pressed)
            self.ready = LED(k.leds.ready, pin_factory=factory) if k.leds.ready is not None else None
            self.fault = LED(k.leds.fault, pin_factory=factory) if k.leds.fault is not None else None
        else:
            self.ready = self.fault = None

    def _pressed(self, press: Press, _source: str) -> None:
        self.press(press.service)

    def press(self, action: str) -> str:
        """Send one action; returns "sent", "offline" or "bounce"."""
        verdict = self.gate.try_acquire(action)
        if verdict != "accepted":
            return verdict
        self.gate.release(action, issued=True)
        k = self.settings.keypad
        if not self.link.connected.is_set():
            self.refused += 1
            if self.fault is not None:
                self.fault.blink(on_time=0.15, off_time=0.15, n=3, background=True)
                # blink() ends dark; the link is still down, so light it again after.
                restore = threading.Timer(1.0, lambda: self._show_link(self.link.connected.is_set()))
                restore.daemon = True
                restore.start()
            log.warning("keypad offline: %s not sent", action)
            return "offline"
        payload = command_payload(action, k.device_id)
        self.link.publish(topics.command(k.site, k.counter), json.dumps(payload).encode(), qos=1)
        with self._lock:
            self.sent.append(payload)
        return "sent"

    def _show_link(self, connected: bool) -> None:
        if self.ready is not None:
            self.ready.value = connected
        if self.fault is not None:
            self.fault.value = not connected

    def start(self) -> DeskPad:
        self._show_link(False)
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()
        if self.buttons is not None:
            self.buttons.close()
        for led in (self.ready, self.fault):
            if led is not None:
                led.close()

    def keyboard(self) -> KeypadReader:
        keys = {key.upper(): action for key, action in self.settings.keypad.keys.items()}
        return KeypadReader(keys, self._pressed, on_unknown=lambda line: log.warning("unknown key %r", line))
