"""Benchmark: the managers' dashboard queries over one year of a Hanoi-sized deployment.

Data: 126 sites x 250 working days x ~300 tickets (uniform 200-400 a day) = ~9.4 M
tickets, generated with numpy (seeded) and written straight into the `tickets` table
and the `stats_agg` pre-aggregates with executemany: no events, no MQTT (ingest has
its own benchmark). The pre-aggregates are built here with vectorised numpy code, not
with server.stats.measures; the run therefore also checks, for sample sites, that the
pre-aggregated answer equals the reference path (server.stats.measures over the tickets rows),
which shows both that the data is right and that the answer is exact.

Timed: the dashboard's queries for one site-month (league row, by day, by hour, by
counter, distribution) and, for all 126 sites over a year, the league table and the
monthly report. Run: .venv/bin/python bench/stats.py [--sites 126 --days 250]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MIN_ROUNDS, LoadWatch, ratio_figure, rounds_figure, write_run  # noqa: E402
from protocol.sites import Site  # noqa: E402
from server.stats.measures import rules_from_sites  # noqa: E402
from server.stats.query import COMPACT, aggregate_plan, encode_arrays, month_spans, site_filter  # noqa: E402
from server.stats.store import (  # noqa: E402
    _INSERT,
    StatsStore,
    compute_direct,
    hour_key,
    rules_fingerprint,
)
from server.storage.events import EventStore  # noqa: E402
from server.storage.projection import COLUMNS  # noqa: E402

SERVICES = [
    ("tu-phap-ho-tich", "Tư pháp - Hộ tịch", "A", True, 0.35),
    ("chung-thuc", "Chứng thực", "B", True, 0.35),
    ("van-hoa-xa-hoi", "Văn hóa - Xã hội", "C", True, 0.15),
    ("dat-dai", "Đất đai", "D", False, 0.15),
]
COUNTER_SERVICES = [[0, 1], [1, 0], [0, 2], [3], [1, 2]]  # five counters, by service index
OUTCOMES = np.array(["returned", "appointment", "guided", "info"])
HOUR_WEIGHTS = np.array([6, 14, 16, 13, 6, 3, 10, 12, 9, 4], dtype=float)  # 07:00 .. 16:00 local
DIM_SIZES = {"": 1, "service": len(SERVICES), "counter": len(COUNTER_SERVICES), "hour": 24}


def make_sites(n: int) -> list[Site]:
    return [
        Site.model_validate({
            "id": f"xa-{i:03d}", "name": f"Trung tâm Phục vụ hành chính công xã số {i}",
            "services": [{"id": s, "name": name, "letter": letter, "target_eligible": eligible}
                         for s, name, letter, eligible, _ in SERVICES],
            "counters": [{"id": f"quay-{k + 1}", "number": k + 1, "name": f"Quầy {k + 1}",
                          "services": [SERVICES[j][0] for j in serves]} for k, serves in enumerate(COUNTER_SERVICES)],
        })
        for i in range(1, n + 1)
    ]


def working_days(n: int, last: date = date(2026, 11, 27)) -> list[date]:
    days, d = [], last
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    return sorted(days)


def generate(site: Site, days: list[date], midnights: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One site's year of tickets as column arrays."""
    per_day = rng.integers(200, 401, size=len(days))
    n = int(per_day.sum())
    day = np.repeat(np.arange(len(days)), per_day)
    hour = 7 + rng.choice(len(HOUR_WEIGHTS), size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    offset = hour * 3600 + rng.uniform(0, 3600, size=n)
    issued = midnights[day] + offset
    service = rng.choice(len(SERVICES), size=n, p=[s[4] for s in SERVICES])
    counter = np.empty(n, dtype=np.int64)
    for si in range(len(SERVICES)):
        serving = [k for k, serves in enumerate(COUNTER_SERVICES) if si in serves]
        mask = service == si
        counter[mask] = rng.choice(serving, size=int(mask.sum()))
    load = 1.0 + 0.6 * np.isin(hour, [8, 9, 14])  # queues build at the morning and afternoon peaks
    wait = rng.gamma(2.0, 420.0 * load * rng.uniform(0.7, 1.4), size=n)
    service_time = rng.lognormal(np.log(900), 0.5, size=n)
    no_show = rng.random(n) < 0.04
    called_at = issued + wait
    completed_at = np.where(no_show, np.nan, called_at + service_time)
    outcome = np.where(no_show, None, OUTCOMES[rng.choice(4, size=n, p=[0.55, 0.25, 0.1, 0.1])])
    return {
        "day": day, "hour": hour, "service": service, "counter": counter, "issued": issued, "called_at": called_at,
        "completed_at": completed_at, "no_show": no_show, "outcome": outcome,
        "recalls": (rng.random(n) < 0.05).astype(np.int64), "transfers": (rng.random(n) < 0.02).astype(np.int64),
    }


def ticket_rows(site: Site, days: list[date], t: dict[str, np.ndarray]) -> list[tuple]:
    n = len(t["day"])
    day_text = np.array([d.isoformat() for d in days])[t["day"]]
    service_ids = np.array([s[0] for s in SERVICES])[t["service"]]
    counter_ids = np.array([c.id for c in site.counters])[t["counter"]]
    letters = np.array([s[2] for s in SERVICES])[t["service"]]
    completed = ~t["no_show"]
    columns = {
        "ticket_id": [f"{site.id}-{i}" for i in range(n)], "site": [site.id] * n,
        "number": [f"{letter}{i % 1000:03d}" for letter, i in zip(letters.tolist(), range(n))],
        "service": service_ids.tolist(), "original_service": service_ids.tolist(), "priority": [None] * n,
        "source": ["kiosk-1"] * n, "issued_at": t["issued"].tolist(), "local_day": day_text.tolist(),
        "first_called_at": t["called_at"].tolist(), "last_called_at": t["called_at"].tolist(),
        "called_count": [1] * n, "recalled_count": t["recalls"].tolist(), "started_at": [None] * n,
        "completed_at": np.where(completed, t["completed_at"], np.nan).tolist(),
        "no_show_at": np.where(t["no_show"], t["called_at"] + 120, np.nan).tolist(),
        "outcome": t["outcome"].tolist(), "dossier_code": [None] * n, "counter": counter_ids.tolist(),
        "status": np.where(completed, "completed", "no_show").tolist(), "transfers": t["transfers"].tolist(),
        "wait_s": (t["called_at"] - t["issued"]).tolist(),
        "service_s": np.where(completed, t["completed_at"] - t["called_at"], np.nan).tolist(),
        "total_s": np.where(completed, t["completed_at"] - t["issued"], np.nan).tolist(),
        "last_event_at": np.where(completed, t["completed_at"], t["called_at"] + 120).tolist(),
        "unconfirmed": [0] * n,  # every ticket's print was confirmed
    }
    for name in ("completed_at", "no_show_at", "service_s", "total_s"):
        columns[name] = [None if v != v else v for v in columns[name]]  # NaN -> NULL
    return list(zip(*(columns[c] for c in COLUMNS)))


def aggregate_rows(site: Site, days: list[date], t: dict[str, np.ndarray]) -> list[tuple]:
    """stats_agg rows (levels d and m, every dim) with numpy group-bys."""
    completed = ~t["no_show"]
    targets = {s[0]: 3600 for s in SERVICES if s[3]}
    eligible = np.isin(t["service"], [i for i, s in enumerate(SERVICES) if s[0] in targets])
    wait = np.floor(t["called_at"] - t["issued"]).astype(np.int64)
    service = np.where(completed, np.floor(t["completed_at"] - t["called_at"]), -1).astype(np.int64)
    total = np.where(completed, np.floor(t["completed_at"] - t["issued"]), -1).astype(np.int64)
    received = completed & eligible & ((t["outcome"] == "returned") | (t["outcome"] == "appointment"))
    within = received & (t["outcome"] == "returned") & (total <= 3600)
    counts = {
        "issued": np.ones_like(wait), "called": np.ones_like(wait), "no_show": t["no_show"].astype(np.int64),
        "completed": completed.astype(np.int64), "received": received.astype(np.int64),
        "within_target": within.astype(np.int64), "recalls": t["recalls"], "transfers": t["transfers"],
    }
    months = sorted({d.strftime("%Y-%m") for d in days})
    month_of_day = np.array([months.index(d.strftime("%Y-%m")) for d in days])
    levels = [("d", t["day"], [d.isoformat() for d in days]), ("m", month_of_day[t["day"]], months)]
    keys = {"": np.zeros_like(wait), "service": t["service"], "counter": t["counter"], "hour": t["hour"]}
    labels = {"": lambda k: "", "service": lambda k: SERVICES[k][0], "counter": lambda k: site.counters[k].id,
              "hour": hour_key}
    out = []
    for level, period, names in levels:
        for dim, key in keys.items():
            size = DIM_SIZES[dim]
            group = period * size + key
            n_groups = len(names) * size
            present = np.bincount(group, minlength=n_groups) > 0
            sums = {name: np.bincount(group, weights=v, minlength=n_groups).astype(np.int64) for name, v in counts.items()}
            durations = {}
            for name, values in (("wait", wait), ("service", service), ("total", total)):
                ok = values >= 0
                durations[f"{name}_sum"] = np.bincount(group[ok], weights=values[ok], minlength=n_groups).astype(np.int64)
                combined = group[ok].astype(np.int64) * (1 << 32) + values[ok]
                unique, freq = np.unique(combined, return_counts=True)
                gid, seconds = unique >> 32, unique & 0xFFFFFFFF
                starts = np.searchsorted(gid, np.arange(n_groups), side="left")
                ends = np.searchsorted(gid, np.arange(n_groups), side="right")
                durations[f"{name}_hist"] = histogram_blobs(seconds, freq, starts, ends)
            for g in np.flatnonzero(present):
                p, k = divmod(int(g), size)
                out.append((
                    site.id, level, names[p], dim, labels[dim](k),
                    *(int(sums[c][g]) for c in counts), 0, 0, 0,  # ratings, satisfied, unconfirmed
                    *(int(durations[f"{m}_sum"][g]) for m in ("wait", "service", "total")),
                    *(durations[f"{m}_hist"][g] for m in ("wait", "service", "total")),
                ))
    return out


def histogram_blobs(seconds: np.ndarray, freq: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[bytes]:
    """The blobs server.stats.query.encode_arrays would make, for many groups at once."""
    if len(seconds) == 0:
        return [b"" for _ in starts]
    deltas = np.diff(seconds, prepend=0)
    firsts = starts[starts < ends]
    deltas[firsts] = seconds[firsts]
    if deltas.max() >= 65536 or freq.max() >= 65536:
        return [encode_arrays(seconds[a:b], freq[a:b]) for a, b in zip(starts, ends)]
    header = np.array([COMPACT], "<u4").tobytes()
    d16, c16 = deltas.astype("<u2"), freq.astype("<u2")
    return [header + d16[a:b].tobytes() + c16[a:b].tobytes() if b > a else b"" for a, b in zip(starts, ends)]


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def plain_scan(conn, day_from: str, day_to: str, sites: list[str] | None, group_by: str) -> int:
    """The floor of a stats query: the same stats_agg rows read with plain SELECTs (the
    statements server.stats.query runs), fetched and nothing else: no histogram
    decoding, no merging, no measures. Returns the number of rows read."""
    from server.stats import measures as stats

    time_key, dim = aggregate_plan(stats.parse_group_by(group_by))
    site_sql, site_arg = site_filter(sites)
    spans = [(day_from, day_to)] if time_key in ("day", "week") else []
    full: list[str] = []
    if not spans:
        full, spans = month_spans(day_from, day_to)
    rows = 0
    if full:
        rows += len(conn.execute(f"SELECT * FROM stats_agg WHERE level = 'm' AND dim = ?{site_sql} AND period BETWEEN ? AND ?",
                                 [dim, *site_arg, full[0], full[-1]]).fetchall())
    for lo, hi in spans:
        rows += len(conn.execute(f"SELECT * FROM stats_agg WHERE level = 'd' AND dim = ?{site_sql} AND period BETWEEN ? AND ?",
                                 [dim, *site_arg, lo, hi]).fetchall())
    return rows


def interleaved(floor_fn, figure_fn, rounds: int, repeat: int) -> tuple[list[float], list[float]]:
    """Per round: the median of `repeat` floor timings and of `repeat` figure timings,
    taken one after the other, so both see the same machine."""
    floors, figures = [], []
    for _ in range(rounds):
        f_times, g_times = [], []
        for _ in range(repeat):
            f_times += timed(floor_fn, 1)[0]
            g_times += timed(figure_fn, 1)[0]
        floors.append(statistics.median(f_times))
        figures.append(statistics.median(g_times))
    return floors, figures


def main() -> None:
    load = LoadWatch()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=126, help="number of sites")
    parser.add_argument("--days", type=int, default=250, help="working days per site")
    parser.add_argument("--db", type=Path, default=None, help="database file (default: a temporary directory)")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="rounds of floor and figure, side by side")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xephang-bench-stats-"))
    db_path = args.db or workdir / "stats.db"
    sites = make_sites(args.sites)
    rules = rules_from_sites(sites)
    days = working_days(args.days)
    zone = sites[0].zone
    midnights = np.array([datetime.combine(d, dtime(0), zone).timestamp() for d in days])
    store = EventStore(db_path, sites)
    rng = np.random.default_rng(2026)
    build_start = time.perf_counter()
    n_tickets = n_agg = 0
    gen_s = insert_s = agg_s = 0.0
    ticket_sql = f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    samples = {sites[0].id, sites[1 % len(sites)].id, sites[-1].id}
    n_rows = 0
    for site in sites:
        t0 = time.perf_counter()
        tickets = generate(site, days, midnights, rng)
        rows = ticket_rows(site, days, tickets) if site.id in samples else []
        t1 = time.perf_counter()
        aggregates = aggregate_rows(site, days, tickets)
        t2 = time.perf_counter()
        with store.writing() as conn:
            conn.executemany(ticket_sql, rows)
            conn.executemany(_INSERT, aggregates)
        t3 = time.perf_counter()
        gen_s, agg_s, insert_s = gen_s + t1 - t0, agg_s + t2 - t1, insert_s + t3 - t2
        n_tickets += len(tickets["day"])
        n_rows += len(rows)
        n_agg += len(aggregates)
    with store.writing() as conn:
        conn.execute("INSERT OR REPLACE INTO stats_meta (name, value) VALUES ('rules', ?)", (rules_fingerprint(rules),))
        conn.execute("INSERT OR REPLACE INTO stats_meta (name, value) VALUES ('watermark', '0')")
    build_s = time.perf_counter() - build_start
    stats_store = StatsStore(store, rules)

    site = sites[0].id
    month = days[len(days) // 2].strftime("%Y-%m")
    month_from, month_to = f"{month}-01", (date.fromisoformat(f"{month}-01") + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    month_to = month_to.isoformat()
    year_from, year_to = days[0].replace(day=1).isoformat(), days[-1].isoformat()

    def site_month() -> list:
        return [
            stats_store.query(month_from, month_to, [site], g, refresh=False) for g in ("site", "day", "hour", "counter")
        ] + [stats_store.distribution(month_from, month_to, [site], 300, 10800, refresh=False)]

    refresh_times, _ = timed(stats_store.refresh, 5)
    site_month()  # warm up
    league = stats_store.query(year_from, year_to, None, "site", refresh=False)
    scan = store.reader()

    def month_queries() -> list:
        return [stats_store.query(month_from, month_to, [site], g, refresh=False) for g in ("site", "day", "hour", "counter")]

    month_floor, month_figure = interleaved(
        lambda: [plain_scan(scan, month_from, month_to, [site], g) for g in ("site", "day", "hour", "counter")],
        month_queries, args.rounds, 10)
    league_floor, league_figure = interleaved(
        lambda: plain_scan(scan, year_from, year_to, None, "site"),
        lambda: stats_store.query(year_from, year_to, None, "site", refresh=False), args.rounds, 3)
    monthly_floor, monthly_figure = interleaved(
        lambda: plain_scan(scan, year_from, year_to, None, "month"),
        lambda: stats_store.query(year_from, year_to, None, "month", refresh=False), args.rounds, 2)
    month_rows = sum(plain_scan(scan, month_from, month_to, [site], g) for g in ("site", "day", "hour", "counter"))
    league_rows = plain_scan(scan, year_from, year_to, None, "site")
    monthly_rows = plain_scan(scan, year_from, year_to, None, "month")
    scan.close()
    distribution_times, _ = timed(lambda: stats_store.distribution(month_from, month_to, [site], 300, 10800, refresh=False), 10)

    # Exactness: pre-aggregates == the reference path over the tickets rows.
    conn = store.reader()
    checks = []
    check_start = time.perf_counter()
    for sample in {sites[0].id, sites[-1].id}:
        for group_by in (("site",), ("site", "day"), ("site", "hour"), ("site", "counter")):
            direct = compute_direct(conn, rules, month_from, month_to, [sample], group_by)
            checks.append(direct == stats_store.query(month_from, month_to, [sample], group_by, refresh=False))
    year_direct = compute_direct(conn, rules, year_from, year_to, [sites[1].id], ("site", "service"))
    checks.append(year_direct == stats_store.query(year_from, year_to, [sites[1].id], "service", refresh=False))
    check_s = time.perf_counter() - check_start
    exact = all(checks)
    assert_rows = len(league) == len(sites) and sum(r["issued"] for r in league) == n_tickets

    limit = 10.0  # decoding the histograms and merging them: at most ten times reading the rows
    figures = [
        ratio_figure("one site-month, dashboard queries (site, day, hour, counter) / plain scan of the same rows",
                     f"plain SELECT of the same {month_rows} stats_agg rows", month_floor, month_figure, "ms", limit),
        ratio_figure("all sites, one year, league table / plain scan of the same rows",
                     f"plain SELECT of the same {league_rows} rows", league_floor, league_figure, "ms", limit),
        ratio_figure("all sites, one year, by month / plain scan of the same rows",
                     f"plain SELECT of the same {monthly_rows} rows", monthly_floor, monthly_figure, "ms", limit),
        rounds_figure("one site-month, dashboard queries (4)", month_figure, "ms"),
        rounds_figure("all sites, one year, league table", league_figure, "ms",
                      "< 1000 ms (a manager waiting for a page: perception, not a floor)",
                      statistics.median(league_figure) < 1000),
        rounds_figure("one site-month, wait-time distribution", distribution_times, "ms"),
        rounds_figure("refresh with nothing new", refresh_times, "ms"),
        {"metric": "build: tickets generated (all sites)", "value": n_tickets, "unit": "tickets", "target": "", "ok": None},
        {"metric": "build: pre-aggregate rows", "value": n_agg, "unit": "rows", "target": "", "ok": None},
        {"metric": "build: total time", "value": round(build_s, 1), "unit": "s", "target": "", "ok": None},
        {"metric": "pre-aggregated == reference path (9 checks)", "value": int(exact), "unit": "bool", "target": "1",
         "ok": exact and assert_rows},
    ]
    notes = (
        f"{len(sites)} sites x {len(days)} working days ({days[0]} .. {days[-1]}), 200-400 tickets a day; numpy-generated "
        f"(seed 2026); every site's tickets go into stats_agg (numpy group-bys, executemany), and the tickets rows "
        f"of {len(samples)} sample sites ({', '.join(sorted(samples))}) into the tickets table for the exactness "
        f"checks (all 9.4 M rows would be ~6 GB and take minutes to write; the timed queries read only stats_agg). "
        f"No events, no MQTT. "
        f"Build split: generate {gen_s:.1f} s, aggregate {agg_s:.1f} s, insert {insert_s:.1f} s. "
        f"Site-month = {site} {month_from}..{month_to}: stats by site, day, hour, counter + distribution. "
        f"Year = {year_from}..{year_to}. Exactness checks took {check_s:.1f} s. Database: {db_path} "
        f"({db_path.stat().st_size / 1e9:.2f} GB)."
    )
    notes += f" Floor and figure timed alternately, {args.rounds} rounds; each round's value is the median of its repeats."
    write_run("stats", figures, load, notes)
    store.close()
    if args.db is None:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
