"""Test oracle: the report pack's figures and input reading as first written, straight
and slow (server/stats/report.py before its speed-up for bench/report.py: one object per
event, json.loads of every payload, the ratings through every event of every ticket, the
fold keyed row by row). tests/server/test_report_fast.py checks that the fast code gives
exactly the same pack as this one on random months. Not imported by the server.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from protocol.sites import Site
from server.stats.measures import RECEIVED_OUTCOMES, TOP_TWO, percentile, seconds

LABEL = "số liệu tại quầy"
OUTCOMES = ("returned", "appointment", "guided", "info")
# The lowest level of each rating scale counts as "dissatisfied" in the 766-style ratio.
DISSATISFIED = {"3-level": {3}, "4-level": {4}, "5-star": {1, 2}}
EXCEPTION_LIMIT = 2000  # at-risk / over-target tickets listed (the count is always exact)
TICKET_COLUMNS = (
    "ticket_id", "site", "number", "service", "issued_at", "local_day", "first_called_at", "last_called_at",
    "started_at", "completed_at", "no_show_at", "outcome", "dossier_code", "counter", "status", "transfers",
    "wait_s", "service_s", "total_s", "last_event_at",
)
COUNTER_EVENTS = ("counter.opened", "counter.paused", "counter.closed")


@dataclass(frozen=True)
class CounterEvent:
    """A counter.* or ticket.transferred event reduced to what the report needs."""

    site: str
    counter: str
    type: str
    at: float  # UTC epoch seconds
    reason: str | None = None


@dataclass(frozen=True)
class FirstRating:
    """The counted (earliest) rating of a ticket, or a rating without a ticket."""

    site: str
    ticket_id: str | None
    rating: int
    scale: str

    @property
    def satisfied(self) -> bool:
        return self.rating in TOP_TWO.get(self.scale, set())

    @property
    def dissatisfied(self) -> bool:
        return self.rating in DISSATISFIED.get(self.scale, set())


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def previous_period(day_from: str, day_to: str) -> tuple[str, str]:
    """The period beside this one: the month before for a whole calendar month, else
    the same number of days just before."""
    start, end = date.fromisoformat(day_from), date.fromisoformat(day_to)
    next_day = end + timedelta(days=1)
    if start.day == 1 and next_day.day == 1 and (next_day.month - start.month) % 12 == 1:
        prev_end = start - timedelta(days=1)
        return prev_end.replace(day=1).isoformat(), prev_end.isoformat()
    length = (end - start).days + 1
    return (start - timedelta(days=length)).isoformat(), (start - timedelta(days=1)).isoformat()


# -- interval arithmetic over sorted, merged [start, end) lists ---------------------------
Intervals = list[tuple[float, float]]


def merge(intervals: Iterable[tuple[float, float]]) -> Intervals:
    out: Intervals = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: Intervals, b: Intervals) -> Intervals:
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Intervals, b: Intervals) -> Intervals:
    out: Intervals = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] <= start:
            j += 1
        k = j
        cursor = start
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def length_s(intervals: Intervals) -> float:
    return sum(end - start for start, end in intervals)


# -- counter states ---------------------------------------------------------------------
def counter_spans(events: Sequence[CounterEvent], site: Site) -> dict[str, dict[str, Any]]:
    """Per counter: its open intervals, its paused intervals (with reasons) and its
    transfers. A state lasts until the counter's next counter.* event, and at most until
    the site's closing time of that local day (the day-end closes counters then; a state
    begun after closing ends at local midnight)."""
    zone = site.zone
    out: dict[str, dict[str, Any]] = {}
    by_counter: dict[str, list[CounterEvent]] = {}
    for e in events:
        if e.type == "ticket.transferred":
            out.setdefault(e.counter, {"open": [], "paused": [], "transfers": 0})["transfers"] += 1
        else:
            by_counter.setdefault(e.counter, []).append(e)
    for counter, evs in by_counter.items():
        entry = out.setdefault(counter, {"open": [], "paused": [], "transfers": 0})
        evs.sort(key=lambda e: (e.at, e.type))
        for e, nxt in zip(evs, [*evs[1:], None]):
            local = datetime.fromtimestamp(e.at, UTC).astimezone(zone)
            close_at = datetime.combine(local.date(), site.hours.close, zone)
            limit = close_at if local < close_at else datetime.combine(local.date() + timedelta(days=1), time(0), zone)
            end = min(limit.timestamp(), nxt.at) if nxt is not None else limit.timestamp()
            if end <= e.at:
                continue
            if e.type == "counter.opened":
                entry["open"].append((e.at, end))
            elif e.type == "counter.paused":
                entry["paused"].append((e.at, end, e.reason or ""))
    return out


# -- the report ---------------------------------------------------------------------------
class _Group:
    """Counts of one service or site: outcomes, the 60-minute share, no-shows."""

    __slots__ = ("issued", "called", "completed", "outcomes", "no_show", "received", "within_target", "transfers")

    def __init__(self) -> None:
        self.issued = self.called = self.completed = self.no_show = self.received = self.within_target = 0
        self.transfers = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)

    def add(self, other: _Group) -> None:
        self.issued += other.issued
        self.called += other.called
        self.completed += other.completed
        self.no_show += other.no_show
        self.received += other.received
        self.within_target += other.within_target
        self.transfers += other.transfers
        for o in OUTCOMES:
            self.outcomes[o] += other.outcomes[o]

    def row(self) -> dict[str, Any]:
        return {
            "issued": self.issued, "called": self.called, "served": self.completed,
            **{f"outcome_{o}": self.outcomes[o] for o in OUTCOMES},
            "no_show": self.no_show, "transfers": self.transfers, "received": self.received,
            "within_target": self.within_target, "pct_within_target": pct(self.within_target, self.received),
        }


def _sod(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _midnight(site: Site, day: str) -> tuple[float, int] | None:
    """(UTC epoch of the local midnight, weekday) of a site-local day; None on a day
    with a clock change (its hours are not all 3600 s from midnight)."""
    d = date.fromisoformat(day)
    start = datetime.combine(d, time(0), site.zone).timestamp()
    end = datetime.combine(d + timedelta(days=1), time(0), site.zone).timestamp()
    return (start, d.weekday()) if end - start == 86400 else None


def as_row(mapping: Mapping[str, Any]) -> tuple[Any, ...]:
    """A tickets row given as a mapping, as the tuple `build_report` reads."""
    return tuple(mapping.get(c) for c in TICKET_COLUMNS)


def _dist(values: list[int]) -> dict[str, Any]:
    values.sort()
    return {"n": len(values), "p50_s": percentile(values, 50), "p90_s": percentile(values, 90),
            "mean_s": round(sum(values) / len(values), 1) if values else None}


def build_report(
    rows: Iterable[Sequence[Any]],  # tickets rows as tuples in TICKET_COLUMNS order (see as_row)
    sites: Sequence[Site],
    day_from: str,
    day_to: str,
    counter_events: Iterable[CounterEvent] = (),
    ratings: Iterable[FirstRating] = (),
    previous: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Every figure of the pack for the tickets issued on site-local days
    [day_from, day_to] at `sites` (docs/measures.md, "The report pack").

    `rows` are `tickets` rows; `counter_events` the counter.* and ticket.transferred
    events of the period; `ratings` the first rating of each ticket (and ratings without
    a ticket) counted in the period; `previous` the counts {received, within_target} of
    the previous period (beside the 60-minute share), if known."""
    by_id = {s.id: s for s in sites}
    targets = {s.id: {v.id: v.target_minutes * 60 for v in s.services if v.target_eligible} for s in sites}
    session_s = {s.id: [(_sod(x.start), _sod(x.cutoff), _sod(x.end)) for x in s.sessions] for s in sites}
    groups: dict[tuple[str, str], _Group] = {}  # (site, service): summed into totals, sites and services below
    trend: dict[str, list[int]] = {}
    sessions: dict[tuple[str, int], list[int]] = {}
    dossiers: dict[str, list[tuple[float, str]]] = {}
    counters: dict[tuple[str, str], dict[str, Any]] = {}
    heat: dict[tuple[int, int], list[int]] = {}
    waiting: dict[tuple[str, str, str], list[tuple[float, float]]] = {}  # (site, day, service) -> intervals
    busy: dict[tuple[str, str], list[tuple[float, float]]] = {}  # (site, counter) -> intervals
    exceptions: list[dict[str, Any]] = []
    exception_count = {"over_target": 0, "at_risk": 0}
    dossier_tickets: dict[str, tuple[str, str]] = {}  # ticket_id -> (site, outcome) of received dossiers
    overdue: set[str] = set()
    days: dict[tuple[str, str], tuple[float, int] | None] = {}  # (site, day) -> (local midnight, weekday)

    for row in rows:
        (ticket_id, site_id, number, service_id, issued_at, day, first_called, last_called, started, completed_at,
         no_show_at, outcome, code, counter, status, transfers, wait_raw, service_raw, total_raw, last_event_at) = row
        if issued_at is None or not day or not (day_from <= day <= day_to) or site_id not in by_id:
            continue
        site = by_id[site_id]
        key = (site_id, day)
        if key not in days:
            days[key] = _midnight(site, day)
        midnight = days[key]
        if midnight is None:  # a day with a clock change: the slow, exact way
            local = datetime.fromtimestamp(issued_at, UTC).astimezone(site.zone)
            start_of_day = issued_at - (local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6)
            weekday = local.weekday()
        else:
            start_of_day, weekday = midnight
        sod = issued_at - start_of_day  # seconds since local midnight
        hour = int(sod // 3600)
        service_id = service_id or ""
        target_s = targets[site_id].get(service_id)
        completed = status == "completed"
        if not completed:
            outcome = None
        counter = counter or ""
        total_s = seconds(total_raw) if completed else None
        received = completed and target_s is not None and outcome in RECEIVED_OUTCOMES
        within = received and outcome == "returned" and total_s is not None and total_s <= (target_s or 0)
        called = first_called is not None
        g = groups.get((site_id, service_id))
        if g is None:
            g = groups[(site_id, service_id)] = _Group()
        g.issued += 1
        g.called += called
        g.completed += completed
        g.no_show += status == "no_show"
        g.received += received
        g.within_target += within
        g.transfers += transfers or 0
        if outcome in g.outcomes:
            g.outcomes[outcome] += 1
        if received:
            t = trend.get(day)
            if t is None:
                t = trend[day] = [0, 0]
            t[0] += 1
            t[1] += within
            # same-session return: a received dossier issued in a session before its cut-off
            for index, (begin, cutoff, end) in enumerate(session_s[site_id]):
                if begin <= sod < cutoff:
                    cell = sessions.setdefault((site_id, index), [0, 0])
                    cell[0] += 1
                    cell[1] += outcome == "returned" and completed_at - start_of_day <= end
                    break
        wait_s = seconds(wait_raw)
        if wait_s is not None:
            heat.setdefault((weekday, hour), []).append(wait_s)
        # 766-style: dossiers are completed tickets with a dossier received (any service)
        if outcome in RECEIVED_OUTCOMES:
            dossier_tickets[ticket_id] = (site_id, outcome)
            if received and outcome == "returned" and not within:
                overdue.add(ticket_id)
        if code:
            dossiers.setdefault(code, []).append((issued_at, site_id))
        if counter and called:
            entry = counters.get((site_id, counter))
            if entry is None:
                entry = counters[(site_id, counter)] = {"calls": 0, "service": [], "walk": [], "no_show": 0, "completed": 0}
            entry["calls"] += 1
            entry["no_show"] += status == "no_show"
            if completed:
                entry["completed"] += 1
                service_s = seconds(service_raw)
                if service_s is not None:
                    entry["service"].append(service_s)
            if started is not None:
                call = last_called if last_called is not None and last_called <= started else first_called
                entry["walk"].append(seconds(started - call))
            end_at = completed_at or no_show_at or last_event_at
            if end_at is not None:
                busy.setdefault((site_id, counter), []).append((first_called, end_at))
        wait_end = first_called or no_show_at or completed_at or last_event_at
        if wait_end is not None and wait_end > issued_at:
            waiting.setdefault((site_id, day, service_id), []).append((issued_at, wait_end))
        # at-risk and over-target tickets of target-eligible services
        if target_s is not None:
            age_s = seconds((completed_at or no_show_at or last_event_at or issued_at) - issued_at) or 0
            kind = None
            if received and outcome == "returned" and not within:
                kind = "over_target"
            elif age_s > site.at_risk_minutes * target_s // 60:
                kind = "at_risk"
            if kind is not None:
                exception_count[kind] += 1
                if len(exceptions) < EXCEPTION_LIMIT:
                    exceptions.append({
                        "kind": kind, "site": site_id, "day": day, "number": number, "service": service_id,
                        "counter": counter, "status": status, "outcome": outcome,
                        "issued": f"{hour:02d}:{int(sod % 3600 // 60):02d}", "minutes": age_s // 60,
                        "target_minutes": target_s // 60,
                    })

    total = _Group()
    by_site: dict[str, _Group] = {s.id: _Group() for s in sites}
    by_service: dict[str, _Group] = {}
    for (site_id, service_id), g in sorted(groups.items()):
        for into in (total, by_site[site_id], by_service.setdefault(service_id, _Group())):
            into.add(g)
    rating_list = list(ratings)
    report: dict[str, Any] = {
        "label": LABEL,
        "period": {"from": day_from, "to": day_to},
        "sites": [{"id": s.id, "name": s.name} for s in sites],
        "summary": _summary(total, previous, rating_list),
        "by_service": _by_service(by_service, sites),
        "by_site": [{"site": s.id, "name": s.name, **by_site[s.id].row()} for s in sites],
        "trend": [{"day": d, "received": v[0], "within_target": v[1], "pct_within_target": pct(v[1], v[0])}
                  for d, v in sorted(trend.items())],
        "same_session": _same_session(sessions, sites),
        "index_766": _index_766(dossier_tickets, overdue, rating_list),
        "visits": _visits(dossiers),
        "counters": [],
        "pauses": [],
        "heatmap": _heatmap(heat),
        "exceptions": {"counts": exception_count, "listed": sorted(
            exceptions, key=lambda e: (e["day"], e["site"], e["issued"], e["number"] or ""))},
    }
    _counters(report, counters, busy, waiting, list(counter_events), sites)
    return report


def _summary(total: _Group, previous: Mapping[str, int] | None, ratings: list[FirstRating]) -> dict[str, Any]:
    out = total.row()
    satisfied = sum(r.satisfied for r in ratings)
    out |= {"ratings": len(ratings), "satisfied": satisfied, "satisfaction_pct": pct(satisfied, len(ratings))}
    if previous is not None:
        out["previous"] = {"received": previous["received"], "within_target": previous["within_target"],
                           "pct_within_target": pct(previous["within_target"], previous["received"])}
    else:
        out["previous"] = None
    return out


def _by_service(groups: Mapping[str, _Group], sites: Sequence[Site]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    for s in sites:
        for v in s.services:
            names.setdefault(v.id, v.name)
    return [{"service": service, "name": names.get(service, service or "—"), **g.row()}
            for service, g in sorted(groups.items())]


def _same_session(cells: Mapping[tuple[str, int], list[int]], sites: Sequence[Site]) -> dict[str, Any]:
    rows = []
    eligible = returned = 0
    for s in sites:
        for index, session in enumerate(s.sessions):
            e, r = cells.get((s.id, index), [0, 0])
            eligible += e
            returned += r
            rows.append({"site": s.id, "session": index + 1, "start": session.start.strftime("%H:%M"),
                         "cutoff": session.cutoff.strftime("%H:%M"), "end": session.end.strftime("%H:%M"),
                         "eligible": e, "returned_in_session": r, "pct": pct(r, e)})
    return {"eligible": eligible, "returned_in_session": returned, "pct": pct(returned, eligible), "rows": rows}


def _index_766(dossiers: Mapping[str, tuple[str, str]], overdue: set[str], ratings: list[FirstRating]) -> dict[str, Any]:
    dissatisfied = {r.ticket_id for r in ratings if r.ticket_id in dossiers and r.dissatisfied}
    bad = dissatisfied | overdue
    n = len(dossiers)
    return {
        "dossiers": n, "dissatisfied": len(dissatisfied), "complained": None, "overdue": len(overdue),
        "counted_bad": len(bad), "ratio_pct": pct(n - len(bad), n),
        "formula": "(hồ sơ − hồ sơ có đánh giá không hài lòng, bị phản ánh hoặc quá hạn) ÷ hồ sơ × 100",
    }


def _visits(dossiers: Mapping[str, list[tuple[float, str]]]) -> dict[str, Any]:
    counts = {code: len(v) for code, v in dossiers.items()}
    n = len(counts)
    one = sum(1 for c in counts.values() if c == 1)
    visits = sum(counts.values())
    histogram: dict[str, int] = {}
    for c in counts.values():
        key = str(c) if c < 3 else "3+"
        histogram[key] = histogram.get(key, 0) + 1
    repeated = sorted(((code, c) for code, c in counts.items() if c > 1), key=lambda x: (-x[1], x[0]))
    return {"tickets_with_code": visits, "dossiers": n, "one_visit": one, "pct_one_visit": pct(one, n),
            "visits_per_dossier": round(visits / n, 2) if n else None,
            "histogram": dict(sorted(histogram.items())),
            "repeated": [{"dossier_code": code, "visits": c} for code, c in repeated[:50]]}


def _heatmap(heat: Mapping[tuple[int, int], list[int]]) -> dict[str, Any]:
    hours = sorted({h for _, h in heat})
    cells = []
    for (weekday, hour), values in sorted(heat.items()):
        values.sort()
        cells.append({"weekday": weekday, "hour": hour, "tickets": len(values), "wait_p50_s": percentile(values, 50)})
    return {"hours": hours, "weekdays": sorted({w for w, _ in heat}), "cells": cells}


def _counters(report: dict[str, Any], counters: dict[tuple[str, str], dict[str, Any]],
              busy: Mapping[tuple[str, str], list[tuple[float, float]]],
              waiting: Mapping[tuple[str, str, str], list[tuple[float, float]]],
              events: list[CounterEvent], sites: Sequence[Site]) -> None:
    pauses: dict[str, list[float]] = {}
    waiting_by_site: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for (site_id, _day, service), intervals in waiting.items():
        waiting_by_site.setdefault(site_id, {}).setdefault(service, []).extend(intervals)
    rows = []
    events_by_site: dict[str, list[CounterEvent]] = {}
    for e in events:
        events_by_site.setdefault(e.site, []).append(e)
    for site in sites:
        spans = counter_spans(events_by_site.get(site.id, []), site)
        names = {c.id: c for c in site.counters}
        ids = sorted(set(names) | {c for (s, c) in counters if s == site.id} | set(spans))
        union_cache: dict[frozenset[str], Intervals] = {}
        for counter in ids:
            stats = counters.get((site.id, counter), {"calls": 0, "service": [], "walk": [], "no_show": 0, "completed": 0})
            span = spans.get(counter, {"open": [], "paused": [], "transfers": 0})
            opened = merge(span["open"])
            served = frozenset(names[counter].services) if counter in names else frozenset()
            if served not in union_cache:
                site_waiting = waiting_by_site.get(site.id, {})
                union_cache[served] = merge(i for s in served for i in site_waiting.get(s, []))
            idle = subtract(intersect(opened, union_cache[served]), merge(busy.get((site.id, counter), [])))
            open_s = int(length_s(opened))
            by_reason: dict[str, int] = {}
            for start, end, reason in span["paused"]:
                by_reason[reason] = by_reason.get(reason, 0) + int(end - start)
                p = pauses.setdefault(reason, [0, 0])
                p[0] += int(end - start)
                p[1] += 1
            if not (open_s or stats["calls"] or span["paused"] or span["transfers"]):
                continue
            rows.append({
                "site": site.id, "counter": counter,
                "name": names[counter].name if counter in names else counter,
                "open_s": open_s, "calls": stats["calls"],
                "calls_per_open_hour": round(stats["calls"] * 3600 / open_s, 2) if open_s else None,
                "completed": stats["completed"],
                "service": _dist(stats["service"]), "walk": _dist(stats["walk"]),
                "idle_s": int(length_s(idle)), "idle_pct_of_open": pct(int(length_s(idle)), open_s),
                "pause_s": sum(by_reason.values()), "pauses": dict(sorted(by_reason.items())),
                "no_show": stats["no_show"], "transfers": span["transfers"],
            })
    report["counters"] = rows
    report["pauses"] = [{"reason": r, "seconds": v[0], "count": v[1]} for r, v in sorted(pauses.items())]


# -- reading the inputs -------------------------------------------------------------------
def load_inputs(conn: sqlite3.Connection, sites: Sequence[Site], day_from: str, day_to: str
                ) -> tuple[list[tuple[Any, ...]], list[CounterEvent], list[FirstRating]]:
    """The tickets rows (tuples in TICKET_COLUMNS order), counter/transfer events and
    first ratings of the period."""
    conn.row_factory = None
    rows: list[tuple[Any, ...]] = []
    events: list[CounterEvent] = []
    ratings: list[FirstRating] = []
    columns = ", ".join(TICKET_COLUMNS)
    for site in sites:
        rows += conn.execute(
            f"SELECT {columns} FROM tickets WHERE site = ? AND local_day BETWEEN ? AND ?", (site.id, day_from, day_to),
        ).fetchall()
        start = datetime.combine(date.fromisoformat(day_from), time(0), site.zone).timestamp()
        end = datetime.combine(date.fromisoformat(day_to) + timedelta(days=1), time(0), site.zone).timestamp()
        for kind, ts_at, payload in conn.execute(
            "SELECT type, ts_at, payload FROM events WHERE site = ? AND ts_at >= ? AND ts_at < ? "
            "AND type IN ('counter.opened', 'counter.paused', 'counter.closed', 'ticket.transferred')",
            (site.id, start, end),
        ):
            data = json.loads(payload)["data"]
            events.append(CounterEvent(site.id, data["counter"], kind, ts_at, data.get("reason")))
        ratings += _first_ratings(conn, site, day_from, day_to, start, end)
    return rows, events, ratings


def _first_ratings(conn: sqlite3.Connection, site: Site, day_from: str, day_to: str, start: float, end: float) -> list[FirstRating]:
    """One rating per ticket issued in the period (its earliest), and the ratings without
    a ticket given in the period: the rules of docs/measures.md, "Satisfaction"."""
    found: dict[str, tuple[float, str, int, str]] = {}
    loose: list[FirstRating] = []
    for event_id, ts_at, ticket_id, payload in conn.execute(
        "SELECT e.id, e.ts_at, e.ticket_id, e.payload FROM events e JOIN tickets t ON t.ticket_id = e.ticket_id "
        "WHERE t.site = ? AND t.local_day BETWEEN ? AND ? AND e.type = 'feedback.given'", (site.id, day_from, day_to),
    ):
        data = json.loads(payload)["data"]
        candidate = (ts_at, event_id, int(data["rating"]), data["scale"])
        if ticket_id not in found or candidate[:2] < found[ticket_id][:2]:
            found[ticket_id] = candidate
    for payload, in conn.execute(
        "SELECT payload FROM events WHERE site = ? AND ts_at >= ? AND ts_at < ? AND type = 'feedback.given' "
        "AND ticket_id IS NULL ORDER BY ts_at, id", (site.id, start, end),
    ):
        data = json.loads(payload)["data"]
        loose.append(FirstRating(site.id, None, int(data["rating"]), data["scale"]))
    return [FirstRating(site.id, t, v[2], v[3]) for t, v in sorted(found.items())] + loose


def previous_counts(rows: Iterable[Sequence[Any]], sites: Sequence[Site]) -> dict[str, int]:
    """{received, within_target} of ticket rows (the previous period, from rows)."""
    part = build_report(rows, sites, "0000-01-01", "9999-12-31")["summary"]
    return {"received": part["received"], "within_target": part["within_target"]}


def assemble(stats_store: Any, sites: Sequence[Site], day_from: str, day_to: str) -> dict[str, Any]:
    """The report of `sites` for [day_from, day_to] from a server.stats.store.StatsStore:
    tickets, counter events and ratings read in one snapshot; the previous period's
    60-minute counts from the pre-aggregates (the same definitions)."""
    ids = [s.id for s in sites]
    prev_from, prev_to = previous_period(day_from, day_to)
    before = stats_store.query(prev_from, prev_to, ids, "site")
    previous = {"received": sum(r["received"] for r in before), "within_target": sum(r["within_target"] for r in before)}
    conn = stats_store.store.reader()
    try:
        conn.execute("BEGIN")
        rows, events, ratings = load_inputs(conn, sites, day_from, day_to)
        conn.rollback()
    finally:
        conn.close()
    report = build_report(rows, sites, day_from, day_to, events, ratings, previous)
    report["period"] |= {"previous_from": prev_from, "previous_to": prev_to}
    return report
