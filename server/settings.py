"""Settings of the `xephang server` program (the [server] table of the shared TOML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

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
    booking_limit: int = Field(
        default=20, ge=1, le=1_000_000, description="booking page: most bookings, cancels and moves per address in 10 minutes"
    )
    booking_code_limit: int = Field(
        default=10, ge=1, le=1_000_000, description="booking page: most changes of one booking code in 10 minutes"
    )


# -- citizens' messages (server/notify; docs/notifications.md) -------------------------
class WebPushSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_file: Path | None = Field(default=None, description="VAPID private key (PEM); made on first start; default beside the database")
    subject: str = Field(default="mailto:admin@localhost", description="VAPID subject: a mailto: or https: contact of the office")
    ttl_s: int = Field(default=900, ge=0, le=86400, description="how long the push service keeps an undelivered message")
    timeout_s: float = Field(default=10.0, gt=0, le=60, description="HTTP timeout of one push request")


class ZaloSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_url: str = Field(default="https://business.openapi.zalo.me/message/template", description="ZNS send-template endpoint")
    token_url: str = Field(default="https://oauth.zaloapp.com/v4/oa/access_token", description="OA access-token refresh endpoint")
    app_id: str = Field(default="", description="Zalo app id")
    secret_key: SecretStr = Field(default=SecretStr(""), description="Zalo app secret key")
    refresh_token: SecretStr = Field(default=SecretStr(""), description="first OA refresh token (later ones kept in the notify database)")
    templates: dict[str, str] = Field(default_factory=dict, description="message kind -> approved ZNS template id")
    timeout_s: float = Field(default=10.0, gt=0, le=60, description="HTTP timeout of one request")


class SmsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="", description="the SMS gateway's send URL (POST, JSON body)")
    brandname: str = Field(default="", max_length=11, description="registered sender name (at most 11 characters)")
    body: dict[str, str] = Field(
        default_factory=lambda: {"Phone": "{phone}", "Content": "{text}", "Brandname": "{brandname}", "SmsType": "2",
                                 "RequestId": "{request_id}", "ApiKey": "{api_key}", "SecretKey": "{secret_key}"},
        description="JSON body of the request; {phone} {text} {brandname} {request_id} {api_key} {secret_key} are filled in",
    )
    api_key: SecretStr = Field(default=SecretStr(""), description="gateway API key")
    secret_key: SecretStr = Field(default=SecretStr(""), description="gateway secret key")
    code_field: str = Field(default="CodeResult", description="field of the answer holding the result code")
    success: list[str] = Field(default_factory=lambda: ["100"], description="result codes meaning accepted")
    duplicate: list[str] = Field(default_factory=lambda: ["124"], description="codes meaning 'this request id was already accepted'")
    quota: list[str] = Field(default_factory=lambda: ["103"], description="codes meaning out of balance or quota (retried later)")
    invalid_phone: list[str] = Field(default_factory=lambda: ["108", "99"], description="codes meaning the number is refused")
    template_rejected: list[str] = Field(default_factory=lambda: ["146", "104"], description="codes meaning the text or sender is refused")
    unaccented: bool = Field(default=True, description="send Vietnamese without accents (one 160-character GSM message)")
    max_chars: int = Field(default=160, ge=40, le=1000, description="longest text allowed")
    timeout_s: float = Field(default=10.0, gt=0, le=60, description="HTTP timeout of one request")


class NotifySection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="send messages to citizens at all (on a server that dispatches)")
    database: Path | None = Field(default=None, description="notifier outbox and contacts (SQLite); default beside the database")
    channels: list[Literal["page", "file", "webpush", "zalo", "sms"]] = Field(
        default=["page"], description="message channels of every site (the ticket page is the default)")
    site_channels: dict[str, list[Literal["page", "file", "webpush", "zalo", "sms"]]] = Field(
        default_factory=dict, description="site id -> channels, overriding `channels` for that site")
    near_people: int = Field(default=3, ge=0, le=1000, description="'your turn is near' once this many or fewer are ahead")
    near_minutes: int = Field(default=10, ge=0, le=240, description="... or once the estimated wait is this many minutes or less")
    rating_invite: bool = Field(default=False, description="send a short rating invitation after completion")
    texts: dict[str, str] = Field(default_factory=dict, description="message kind -> text overriding the default (placeholders in braces)")
    site_texts: dict[str, dict[str, str]] = Field(default_factory=dict, description="site id -> kind -> text")
    file: Path | None = Field(default=None, description="file channel: JSON lines written here; default beside the database")
    key_file: Path | None = Field(default=None, description="key that encrypts phone numbers at rest; made on first start")
    max_attempts: int = Field(default=6, ge=1, le=50, description="attempts before a message is given up")
    webpush: WebPushSection = Field(default_factory=WebPushSection, description="Web Push (VAPID)")
    zalo: ZaloSection = Field(default_factory=ZaloSection, description="Zalo Notification Service")
    sms: SmsSection = Field(default_factory=SmsSection, description="SMS brandname gateway")


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
    notify: NotifySection = Field(default_factory=NotifySection, description="messages to citizens (docs/notifications.md)")
    national: NationalSection = Field(default_factory=NationalSection, description="roll-ups to the national aggregator")

    @model_validator(mode="after")
    def _dispatch_known(self) -> ServerSettings:
        if (self.server.tls_cert is None) != (self.server.tls_key is None):
            raise ValueError("server.tls_cert and server.tls_key go together")
        unknown = sorted(set(self.server.dispatch_sites) - {s.id for s in self.sites})
        if unknown:
            raise ValueError(f"server.dispatch_sites names unknown sites {unknown}")
        return self

