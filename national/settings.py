"""Settings of `xephang national` (the [aggregator] table and its [[aggregator.viewers]]).

Imports protocol only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from protocol.settings import CommonSettings
from protocol.sites import Slug


class Viewer(BaseModel):
    """An account of the national pages: a national viewer (no province) sees every
    province; a province viewer sees only its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug = Field(description="log-in name")
    password_hash: str = Field(description="argon2 hash of the password (`xephang national --hash-password`)")
    province: Slug | None = Field(default=None, description="limits the account to this province; none = national viewer")


class AggregatorSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dsn: SecretStr = Field(description="PostgreSQL connection string (libpq), e.g. 'host=db dbname=xephang user=xephang'")
    client_id: Slug = Field(default="national", description="fixed MQTT client id (persistent session)")
    http_host: str = Field(default="127.0.0.1", description="HTTP listen address of the read API and pages")
    http_port: int = Field(default=8100, ge=1, le=65535, description="HTTP listen port")
    batch_max: int = Field(default=2000, ge=1, le=100_000, description="most roll-ups per PostgreSQL commit")
    batch_window_ms: int = Field(default=50, ge=1, le=10_000, description="longest wait for more roll-ups before a commit")
    viewers: list[Viewer] = Field(default_factory=list, description="accounts of the national pages")


class NationalSettings(CommonSettings):
    """Everything `xephang national` reads."""

    aggregator: AggregatorSection = Field(description="the national aggregator")

    @model_validator(mode="after")
    def _unique_viewers(self) -> NationalSettings:
        names = [v.name for v in self.aggregator.viewers]
        if len(set(names)) != len(names):
            raise ValueError("aggregator.viewers: names repeat")
        return self
