"""A discrete-event simulation of one reception point's day (fast mode, in memory).

It answers "how many counters, open when, do we need?" for a target such as "90% of
results returned within 60 minutes". The simulated day is turned into v1 events and
then into ticket rows by the server's own projection (`server.storage.projection.fold`) and
measured by the server's own `server.stats.measures.compute`, so the simulator and the server
can never disagree on what a measure means. No I/O, no MQTT, no SQL here.

The model (docs/simulation.md says more):
- arrivals: a Poisson process whose rate follows an hourly profile of the day's volume;
- the service a citizen comes for: shares per service; a priority share;
- service times: log-normal per service (mean and spread in minutes);
- counters: the site's counters, each open on a schedule; one officer each;
- dispatch: the counter's services, priority before normal within a service, first
  come first served, optional cap on consecutive priority calls (as the dispatcher);
- no-shows: a share of called citizens never come; the officer waits, then moves on;
- outcomes of target-eligible services: a share `returned` on the spot, else
  `appointment` (received, result later);
- bookings (docs/booking.md): a share of the day's citizens book a 30-minute slot in the
  hour they would have come, or the next hour with a free place (`slots_per_hour`), come
  a few minutes before it, and are dispatched by the server's own rule
  (server.desk.rules: booked tickets from their slot start, with the booked-call cap);
  a share of bookings is never used.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from protocol.sites import Site
from server.desk.rules import choose, streaks_after
from server.stats.measures import compute, rules_from_sites
from server.storage.projection import fold

# Share of the day's arrivals per local hour: the morning peak DOMAIN.md describes.
DEFAULT_PROFILE = {7: 0.06, 8: 0.17, 9: 0.17, 10: 0.14, 11: 0.08, 13: 0.10, 14: 0.13, 15: 0.10, 16: 0.05}


class ServiceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share: float = Field(default=1.0, gt=0, description="relative share of arrivals")
    mean_minutes: float = Field(default=12.0, gt=0, description="mean service time")
    sd_minutes: float = Field(default=6.0, ge=0, description="spread of service time")
    returned_share: float = Field(default=0.96, ge=0, le=1, description="eligible: share returned on the spot")


class SimulationModel(BaseModel):
    """What a simulated day looks like (the [simulate] table of the config)."""

    model_config = ConfigDict(extra="forbid")

    tickets_per_day: int = Field(default=120, ge=1, le=5000, description="expected arrivals in a day")
    profile: dict[int, float] = Field(default_factory=lambda: dict(DEFAULT_PROFILE), description="local hour -> share of arrivals")
    services: dict[str, ServiceModel] = Field(default_factory=dict, description="service id -> model (default for missing)")
    priority_share: float = Field(default=0.1, ge=0, le=1, description="share of priority tickets")
    no_show_share: float = Field(default=0.04, ge=0, le=1, description="share of called citizens who never come")
    no_show_wait_s: int = Field(default=90, ge=0, description="how long an officer waits before a no-show")
    walk_s: int = Field(default=30, ge=0, description="from call to the citizen at the desk")
    booked_share: float = Field(default=0.0, ge=0, le=1, description="share of citizens who book a slot instead of walking in")
    booked_no_show_share: float = Field(default=0.1, ge=0, le=1, description="share of bookings never used")
    slots_per_hour: int | None = Field(default=None, ge=1, le=1000, description="bookable places per hour (none: no limit)")
    early_minutes: float = Field(default=10.0, ge=0, le=120, description="booked citizens arrive up to this early")


@dataclass(frozen=True)
class Staffing:
    """Which counters are open when. `extra` opens more counters in a window."""

    counters: tuple[str, ...]
    label: str
    windows: dict[str, tuple[time, time]] = field(default_factory=dict)  # counter -> (open, close)
    # counter -> (from, to): paused (e.g. "Đi họp"); the ticket in progress is finished first.
    pauses: dict[str, tuple[time, time]] = field(default_factory=dict)


@dataclass
class Ticket:
    ticket_id: str
    number: str
    service: str
    priority: str | None
    issued_at: datetime
    no_show: bool
    service_s: float
    outcome: str
    channel: str | None = None
    appointment_start: datetime | None = None


@dataclass
class DayResult:
    events: list[tuple[str, str, float, int, str, str]]
    rows: list[dict]
    stats: dict[str, Any]
    waits_s: list[float]
    totals_s: list[float]
    unserved: int  # still waiting when the office closed


def _lognormal(rng: random.Random, mean: float, sd: float) -> float:
    if sd <= 0:
        return mean
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def arrivals(site: Site, model: SimulationModel, day: date, rng: random.Random) -> list[Ticket]:
    """The day's tickets, numbered per service as the kiosk numbers them."""
    zone = site.zone
    weights = {s.id: model.services.get(s.id, ServiceModel()).share for s in site.services}
    total_weight = sum(weights.values())
    ids = list(weights)
    last = datetime.combine(day, site.hours.last_ticket, zone)
    counts: dict[str, int] = {}
    tickets = []
    services = {s.id: s for s in site.services}
    for hour, share in sorted(model.profile.items()):
        start = max(datetime.combine(day, time(hour), zone), datetime.combine(day, site.hours.open, zone))
        end = min(datetime.combine(day, time(hour), zone) + timedelta(hours=1), last)
        if end <= start:
            continue
        rate_per_s = model.tickets_per_day * share / 3600
        moment = start
        while True:
            moment += timedelta(seconds=rng.expovariate(rate_per_s))
            if moment >= end:
                break
            service_id = rng.choices(ids, [weights[i] / total_weight for i in ids])[0]
            service = services[service_id]
            sm = model.services.get(service_id, ServiceModel())
            counts[service_id] = counts.get(service_id, 0) + 1
            n = counts[service_id]
            block_start = service.block[0] if service.block is not None else 0  # the Service model gives one of the two
            number = f"{service.letter}{n:03d}" if service.letter else str(block_start + n - 1)
            eligible = service.target_eligible
            outcome = ("returned" if rng.random() < sm.returned_share else "appointment") if eligible else rng.choice(
                ["appointment", "guided", "info"])
            tickets.append(Ticket(
                ticket_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                number=number,
                service=service_id,
                priority=(site.priorities[0].id if site.priorities and rng.random() < model.priority_share else None),
                issued_at=moment,
                no_show=rng.random() < model.no_show_share,
                service_s=_lognormal(rng, sm.mean_minutes * 60, sm.sd_minutes * 60),
                outcome=outcome,
            ))
    tickets.sort(key=lambda t: t.issued_at)
    if model.booked_share > 0:
        tickets = _book(tickets, model, day, zone, rng, site.hours.last_ticket.hour)
    return tickets


def _book(tickets: list[Ticket], model: SimulationModel, day: date, zone: Any, rng: random.Random,
          last_hour: int) -> list[Ticket]:
    """Turn a share of the day's citizens into bookings: the slot of the hour they would
    have come in, else the next hour with a free place, else none (they walk in); a
    share of bookings is never used. A booked citizen's ticket is issued at check-in."""
    used: dict[int, int] = {}
    out: list[Ticket] = []
    booked = 0
    for t in tickets:
        if rng.random() >= model.booked_share:
            out.append(t)
            continue
        hour = t.issued_at.astimezone(zone).hour
        while model.slots_per_hour is not None and used.get(hour, 0) >= model.slots_per_hour and hour < last_hour:
            hour += 1
        if model.slots_per_hour is not None and used.get(hour, 0) >= model.slots_per_hour:
            out.append(t)  # no place left: walks in
            continue
        place = used.get(hour, 0)
        used[hour] = place + 1
        if rng.random() < model.booked_no_show_share:
            continue  # booked, never came: no ticket
        booked += 1
        per_half = max(1, (model.slots_per_hour or 2) // 2)
        start = datetime.combine(day, time(hour), zone) + timedelta(minutes=30 * min(1, place // per_half))
        arrive = start - timedelta(minutes=rng.uniform(0, model.early_minutes))
        out.append(Ticket(t.ticket_id, f"LH{booked:03d}", t.service, t.priority, arrive, t.no_show, t.service_s, t.outcome,
                          "appointment", start))
    out.sort(key=lambda t: t.issued_at)
    return out


def pick_next(waiting: list[Ticket], services: list[str], priority_streak: int, cap: int | None) -> Ticket | None:
    """The dispatcher's rule: the counter's services; priority first unless the cap on
    consecutive priority calls is reached; then first come first served."""
    mine = [t for t in waiting if t.service in services]
    if not mine:
        return None
    allow_priority = cap is None or priority_streak < cap
    priority = [t for t in mine if t.priority] if allow_priority else []
    pool = priority or [t for t in mine if not t.priority] or mine
    return min(pool, key=lambda t: t.issued_at)


def _as_row(t: Ticket) -> dict[str, Any]:
    return {"ticket_id": t.ticket_id, "number": t.number, "priority": t.priority, "issued_at": t.issued_at.timestamp(),
            "channel": t.channel, "checked_in_at": None,
            "appointment_start_at": t.appointment_start.timestamp() if t.appointment_start else None}


def _pick_booked(waiting: list[Ticket], services: list[str], now: datetime, priority_cap: int | None, priority_streak: int,
                 booked_cap: int | None, booked_streak: int) -> Ticket | None:
    """With booked tickets waiting: the server's own rule (server/desk/rules.py)."""
    mine = {t.ticket_id: t for t in waiting if t.service in services}
    chosen = choose([_as_row(t) for t in mine.values()], now.timestamp(), priority_cap, priority_streak, booked_cap,
                    booked_streak)
    return mine[chosen["ticket_id"]] if chosen is not None else None


def simulate_day(site: Site, model: SimulationModel, staffing: Staffing, day: date, seed: int) -> DayResult:
    rng = random.Random(seed)
    tickets = arrivals(site, model, day, rng)
    zone = site.zone
    events: list[tuple[str, str, float, int, str, str]] = []
    seqs: dict[str, int] = {}

    counters = {c.id: c for c in site.counters}

    def emit(kind: str, source: str, at: datetime, data: dict) -> None:
        seqs[source] = seqs.get(source, 0) + 1
        body = json.dumps({"data": data})
        events.append((kind, site.id, at.timestamp(), seqs[source], source, body))

    # Heap of (time, order, kind, payload): arrivals and counters becoming free.
    heap: list[tuple[datetime, int, str, Any]] = []
    order = 0
    for t in tickets:
        heapq.heappush(heap, (t.issued_at, order, "arrive", t))
        order += 1
    for counter_id in staffing.counters:
        opens, _ = staffing.windows.get(counter_id, (site.hours.open, site.hours.close))
        heapq.heappush(heap, (datetime.combine(day, opens, zone), order, "free", counter_id))
        order += 1
    waiting: list[Ticket] = []
    idle: set[str] = set()
    streak = {c: 0 for c in staffing.counters}
    booked_streak = {c: 0 for c in staffing.counters}
    day_close = datetime.combine(day, site.hours.close, zone)
    cap = site.max_consecutive_priority

    def closes_at(counter_id: str) -> datetime:
        _, closes = staffing.windows.get(counter_id, (site.hours.open, site.hours.close))
        return datetime.combine(day, closes, zone)

    pause_at = {c: (datetime.combine(day, a, zone), datetime.combine(day, b, zone)) for c, (a, b) in staffing.pauses.items()}

    def paused(counter_id: str, now: datetime) -> bool:
        window = pause_at.get(counter_id)
        return window is not None and window[0] <= now < window[1]

    for counter_id, (pause_from, pause_to) in pause_at.items():
        heapq.heappush(heap, (pause_from, order, "pause", counter_id))
        heapq.heappush(heap, (pause_to, order + 1, "resume", counter_id))
        order += 2

    def serve(counter_id: str, now: datetime) -> None:
        nonlocal order
        counter = counters[counter_id]
        if now >= closes_at(counter_id):
            return
        if paused(counter_id, now):
            return  # the "resume" event calls again
        if any(t.channel for t in waiting):
            ticket = _pick_booked(waiting, counter.services, now, cap, streak[counter_id], site.booking.max_consecutive,
                                  booked_streak[counter_id])
        else:
            ticket = pick_next(waiting, counter.services, streak[counter_id], cap)
        if ticket is None:
            idle.add(counter_id)
            return
        waiting.remove(ticket)
        streak[counter_id], booked_streak[counter_id] = streaks_after(
            _as_row(ticket), now.timestamp(), streak[counter_id], booked_streak[counter_id])
        emit("ticket.called", "server", now, {"ticket_id": ticket.ticket_id, "number": ticket.number, "counter": counter_id})
        if ticket.no_show:
            done = now + timedelta(seconds=model.no_show_wait_s)
            emit("ticket.no_show", "server", done, {"ticket_id": ticket.ticket_id, "counter": counter_id})
        else:
            started = now + timedelta(seconds=model.walk_s)
            done = started + timedelta(seconds=ticket.service_s)
            emit("ticket.started", "server", started, {"ticket_id": ticket.ticket_id, "counter": counter_id})
            emit("ticket.completed", "server", done,
                 {"ticket_id": ticket.ticket_id, "counter": counter_id, "outcome": ticket.outcome})
        heapq.heappush(heap, (done, order, "free", counter_id))
        order += 1

    while heap:
        now, _, kind, payload = heapq.heappop(heap)
        if kind == "pause":
            emit("counter.paused", "server", now, {"counter": payload, "reason": "Đi họp"})
        elif kind == "resume":
            emit("counter.opened", "server", now, {"counter": payload})
            if payload in idle or not any(h[3] == payload and h[2] == "free" for h in heap):
                idle.discard(payload)
                serve(payload, now)
        elif kind == "arrive":
            t = payload
            issued = {"ticket_id": t.ticket_id, "number": t.number, "service": t.service, "priority": t.priority}
            if t.channel:
                issued.update(channel=t.channel, appointment_start=t.appointment_start.isoformat() if t.appointment_start else None)
            emit("ticket.issued", "kiosk-sim", now, issued)
            waiting.append(t)
            for counter_id in sorted(idle):
                if t.service in counters[counter_id].services and now < closes_at(counter_id) and not paused(counter_id, now):
                    idle.discard(counter_id)
                    serve(counter_id, now)
                    break
        else:
            serve(payload, now)
    # Whoever is still waiting at closing is closed as a no-show by the day-end job.
    for t in waiting:
        emit("ticket.no_show", "server", max(day_close, t.issued_at), {"ticket_id": t.ticket_id, "counter": staffing.counters[0]})

    by_ticket: dict[str, list] = {}
    for e in events:
        if not e[0].startswith("counter."):
            by_ticket.setdefault(json.loads(e[5])["data"]["ticket_id"], []).append(e)
    zones = {site.id: zone}
    rows = [fold(tid, evs, zones) for tid, evs in by_ticket.items()]
    stats = compute(rows, rules_from_sites([site]), ("site",))
    waits = [r["wait_s"] for r in rows if r["wait_s"] is not None]
    totals = [r["total_s"] for r in rows if r["total_s"] is not None and r["status"] == "completed"]
    return DayResult(events, rows, stats[0] if stats else {}, waits, totals, len(waiting))


@dataclass
class OptionResult:
    staffing: Staffing
    pct_within_target: list[float]  # one per simulated day
    unserved_share: list[float]  # per day: share of tickets still waiting at closing
    waits_s: list[float]
    totals_s: list[float]

    @property
    def median_pct(self) -> float:
        ordered = sorted(self.pct_within_target)
        return ordered[(len(ordered) - 1) // 2] if ordered else 0.0

    def days_meeting(self, target_pct: float, max_unserved: float = 0.01) -> int:
        """Days on which the target was met and (almost) everyone was served: the
        measure alone would flatter understaffing, since citizens sent home unserved
        are not 'received'."""
        return sum(
            1 for p, u in zip(self.pct_within_target, self.unserved_share) if p >= target_pct and u <= max_unserved
        )


def pooled_site(site: Site, counters: int) -> Site:
    """The site with `counters` interchangeable counters that serve every service
    (the planning question is how many officers, not which desk is which)."""
    from protocol.sites import Counter

    every = [s.id for s in site.services]
    return site.model_copy(update={"counters": [
        Counter(id=f"quay-{n}", number=n, name=f"Quầy {n}", services=every) for n in range(1, counters + 1)
    ]})


def staffing_options(max_counters: int, peak: tuple[time, time] = (time(8), time(11))) -> list[Staffing]:
    """n counters all day, then n counters plus one more in the morning peak, growing."""
    options = []
    for n in range(1, max_counters + 1):
        ids = tuple(f"quay-{i}" for i in range(1, n + 1))
        options.append(Staffing(ids, f"{n} quầy cả ngày"))
        if n < max_counters:
            options.append(Staffing(ids + (f"quay-{n + 1}",), f"{n} quầy + 1 giờ cao điểm",
                                    {f"quay-{n + 1}": peak}))
    return options


def evaluate(
    site: Site,
    model: SimulationModel,
    options: list[Staffing],
    days: int,
    seed: int,
    start_day: date,
    progress: Any = None,
) -> list[OptionResult]:
    """Simulate `days` days per option with the same seeds (common random numbers), so
    options are compared on the same citizens."""
    results = []
    widest = max(len(o.counters) for o in options)
    pooled = pooled_site(site, widest)
    for index, option in enumerate(options):
        pct, unserved, waits, totals = [], [], [], []
        for d in range(days):
            day = _working_day(pooled, start_day, d)
            outcome = simulate_day(pooled, model, option, day, seed + d)
            pct.append(outcome.stats.get("pct_within_target") or 0.0)
            unserved.append(outcome.unserved / max(1, outcome.stats.get("issued") or 0))
            waits += outcome.waits_s
            totals += outcome.totals_s
            if progress:
                progress(index * days + d + 1, len(options) * days)
        results.append(OptionResult(option, pct, unserved, waits, totals))
    return results


def _working_day(site: Site, start: date, offset: int) -> date:
    day, found = start, -1
    while True:
        if day.weekday() in site.hours.weekdays:
            found += 1
            if found == offset:
                return day
        day += timedelta(days=1)


def answer(results: list[OptionResult], target_pct: float, days_share: float = 0.8) -> OptionResult | None:
    """The cheapest option (fewest counter-hours, in the given order) meeting the target
    on at least `days_share` of the simulated days."""
    for result in results:
        if result.days_meeting(target_pct) >= days_share * len(result.pct_within_target):
            return result
    return None
