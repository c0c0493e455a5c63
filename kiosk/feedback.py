"""The rating keypad at a counter (`xephang feedback`): 3 or 4 big buttons, one rating
for the ticket the counter has just completed.

It listens to its site's `ticket.completed` events and remembers the last ticket
completed at ITS counter and when it heard of it. A press within `window_s` of that
becomes one `feedback.given` {ticket_id, counter, rating, scale}; any further press for
that ticket, a press with no completion heard, or one after the window is refused (the
red light blinks). Ratings are anonymous: nothing but the ticket id, the counter and the
rating leaves the device.

Threads as in the kiosk: gpiozero (or the keyboard reader) and paho only put items on
a queue; one loop thread owns the SQLite file (event seq, rated tickets, unsent events)
and the lights. The MQTT session is clean: completions heard while the keypad was
away are stale and must not open a window. Events not yet acknowledged by the broker
stay in SQLite and are sent again on reconnect (the server ignores duplicate ids).
Hardware comes from configuration (`pin_factory`); tests pass a gpiozero MockFactory.
No printer or server imports here.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware.buttons import ButtonBoard, Press, PressGate, make_pin_factory
from hardware.leds import StatusLights
from kiosk.device import DeviceLoop
from protocol import clock as project_clock
from protocol import topics
from protocol.events import InvalidEvent, TicketCompleted, make_event, parse_event
from protocol.link import MqttLink
from protocol.settings import BrokerSettings, CommonSettings
from protocol.sites import Slug

log = logging.getLogger(__name__)

FILE_NAME = "feedback.sqlite3"
SCALE_LEVELS = {"3-level": 3, "4-level": 4}
THANKS_S = 3.0


class FeedbackLeds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the light lit while a rating is possible")
    thanks: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the light lit for a few seconds after a rating")
    refused: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the light that blinks when a press is refused")
    buzzer: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of an optional active buzzer")


class FeedbackSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Slug = Field(description="site id of this keypad")
    device_id: Slug = Field(description="device id; also its broker user, MQTT client id and event source")
    counter: Slug = Field(description="counter id whose completed tickets this keypad rates")
    scale: Literal["3-level", "4-level"] = Field(
        default="4-level", description="3-level or 4-level; rating 1 = rất hài lòng (very satisfied)"
    )
    buttons: dict[int, int] = Field(
        min_length=3, max_length=4, description="rating (1 = best) -> GPIO (BCM) pin of its button; one per level"
    )
    keys: dict[str, int] = Field(
        default_factory=dict, description="keyboard key -> rating for pin_factory = keyboard (default: 1, 2, 3, 4)"
    )
    window_s: float = Field(default=60.0, gt=0, le=3600, description="seconds after a completion during which a rating is accepted")
    pin_factory: Literal["mock", "lgpio", "keyboard"] = Field(
        default="lgpio",
        description="lgpio (real pins on a Pi), mock (gpiozero MockFactory: tests, demo), keyboard (lines on stdin / USB keypad)",
    )
    leds: FeedbackLeds = Field(default_factory=FeedbackLeds, description="light and buzzer pins")
    beep: bool = Field(default=False, description="beep the buzzer when a press is refused")
    debounce_s: float = Field(default=0.3, ge=0, le=5, description="presses of one button closer than this count once")
    data_dir: Path = Field(
        default=Path("var/feedback"), description="directory of the keypad's SQLite file (seq, rated tickets, unsent events)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackSection:
        levels = SCALE_LEVELS[self.scale]
        if sorted(self.buttons) != list(range(1, levels + 1)):
            raise ValueError(f"a {self.scale} keypad needs buttons for ratings 1..{levels}, got {sorted(self.buttons)}")
        bad_keys = sorted(v for v in self.keys.values() if not 1 <= v <= levels)
        if bad_keys:
            raise ValueError(f"feedback.keys give ratings outside 1..{levels}: {bad_keys}")
        pins = [*self.buttons.values(), self.leds.open, self.leds.thanks, self.leds.refused, self.leds.buzzer]
        used = [p for p in pins if p is not None]
        if len(set(used)) != len(used):
            raise ValueError("two buttons or lights share a GPIO pin")
        return self


class FeedbackSettings(CommonSettings):
    """Settings of `xephang feedback`."""

    feedback: FeedbackSection = Field(description="this rating keypad")

    @model_validator(mode="after")
    def _known(self) -> FeedbackSettings:
        f = self.feedback
        site = self.site(f.site)
        if site is None:
            raise ValueError(f"feedback.site {f.site!r} is not one of the configured sites")
        if site.counter(f.counter) is None:
            raise ValueError(f"feedback.counter {f.counter!r} is not a counter of site {f.site!r}")
        device = next((d for d in self.devices if d.id == f.device_id), None)
        if device is not None and (device.role != "feedback" or device.site != f.site or device.counter != f.counter):
            raise ValueError(f"device {f.device_id!r} is not a feedback keypad of {f.site}/{f.counter}")
        return self

    def broker_login(self) -> BrokerSettings:
        """The broker settings with the user name defaulting to the device id."""
        if self.broker.username:
            return self.broker
        return self.broker.model_copy(update={"username": self.feedback.device_id})

    def keypad_keys(self) -> dict[str, str]:
        """Key -> rating (as text) for the keyboard back-end."""
        keys = self.feedback.keys or {str(r): r for r in self.feedback.buttons}
        return {key.upper(): str(rating) for key, rating in keys.items()}


# -- the keypad's SQLite file -----------------------------------------------------------
_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ratings (
    ticket_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ready', 'sent')),
    created_at TEXT NOT NULL
);
"""


def open_feedback_store(data_dir: Path | str) -> sqlite3.Connection:
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(directory / FILE_NAME, isolation_level=None, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_DDL)
    return db


# -- the rule -----------------------------------------------------------------------------
class RatingWindow:
    """Which ticket a press rates: the last one completed at this counter, for
    `window_s` after it was heard of, once. Pure; times from one monotonic clock."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.ticket_id: str | None = None
        self.opened_at: float = 0.0
        self.rated = False

    def open(self, ticket_id: str, at: float) -> None:
        self.ticket_id, self.opened_at, self.rated = ticket_id, at, False

    def mark_rated(self) -> None:
        self.rated = True

    def verdict(self, at: float) -> str:
        """"open", "no_ticket", "already_rated" or "expired"."""
        if self.ticket_id is None:
            return "no_ticket"
        if self.rated:
            return "already_rated"
        return "open" if at - self.opened_at <= self.window_s else "expired"


class FeedbackApp(DeviceLoop):
    """The running keypad: buttons in, feedback.given out."""

    thread_name = "feedback loop"

    def __init__(
        self,
        settings: FeedbackSettings,
        *,
        pin_factory: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = project_clock.now,
    ):
        self.settings = settings
        f = settings.feedback
        self.site = settings.site(f.site)
        self._clock = clock
        self._wall_clock = wall_clock
        self.window = RatingWindow(f.window_s)
        self.gate = PressGate(debounce_s=f.debounce_s, rate_count=1000, rate_window_s=60.0, clock=clock)
        self.outcomes: dict[str, int] = {"accepted": 0, "no_ticket": 0, "expired": 0, "already_rated": 0}
        self.published = 0
        self.heard = {"this_counter": 0, "other_counters": 0}  # completions received
        self._items: queue.SimpleQueue[tuple[str, Any, float]] = queue.SimpleQueue()
        self._init_loop()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._inflight: dict[int, str] = {}  # paho mid -> ticket id
        self._thanks_until: float | None = None
        self.link = MqttLink(
            f.device_id,
            settings.broker_login(),
            subscriptions=[(topics.event(f.site, "ticket.completed"), 1)],
            on_message=self._on_message,
            status_topic=topics.device_status(f.site, f.device_id),
            status_details={"role": "feedback", "counter": f.counter},
            on_published=lambda mid: self._put("acked", mid),
            on_connection_change=lambda up: self._put("link", up),
            clean_session=True,
        )
        self.buttons: ButtonBoard | None = None
        self.lights: StatusLights | None = None
        if f.pin_factory != "keyboard":
            factory = pin_factory if pin_factory is not None else make_pin_factory(f.pin_factory)
            pins = {str(rating): pin for rating, pin in f.buttons.items()}
            self.buttons = ButtonBoard(factory, pins, self.press_event, clock=clock)
            # The kiosk's three lights, by role: ready = a rating is possible,
            # printing = thank you, fault = refused.
            self.lights = StatusLights(factory, ready=f.leds.open, printing=f.leds.thanks, fault=f.leds.refused,
                                       buzzer=f.leds.buzzer, beep=f.beep)

    # -- from buttons, keyboard and paho (any thread) ----------------------------------
    def press_event(self, press: Press, button: str | None = None) -> str:
        """A ButtonBoard / KeypadReader press: `press.service` carries the rating."""
        return self.press(int(press.service))

    def press(self, rating: int) -> str:
        """Apply the debounce gate and queue the press. Returns the gate's verdict."""
        verdict = self.gate.try_acquire(str(rating))
        if verdict == "accepted":
            with self._pending_lock:
                self._pending += 1
                self._idle.clear()
            self._put("press", rating)
        return verdict

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        try:
            event = parse_event(message.payload)
        except InvalidEvent as exc:
            log.warning("ignored a bad event on %s: %s", message.topic, exc.reason)
            return
        f = self.settings.feedback
        if not isinstance(event, TicketCompleted) or event.site != f.site:
            return
        if event.data.counter == f.counter:
            self.heard["this_counter"] += 1
            self._put("completed", str(event.data.ticket_id))
        else:
            self.heard["other_counters"] += 1

    def _put(self, kind: str, value: Any) -> None:
        self._items.put((kind, value, self._clock()))

    # -- life cycle -------------------------------------------------------------------
    def stop(self) -> None:
        self._stop_loop()

    def _request_stop(self) -> None:
        self._items.put(("stop", None, 0.0))

    def unsent(self) -> int:
        db = open_feedback_store(self.settings.feedback.data_dir)
        try:
            return db.execute("SELECT COUNT(*) FROM ratings WHERE state = 'ready'").fetchone()[0]
        finally:
            db.close()

    # -- the loop thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            db = open_feedback_store(self.settings.feedback.data_dir)
        except (OSError, sqlite3.Error) as exc:
            self._failed(exc)
            return
        self._started()
        self._show("off")
        while True:
            try:
                kind, value, at = self._items.get(timeout=0.25)
            except queue.Empty:
                kind, value, at = "tick", None, self._clock()
            if kind == "stop":
                break
            try:
                self._handle(db, kind, value, at)
            except sqlite3.Error:
                log.exception("feedback store failed while handling %s", kind)
            finally:
                if kind == "press":
                    self.gate.release()
                    with self._pending_lock:
                        self._pending -= 1
                        if self._pending == 0:
                            self._idle.set()
            self._update_lights(self._clock())
        db.close()

    def _handle(self, db: sqlite3.Connection, kind: str, value: Any, at: float) -> None:
        if kind == "completed":
            if db.execute("SELECT 1 FROM ratings WHERE ticket_id = ?", (value,)).fetchone():
                return  # a redelivered completion of a ticket already rated
            self.window.open(value, at)
            self._thanks_until = None
        elif kind == "press":
            self._rate(db, int(value), at)
        elif kind == "acked":
            ticket_id = self._inflight.pop(value, None)
            if ticket_id is not None:
                db.execute("UPDATE ratings SET state = 'sent' WHERE ticket_id = ?", (ticket_id,))
        elif kind == "link" and value:
            self._inflight.clear()  # a clean session forgets what was in flight
            self._send_unsent(db)

    def _rate(self, db: sqlite3.Connection, rating: int, at: float) -> None:
        verdict = self.window.verdict(at)
        ticket_id = self.window.ticket_id
        if verdict != "open" or ticket_id is None:  # an open window always has its ticket
            self._refuse(verdict)
            return
        f = self.settings.feedback
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = int(db.execute(
                "INSERT INTO meta (key, value) VALUES ('seq', '1') "
                "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value"
            ).fetchone()[0])
            event = make_event("feedback.given", site=f.site, source=f.device_id, seq=seq, ts=self._wall_clock(),
                               data={"ticket_id": ticket_id, "counter": f.counter, "rating": rating, "scale": f.scale})
            topic = topics.event(f.site, "feedback.given")
            db.execute(
                "INSERT INTO ratings (ticket_id, event_id, topic, payload, state, created_at) VALUES (?, ?, ?, ?, 'ready', ?)",
                (ticket_id, str(event.id), topic, event.to_json(), event.ts.isoformat()),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self.window.mark_rated()
        self.outcomes["accepted"] += 1
        self._thanks_until = at + THANKS_S
        log.info("rating %d of %s for ticket %s recorded", rating, f.scale, ticket_id)
        self._send(topic, event.to_json(), ticket_id)

    def _refuse(self, why: str) -> None:
        self.outcomes[why] += 1
        log.info("rating press refused: %s", why)
        if self.lights:
            self.lights.signal_refusal()

    def _send(self, topic: str, payload: bytes, ticket_id: str) -> None:
        if not self.link.connected.is_set():
            return  # sent when the link comes back
        info = self.link.publish(topic, payload, qos=1)
        self._inflight[info.mid] = ticket_id
        self.published += 1

    def _send_unsent(self, db: sqlite3.Connection) -> None:
        for ticket_id, topic, payload in db.execute(
            "SELECT ticket_id, topic, payload FROM ratings WHERE state = 'ready' ORDER BY created_at"
        ).fetchall():
            self._send(topic, bytes(payload), ticket_id)

    def _update_lights(self, now: float) -> None:
        if self._thanks_until is not None and now >= self._thanks_until:
            self._thanks_until = None
        rating_possible = self.window.verdict(now) == "open"
        self._show("printing" if self._thanks_until is not None else ("ready" if rating_possible else "off"))

    def _show(self, state: str) -> None:
        if self.lights and self.lights.state != state:
            self.lights.show(state)
