"""Appointment slots from a site's configuration (protocol.sites.Booking): which days
and times may be booked, how many places a slot has per service, and whether a moment
is still before the cut-off. Pure: no SQLite, no clock (times are passed in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from protocol.sites import Service, Site


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, in the site's zone
    end: datetime

    @property
    def key(self) -> str:
        """The slot as a path element: local start `YYYY-MM-DDTHH:MM`."""
        return self.start.strftime("%Y-%m-%dT%H:%M")


def bookable_services(site: Site) -> list[Service]:
    wanted = site.booking.services
    return [s for s in site.services if wanted is None or s.id in wanted]


def places_per_slot(site: Site, service_id: str) -> int:
    """Bookable places of one slot for one service: the share of the counters' capacity
    that may be booked (counters serving it × slot length / typical service time ×
    share), at most `per_slot`."""
    rules = site.booking
    counters = sum(1 for c in site.counters if service_id in c.services)
    capacity = counters * rules.slot_minutes / rules.service_minutes * rules.counter_share
    return max(0, min(rules.per_slot, math.floor(capacity + 1e-9)))


def is_open_day(site: Site, day: date) -> bool:
    return day.weekday() in site.hours.weekdays and day not in site.booking.closed_days


def day_slots(site: Site, day: date) -> list[Slot]:
    """Every slot of a day (open or not for booking), from opening to the last ticket."""
    if not is_open_day(site, day):
        return []
    step = timedelta(minutes=site.booking.slot_minutes)
    start = datetime.combine(day, site.hours.open, site.zone)
    last = datetime.combine(day, site.hours.last_ticket, site.zone)
    close = datetime.combine(day, site.hours.close, site.zone)
    slots = []
    while start < last and start + step <= close:
        slots.append(Slot(start, start + step))
        start += step
    return slots


def bookable_days(site: Site, now: datetime) -> list[date]:
    today = site.local_day(now)
    days = [today + timedelta(days=n) for n in range(site.booking.days_ahead + 1)]
    return [d for d in days if any(bookable(site, s, now) for s in day_slots(site, d))]


def bookable(site: Site, slot: Slot, now: datetime) -> bool:
    """Within the booking horizon and before the cut-off."""
    rules = site.booking
    horizon = site.local_day(now) + timedelta(days=rules.days_ahead)
    return slot.start.date() <= horizon and slot.start - timedelta(minutes=rules.cutoff_minutes) > now


def find_slot(site: Site, key: str) -> Slot | None:
    """The slot a `Slot.key` names, if it is one of the site's slots."""
    try:
        start = datetime.strptime(key, "%Y-%m-%dT%H:%M").replace(tzinfo=site.zone)
    except ValueError:
        return None
    return next((s for s in day_slots(site, start.date()) if s.start == start), None)
