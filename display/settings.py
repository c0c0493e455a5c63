"""Settings of the display board program: the shared ones plus a `[display]` table.

Loaded with protocol.settings.load_settings (CLI > env XEPHANG_DISPLAY__... > TOML >
defaults). No pygame here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.settings import CommonSettings
from protocol.sites import Slug
from protocol.speech import DEFAULT_TEMPLATE, SpeechError, check_template

_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


def parse_size(text: str) -> tuple[int, int]:
    """"1366x768" -> (1366, 768); raises ValueError with a readable message."""
    match = _SIZE.match(str(text).strip().lower())
    if not match:
        raise ValueError(f"size must look like 1920x1080, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 640 or height < 360:
        raise ValueError(f"size {width}x{height} is too small (at least 640x360)")
    return width, height


class DisplaySection(BaseModel):
    """The `[display]` table."""

    model_config = ConfigDict(extra="forbid")

    site: Slug | None = Field(default=None, description="site id this board shows (default: the only site)")
    device: Slug = Field(default="display-1", description="device id: MQTT client id and broker user")
    size: str | None = Field(
        default=None,
        description="window or screen size WxH, e.g. 1920x1080 or 1366x768 (default: the screen's own size)",
    )
    windowed: bool = Field(default=False, description="run in a desktop window instead of full screen")
    fullscreen: bool = Field(default=True, description="take the whole screen (ignored when windowed)")
    fps: int = Field(default=20, ge=2, le=60, description="frames per second while something moves")
    voice: Literal["clips", "espeak", "chime"] = Field(
        default="clips",
        description="clips: recorded clips then espeak-ng as fallback; espeak: espeak-ng only; chime: no voice",
    )
    clips_dir: Path | None = Field(default=None, description="folder of recorded clips (<words>.wav)")
    espeak_voice: str | None = Field(
        default=None,
        description="espeak-ng voice: vi, vi-vn-x-south or vi-vn-x-central (default: follows variant)",
    )
    espeak_speed_wpm: int = Field(default=140, ge=80, le=300, description="espeak-ng speaking rate, words per minute")
    audio_output: Literal["mixer", "silent"] = Field(
        default="mixer", description="mixer: play through SDL audio; silent: a board without speakers"
    )
    variant: Literal["north", "south"] = Field(
        default="north", description="number words: north (nghìn, linh) or south (ngàn, lẻ)"
    )
    sentence: str = Field(
        default=DEFAULT_TEMPLATE, description="call sentence with {number} and {counter}"
    )
    repeat: int = Field(default=2, ge=1, le=5, description="times each call sentence is said")
    chime: bool = Field(default=True, description="play the chime before each call")
    announce_max_age_s: int = Field(
        default=120, ge=5, description="calls older than this (replayed after a lost link) are shown but not spoken"
    )
    stale_after_s: int = Field(
        default=300, ge=0, description="show 'offline' after this many seconds without any message (0: only when the link is down)"
    )
    flash_s: float = Field(default=6.0, ge=0, le=60, description="seconds the newest call flashes")
    recent_calls: int = Field(default=6, ge=1, le=10, description="how many last calls are listed")
    notice: str | None = Field(default=None, description="scrolling notice; default: the site's notice or the server's")
    notice_speed_px_s: int = Field(default=90, ge=10, le=600, description="notice scrolling speed, pixels per second")
    font: Path = Field(
        default=Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), description="regular font (must cover Vietnamese)"
    )
    font_bold: Path = Field(
        default=Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"), description="bold font (must cover Vietnamese)"
    )
    snapshot: Path | None = Field(default=None, description="PNG file the board writes what it shows to")
    snapshot_every_s: int = Field(default=0, ge=0, description="write the snapshot every N seconds (0: never)")

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)
        return value

    @field_validator("font", "font_bold")
    @classmethod
    def _font(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"font file not found: {value} (apt install fonts-dejavu-core)")
        return value

    @field_validator("sentence")
    @classmethod
    def _sentence(cls, value: str) -> str:
        try:
            return check_template(value)
        except SpeechError as exc:
            raise ValueError(str(exc)) from None

    @property
    def speaking_voice(self) -> str:
        """The espeak-ng voice to use: as set, or the one matching the number variant."""
        return self.espeak_voice or ("vi-vn-x-south" if self.variant == "south" else "vi")

    @model_validator(mode="after")
    def _snapshot(self) -> DisplaySection:
        if self.snapshot_every_s and self.snapshot is None:
            raise ValueError("snapshot_every_s needs a snapshot path")
        return self


class DisplaySettings(CommonSettings):
    """Everything `xephang display` reads."""

    display: DisplaySection = Field(default_factory=DisplaySection, description="the display board")

    @model_validator(mode="after")
    def _site(self) -> DisplaySettings:
        if self.display.site is None and len(self.sites) == 1:
            self.display.site = self.sites[0].id
        if self.display.site is None:
            raise ValueError("display.site is not set and the config does not have exactly one site")
        if self.sites and self.site(self.display.site) is None:
            raise ValueError(f"display.site {self.display.site!r} is not one of the configured sites")
        return self
