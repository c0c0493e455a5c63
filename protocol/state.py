"""Retained state payloads the server publishes: `state/board` and `state/queue`.

Kiosks read `state/queue` for "people ahead" and the estimated wait; displays read
`state/board`. Both carry `ts` so a reader can tell how old its data is. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ServiceQueue(_State):
    waiting: int = Field(ge=0, description="tickets waiting for this service")
    priority_waiting: int = Field(default=0, ge=0, description="of which priority tickets")
    estimated_wait_s: int | None = Field(
        default=None, description="estimated (median) wait of a normal ticket issued now; null when unknown"
    )
    open_counters: int = Field(default=0, ge=0, description="open counters serving it")
    # Optional v1 additions (issue 16): the estimator's range (docs/estimate.md).
    wait_low_s: int | None = Field(default=None, description="P10 of the wait of a normal ticket issued now; null when unknown")
    wait_high_s: int | None = Field(default=None, description="P90 of the wait of a normal ticket issued now; null when unknown")
    wait_step_s: int | None = Field(
        default=None, description="about how much each ticket issued after `ts` adds to the wait (kiosks shift the range)"
    )
    priority_wait_s: int | None = Field(default=None, description="median wait of a priority ticket issued now")
    priority_wait_low_s: int | None = Field(default=None, description="P10 of the wait of a priority ticket issued now")
    priority_wait_high_s: int | None = Field(default=None, description="P90 of the wait of a priority ticket issued now")
    open_counter_numbers: list[int] | None = Field(
        default=None, description="numbers of the open counters serving it (optional; kiosks print them as the hint)"
    )


class QueueState(_State):
    """Payload of `xephang/v1/{site}/state/queue` (retained)."""

    site: str
    ts: datetime
    services: dict[str, ServiceQueue] = Field(default_factory=dict)
    closed: bool = Field(default=False, description="staff closed this site's queue for today: kiosks refuse tickets")


class CounterBoard(_State):
    id: str
    number: int
    name: str
    state: str = Field(description="open | paused | closed")
    reason: str | None = None
    ticket_id: str | None = Field(default=None, description="ticket being served or called")
    ticket_number: str | None = None
    service: str | None = None
    ticket_channel: Literal["online", "appointment"] | None = Field(
        default=None, description="how that ticket was taken when not at a kiosk (v1 addition, optional): "
        "online = a number taken on a phone, appointment = a booked slot; boards show a mark beside the number")


class Call(_State):
    ticket_id: str
    number: str
    counter: str
    counter_number: int
    ts: datetime
    recall: bool = False
    channel: Literal["online", "appointment"] | None = Field(
        default=None, description="as `ticket_channel` of a counter (v1 addition, optional)")


class BoardState(_State):
    """Payload of `xephang/v1/{site}/state/board` (retained)."""

    site: str
    name: str = Field(description="office name")
    ts: datetime
    counters: list[CounterBoard] = Field(default_factory=list)
    recent_calls: list[Call] = Field(default_factory=list, description="newest first, at most 10")
    waiting: dict[str, int] = Field(default_factory=dict, description="waiting per service id")
    service_names: dict[str, str] = Field(default_factory=dict, description="service id -> name")
    notice: str | None = None
