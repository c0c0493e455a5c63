"""Settings of `xephang counter-display`: the shared ones plus a `[counter_display]` table.
No luma, no paho here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.settings import BrokerSettings, CommonSettings
from protocol.sites import Site, Slug


class CounterDisplaySection(BaseModel):
    """The `[counter_display]` table."""

    model_config = ConfigDict(extra="forbid")

    site: Slug = Field(description="site id of the counter")
    counter: Slug = Field(description="counter id this screen sits above")
    device: Slug = Field(description="device id: MQTT client id and broker user (broker role 'display')")
    screen: Literal["max7219", "dummy"] = Field(
        default="max7219", description="max7219: LED matrix on SPI (luma.led_matrix); dummy: in memory (tests, no hardware)"
    )
    cascaded: int = Field(default=4, ge=1, le=16, description="8x8 LED blocks in a row")
    block_orientation: Literal[0, 90, -90, 180] = Field(default=-90, description="rotation of each 8x8 block (module wiring)")
    rotate: Literal[0, 1, 2, 3] = Field(default=0, description="rotation of the whole screen, in quarter turns")
    contrast: int = Field(default=64, ge=0, le=255, description="LED brightness")
    stale_after_s: int = Field(default=120, ge=5, description="show the offline state after this long without a board state")
    snapshot: Path | None = Field(default=None, description="PNG file each new frame is also written to (the emulator's picture)")


class CounterDisplaySettings(CommonSettings):
    counter_display: CounterDisplaySection

    @model_validator(mode="after")
    def _known(self) -> CounterDisplaySettings:
        section = self.counter_display
        site = next((s for s in self.sites if s.id == section.site), None)
        if self.sites and site is None:
            raise ValueError(f"counter_display.site {section.site!r} is not a configured site")
        if site is not None and site.counter(section.counter) is None:
            raise ValueError(f"counter_display.counter {section.counter!r} is not a counter of site {site.id}")
        return self

    @property
    def site_config(self) -> Site | None:
        return next((s for s in self.sites if s.id == self.counter_display.site), None)

    def broker_login(self) -> BrokerSettings:
        if self.broker.username:
            return self.broker
        return self.broker.model_copy(update={"username": self.counter_display.device})
