"""One hand-computed day of events at three sites, and the numbers it must give.

Local day D = 2026-11-30 in Asia/Ho_Chi_Minh (UTC+7). Times below are site-local.
Every expected number is worked out by hand in the comments (docs/measures.md).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from protocol.events import make_event
from tests.support import OTHER_SITE_ID, SITE_ID, site_dict

DAY = "2026-11-30"
THIRD_SITE_ID = "third-site"
LOCAL = timezone(timedelta(hours=7))


def third_site_dict() -> dict[str, Any]:
    return site_dict(THIRD_SITE_ID, "Điểm tiếp nhận xã Thứ Ba")


def at(hhmmss: str, day: str = DAY) -> datetime:
    """A site-local time on `day` as an aware datetime."""
    return datetime.fromisoformat(f"{day}T{hhmmss}").replace(tzinfo=LOCAL)


class Builder:
    """Makes envelopes with per-source sequence numbers and deterministic ids."""

    def __init__(self, seed: int = 5):
        self.rng = random.Random(seed)
        self.seqs: dict[str, int] = {}
        self.events: list[Any] = []

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def add(self, kind: str, site: str, when: datetime, source: str = "server", **data: Any) -> Any:
        self.seqs[source] = self.seqs.get(source, 0) + 1
        event = make_event(kind, site=site, source=source, seq=self.seqs[source], data=data, ts=when, id=self.uid())
        self.events.append(event)
        return event

    def ticket(self, site: str, number: str, service: str, issued: datetime, unconfirmed: bool = False) -> uuid.UUID:
        ticket_id = self.uid()
        extra = {"unconfirmed": True} if unconfirmed else {}
        self.add("ticket.issued", site, issued, source="kiosk-1", ticket_id=ticket_id, number=number,
                 service=service, priority=None, **extra)
        return ticket_id


A, B, LAND = "tu-phap-ho-tich", "chung-thuc", "dat-dai"


def build_day() -> list[Any]:
    """The events of day D (plus two just outside it), in the order they happened."""
    b = Builder()
    s1, s2, s3 = SITE_ID, OTHER_SITE_ID, THIRD_SITE_ID

    # --- site 1 --------------------------------------------------------------------
    # T1: wait 600, service 2280 (from start), total 3000, returned -> within.
    t1 = b.ticket(s1, "A001", A, at("08:00:00"))
    b.add("ticket.called", s1, at("08:10:00"), ticket_id=t1, number="A001", counter="quay-1")
    b.add("ticket.started", s1, at("08:12:00"), ticket_id=t1, counter="quay-1")
    b.add("ticket.completed", s1, at("08:50:00"), ticket_id=t1, counter="quay-1", outcome="returned")
    # T2: recalled once; wait 900, service 3030 (no start: from first call), total 3930 > 3600.
    t2 = b.ticket(s1, "A002", A, at("08:05:00"))
    b.add("ticket.called", s1, at("08:20:00"), ticket_id=t2, number="A002", counter="quay-2")
    b.add("ticket.recalled", s1, at("08:22:00"), ticket_id=t2, number="A002", counter="quay-2")
    b.add("ticket.completed", s1, at("09:10:30"), ticket_id=t2, counter="quay-2", outcome="returned")
    # T3: no-show after the call; wait 1200. Published unconfirmed (the kiosk lost power
    # while printing it): the one unconfirmed ticket of the day (site 1, service B).
    t3 = b.ticket(s1, "B001", B, at("08:10:00"), unconfirmed=True)
    b.add("ticket.called", s1, at("08:30:00"), ticket_id=t3, number="B001", counter="quay-1")
    b.add("ticket.no_show", s1, at("08:33:00"), ticket_id=t3, counter="quay-1")
    # T4: transferred B -> A before its call; wait 1500, service 2100.7 -> 2100,
    # total 3600.7 -> 3600 whole seconds <= 3600: within.
    t4 = b.ticket(s1, "B002", B, at("08:15:00"))
    b.add("ticket.transferred", s1, at("08:20:00"), ticket_id=t4, counter="quay-2", to_service=A)
    b.add("ticket.called", s1, at("08:40:00"), ticket_id=t4, number="B002", counter="quay-1")
    b.add("ticket.completed", s1, at("09:15:00.700"), ticket_id=t4, counter="quay-1", outcome="returned")
    # T5: land (not target-eligible): wait 300, service 2400, total 2700; not received.
    t5 = b.ticket(s1, "3001", LAND, at("09:00:00"))
    b.add("ticket.called", s1, at("09:05:00"), ticket_id=t5, number="3001", counter="quay-3")
    b.add("ticket.completed", s1, at("09:45:00"), ticket_id=t5, counter="quay-3", outcome="returned")
    # T6: still waiting.
    b.ticket(s1, "A003", A, at("10:00:00"))
    # T7: issued 06:50 local = 23:50 UTC the day before; crosses UTC midnight, counts on D.
    # wait 900, service 2100, total 3000 -> within.
    t7 = b.ticket(s1, "B003", B, at("06:50:00"))
    b.add("ticket.called", s1, at("07:05:00"), ticket_id=t7, number="B003", counter="quay-2")
    b.add("ticket.completed", s1, at("07:40:00"), ticket_id=t7, counter="quay-2", outcome="returned")
    # Outside D: 23:30 local the day before, and 00:10 local the day after (same UTC date as D).
    t8 = b.ticket(s1, "A099", A, at("23:30:00", "2026-11-29"))
    b.add("ticket.called", s1, at("23:35:00", "2026-11-29"), ticket_id=t8, number="A099", counter="quay-1")
    b.add("ticket.completed", s1, at("23:40:00", "2026-11-29"), ticket_id=t8, counter="quay-1", outcome="returned")
    b.ticket(s1, "A001", A, at("00:10:00", "2026-12-01"))
    # Ratings: T1 first 1 (satisfied; a later 4 is ignored), T2 3 (not), one without ticket 5 stars.
    b.add("feedback.given", s1, at("08:51:00"), source="feedback-1", ticket_id=t1, counter="quay-1", rating=1, scale="4-level")
    b.add("feedback.given", s1, at("08:52:00"), source="feedback-1", ticket_id=t1, counter="quay-1", rating=4, scale="4-level")
    b.add("feedback.given", s1, at("09:11:00"), source="feedback-1", ticket_id=t2, counter="quay-2", rating=3, scale="4-level")
    b.add("feedback.given", s1, at("11:00:00"), source="feedback-1", counter="quay-1", rating=5, scale="5-star")

    # --- site 2 --------------------------------------------------------------------
    # U1: wait 1800, service 2040, total 3900 -> not within.
    u1 = b.ticket(s2, "A001", A, at("14:00:00"))
    b.add("ticket.called", s2, at("14:30:00"), ticket_id=u1, number="A001", counter="quay-1")
    b.add("ticket.started", s2, at("14:31:00"), ticket_id=u1, counter="quay-1")
    b.add("ticket.completed", s2, at("15:05:00"), ticket_id=u1, counter="quay-1", outcome="returned")
    # U2: wait 600, service 1200, total 1800 -> within.
    u2 = b.ticket(s2, "B001", B, at("14:10:00"))
    b.add("ticket.called", s2, at("14:20:00"), ticket_id=u2, number="B001", counter="quay-2")
    b.add("ticket.completed", s2, at("14:40:00"), ticket_id=u2, counter="quay-2", outcome="returned")
    # U3: called, recalled, no-show; wait 600.
    u3 = b.ticket(s2, "B002", B, at("16:50:00"))
    b.add("ticket.called", s2, at("17:00:00"), ticket_id=u3, number="B002", counter="quay-2")
    b.add("ticket.recalled", s2, at("17:03:00"), ticket_id=u3, number="B002", counter="quay-2")
    b.add("ticket.no_show", s2, at("17:06:00"), ticket_id=u3, counter="quay-2")
    # Rating 3 on a 3-level keypad: not in the top two.
    b.add("feedback.given", s2, at("14:41:00"), source="feedback-1", ticket_id=u2, counter="quay-2", rating=3, scale="3-level")

    # --- site 3 --------------------------------------------------------------------
    # V1: guided (completed, not received): wait 600, total 2700.
    v1 = b.ticket(s3, "A001", A, at("11:00:00"))
    b.add("ticket.called", s3, at("11:10:00"), ticket_id=v1, number="A001", counter="quay-2")
    b.add("ticket.completed", s3, at("11:45:00"), ticket_id=v1, counter="quay-2", outcome="guided")
    # V2: land, appointment (not eligible): wait 900, total 5100.
    v2 = b.ticket(s3, "3001", LAND, at("11:05:00"))
    b.add("ticket.called", s3, at("11:20:00"), ticket_id=v2, number="3001", counter="quay-3")
    b.add("ticket.completed", s3, at("12:30:00"), ticket_id=v2, counter="quay-3", outcome="appointment")
    return b.events


def noisy(events: list[Any], seed: int = 3) -> list[Any]:
    """Out of order, with some events delivered two or three times."""
    rng = random.Random(seed)
    out = list(events) + rng.sample(events, 12) + rng.sample(events, 5)
    rng.shuffle(out)
    return out


def row(**values: Any) -> dict[str, Any]:
    base = dict(issued=0, called=0, no_show=0, completed=0, received=0, within_target=0, recalls=0, transfers=0,
                ratings=0, satisfied=0, unconfirmed=0, pct_within_target=None, satisfaction_pct=None)
    for m in ("wait", "service", "total"):
        base.update({f"{m}_p50_s": None, f"{m}_p90_s": None, f"{m}_mean_s": None})
    base.update(values)
    return base


# group_by=site for D. Sorted values and nearest ranks are in the comments.
EXPECTED_BY_SITE = [
    row(site=OTHER_SITE_ID, issued=3, called=3, no_show=1, completed=2, received=2, within_target=1,
        pct_within_target=50.0, recalls=1,
        wait_p50_s=600, wait_p90_s=1800, wait_mean_s=1000.0,  # [600, 600, 1800]: ranks 2, 3
        service_p50_s=1200, service_p90_s=2040, service_mean_s=1620.0,  # [1200, 2040]: ranks 1, 2
        total_p50_s=1800, total_p90_s=3900, total_mean_s=2850.0,
        ratings=1, satisfied=0, satisfaction_pct=0.0),
    row(site=SITE_ID, issued=7, called=6, no_show=1, completed=5, received=4, within_target=3,
        pct_within_target=75.0, recalls=1, transfers=1, unconfirmed=1,  # T3
        wait_p50_s=900, wait_p90_s=1500, wait_mean_s=900.0,  # [300, 600, 900, 900, 1200, 1500]: ranks 3, 6
        service_p50_s=2280, service_p90_s=3030, service_mean_s=2382.0,  # [2100, 2100, 2280, 2400, 3030]: 3, 5
        total_p50_s=3000, total_p90_s=3930, total_mean_s=3246.0,  # [2700, 3000, 3000, 3600, 3930]: 3, 5
        ratings=3, satisfied=2, satisfaction_pct=66.7),
    row(site=THIRD_SITE_ID, issued=2, called=2, completed=2,
        wait_p50_s=600, wait_p90_s=900, wait_mean_s=750.0,
        service_p50_s=2100, service_p90_s=4200, service_mean_s=3150.0,  # V1 2100, V2 4200
        total_p50_s=2700, total_p90_s=5100, total_mean_s=3900.0),
]

# group_by=service at site 1 (T4 counts for the service it was transferred to).
EXPECTED_SITE1_BY_SERVICE = [
    # The rating without a ticket has no service.
    row(site=SITE_ID, service="", ratings=1, satisfied=1, satisfaction_pct=100.0),
    row(site=SITE_ID, service=B, issued=2, called=2, no_show=1, completed=1, received=1, within_target=1,
        unconfirmed=1, pct_within_target=100.0, wait_p50_s=900, wait_p90_s=1200, wait_mean_s=1050.0,
        service_p50_s=2100, service_p90_s=2100, service_mean_s=2100.0,
        total_p50_s=3000, total_p90_s=3000, total_mean_s=3000.0),
    row(site=SITE_ID, service=LAND, issued=1, called=1, completed=1,
        wait_p50_s=300, wait_p90_s=300, wait_mean_s=300.0, service_p50_s=2400, service_p90_s=2400,
        service_mean_s=2400.0, total_p50_s=2700, total_p90_s=2700, total_mean_s=2700.0),
    row(site=SITE_ID, service=A, issued=4, called=3, completed=3, received=3, within_target=2,
        pct_within_target=66.7, recalls=1, transfers=1,
        wait_p50_s=900, wait_p90_s=1500, wait_mean_s=1000.0,  # [600, 900, 1500]
        service_p50_s=2280, service_p90_s=3030, service_mean_s=2470.0,  # [2100, 2280, 3030]
        total_p50_s=3600, total_p90_s=3930, total_mean_s=3510.0,  # [3000, 3600, 3930]
        ratings=2, satisfied=1, satisfaction_pct=50.0),
]
