"""Settings shared by every program, and the one loader that reads them.

Precedence: command line > environment (`XEPHANG_`, nested keys with `__`) > TOML file
> defaults. Errors come out as `ConfigError`, one line per bad key. Secrets are
`SecretStr` and never printed.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from protocol.sites import Site, Slug

DeviceRole = Literal["server", "kiosk", "display", "keypad", "feedback", "monitor"]


class ConfigError(Exception):
    """Bad configuration: `lines` holds one readable line per bad key."""

    def __init__(self, lines: list[str], errors: list[dict[str, Any]] | None = None):
        super().__init__("\n".join(lines))
        self.lines = lines
        self.errors = errors  # pydantic's error dicts, one per line, when known (for translated reports)


class BrokerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="MQTT broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker port")
    username: str | None = Field(default=None, description="this device's broker user")
    password: SecretStr | None = Field(default=None, description="this device's broker password")
    tls_ca: Path | None = Field(default=None, description="CA file: enables TLS when set")
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keep-alive in seconds")


class Device(BaseModel):
    """A device known to the broker: its ACL follows from role, site and counter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug = Field(description="device id; also its broker user name")
    role: DeviceRole = Field(
        description="server, kiosk, display, keypad, feedback, or monitor (another system reading alerts and state)"
    )
    site: Slug | None = Field(default=None, description="its site (all but server; a monitor without one sees all)")
    counter: Slug | None = Field(default=None, description="its counter (keypad, feedback)")

    @model_validator(mode="after")
    def _needs(self) -> Device:
        if self.role not in ("server", "monitor") and self.site is None:
            raise ValueError(f"a {self.role} device needs a site")
        if self.role in ("keypad", "feedback") and self.counter is None:
            raise ValueError(f"a {self.role} device needs a counter")
        return self


class CommonSettings(BaseSettings):
    """What every program reads: the broker, the sites and the known devices."""

    model_config = SettingsConfigDict(
        env_prefix="XEPHANG_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    toml_file: ClassVar[Path | None] = None

    broker: BrokerSettings = Field(default_factory=BrokerSettings, description="MQTT broker")
    sites: list[Site] = Field(default_factory=list, description="reception points")
    devices: list[Device] = Field(default_factory=list, description="devices with broker accounts")
    locale: Literal["vi", "en"] = Field(default="vi", description="language of user-facing text")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log level"
    )

    @model_validator(mode="after")
    def _unique(self) -> CommonSettings:
        ids = [s.id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError("site ids repeat")
        device_ids = [d.id for d in self.devices]
        if len(set(device_ids)) != len(device_ids):
            raise ValueError("device ids repeat")
        unknown = sorted({d.site for d in self.devices if d.site} - set(ids))
        if unknown and self.sites:
            raise ValueError(f"devices name unknown sites {unknown}")
        return self

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = getattr(settings_cls, "toml_file", None)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


S = TypeVar("S", bound=CommonSettings)


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "config"
    given = error.get("input")
    shown = ""
    if error["type"] != "missing" and not isinstance(given, (dict, list)):
        shown = f" (got {given!r})"[:80]
    if "password" in where or "secret" in where:
        shown = ""
    return f"{where}: {error['msg']}{shown}"


def load_settings(cls: type[S], config_file: Path | str | None = None, **overrides: Any) -> S:
    """Build settings of `cls` from TOML, environment and overrides (the CLI).

    Raises ConfigError with one line per bad key.
    """
    path = Path(config_file) if config_file else None
    if path is not None:
        if not path.is_file():
            raise ConfigError([f"config: file not found: {path}"])
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([f"config: {path} is not valid TOML: {exc}"]) from None
    bound: type[S] = type(cls.__name__, (cls,), {"toml_file": path, "__module__": cls.__module__})
    try:
        return bound(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError([_describe(e) for e in exc.errors()], [dict(e) for e in exc.errors()]) from None


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The `--config FILE.toml` option every program's sub-command takes."""
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        default=os.environ.get("XEPHANG_CONFIG"),
        help="configuration file (default: $XEPHANG_CONFIG)",
    )
