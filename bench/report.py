"""Benchmark: the managers' report pack for a 126-site month (a Hanoi-sized province).

Data: the month before the project clock's month, 126 sites, every working day two
waves of tickets (morning from 07:30, afternoon from 13:30) from tests/synthetic.py
`ticket_lives`, counter open/pause/close events from `counter_days`, ratings on a third
of the completed tickets, and dossier codes (one in ten of them a second visit). Six
template site-months are made from events through the real event store (projection
included); the 126 sites are copies of them under their own site and ticket ids, written
with executemany (events rows and tickets rows). The pre-aggregates are marked up to date
(the report reads them only for the previous month, empty here; --refresh computes them).

Timed (rounds, medians with min-max): the whole pack, i.e. the figures
(server.stats.report.assemble, reading every ticket, counter event and rating of the
month), the XLSX workbook and the print page's HTML; and, as the floor, a plain SQLite
scan of the same tickets rows (the same columns, fetched as tuples). Target: the pack in
under 10 s on this machine; reported both as seconds and as a ratio to the floor.
Run: .venv/bin/python bench/report.py [--sites 126 --per-wave 75 --rounds 5] [--db DIR]
(--db keeps the built database in DIR and reuses it on the next run: the build takes
minutes; BENCH_PROFILE=<file> writes a cProfile of one more pack after the rounds.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LoadWatch, figure, ratio_figure, rounds_figure, write_run  # noqa: E402
from protocol import clock, topics  # noqa: E402
from protocol.events import make_event  # noqa: E402
from protocol.i18n import translator  # noqa: E402
from protocol.sites import Site  # noqa: E402
from server.stats.measures import rules_from_sites  # noqa: E402
from server.stats.report import TICKET_COLUMNS, assemble  # noqa: E402
from server.stats.report_xlsx import workbook  # noqa: E402
from server.stats.store import StatsStore  # noqa: E402
from server.storage.events import EventStore, Incoming  # noqa: E402
from server.web.routes.reports import page_html  # noqa: E402
from tests.support import site_dict  # noqa: E402
from tests.synthetic import counter_days, ticket_lives  # noqa: E402

TEMPLATES = 6
EVENT_COLUMNS = ("id", "site", "type", "source", "seq", "ts", "ts_at", "ticket_id", "received_at", "payload")


def working_site(site_id: str) -> Site:
    data = site_dict(site_id, f"Điểm tiếp nhận {site_id}")
    data["hours"] = {"weekdays": [0, 1, 2, 3, 4], "open": "07:30:00", "close": "17:00:00", "last_ticket": "16:30:00"}
    return Site.model_validate(data)


def month_days(first: date) -> list[date]:
    days, day = [], first
    while day.month == first.month:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def template_month(directory: Path, k: int, days: list[date], per_wave: int) -> tuple[list[tuple], list[tuple]]:
    """One site-month through the real event store: (events rows, tickets rows)."""
    site = working_site(f"mau-{k}")
    rng = random.Random(100 + k)
    events = []
    for index, day in enumerate(days):
        for wave, start in enumerate((dtime(7, 30), dtime(13, 30))):
            events += ticket_lives(site, per_wave, datetime.combine(day, start, site.zone), seed=k * 1000 + index * 2 + wave,
                                   server_source=f"server-{index}-{wave}", kiosk=f"kiosk-{index}-{wave}")
    events += counter_days([site], days[0], (days[-1] - days[0]).days + 1, seed=k)
    feedback = []
    for e in events:
        if e.type == "ticket.completed" and rng.random() < 0.33:
            feedback.append(make_event("feedback.given", site=site.id, source="feedback-1", seq=len(feedback) + 1,
                                       ts=e.ts + timedelta(seconds=30), id=uuid.UUID(int=rng.getrandbits(128), version=4),
                                       data={"ticket_id": e.data.ticket_id, "counter": e.data.counter,
                                             "rating": rng.choices([1, 2, 3, 4], [50, 30, 12, 8])[0], "scale": "4-level"}))
    events += feedback
    store = EventStore(directory / f"mau-{k}.db", [site])
    for i in range(0, len(events), 2000):
        store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in events[i:i + 2000]])
    conn = store.reader()
    conn.row_factory = None
    # Dossier codes on completed dossiers; one in ten shares the code of an earlier ticket (a second visit).
    completed = [r[0] for r in conn.execute(
        "SELECT ticket_id FROM tickets WHERE status = 'completed' AND outcome IN ('returned', 'appointment', 'guided') "
        "ORDER BY issued_at")]
    codes: dict[str, str] = {}
    for n, ticket_id in enumerate(completed):
        earlier = list(codes.values())
        codes[ticket_id] = rng.choice(earlier[-200:]) if earlier and rng.random() < 0.1 else f"000.00.{k:02d}.H29-{n:05d}"
    with store.writing() as writer:
        writer.executemany("UPDATE tickets SET dossier_code = ? WHERE ticket_id = ?", [(c, t) for t, c in codes.items()])
    event_rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events").fetchall()
    ticket_rows = conn.execute("SELECT * FROM tickets").fetchall()
    names = [d[0] for d in conn.execute("SELECT * FROM tickets LIMIT 1").description]
    conn.close()
    store.close()
    return event_rows, [tuple(names)] + ticket_rows


def build(directory: Path, sites: list[Site], days: list[date], per_wave: int, refresh: bool = False) -> StatsStore:
    templates = [template_month(directory, k, days, per_wave) for k in range(TEMPLATES)]
    store = EventStore(directory / "province.db", sites)
    with store.writing() as conn:
        for n, site in enumerate(sites):
            events, tickets = templates[n % TEMPLATES]
            source = f"mau-{n % TEMPLATES}"
            suffix = f"-{n:03d}"
            ids = {EVENT_COLUMNS.index(c) for c in ("id", "ticket_id")}
            rows = []
            for row in events:
                values = list(row)
                for i in ids:
                    if values[i]:
                        values[i] = values[i][:-4] + suffix  # keep the length: a uuid with its tail replaced
                values[1] = site.id
                values[3] = values[3] + suffix
                payload = json.loads(values[9])
                payload["site"] = site.id
                payload["id"] = values[0]
                if "ticket_id" in payload["data"]:
                    payload["data"]["ticket_id"] = values[7]
                values[9] = json.dumps(payload, ensure_ascii=False)
                rows.append(values)
            conn.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
                             rows)
            names, body = tickets[0], tickets[1:]
            t_site, t_id = names.index("site"), names.index("ticket_id")
            t_code = names.index("dossier_code")
            copied = []
            for row in body:
                values = list(row)
                values[t_site] = site.id
                values[t_id] = values[t_id][:-4] + suffix
                if values[t_code]:
                    values[t_code] = values[t_code].replace(source, site.id)
                copied.append(values)
            conn.executemany(f"INSERT INTO tickets ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", copied)
    stats = StatsStore(store, rules_from_sites(sites))
    if refresh:
        stats.refresh()
    else:
        # The report reads the pre-aggregates only for the previous month, which holds no
        # tickets here: mark them up to date instead of computing the whole month (their
        # cost is bench/stats.py's subject, and a refresh of 400,000 tickets takes minutes).
        with store.writing() as conn:
            watermark = conn.execute("SELECT MAX(rowid) FROM events").fetchone()[0]
            conn.execute("INSERT OR REPLACE INTO stats_meta (name, value) VALUES ('rules', ?)", (stats.fingerprint,))
            conn.execute("INSERT OR REPLACE INTO stats_meta (name, value) VALUES ('watermark', ?)", (str(watermark),))
    return stats


def floor_scan(stats: StatsStore, sites: list[Site], day_from: str, day_to: str) -> int:
    conn = stats.store.reader()
    conn.row_factory = None
    found = 0
    for site in sites:
        found += len(conn.execute(f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets WHERE site = ? AND local_day BETWEEN ? AND ?",
                                  (site.id, day_from, day_to)).fetchall())
    conn.close()
    return found


def open_built(path: Path, sites: list[Site]) -> StatsStore:
    """A database built by an earlier run with --db (migrations are applied on opening)."""
    store = EventStore(path, sites)
    return StatsStore(store, rules_from_sites(sites))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=126)
    parser.add_argument("--per-wave", type=int, default=75, help="tickets per wave (two waves a working day)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--refresh", action="store_true", help="compute the pre-aggregates of the month too (minutes)")
    parser.add_argument("--db", type=Path, help="keep the built database in this folder and reuse it")
    args = parser.parse_args()
    today = clock.now().date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    days = month_days(first)
    sites = [working_site(f"xa-{n:03d}") for n in range(args.sites)]
    day_from, day_to = first.isoformat(), days[-1].isoformat()
    _ = translator("server")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.db or Path(tmp)
        name = f"province-{args.sites}-{args.per_wave}-{first.isoformat()}.db"
        started = time.perf_counter()
        reused = bool(args.db and (folder / name).exists())
        if reused:
            stats = open_built(folder / name, sites)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            stats = build(folder, sites, days, args.per_wave, args.refresh)
            stats.close()
            stats.store.close()
            (folder / "province.db").rename(folder / name)
            for extra in ("-wal", "-shm"):
                (folder / f"province.db{extra}").unlink(missing_ok=True)
            stats = open_built(folder / name, sites)
        built_s = time.perf_counter() - started
        tickets = floor_scan(stats, sites, day_from, day_to)
        events = stats.store.reader().execute("SELECT COUNT(*) FROM events").fetchone()[0]
        print(f"built {tickets} tickets, {events} events at {len(sites)} sites in {built_s:.0f} s", flush=True)
        load = LoadWatch()
        floors, packs, figures_s, xlsx_s, html_s, floor_cpu, pack_cpu = [], [], [], [], [], [], []
        at = datetime.combine(today, dtime(7, 0), sites[0].zone)
        for _round in range(args.rounds):
            c0 = time.process_time()
            t0 = time.perf_counter()
            floor_scan(stats, sites, day_from, day_to)
            t1 = time.perf_counter()
            c1 = time.process_time()
            report = assemble(stats, sites, day_from, day_to)
            t2 = time.perf_counter()
            data = workbook(report, "bench", at, _)
            t3 = time.perf_counter()
            html = page_html(report, at, "bench", "vi")
            t4 = time.perf_counter()
            c4 = time.process_time()
            floor_cpu.append(c1 - c0)
            pack_cpu.append(c4 - c1)
            floors.append(t1 - t0)
            figures_s.append(t2 - t1)
            xlsx_s.append(t3 - t2)
            html_s.append(t4 - t3)
            packs.append(t4 - t1)
            print(f"round {_round + 1}: load {load.sample():.1f}, cpu floor {c1 - c0:.2f} s, pack {c4 - c1:.2f} s; "
                  f"wall floor {t1 - t0:.2f} s, figures {t2 - t1:.2f} s, xlsx {t3 - t2:.2f} s "
                  f"({len(data) // 1024} KiB), page {t4 - t3:.2f} s ({len(html) // 1024} KiB)", flush=True)
        assert report["summary"]["issued"] == tickets, "the report counts every ticket of the month"
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            cProfile.runctx("assemble(stats, sites, day_from, day_to)", globals(), locals(), os.environ["BENCH_PROFILE"])
        stats.close()
        stats.store.close()

    pack_s = statistics.median(packs)
    write_run("report", [
        figure(f"tickets in the month ({len(sites)} sites, {len(days)} working days)", tickets, "tickets"),
        figure("events in the database", events, "events"),
        rounds_figure("report pack: figures + XLSX + print page", packs, "s", "< 10 s", pack_s < 10),
        rounds_figure("  figures (server.stats.report.assemble)", figures_s, "s"),
        rounds_figure("  XLSX workbook", xlsx_s, "s"),
        rounds_figure("  print page HTML", html_s, "s"),
        rounds_figure("floor: plain SQLite scan of the same tickets rows", floors, "s"),
        ratio_figure("pack / floor (per round, median)", "plain SQLite scan", floors, packs, "s"),
        rounds_figure("pack, CPU time of this process", pack_cpu, "s"),
        rounds_figure("floor, CPU time of this process", floor_cpu, "s"),
        ratio_figure("pack / floor, CPU time", "plain SQLite scan, CPU", floor_cpu, pack_cpu, "s"),
    ], load, notes=("The month's database was built by an earlier run (--db) and reused. " if reused else
                    f"{len(sites)}-site month built in {built_s:.0f} s (not timed). ") + "Rounds run one after the other on a "
                   "shared 2-core machine: wall times grow with the load, CPU times much less (they still include "
                   "cache misses from other processes).")


if __name__ == "__main__":
    main()
