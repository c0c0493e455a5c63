"""Synthetic event streams (tests, benchmarks): plausible ticket lives at one site.

Deterministic for a given seed and start. Not used by the running server. Imports
only protocol modules (events, sites, clock).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from protocol import clock
from protocol.events import make_event
from protocol.sites import Site


def ticket_lives(
    site: Site,
    tickets: int,
    start_at: datetime,
    seed: int = 1,
    kiosk: str = "kiosk-1",
    server_source: str = "server",
) -> list[Any]:
    """Events for `tickets` tickets: issued, called, (started), completed / no-show,
    in the order they happened; sequence numbers per source increase by one."""
    rng = random.Random(seed)
    seqs: dict[str, int] = {}

    def nxt(source: str) -> int:
        seqs[source] = seqs.get(source, 0) + 1
        return seqs[source]

    events = []
    letters: dict[str, int] = {}
    at = start_at
    for _ in range(tickets):
        service = rng.choice(site.services)
        counters = [c for c in site.counters if service.id in c.services]
        counter = rng.choice(counters)
        letters[service.id] = letters.get(service.id, 0) + 1
        if service.letter:
            number = f"{service.letter}{letters[service.id]:03d}"
        else:
            number = str(service.block[0] + letters[service.id] - 1)  # type: ignore[index]
        ticket_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        at = at + timedelta(seconds=rng.uniform(5, 90))
        issued_at = at
        called_at = issued_at + timedelta(seconds=rng.uniform(30, 2400))
        done_at = called_at + timedelta(seconds=rng.uniform(60, 1800))
        life = [
            ("ticket.issued", kiosk, issued_at,
             {"ticket_id": ticket_id, "number": number, "service": service.id,
              "priority": "elderly" if rng.random() < 0.1 and site.priorities else None}),
            ("ticket.called", server_source, called_at,
             {"ticket_id": ticket_id, "number": number, "counter": counter.id}),
        ]
        if rng.random() < 0.05:
            life.append(("ticket.no_show", server_source, called_at + timedelta(seconds=120),
                         {"ticket_id": ticket_id, "counter": counter.id}))
        else:
            life.append(("ticket.started", server_source, called_at + timedelta(seconds=20),
                         {"ticket_id": ticket_id, "counter": counter.id}))
            life.append(("ticket.completed", server_source, done_at,
                         {"ticket_id": ticket_id, "counter": counter.id,
                          "outcome": rng.choice(["returned", "returned", "appointment", "guided", "info"])}))
        for kind, source, ts, data in life:
            events.append(make_event(kind, site=site.id, source=source, seq=nxt(source), data=data, ts=ts,
                                     id=uuid.UUID(int=rng.getrandbits(128), version=4)))
    return events


HANOI = timezone(timedelta(hours=7))


def default_start(now: datetime | None = None) -> datetime:
    """07:30 in Hanoi on the day before the project clock's today (`now`, default
    protocol.clock.now): a day of tickets that lies wholly in the past on whatever date
    the clock shows (a real one, or one a test run moved), never a pinned date that the
    server's own clock leaves behind (docs/testing.md)."""
    today = (now or clock.now()).astimezone(HANOI).date()
    return datetime.combine(today - timedelta(days=1), time(7, 30), HANOI).astimezone(UTC)


def counter_days(sites: list[Site], first_day: date, days: int, seed: int = 1, source: str = "bench-desk") -> list[Any]:
    """Counter events for `days` days from `first_day` (site-local): each counter opened
    07:30-11:30 and 13:30-17:00 on weekdays; quay-1 paused for a meeting ("Đi họp") on
    Mondays 09:00-09:40. Deterministic ids and sequence numbers."""
    rng = random.Random(seed)
    events, seq = [], 0
    for site in sites:
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for counter in site.counters:
                plan = [("opened", time(7, 30), None), ("closed", time(11, 30), None),
                        ("opened", time(13, 30), None), ("closed", time(17, 0), None)]
                if counter.id == "quay-1" and day.weekday() == 0:
                    plan += [("paused", time(9, 0), "Đi họp"), ("opened", time(9, 40), None)]
                for kind, moment, reason in plan:
                    seq += 1
                    data = {"counter": counter.id} | ({"reason": reason} if reason else {})
                    events.append(make_event(f"counter.{kind}", site=site.id, source=source, seq=seq,
                                             ts=datetime.combine(day, moment, site.zone), data=data,
                                             id=uuid.UUID(int=rng.getrandbits(128), version=4)))
    return events
