"""Settings of the `xephang server` program (the [server] table of the shared TOML)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.settings import CommonSettings
from protocol.sites import Slug


class ServerSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database: Path = Field(default=Path("var/xephang.db"), description="SQLite database file")
    http_host: str = Field(default="127.0.0.1", description="HTTP listen address")
    http_port: int = Field(default=8000, ge=1, le=65535, description="HTTP listen port")
    client_id: Slug = Field(default="server", description="fixed MQTT client id (persistent session)")
    dispatch_sites: list[Slug] = Field(
        default_factory=list, description="sites this server dispatches for (exactly one server per site)"
    )
    public_url: str | None = Field(default=None, description="public base URL printed in ticket QR codes")
    demo: bool = Field(default=False, description="demo mode: demo accounts with printed passwords")
    tls_cert: Path | None = Field(default=None, description="HTTPS certificate (PEM); with tls_key the server speaks HTTPS itself")
    tls_key: Path | None = Field(default=None, description="HTTPS private key (PEM) for tls_cert")
    board_snapshot: Path | None = Field(
        default=None, description="PNG the display board writes; served at /demo/board.png (for headless boards)"
    )
    batch_max: int = Field(default=500, ge=1, le=10000, description="ingest: most events per commit")
    batch_window_ms: int = Field(default=20, ge=1, le=5000, description="ingest: longest wait before a commit")


class NationalSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province: Slug | None = Field(
        default=None, description="province id; when set, daily roll-ups go to the national aggregator (docs/national.md)"
    )
    interval_s: float = Field(default=30.0, ge=0.05, le=3600, description="roll-ups: how often to look for changed days")
    resend_s: float = Field(default=300.0, ge=0.1, le=86400, description="roll-ups: re-send a day not acknowledged after this")


class ServerSettings(CommonSettings):
    """Everything `xephang server` reads."""

    server: ServerSection = Field(default_factory=ServerSection, description="the server itself")
    national: NationalSection = Field(default_factory=NationalSection, description="roll-ups to the national aggregator")

    @model_validator(mode="after")
    def _dispatch_known(self) -> ServerSettings:
        if (self.server.tls_cert is None) != (self.server.tls_key is None):
            raise ValueError("server.tls_cert and server.tls_key go together")
        unknown = sorted(set(self.server.dispatch_sites) - {s.id for s in self.sites})
        if unknown:
            raise ValueError(f"server.dispatch_sites names unknown sites {unknown}")
        return self
