"""Synthetic event streams (tests, benchmarks): plausible ticket lives at one site.

Deterministic for a given seed and start. Not used by the running server. Imports
only protocol modules (events, sites, clock).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, time, timedelta, timezone
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
