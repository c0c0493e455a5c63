"""Pydantic models of the v1 event envelope and of every v1 event type.

`parse_event(raw)` is the one entry point for bytes arriving from the wire: it either
returns a typed event or raises `InvalidEvent` with a reason a person can read.
No I/O here.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from protocol import clock
from protocol.text import nfc as _nfc

PROTOCOL_VERSION = 1
SLUG_PATTERN = r"^[a-z0-9-]{1,40}$"
MAX_PAYLOAD_BYTES = 64 * 1024

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
OUTCOMES = ("returned", "appointment", "guided", "info")
Outcome = Literal["returned", "appointment", "guided", "info"]


class InvalidEvent(ValueError):
    """A payload that is not a valid v1 event; `reason` says why in one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason



Text = Annotated[str, AfterValidator(_nfc), Field(max_length=200)]


class _Data(BaseModel):
    # Consumers ignore fields they do not know (additions within v1 are optional fields).
    model_config = ConfigDict(extra="ignore", frozen=True)


class TicketIssuedData(_Data):
    ticket_id: uuid.UUID
    number: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,8}$")]
    service: Slug
    priority: Slug | None = None
    # True when the kiosk could not confirm that the slip came out (a crash between
    # numbering and the end of the print, or a printer fault reported after the job).
    # An optional addition within v1: consumers that do not know it ignore it.
    unconfirmed: bool = False
    # Channels (optional additions within v1, docs/booking.md): absent means a walk-in
    # from a kiosk. `appointment_start` is the booked slot's start (appointments only).
    channel: Literal["kiosk", "online", "appointment", "return"] | None = None
    appointment_start: datetime | None = None
    # The second visit (docs/second-visit.md), optional additions within v1: a `return`
    # ticket ("bổ sung") is preferred by the counter that guided the citizen and carries
    # the dossier code of the first visit, so visits per dossier can be counted.
    preferred_counter: Slug | None = None
    dossier_code: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("appointment_start")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("appointment_start must carry a UTC offset")
        return value


class TicketCheckedInData(_Data):
    """The citizen of an online number is at the office (an optional addition within v1)."""

    ticket_id: uuid.UUID
    via: Literal["kiosk", "desk"] = "desk"
    counter: Slug | None = None


class TicketCalledData(_Data):
    ticket_id: uuid.UUID
    number: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,8}$")]
    counter: Slug


class TicketStartedData(_Data):
    ticket_id: uuid.UUID
    counter: Slug


class TicketNoShowData(_Data):
    ticket_id: uuid.UUID
    counter: Slug
    auto: bool = Field(
        default=False,
        description="true when the day-end job closed the ticket, not a person; such a no-show "
        "never overrides a person's call, start or completion (docs/measures.md)",
    )


class TicketCompletedData(_Data):
    ticket_id: uuid.UUID
    counter: Slug
    outcome: Outcome
    dossier_code: Annotated[str, Field(max_length=64)] | None = None


class TicketTransferredData(_Data):
    ticket_id: uuid.UUID
    counter: Slug
    to_service: Slug


class TicketRequeuedData(_Data):
    """A called ticket whose citizen did not come goes back to the queue instead of
    becoming a no-show (the site's missed-call rule, docs/desk.md; an optional addition
    within v1). `queue_at` is its new place: it is ordered as if it had joined its
    service's queue (its class's queue) at that moment."""

    ticket_id: uuid.UUID
    counter: Slug
    queue_at: datetime

    @field_validator("queue_at")
    @classmethod
    def _aware_place(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("queue_at must carry a UTC offset")
        return value


class CounterData(_Data):
    counter: Slug
    reason: Text | None = None


class FeedbackData(_Data):
    ticket_id: uuid.UUID | None = None
    counter: Slug
    rating: Annotated[int, Field(ge=1, le=5)]
    scale: Literal["3-level", "4-level", "5-star"]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1]
    id: uuid.UUID
    site: Slug
    source: Slug
    seq: Annotated[int, Field(ge=0, lt=2**53)]
    ts: datetime

    @field_validator("ts", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # The contract says an ISO-8601 string; pydantic alone would read a number as
        # seconds since 1970 and file the ticket under 1 January 1970.
        if not isinstance(value, (str, datetime)):
            raise ValueError("ts must be an ISO-8601 text with a UTC offset")
        return value

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("ts must carry a UTC offset")
        return value

    if TYPE_CHECKING:
        # Every event type declares its own `data` model; declared here for the type
        # checker only, so the fields (and their order on the wire) stay the subclasses'.
        data: _Data

    @property
    def ticket_id(self) -> str | None:
        ticket_id = self.data.__dict__.get("ticket_id")  # not getattr: a missing field raises inside
        return str(ticket_id) if ticket_id is not None else None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode("utf-8")


class TicketIssued(_Envelope):
    type: Literal["ticket.issued"]
    data: TicketIssuedData


class TicketCalled(_Envelope):
    type: Literal["ticket.called"]
    data: TicketCalledData


class TicketRecalled(_Envelope):
    type: Literal["ticket.recalled"]
    data: TicketCalledData


class TicketStarted(_Envelope):
    type: Literal["ticket.started"]
    data: TicketStartedData


class TicketCompleted(_Envelope):
    type: Literal["ticket.completed"]
    data: TicketCompletedData


class TicketNoShow(_Envelope):
    type: Literal["ticket.no_show"]
    data: TicketNoShowData


class TicketTransferred(_Envelope):
    type: Literal["ticket.transferred"]
    data: TicketTransferredData


class TicketCheckedIn(_Envelope):
    type: Literal["ticket.checked_in"]
    data: TicketCheckedInData


class TicketRequeued(_Envelope):
    type: Literal["ticket.requeued"]
    data: TicketRequeuedData


class CounterOpened(_Envelope):
    type: Literal["counter.opened"]
    data: CounterData


class CounterPaused(_Envelope):
    type: Literal["counter.paused"]
    data: CounterData


class CounterClosed(_Envelope):
    type: Literal["counter.closed"]
    data: CounterData


class FeedbackGiven(_Envelope):
    type: Literal["feedback.given"]
    data: FeedbackData


Event = Annotated[
    TicketIssued | TicketCalled | TicketRecalled | TicketStarted | TicketCompleted | TicketNoShow | TicketTransferred
    | CounterOpened | CounterPaused | CounterClosed | FeedbackGiven | TicketCheckedIn | TicketRequeued,
    Field(discriminator="type"),
]
EVENT_TYPES: dict[str, type[_Envelope]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(get_args(Event)[0])
}
_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def _readable(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_event(raw: bytes | bytearray | memoryview | str | dict[str, Any]) -> Event:
    """Parse one event from wire bytes (or an already decoded object).

    Raises InvalidEvent with a one-line reason for anything that is not a v1 event.
    """
    text: str | dict[str, Any]
    if isinstance(raw, (bytes, bytearray, memoryview)):
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise InvalidEvent(f"payload too large ({len(raw)} bytes > {MAX_PAYLOAD_BYTES})")
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"not UTF-8 at byte {exc.start}") from None
    else:
        text = raw
    if isinstance(text, str):
        # The fast path: pydantic's own JSON parser in one pass, about half the time of
        # json.loads + validate_python. Whatever it refuses goes the slow way below, which
        # alone words the reason, so a rejected payload keeps the reason it always had.
        # Both parsers accept the same documents but where the fast one is stricter
        # (lone surrogates, nesting past 200 levels, 4300+ digit numbers): those fall back.
        try:
            return _adapter.validate_json(text)
        except ValueError:  # ValidationError is one
            pass
    return _parse_slowly(text)


def _parse_slowly(text: str | dict[str, Any]) -> Event:
    """json.loads, the checks in order, then validate_python: the reason of a rejection."""
    obj: object
    if isinstance(text, str):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # ValueError, not only JSONDecodeError: json.loads raises a plain ValueError
            # for integers past Python's 4300-digit limit.
            raise InvalidEvent(f"not JSON: {exc}"[:200]) from None
    else:
        obj = text
    if not isinstance(obj, dict):
        raise InvalidEvent("not a JSON object")
    if obj.get("v") != PROTOCOL_VERSION:
        raise InvalidEvent(f"unsupported protocol version {obj.get('v')!r}"[:200])
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:  # a list or dict is not hashable
        raise InvalidEvent(f"unknown event type {kind!r}"[:200])
    try:
        return _adapter.validate_python(obj)
    except ValidationError as exc:
        raise InvalidEvent(_readable(exc)) from None


def make_event(
    type: str,
    *,
    site: str,
    source: str,
    seq: int,
    data: dict[str, Any],
    ts: datetime | None = None,
    id: uuid.UUID | str | None = None,
) -> Event:
    """Build and validate a new event; ts defaults to now in UTC."""
    return parse_event(
        {
            "v": PROTOCOL_VERSION,
            "id": str(id or uuid.uuid4()),
            "type": type,
            "site": site,
            "source": source,
            "seq": seq,
            "ts": (ts or clock.now()).isoformat(),
            "data": {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in data.items()},
        }
    )


def json_schema() -> dict[str, Any]:
    """JSON Schema of every v1 event (a discriminated union on `type`)."""
    schema = _adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "xephang wire contract v1 event"
    return schema
