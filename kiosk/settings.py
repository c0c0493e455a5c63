"""Kiosk settings: the `[kiosk]` table of the shared TOML on top of CommonSettings.

Every key is documented in docs/kiosk.md. No hardware or MQTT imports here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hardware.printer import PrinterSettings
from protocol.settings import BrokerSettings, CommonSettings
from protocol.sites import Site, Slug


class LedPins(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the green 'ready' light")
    printing: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the amber 'printing' light")
    fault: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the red 'fault' light")
    buzzer: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of an optional active buzzer")


class KioskSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Slug = Field(description="site id this kiosk serves")
    device_id: Slug = Field(description="device id; also its broker user, MQTT client id and event source")
    buttons: dict[Slug, int] = Field(min_length=1, description="service id -> GPIO (BCM) pin of its button")
    keys: dict[str, Slug] = Field(
        default_factory=dict,
        description="keypad key -> service id (default: the service's letter, else 1, 2, ...)",
    )
    priority_pin: int | None = Field(default=None, ge=0, le=53, description="GPIO (BCM) of the priority button")
    priority_category: Slug | None = Field(
        default=None, description="priority category the priority button gives (default: the site's first)"
    )
    priority_window_s: float = Field(default=10.0, gt=0, le=120, description="seconds a priority press waits for a service press")
    card_scanner: str | None = Field(
        default=None,
        description="QR scanner for ID cards: 'keyboard' (a scanner that types into the kiosk's input), "
                    "a serial port such as /dev/ttyACM0 (the scanner's USB COM mode), or none",
    )
    card_priority_age: int = Field(default=60, ge=40, le=120, description="an ID card holder of this age or older gets priority")
    card_priority_category: Slug | None = Field(
        default=None, description="priority category an ID card gives (default: the priority button's)"
    )
    leds: LedPins = Field(default_factory=LedPins, description="status light and buzzer pins")
    beep: bool = Field(default=False, description="beep the buzzer when a press is refused")
    confirm: Literal["off", "beep", "speak"] = Field(
        default="off",
        description="when a ticket is printed: nothing, one beep (buzzer), or say 'Số của bạn là ...' (espeak-ng + speaker)",
    )
    pin_factory: Literal["mock", "lgpio", "keyboard"] = Field(
        default="lgpio",
        description="lgpio (real pins on a Pi), mock (gpiozero MockFactory: tests, demo), keyboard (lines on stdin / USB keypad)",
    )
    debounce_s: float = Field(default=0.3, ge=0, le=5, description="presses of one button closer than this count once")
    rate_limit_count: int = Field(default=3, ge=1, le=1000, description="at most this many tickets per button ...")
    rate_limit_window_s: float = Field(default=60.0, gt=0, le=3600, description="... within this many seconds")
    printer: PrinterSettings = Field(default_factory=PrinterSettings, description="the ticket printer")
    data_dir: Path = Field(default=Path("var/kiosk"), description="directory of the kiosk's SQLite file (numbers, outbox)")
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="server's public address; the QR goes to <public_url>/t/<ticket_id>"
    )
    notice: str | None = Field(default=None, description="short notice printed on every ticket (default: a built-in one)")
    ticket_png_dir: Path | None = Field(
        default=None, description="also save every printed ticket as a PNG in this folder (the demo; audits)"
    )
    text_mode: bool = Field(default=False, description="print with the printer's own font (only if its Vietnamese code page works)")
    state_max_age_s: int = Field(default=300, ge=10, le=86400, description="queue state older than this prints '—'")
    printer_poll_s: float = Field(default=5.0, ge=0.5, le=600, description="seconds between printer status polls")
    checkin_token: SecretStr | None = Field(
        default=None, description="desk-role API token (no counters) for check-in by QR scan; unset: scans are refused"
    )
    server_url: str | None = Field(default=None, description="server address for check-in (default: public_url)")
    outbox_keep_days: int = Field(default=14, ge=1, le=3650, description="sent outbox rows are kept this many days")

    @model_validator(mode="after")
    def _pins(self) -> KioskSection:
        pins = list(self.buttons.values()) + [self.priority_pin] + [
            self.leds.ready, self.leds.printing, self.leds.fault, self.leds.buzzer
        ]
        used = [p for p in pins if p is not None]
        if len(set(used)) != len(used):
            raise ValueError("two buttons or lights share a GPIO pin")
        return self


class KioskSettings(CommonSettings):
    """Settings of `xephang kiosk`."""

    kiosk: KioskSection = Field(description="this kiosk")

    @model_validator(mode="after")
    def _consistent(self) -> KioskSettings:
        k = self.kiosk
        site = self.site(k.site)
        if site is None:
            raise ValueError(f"kiosk.site {k.site!r} is not one of the configured sites")
        unknown = sorted(set(k.buttons) - {s.id for s in site.services})
        if unknown:
            raise ValueError(f"kiosk.buttons name unknown services {unknown}")
        unknown_keys = sorted(set(k.keys.values()) - set(k.buttons))
        if unknown_keys:
            raise ValueError(f"kiosk.keys name services without a button {unknown_keys}")
        priorities = {p.id for p in site.priorities}
        if k.priority_category and k.priority_category not in priorities:
            raise ValueError(f"kiosk.priority_category {k.priority_category!r} is not a priority of site {site.id}")
        if k.card_priority_category and k.card_priority_category not in priorities:
            raise ValueError(f"kiosk.card_priority_category {k.card_priority_category!r} is not a priority of site {site.id}")
        device = next((d for d in self.devices if d.id == k.device_id), None)
        if device is not None and (device.role != "kiosk" or device.site != k.site):
            raise ValueError(f"device {k.device_id!r} is not a kiosk of site {k.site!r}")
        return self

    @property
    def site_config(self) -> Site:
        site = self.site(self.kiosk.site)
        if site is None:  # checked by the validator; kept for type checkers
            raise LookupError(self.kiosk.site)
        return site

    def broker_login(self) -> BrokerSettings:
        """The broker settings with the user name defaulting to the device id."""
        if self.broker.username:
            return self.broker
        return self.broker.model_copy(update={"username": self.kiosk.device_id})

    def priority(self) -> str | None:
        site = self.site_config
        if self.kiosk.priority_category:
            return self.kiosk.priority_category
        return site.priorities[0].id if site.priorities else None

    def card_priority(self) -> str | None:
        """The priority category a qualifying ID card gives (None: the site has none)."""
        return self.kiosk.card_priority_category or self.priority()

    def keypad_keys(self) -> dict[str, str]:
        """Key -> service for the keyboard back-end."""
        if self.kiosk.keys:
            return {key.upper(): service for key, service in self.kiosk.keys.items()}
        site = self.site_config
        keys: dict[str, str] = {}
        for index, service_id in enumerate(self.kiosk.buttons, start=1):
            service = site.service(service_id)
            keys[service.letter if service and service.letter else str(index)] = service_id
        return keys
