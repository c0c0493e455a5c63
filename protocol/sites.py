"""Configuration of reception points (sites): services, counters, priorities, hours.

The site model is shared by the server, kiosks and displays so that all of them agree on
what a service or a counter is. Pure data and validation; no I/O here.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.text import nfc

SLUG = r"^[a-z0-9-]{1,40}$"
Slug = Annotated[str, Field(pattern=SLUG, description="a slug [a-z0-9-]{1,40}")]


def _nfc(value: str) -> str:
    return nfc(value.strip())


Name = Annotated[str, AfterValidator(_nfc), Field(min_length=1, max_length=120)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Service(_Model):
    """A field (lĩnh vực) citizens queue for."""

    id: Slug = Field(description="service id used on the wire")
    name: Name = Field(description="Vietnamese name shown on tickets and boards")
    name_en: Name | None = Field(default=None, description="English name")
    letter: Annotated[str, Field(pattern=r"^[A-Z]$")] | None = Field(
        default=None, description="numbers look like A001 (letter + 3 digits)"
    )
    block: tuple[int, int] | None = Field(
        default=None, description="numbers from a block, e.g. [1001, 1999]"
    )
    target_eligible: bool = Field(
        default=True, description="counts towards the 60-minute return target"
    )
    target_minutes: int = Field(default=60, ge=1, le=24 * 60, description="target in minutes")
    counter_hint: Name | None = Field(default=None, description="printed on the ticket")
    documents: list[Name] = Field(
        default_factory=list, max_length=8,
        description="papers to bring (Giấy tờ cần mang), printed on the ticket, shown on the ticket and booking pages",
    )

    @model_validator(mode="after")
    def _one_numbering(self) -> Service:
        if (self.letter is None) == (self.block is None):
            raise ValueError("give exactly one of 'letter' or 'block'")
        if self.block is not None:
            low, high = self.block
            if not (1 <= low < high <= 99_999_999):
                raise ValueError("block must be [low, high] with 1 <= low < high")
        return self

    def label(self, locale: str = "vi") -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


class Counter(_Model):
    """A desk (quầy) and the services it serves."""

    id: Slug = Field(description="counter id used on the wire")
    number: int = Field(ge=1, le=999, description="number said in calls: 'quầy số 3'")
    name: Name = Field(description="Vietnamese name shown on the board")
    services: list[Slug] = Field(min_length=1, description="service ids this counter serves")


class Priority(_Model):
    """A priority category (elderly, disability, ...): goes ahead within a service."""

    id: Slug = Field(description="category id used on the wire")
    name: Name = Field(description="Vietnamese name")


class Hours(_Model):
    """Opening hours in the site's time zone."""

    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default=[0, 1, 2, 3, 4], description="open weekdays, 0 = Monday (Thứ Hai)"
    )
    open: time = Field(default=time(7, 30), description="first ticket")
    close: time = Field(default=time(17, 0), description="office closes")
    last_ticket: time = Field(default=time(16, 30), description="no tickets after this")

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if not (self.open < self.last_ticket <= self.close):
            raise ValueError("need open < last_ticket <= close")
        return self


class Booking(_Model):
    """Online numbers and appointments of a site (docs/booking.md). Off unless enabled."""

    enabled: bool = Field(default=False, description="citizens may book appointment slots online")
    online_numbers: bool = Field(default=False, description="citizens may take today's number remotely (lấy số từ xa)")
    services: list[Slug] | None = Field(default=None, description="bookable service ids (default: every service)")
    slot_minutes: int = Field(default=30, ge=5, le=240, description="length of one appointment slot")
    per_slot: int = Field(default=4, ge=1, le=500, description="most bookings per slot and service")
    service_minutes: int = Field(
        default=15, ge=1, le=240, description="typical service time, to turn counters into places per slot"
    )
    counter_share: float = Field(
        default=0.5, gt=0, le=1, description="share of the counters' capacity in a slot that may be booked"
    )
    days_ahead: int = Field(default=14, ge=0, le=120, description="how many days ahead a slot may be booked")
    cutoff_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60, description="no booking or move this close to a slot's start")
    closed_days: list[date] = Field(default_factory=list, description="holidays and other closed days (YYYY-MM-DD)")
    max_consecutive: int | None = Field(
        default=2, ge=1, description="cap on booked calls in a row at one counter while walk-ins wait"
    )
    grace_minutes: int = Field(
        default=10, ge=1, le=120, description="an online number whose turn came is held this long for check-in, then a no-show"
    )
    early_checkin_minutes: int = Field(default=60, ge=0, le=24 * 60, description="check-in opens this long before a slot")
    late_checkin_minutes: int = Field(default=15, ge=0, le=24 * 60, description="check-in closes this long after a slot starts")


class ReturnVisit(_Model):
    """The second visit (docs/second-visit.md): a counter that completes a ticket as
    "guided, incomplete dossier" may hand the citizen a return code; scanned at the
    kiosk it issues a "bổ sung" ticket preferred by that counter."""

    enabled: bool = Field(default=True, description="desks may hand out return codes")
    valid_days: int = Field(default=30, ge=1, le=365, description="a return code is valid this many days after it is given")
    priority: Slug | None = Field(
        default=None, description="priority category of a return ticket inside its service (default: none, in order of issue)"
    )


class MissedCall(_Model):
    """The missed-call rule (docs/desk.md "A missed call"): a called ticket not started
    within `after_s` seconds of its last call may go back to its queue behind `behind`
    others, at most `max_requeues` times, then it is a no-show. Off by default
    (`max_requeues = 0`): a missed call is a no-show at once, as it always was."""

    max_requeues: int = Field(
        default=0, ge=0, le=10,
        description="M: times a called ticket whose citizen did not come goes back to the queue before "
        "it is a no-show (0: never, the rule is off)",
    )
    after_s: int = Field(
        default=120, ge=1, le=3600,
        description="S: seconds after its last call (or recall) before a ticket not started counts as missed",
    )
    behind: int = Field(
        default=3, ge=1, le=100,
        description="K: a requeued ticket is called after this many waiting tickets of its field and class",
    )


class Session(_Model):
    """A working session for the same-session return rule (docs/reports.md): a dossier
    received before `cutoff` is to be returned before `end` of the same session."""

    start: time = Field(description="session opens (site-local)")
    cutoff: time = Field(description="dossiers received before this are due back in the session")
    end: time = Field(description="session ends (site-local)")

    @model_validator(mode="after")
    def _ordered(self) -> Session:
        if not (self.start < self.cutoff <= self.end):
            raise ValueError("need start < cutoff <= end")
        return self


def _default_sessions() -> list[Session]:
    # An Giang's commune centres: morning 07:30-11:30 (cut-off 09:30), afternoon 13:30-17:00 (cut-off 15:30).
    return [Session(start=time(7, 30), cutoff=time(9, 30), end=time(11, 30)),
            Session(start=time(13, 30), cutoff=time(15, 30), end=time(17, 0))]


class Site(_Model):
    """A reception point (bộ phận một cửa / điểm tiếp nhận)."""

    id: Slug = Field(description="site id used in topics")
    name: Name = Field(description="office name printed on tickets and boards")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="IANA time zone")
    groups: dict[str, Name] = Field(
        default_factory=dict, description="grouping labels for reports, e.g. commune = ..."
    )
    notice: Name | None = Field(default=None, description="scrolling notice on the board")
    hours: Hours = Field(default_factory=Hours, description="opening hours")
    services: list[Service] = Field(min_length=1, description="services (fields) offered")
    counters: list[Counter] = Field(min_length=1, description="counters (desks)")
    priorities: list[Priority] = Field(default_factory=list, description="priority categories")
    max_consecutive_priority: int | None = Field(
        default=None, ge=1, description="cap on priority calls in a row at one counter"
    )
    at_risk_minutes: int = Field(default=45, ge=1, description="a waiting ticket is at risk past this")
    pause_alert_minutes: int = Field(
        default=15, ge=1, description="alert when a counter is paused longer than this while people wait"
    )
    booking: Booking = Field(default_factory=Booking, description="online numbers and appointments (docs/booking.md)")
    sessions: list[Session] = Field(
        default_factory=_default_sessions,
        description="sessions and cut-offs of the same-session return rule (reports), in time order",
    )
    return_visit: ReturnVisit = Field(
        default_factory=ReturnVisit, description="return codes and second-visit tickets (docs/second-visit.md)"
    )
    missed_call: MissedCall = Field(
        default_factory=MissedCall,
        description="a called ticket nobody answered: back to the queue or a no-show (docs/desk.md)",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Site:
        problems = []
        service_ids = [s.id for s in self.services]
        if len(set(service_ids)) != len(service_ids):
            problems.append("service ids repeat")
        letters = [s.letter for s in self.services if s.letter]
        if len(set(letters)) != len(letters):
            problems.append("two services share a letter")
        blocks = sorted(s.block for s in self.services if s.block)
        for (_, high), (low, _) in zip(blocks, blocks[1:]):
            if low <= high:
                problems.append("number blocks overlap")
        counter_ids = [c.id for c in self.counters]
        if len(set(counter_ids)) != len(counter_ids):
            problems.append("counter ids repeat")
        numbers = [c.number for c in self.counters]
        if len(set(numbers)) != len(numbers):
            problems.append("counter numbers repeat")
        for counter in self.counters:
            unknown = sorted(set(counter.services) - set(service_ids))
            if unknown:
                problems.append(f"counter {counter.id} serves unknown services {unknown}")
        if self.booking.services is not None:
            unknown = sorted(set(self.booking.services) - set(service_ids))
            if unknown:
                problems.append(f"booking names unknown services {unknown}")
        if self.return_visit.priority is not None and self.return_visit.priority not in {p.id for p in self.priorities}:
            problems.append(f"return_visit names unknown priority {self.return_visit.priority!r}")
        for earlier, later in zip(self.sessions, self.sessions[1:]):
            if later.start < earlier.end:
                problems.append("sessions overlap or are out of order")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def counter(self, counter_id: str) -> Counter | None:
        return next((c for c in self.counters if c.id == counter_id), None)

    def local_day(self, moment: datetime) -> date:
        """The site-local calendar day of an aware datetime."""
        return moment.astimezone(self.zone).date()

    def is_open_for_tickets(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return (
            local.weekday() in self.hours.weekdays
            and self.hours.open <= local.time() < self.hours.last_ticket
        )


# The zone of a record whose site is not configured (any more): Vietnam has one time zone.
DEFAULT_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
