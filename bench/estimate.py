"""Replay benchmark of the wait estimate: simulated days through the real estimator.

Each configuration simulates `--days` office days (xephang/simulate.py, the site's own
counters and services) and replays every day's events in time order. At every
`ticket.issued` the estimator (server/desk/estimate.py) is asked for the new ticket, as
the kiosk prints it; every 5 minutes it is asked again for every waiting ticket, as the
ticket page shows it. Each answer is kept beside the wait that really followed and
beside today's formula `waiting x median service / open counters` asked at the same
moment. History carries over from day to day (occupancy per service, pauses, the
priority rate), so the first day starts from the prior, as a new site does.

Configurations: the site as configured; the site with one counter fewer (the last
counter whose removal still leaves every service a counter); the site with a counter
paused for 30 minutes in the morning peak. All three have 10 % priority tickets.

    .venv/bin/python -m bench.estimate                    # examples/commune.toml, 100 days
    .venv/bin/python -m bench.estimate --config SITE.toml --days 30 --site my-site

Figures per configuration and per people ahead (0, 1-2, 3-9, 10+): median error of the
point estimate (estimate - real, minutes), share within max(5 min, 25 % of the real
wait), share of real waits inside the printed range and beyond its upper end, and
inside the model's own P10-P90 before rounding (with the "sure" answers, P10 = P90, set
apart); for today's formula the first two; for the oracle ceiling
(bench/estimate_oracle.py: the simulator's true parameters and the queue's exact state,
`--futures` futures of the rest of the day; `--futures 0` turns it off) its share within
and its own P10-P90's coverage. Days are cut into blocks (`--blocks`) to show the
spread: the figure over all days, then the median and range over blocks.
Writes bench/results/estimate.json. Imports the simulator (xephang) and the server's
estimator; nothing here is used by the running programs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time as wall
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from bench.common import RESULTS
from bench.estimate_oracle import (
    DEFAULT_FUTURES,
    Answer,
    Job,
    Oracle,
    State,
    answers,
    close_enough,
    coverage,
    oracle_figures,
)
from protocol.settings import CommonSettings, load_settings
from protocol.sites import Site
from protocol.waitrange import printed_range
from server.desk.estimate import (
    DEFAULT_RUNS,
    CounterNow,
    History,
    QueueNow,
    Sample,
    Waiting,
    estimate_queue,
    old_estimate_s,
)
from xephang.simulate import SimulationModel, Staffing, _working_day, simulate_day

ROOT = Path(__file__).resolve().parents[1]
CHECK_EVERY_S = 300
STRATA = (("0", 0, 0), ("1-2", 1, 2), ("3-9", 3, 9), ("10+", 10, 10**9))
HISTORY_SAMPLES = 300  # per service, most recent
OLD_RECENT = 20  # today's formula: median of the last 20 completions (server/desk/boardstate.py)


@dataclass
class Record:
    moment: str  # "issue" | "check"
    ahead: int
    point_s: int | None
    low_s: int | None
    high_s: int | None
    not_today: float
    old_s: int | None
    real_s: float | None  # None: never called (still waiting at closing)
    service: str = ""
    at_s: float = 0.0
    oracle: Answer | None = None  # the oracle ceiling's answer (bench/estimate_oracle.py)


@dataclass
class Carry:
    """What the site remembers from earlier days."""

    occupancy: dict[str, deque[Sample]] = field(default_factory=dict)
    service_s: dict[str, deque[float]] = field(default_factory=dict)
    pauses_s: list[float] = field(default_factory=list)
    priority_issued: dict[str, int] = field(default_factory=dict)
    open_hours: float = 0.0

    def history(self) -> History:
        rate = {s: n / self.open_hours for s, n in self.priority_issued.items()} if self.open_hours else {}
        return History({s: tuple(d) for s, d in self.occupancy.items()}, tuple(self.pauses_s[-50:]), rate)


def one_counter_fewer(site: Site) -> Site:
    """The site without its last counter whose removal leaves every service served."""
    for counter in reversed(site.counters):
        rest = [c for c in site.counters if c.id != counter.id]
        if all(any(s.id in c.services for c in rest) for s in site.services):
            return site.model_copy(update={"counters": rest})
    raise SystemExit("every counter is the only one for some service: no 'one counter fewer' configuration")


def configurations(site: Site) -> list[tuple[str, Site, Staffing]]:
    every = tuple(c.id for c in site.counters)
    fewer = one_counter_fewer(site)
    paused = site.counters[1 if len(site.counters) > 1 else 0].id
    return [
        ("as configured", site, Staffing(every, "as configured")),
        ("one counter fewer", fewer, Staffing(tuple(c.id for c in fewer.counters), "one counter fewer")),
        ("a counter paused 30 min", site, Staffing(every, "paused", pauses={paused: (time(9, 30), time(10, 0))})),
    ]


def replay_day(site: Site, staffing: Staffing, day: date, events: list[tuple[str, str, float, int, str, str]],
               carry: Carry, runs: int, oracle: Oracle | None = None, check_futures: int | None = None) -> list[Record]:
    zone = site.zone
    opens = datetime.combine(day, site.hours.open, zone).timestamp()
    close = datetime.combine(day, site.hours.close, zone).timestamp()
    windows = {c: staffing.windows.get(c, (site.hours.open, site.hours.close)) for c in staffing.counters}
    windows_s = {c: (datetime.combine(day, a, zone).timestamp(), datetime.combine(day, b, zone).timestamp())
                 for c, (a, b) in windows.items()}
    paused_since: dict[str, float] = {}
    waiting: dict[str, Waiting] = {}
    busy: dict[str, tuple[str, float, str]] = {}  # counter -> (service, called at, ticket)
    called_at: dict[str, float] = {}
    started_at: dict[str, float] = {}
    streak = dict.fromkeys(staffing.counters, 0)
    asked: list[tuple[str, str, float, Record]] = []  # ticket, moment, at, record
    cap = site.max_consecutive_priority
    service_of: dict[str, str] = {}

    def counters_now(at: float) -> tuple[CounterNow, ...]:
        out = []
        for c in site.counters:
            if c.id not in windows_s:
                continue
            start, end = windows_s[c.id]
            state = "open" if start <= at < end else "closed"
            if state == "open" and c.id in paused_since:
                state = "paused"
            job = busy.get(c.id)
            out.append(CounterNow(c.id, tuple(c.services), state, job[0] if job else None, job[1] if job else None,
                                  paused_since.get(c.id), streak[c.id]))
        return tuple(out)

    def old(service: str, ahead: int, counters: tuple[CounterNow, ...]) -> int | None:
        recent = list(carry.service_s.get(service, ()))[-OLD_RECENT:]
        median = statistics.median(recent) if recent else None
        return old_estimate_s(ahead, median, sum(1 for c in counters if c.state == "open" and service in c.services))

    def ask(at: float, new: tuple[str, bool] | None, new_id: str | None) -> None:
        counters = counters_now(at)
        hour = datetime.fromtimestamp(at, zone).hour
        queue = QueueNow(at, close, counters, tuple(waiting.values()), cap, hour)
        result = estimate_queue(queue, carry.history(), runs=runs, new=(new,) if new else ())
        seen = ask_oracle(at, new, new_id)
        if new and new_id:
            e = result.new[new]
            asked.append((new_id, "issue", at, Record("issue", e.people_ahead, e.point_s, e.low_s, e.high_s,
                                                       e.not_today, old(new[0], e.people_ahead, counters), None,
                                                       oracle=seen.get(new_id))))
            return
        for ticket_id, e in result.tickets.items():
            asked.append((ticket_id, "check", at, Record("check", e.people_ahead, e.point_s, e.low_s, e.high_s,
                                                          e.not_today, old(waiting[ticket_id].service, e.people_ahead,
                                                                           counters), None, oracle=seen.get(ticket_id))))

    def ask_oracle(at: float, new: tuple[str, bool] | None, new_id: str | None) -> dict[str, Answer]:
        """The same moment through the oracle: the same state, plus the simulator's true parameters."""
        if oracle is None:
            return {}
        queue = [(t.ticket_id, t.service, t.priority, t.issued_s) for t in waiting.values()]
        if new and new_id:
            queue.append((new_id, new[0], new[1], at))
        jobs = {c: Job(service, called, started_at.get(ticket)) for c, (service, called, ticket) in busy.items()}
        if new and new_id:
            return answers(oracle, State(at, tuple(queue), jobs, dict(streak)), [new_id])
        return answers(oracle, State(at, tuple(queue), jobs, dict(streak)), [t[0] for t in queue], check_futures)

    next_check = opens + CHECK_EVERY_S
    for kind, _site, at, _seq, _source, body in sorted(events, key=lambda e: e[2]):
        while next_check <= at and next_check < close:
            if waiting:
                ask(next_check, None, None)
            next_check += CHECK_EVERY_S
        data = json.loads(body)["data"]
        if kind == "ticket.issued":
            ticket = Waiting(data["ticket_id"], data["service"], data["priority"] is not None, at)
            ask(at, (ticket.service, ticket.priority), ticket.ticket_id)
            waiting[ticket.ticket_id] = ticket
            service_of[ticket.ticket_id] = ticket.service
            if ticket.priority:
                carry.priority_issued[ticket.service] = carry.priority_issued.get(ticket.service, 0) + 1
        elif kind == "ticket.called":
            ticket = waiting.pop(data["ticket_id"])
            called_at[ticket.ticket_id] = at
            busy[data["counter"]] = (ticket.service, at, ticket.ticket_id)
            streak[data["counter"]] = streak[data["counter"]] + 1 if ticket.priority else 0
        elif kind == "ticket.started":
            started_at[data["ticket_id"]] = at
        elif kind in ("ticket.completed", "ticket.no_show"):
            job = busy.get(data["counter"])
            if job is None or job[2] != data["ticket_id"]:
                continue  # day-end no-show of a ticket never called
            del busy[data["counter"]]
            service = job[0]
            hour = datetime.fromtimestamp(job[1], zone).hour
            carry.occupancy.setdefault(service, deque(maxlen=HISTORY_SAMPLES)).append(Sample(hour, at - job[1]))
            if kind == "ticket.completed":
                begin = started_at.get(data["ticket_id"], job[1])
                carry.service_s.setdefault(service, deque(maxlen=OLD_RECENT)).append(at - begin)
        elif kind == "counter.paused":
            paused_since[data["counter"]] = at
        elif kind == "counter.opened" and data["counter"] in paused_since:
            carry.pauses_s.append(at - paused_since.pop(data["counter"]))
    carry.open_hours += (close - opens) / 3600
    records = []
    for ticket_id, _moment, at, record in asked:
        called = called_at.get(ticket_id)
        record.real_s = None if called is None else called - at
        record.service, record.at_s = service_of[ticket_id], at
        records.append(record)
    return records


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def figures(records: list[Record]) -> dict[str, Any]:
    """The figures of one group of answers (only those with a real wait and an estimate)."""
    served = [r for r in records if r.real_s is not None]
    known = [r for r in served if r.point_s is not None]
    old_known = [r for r in served if r.old_s is not None]
    inside = above = 0
    for r in known:
        assert r.low_s is not None and r.high_s is not None and r.real_s is not None
        printed = printed_range(r.low_s, r.high_s)
        inside += printed.holds(r.real_s)
        above += r.real_s > printed.high_min * 60
    return {
        "answers": len(records),
        "served": len(served),
        "known": len(known),
        "median_error_min": _round(_median([(r.point_s - r.real_s) / 60 for r in known if r.point_s is not None
                                            and r.real_s is not None])),
        "within_share": _share(sum(close_enough(r.point_s, r.real_s) for r in known if r.point_s is not None
                                   and r.real_s is not None), len(known)),
        "range_share": _share(inside, len(known)),
        "above_range_share": _share(above, len(known)),
        **coverage([(r.low_s, r.high_s, r.real_s) for r in known if r.real_s is not None]),
        **oracle_figures([(r.oracle, r.real_s) for r in known if r.real_s is not None]),
        "old_known": len(old_known),
        "old_median_error_min": _round(_median([(r.old_s - r.real_s) / 60 for r in old_known if r.old_s is not None
                                                and r.real_s is not None])),
        "old_within_share": _share(sum(close_enough(r.old_s, r.real_s) for r in old_known if r.old_s is not None
                                       and r.real_s is not None), len(old_known)),
        "unserved_flagged": sum(1 for r in records if r.real_s is None and (r.point_s is None or r.not_today >= 0.1)),
        "unserved": len(records) - len(served),
    }


def _share(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def grouped(records: list[Record]) -> dict[str, dict[str, Any]]:
    out = {"all": figures(records)}
    for name, low, high in STRATA:
        out[name] = figures([r for r in records if low <= r.ahead <= high])
    return out


def run_configuration(site: Site, name: str, staffing: Staffing, model: SimulationModel, days: int, seed: int,
                      runs: int, blocks: int, partial: Path | None = None, futures: int = 0,
                      check_futures: int | None = None) -> dict[str, Any]:
    """One configuration; with `partial`, the figures so far are written there every 10 days;
    with `futures`, every answer is also given by the oracle (bench/estimate_oracle.py), from
    `check_futures` of them for the answers every 5 minutes."""
    carry = Carry()
    per_day: list[list[Record]] = []
    started = wall.perf_counter()
    for d in range(days):
        day = _working_day(site, date(2026, 12, 1), d)
        outcome = simulate_day(site, model, staffing, day, seed + d)
        oracle = Oracle(site, model, staffing, day, seed + d, futures) if futures else None
        per_day.append(replay_day(site, staffing, day, outcome.events, carry, runs, oracle, check_futures))
        print(f"{name}: day {d + 1}/{days}", file=sys.stderr, flush=True)
        if partial is not None and (d + 1) % 10 == 0 and d + 1 < days:
            body = _figures(site, staffing, per_day, blocks, started)
            partial.write_text(json.dumps({name: body}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return _figures(site, staffing, per_day, blocks, started)


def _figures(site: Site, staffing: Staffing, per_day: list[list[Record]], blocks: int, started: float) -> dict[str, Any]:
    every = [r for day_records in per_day for r in day_records]
    size = max(1, len(per_day) // blocks)
    return {
        "counters": [c.id for c in site.counters],
        "pauses": {c: [a.isoformat(), b.isoformat()] for c, (a, b) in staffing.pauses.items()},
        "days": len(per_day),
        "seconds": round(wall.perf_counter() - started, 1),
        "at_issue": grouped([r for r in every if r.moment == "issue"]),
        "every_5_min": grouped(every),
        "spread_at_issue": _spread_blocks(per_day, size, "issue"),
        "spread_every_5_min": _spread_blocks(per_day, size, None),
    }


def run(site: Site, days: int, seed: int, runs: int, blocks: int, tickets: int | None,
        only: str | None = None, jobs: int = 1, partial: Path | None = None, futures: int = 0,
        check_futures: int | None = None) -> dict[str, Any]:
    """Every configuration (in `jobs` processes); name -> figures."""
    model = SimulationModel() if tickets is None else SimulationModel(tickets_per_day=tickets)
    chosen = [(name, s, staffing) for name, s, staffing in configurations(site) if not only or only in name]
    work = [(s, name, staffing, model, days, seed, runs, blocks,
             None if partial is None else partial.with_suffix(f".{i}.partial.json"), futures, check_futures)
            for i, (name, s, staffing) in enumerate(chosen)]
    if jobs > 1:
        from multiprocessing import get_context

        with get_context("fork").Pool(jobs) as pool:
            results = pool.starmap(run_configuration, work)
    else:
        results = [run_configuration(*args) for args in work]
    return {name: result for (name, _s, _staffing), result in zip(chosen, results)}


def _spread(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range over blocks of days of the overall figures."""
    keys = ("median_error_min", "within_share", "range_share", "raw_range_share", "old_median_error_min",
            "old_within_share", "oracle_within_share")
    out = {}
    for key in keys:
        values = [g[key] for g in groups if g.get(key) is not None]
        out[key] = {"median": _round(_median(values)), "min": min(values, default=None), "max": max(values, default=None)}
    return out


def _spread_blocks(per_day: list[list[Record]], size: int, moment: str | None) -> dict[str, Any]:
    groups = [figures([r for day_records in per_day[i:i + size] for r in day_records if moment in (None, r.moment)])
              for i in range(0, len(per_day) - size + 1, size)]
    return _spread(groups)


def _print(report: dict[str, Any]) -> None:
    head = (f"{'configuration':<26} {'moment':<7} {'ahead':<5} {'n':>6} {'med.err':>8} {'within':>7} {'range':>6} "
            f"{'above':>6} {'raw':>5} {'unsure':>6} | {'oracle':>6} {'o.range':>7} | {'old err':>8} {'old within':>10}")
    print(head)
    for name, body in report.items():
        for moment in ("at_issue", "every_5_min"):
            for stratum, f in body[moment].items():
                def show(value: Any, pct: bool = False) -> str:
                    if value is None:
                        return "—"
                    return f"{100 * value:.0f}%" if pct else f"{value:+.1f}"
                print(f"{name:<26} {moment[:7]:<7} {stratum:<5} {f['known']:>6} {show(f['median_error_min']):>8} "
                      f"{show(f['within_share'], True):>7} {show(f['range_share'], True):>6} "
                      f"{show(f['above_range_share'], True):>6} {show(f['raw_range_share'], True):>5} "
                      f"{show(f['raw_range_share_unsure'], True):>6} | {show(f['oracle_within_share'], True):>6} "
                      f"{show(f['oracle_range_share'], True):>7} | {show(f['old_median_error_min']):>8} "
                      f"{show(f['old_within_share'], True):>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples" / "commune.toml"), help="site TOML")
    parser.add_argument("--site", help="site id (default: the first)")
    parser.add_argument("--days", type=int, default=100, help="simulated days per configuration")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first day (then +1 a day)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="estimator runs per answer (the server's default)")
    parser.add_argument("--blocks", type=int, default=5, help="blocks of days for the spread")
    parser.add_argument("--tickets", type=int, help="expected tickets a day (default: the simulator's)")
    parser.add_argument("--only", help="run only configurations whose name contains this")
    parser.add_argument("--jobs", type=int, default=1, help="configurations run in parallel processes")
    parser.add_argument("--futures", type=int, default=DEFAULT_FUTURES,
                        help="futures the oracle ceiling plays per answer at issue (0: no oracle)")
    parser.add_argument("--check-futures", type=int, default=100,
                        help="futures the oracle plays for the answers every 5 minutes (at most --futures)")
    parser.add_argument("--chart", help="also draw estimate vs real wait (20 days, the site as configured) to this PNG")
    parser.add_argument("--out", default=str(RESULTS / "estimate.json"), help="where to write the figures")
    args = parser.parse_args(argv)
    settings = load_settings(CommonSettings, args.config)
    site = settings.site(args.site) if args.site else settings.sites[0]
    if site is None:
        raise SystemExit(f"no site {args.site!r} in {args.config}")
    if args.chart:
        from bench.estimate_chart import chart

        print(f"chart: {chart(site, min(args.days, 20), args.seed, args.runs, Path(args.chart))}")
        if args.only == "chart":
            return 0
    report = run(site, args.days, args.seed, args.runs, args.blocks, args.tickets, args.only, args.jobs, Path(args.out),
                 args.futures, args.check_futures)
    body = {"name": "estimate", "site": site.id, "config": str(args.config), "seed": args.seed, "runs": args.runs,
            "futures": args.futures, "check_futures": min(args.futures, args.check_futures),
            "measured_at": wall.strftime("%Y-%m-%d %H:%M UTC", wall.gmtime()), "configurations": report}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    _print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["main", "one_counter_fewer", "replay_day", "run"]
