"""The managers' measures as pure functions over ticket rows and ratings.

This is the one definition of every measure (docs/measures.md); the pre-aggregates in
`server.stats.store` and the simulator reuse exactly these functions, so both paths give
the same numbers. Durations are taken "over seconds": every duration is floored to whole
seconds (negative durations from clock skew count as 0 s) before it is counted, compared
with a target or ranked. Percentiles are nearest-rank: the value at rank ceil(p/100 * n)
of the n sorted values (rank 1 when that is 0).

No SQL, no FastAPI, no numpy here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from protocol.sites import Site
from protocol import rollup
from protocol.sites import DEFAULT_ZONE

GROUP_KEYS = ("site", "service", "counter", "day", "week", "month", "hour", "channel")
# The counts, measures, percentiles and the percentile of a histogram are those of the
# roll-up wire format (protocol/rollup.py), so that a province and the nation agree.
MEASURES, PERCENTILES, COUNTS = rollup.MEASURES, rollup.PERCENTILES, rollup.COUNTS
nearest_rank = rollup.nearest_rank
percentile_of_counts = rollup.percentile_of_counts
measures_row = rollup.measures_row
# Ratings in the top two levels of each scale (3-/4-level: 1 = rất hài lòng; 5-star: 5 best).
TOP_TWO = {"3-level": {1, 2}, "4-level": {1, 2}, "5-star": {4, 5}}
RECEIVED_OUTCOMES = ("returned", "appointment")


@dataclass(frozen=True)
class Rules:
    """What the measures need from a site's configuration."""

    zone: ZoneInfo
    targets_s: Mapping[str, int]  # target-eligible service -> target in seconds


def rules_from_sites(sites: Iterable[Site]) -> dict[str, Rules]:
    """Rules per site id from protocol.sites.Site objects (a service not configured is
    not target-eligible)."""
    return {
        s.id: Rules(s.zone, {v.id: v.target_minutes * 60 for v in s.services if v.target_eligible})
        for s in sites
    }


def seconds(value: float | None) -> int | None:
    """A duration in whole seconds: floored, never negative."""
    if value is None:
        return None
    return max(0, math.floor(value))


def percentile(sorted_values: Sequence[int], p: int) -> int | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    return sorted_values[nearest_rank(p, len(sorted_values)) - 1]


def week_of(day: str) -> str:
    """ISO week of a local day, e.g. '2026-W48'."""
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def local_hour(epoch_s: float, zone: ZoneInfo) -> int:
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(zone).hour


@dataclass
class Accumulator:
    """Counts, sums and whole-second histograms of one group; mergeable."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))
    histograms: dict[str, dict[int, int]] = field(default_factory=lambda: {m: {} for m in MEASURES})

    def add_duration(self, measure: str, value: int | None) -> None:
        if value is None:
            return
        self.sums[measure] += value
        h = self.histograms[measure]
        h[value] = h.get(value, 0) + 1

    def add_ticket(self, facts: TicketFacts) -> None:
        c = self.counts
        c["issued"] += 1
        c["called"] += facts.called
        c["no_show"] += facts.no_show
        c["completed"] += facts.completed
        c["received"] += facts.received
        c["within_target"] += facts.within_target
        c["recalls"] += facts.recalls
        c["transfers"] += facts.transfers
        c["unconfirmed"] += facts.unconfirmed
        self.add_duration("wait", facts.wait_s)
        self.add_duration("service", facts.service_s)
        self.add_duration("total", facts.total_s)

    def add_rating(self, satisfied: bool) -> None:
        self.counts["ratings"] += 1
        self.counts["satisfied"] += int(satisfied)

    def merge(self, other: Accumulator) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        for m in MEASURES:
            self.sums[m] += other.sums[m]
            h = self.histograms[m]
            for v, n in other.histograms[m].items():
                h[v] = h.get(v, 0) + n

    def result(self) -> dict[str, int | float | None]:
        return measures_row(
            self.counts,
            self.sums,
            {m: sum(self.histograms[m].values()) for m in MEASURES},
            {(m, p): percentile_of_counts(self.histograms[m], p) for m in MEASURES for p in PERCENTILES},
        )


@dataclass(frozen=True)
class TicketFacts:
    """One ticket reduced to what the measures count (see docs/measures.md)."""

    site: str
    day: str
    hour: int
    service: str
    counter: str
    called: int
    no_show: int
    completed: int
    received: int
    within_target: int
    recalls: int
    transfers: int
    wait_s: int | None
    service_s: int | None
    total_s: int | None
    unconfirmed: int = 0  # published by the kiosk without a confirmed print
    channel: str = "kiosk"  # kiosk (walk-in), online, appointment (docs/booking.md)


def ticket_facts(row: Mapping[str, Any], rules: Mapping[str, Rules]) -> TicketFacts | None:
    """Reduce a `tickets` row; None for a ticket whose issue is unknown (not counted)."""
    if row.get("issued_at") is None or not row.get("local_day"):
        return None
    site = row["site"]
    rule = rules.get(site)
    zone = rule.zone if rule else DEFAULT_ZONE
    service = row.get("service") or ""
    target_s = rule.targets_s.get(service) if rule else None
    completed = row.get("status") == "completed"
    total_s = seconds(row.get("total_s")) if completed else None
    received = completed and target_s is not None and row.get("outcome") in RECEIVED_OUTCOMES
    within = received and row.get("outcome") == "returned" and total_s is not None and target_s is not None and total_s <= target_s
    return TicketFacts(
        site=site,
        day=row["local_day"],
        hour=local_hour(row["issued_at"], zone),
        service=service,
        counter=row.get("counter") or "",
        called=int(row.get("first_called_at") is not None),
        no_show=int(row.get("status") == "no_show"),
        completed=int(completed),
        received=int(received),
        within_target=int(within),
        recalls=int(row.get("recalled_count") or 0),
        transfers=int(row.get("transfers") or 0),
        wait_s=seconds(row.get("wait_s")),
        service_s=seconds(row.get("service_s")) if completed else None,
        total_s=total_s,
        unconfirmed=int(bool(row.get("unconfirmed"))),
        channel=row.get("channel") or "kiosk",
    )


@dataclass(frozen=True)
class Rating:
    """One counted rating: on the rated ticket's issue day, hour and service when the
    ticket is known, else on the feedback's own local day and hour, service ''."""

    site: str
    day: str
    hour: int
    service: str
    counter: str
    rating: int
    scale: str
    channel: str = "kiosk"

    @property
    def satisfied(self) -> bool:
        return self.rating in TOP_TWO.get(self.scale, set())


def first_ratings(
    feedback: Iterable[Mapping[str, Any]], tickets: Mapping[str, Mapping[str, Any]], rules: Mapping[str, Rules]
) -> list[Rating]:
    """Ratings to count from feedback events {id, site, ts_at, ticket_id, counter, rating,
    scale}: one per ticket (the earliest by event time, then id, wins); feedback without
    a ticket id always counts. `tickets` maps ticket_id -> tickets row."""
    out: list[Rating] = []
    seen: set[str] = set()
    for f in sorted(feedback, key=lambda f: (f["ts_at"], str(f["id"]))):
        ticket_id = f.get("ticket_id")
        if ticket_id:
            if ticket_id in seen:
                continue
            seen.add(ticket_id)
        rule = rules.get(f["site"])
        zone = rule.zone if rule else DEFAULT_ZONE
        ticket = tickets.get(ticket_id) if ticket_id else None
        if ticket and ticket.get("issued_at") is not None and ticket.get("local_day"):
            day, hour, service = ticket["local_day"], local_hour(ticket["issued_at"], zone), ticket.get("service") or ""
        else:
            moment = datetime.fromtimestamp(f["ts_at"], UTC).astimezone(zone)
            day, hour, service = moment.date().isoformat(), moment.hour, ""
        channel = (ticket.get("channel") if ticket else None) or "kiosk"
        out.append(Rating(f["site"], day, hour, service, f["counter"], int(f["rating"]), f["scale"], channel))
    return out


def key_of(item: TicketFacts | Rating, group_by: Sequence[str]) -> tuple[str | int, ...]:
    values: list[str | int] = []
    for g in group_by:
        if g == "week":
            values.append(week_of(item.day))
        elif g == "month":
            values.append(item.day[:7])
        else:
            values.append(getattr(item, g))
    return tuple(values)


def parse_group_by(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Group keys in a fixed order; 'site' is always one of them. Raises ValueError."""
    if text is None or text == "":
        parts: list[str] = []
    elif isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
    else:
        parts = list(text)
    unknown = [p for p in parts if p not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"unknown group_by {', '.join(unknown)}; use any of {', '.join(GROUP_KEYS)}")
    chosen = {"site", *parts}
    return tuple(g for g in GROUP_KEYS if g in chosen)


def compute(
    rows: Iterable[Mapping[str, Any]],
    rules: Mapping[str, Rules],
    group_by: str | Sequence[str] = ("site",),
    ratings: Iterable[Rating] = (),
    day_from: str | None = None,
    day_to: str | None = None,
) -> list[dict[str, Any]]:
    """The measures of ticket rows (and ratings), grouped; rows sorted by group key."""
    keys = parse_group_by(group_by)
    groups: dict[tuple[str | int, ...], Accumulator] = {}

    def wanted(day: str) -> bool:
        return (day_from is None or day >= day_from) and (day_to is None or day <= day_to)

    for row in rows:
        facts = ticket_facts(row, rules)
        if facts is not None and wanted(facts.day):
            groups.setdefault(key_of(facts, keys), Accumulator()).add_ticket(facts)
    for rating in ratings:
        if wanted(rating.day):
            groups.setdefault(key_of(rating, keys), Accumulator()).add_rating(rating.satisfied)
    return [dict(zip(keys, key)) | acc.result() for key, acc in sorted(groups.items(), key=lambda kv: kv[0])]
