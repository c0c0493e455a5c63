"""National store (issue 21): a year of roll-ups of every reception point loaded, a day's
ingest through the aggregator, and the league queries the read API answers
(docs/national.md, "Benchmarks").

1. History, bulk-loaded (not through the aggregator, said so in the results): 3,321
   points x 365 days of day rows COPYed straight into `rollups` and `point_days`, and the
   month pre-aggregates that those rows make COPYed into `point_months`,
   `province_months` and `nation_months`. Each point-day is one of 600 generated
   template days; each point-month follows one of 40 "month compositions" (a template
   per day of the month), so the month rows are computed here once per composition
   (Python, exact) and per province and nation (numpy sums of whole-second histograms),
   not by merging 6 million rows. After the load, samples are checked against the day
   rows: a point-month merged again here from its stored day rows, and every province
   month and the nation's against the sum of the level below.
2. Ingest, 5 rounds: each round one more day of all 3,321 points (the month rows of
   December growing to 31 days), payloads parsed and stored by `Aggregator.handle` in
   batches of its `batch_max` (2,000) as the running aggregator does (revision check,
   day rows, month rows, one commit per batch; acks handed to an unconnected MQTT
   client). Floor, same round: a plain COPY of the same day rows into a table of the same
   shape and key. Then one round where every point sends revision 2 of the last day.
3. Queries, 5 rounds each, through `NationalStore.figures` + `league` (what
   /api/figures runs), each beside a floor in the same round: a plain SELECT of the same
   month rows' columns. League of provinces and of points over December, one province's
   December by point; and, as extra figures, the nation by month over the year, the
   league of provinces over the year (a merge of 12 month rows per province) and one
   province over 30 days that are not a calendar month (day rows).

The PostgreSQL cluster is the benchmark's own, in a temporary folder, deleted at the end.
XEPHANG_BENCH_NATIONAL_POINTS / _DAYS make a small run (a smoke test of this script).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import LoadWatch, ratio_figure, rounds_figure, write_run  # noqa: E402
from national.aggregator import Aggregator, Received  # noqa: E402
from national.months import month_columns  # noqa: E402
from national.store import ROW_COLUMNS, NationalStore, league, rollup_rows  # noqa: E402
from protocol import topics  # noqa: E402
from protocol.rollup import COUNTS, MEASURES, PERCENTILES, DayRollup, RollupRow, percentile_of_counts, row_of  # noqa: E402
from protocol.settings import BrokerSettings  # noqa: E402
from tests.national.pg import start_postgres  # noqa: E402

POINTS = int(os.environ.get("XEPHANG_BENCH_NATIONAL_POINTS", "3321"))
DAYS = int(os.environ.get("XEPHANG_BENCH_NATIONAL_DAYS", "365"))
PROVINCES = 34
ROUNDS = 5
COMPOSITIONS = 40
# Generated data on a fixed calendar (no clock is read): the history ends on 26 December
# 2026 and the ingest rounds add 27-31 December, so December's month rows are full.
INGEST_DAYS = [date(2026, 12, 27) + timedelta(days=i) for i in range(ROUNDS)]
LAST_LOADED = INGEST_DAYS[0] - timedelta(days=1)
FIRST_LOADED = LAST_LOADED - timedelta(days=DAYS - 1)
MONTH = date(2026, 12, 1)
MONTH_END = date(2026, 12, 31)
YEAR = (date(2026, 1, 1), date(2026, 12, 31))
PROVINCE = "tinh-07"
SERVICES = ["ho-tich", "chung-thuc", "dat-dai", "kinh-te", "van-hoa"]
PG_SETTINGS = ("-c shared_buffers=512MB -c max_wal_size=8GB -c checkpoint_timeout=30min "
               "-c maintenance_work_mem=256MB -c work_mem=64MB")


def point_name(p: int) -> str:
    return f"diem-{p:04d}"


def province_of(p: int) -> str:
    return f"tinh-{p % PROVINCES:02d}"


def templates(rng: random.Random, count: int = 600) -> list[list[RollupRow]]:
    """Roll-up rows of a plausible day at one point: a few services and counters, 5-60
    tickets each, waits and times in whole seconds."""
    out = []
    for _ in range(count):
        rows = []
        for service in rng.sample(SERVICES, rng.randint(2, 5)):
            for counter in rng.sample(["quay-1", "quay-2", "quay-3", "quay-4"], rng.randint(1, 2)):
                n = rng.randint(5, 60)
                hist: dict[str, dict[int, int]] = {m: {} for m in MEASURES}
                received = 0
                for _ in range(n):
                    wait, service_s = int(rng.expovariate(1 / 900)), int(rng.expovariate(1 / 600))
                    for m, v in (("wait", wait), ("service", service_s), ("total", wait + service_s)):
                        hist[m][v] = hist[m].get(v, 0) + 1
                    received += rng.random() < 0.7
                counts = dict.fromkeys(COUNTS, 0) | {"issued": n, "called": n, "completed": n, "received": received,
                                                      "within_target": received // 2, "ratings": n // 3, "satisfied": n // 4}
                rows.append(row_of(service, counter, counts, hist))
        out.append(rows)
    return out


def pg_array(values: list[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def text(value: Any) -> str:
    return "\\N" if value is None else str(value)


def row_tail(row: RollupRow) -> str:
    """A day row's COPY text after (point, day, province, revision)."""
    fields = [row.service, row.counter, *(str(row.counts[c]) for c in COUNTS), *(str(row.sums[m]) for m in MEASURES)]
    for m in MEASURES:
        fields += [pg_array([s for s, _ in row.hist[m]]), pg_array([n for _, n in row.hist[m]])]
    return "\t".join(fields)


class MonthValue:
    """The exact merge of some day rows: what one month row holds."""

    def __init__(self) -> None:
        self.parts = 0
        self.counts = dict.fromkeys(COUNTS, 0)
        self.sums = dict.fromkeys(MEASURES, 0)
        self.hist: dict[str, Counter[int]] = {m: Counter() for m in MEASURES}

    def add_rows(self, rows: list[RollupRow]) -> None:
        for row in rows:
            self.parts += 1
            for c in COUNTS:
                self.counts[c] += row.counts[c]
            for m in MEASURES:
                self.sums[m] += row.sums[m]
                self.hist[m].update(dict(row.hist[m]))

    def tail(self) -> str:
        fields = [str(self.parts), *(str(self.counts[c]) for c in COUNTS), *(str(self.sums[m]) for m in MEASURES)]
        for m in MEASURES:
            ordered = sorted(self.hist[m].items())
            fields += [str(sum(self.hist[m].values())), *(text(percentile_of_counts(self.hist[m], p)) for p in PERCENTILES),
                       pg_array([s for s, _ in ordered]), pg_array([n for _, n in ordered])]
        return "\t".join(fields)


class DenseMonth:
    """A month row of a province or the nation: integer sums of month values, histograms
    as dense numpy vectors indexed by whole seconds."""

    def __init__(self, width: dict[str, int]) -> None:
        self.parts = 0
        self.counts = dict.fromkeys(COUNTS, 0)
        self.sums = dict.fromkeys(MEASURES, 0)
        self.hist = {m: np.zeros(width[m], dtype=np.int64) for m in MEASURES}

    def add(self, value: MonthValue | DenseMonth, dense: dict[str, np.ndarray] | None, times: int = 1) -> None:
        self.parts += times * value.parts
        for c in COUNTS:
            self.counts[c] += times * value.counts[c]
        for m in MEASURES:
            self.sums[m] += times * value.sums[m]
            self.hist[m] += times * (dense[m] if dense is not None else value.hist[m])  # type: ignore[operator]

    def tail(self) -> str:
        fields = [str(self.parts), *(str(self.counts[c]) for c in COUNTS), *(str(self.sums[m]) for m in MEASURES)]
        for m in MEASURES:
            h = self.hist[m]
            seconds = np.nonzero(h)[0]
            cum = np.cumsum(h)
            total = int(cum[-1])
            pcts = [None if total == 0 else int(np.searchsorted(cum, max(1, (p * total + 99) // 100))) for p in PERCENTILES]
            fields += [str(total), *(text(v) for v in pcts), pg_array(seconds.tolist()), pg_array(h[seconds].tolist())]
        return "\t".join(fields)


def months_of(first: date, last: date) -> list[tuple[date, int, int]]:
    """(month, first day number, last day number) of each month in [first, last]."""
    out = []
    day = first
    while day <= last:
        following = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        end = min(last, following - timedelta(days=1))
        out.append((day.replace(day=1), day.day, end.day))
        day = end + timedelta(days=1)
    return out


def copy_lines(store: NationalStore, sql: str, lines: Any) -> int:
    count = 0
    with store.conn.transaction(), store.conn.cursor() as cur, cur.copy(sql.encode()) as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            count += 1
            if len(chunk) >= 2000:
                copy.write("".join(chunk).encode())
                chunk = []
        if chunk:
            copy.write("".join(chunk).encode())
    return count


def bulk_load(store: NationalStore, pool: list[list[RollupRow]], rng: random.Random) -> dict[str, Any]:
    tails = [[row_tail(r) for r in rows] for rows in pool]
    compositions = [[rng.randrange(len(pool)) for _ in range(31)] for _ in range(COMPOSITIONS)]
    months = months_of(FIRST_LOADED, LAST_LOADED)
    assign = {(p, month): rng.randrange(COMPOSITIONS) for p in range(POINTS) for month, _, _ in months}
    started = time.perf_counter()
    copy_lines(store, "COPY points (point, province, name) FROM STDIN",
               (f"{point_name(p)}\t{province_of(p)}\tĐiểm {p}\n" for p in range(POINTS)))

    def day_lines():
        for month, first, last in months:
            for p in range(POINTS):
                days = compositions[assign[(p, month)]]
                prefix = f"{point_name(p)}\t"
                middle = f"\t{province_of(p)}\t1\t"
                for d in range(first, last + 1):
                    day = month.replace(day=d).isoformat()
                    for tail in tails[days[d - 1]]:
                        yield prefix + day + middle + tail + "\n"

    rows = copy_lines(store, "COPY rollups (point, day, province, revision, service, counter, "
                             f"{', '.join(ROW_COLUMNS[6:])}) FROM STDIN", day_lines())
    copy_lines(store, "COPY point_days (point, day, revision) FROM STDIN",
               (f"{point_name(p)}\t{(month.replace(day=d)).isoformat()}\t1\n"
                for month, first, last in months for p in range(POINTS) for d in range(first, last + 1)))
    day_rows_s = time.perf_counter() - started

    # Month rows: one exact merge per (composition, days of the month loaded).
    values: dict[tuple[int, int, int], MonthValue] = {}
    for _month, first, last in months:
        for c in range(COMPOSITIONS):
            if (c, first, last) not in values:
                value = MonthValue()
                for d in range(first, last + 1):
                    value.add_rows(pool[compositions[c][d - 1]])
                values[(c, first, last)] = value
    width = {m: 1 + max(max(v.hist[m], default=0) for v in values.values()) for m in MEASURES}
    dense = {key: {m: np.bincount(np.fromiter(v.hist[m].keys(), dtype=np.int64),
                                  weights=np.fromiter(v.hist[m].values(), dtype=np.int64), minlength=width[m]).astype(np.int64)
                   for m in MEASURES} for key, v in values.items()}
    value_tails = {key: v.tail() for key, v in values.items()}
    copy_lines(store, f"COPY point_months (month, province, point, {', '.join(month_columns())}) FROM STDIN",
               (f"{month}\t{province_of(p)}\t{point_name(p)}\t{value_tails[(assign[(p, month)], first, last)]}\n"
                for month, first, last in months for p in range(POINTS)))
    nation_lines, province_lines = [], []
    for month, first, last in months:
        nation = DenseMonth(width)
        for province in range(PROVINCES):
            uses = Counter(assign[(p, month)] for p in range(province, POINTS, PROVINCES))
            row = DenseMonth(width)
            for c, times in uses.items():
                row.add(values[(c, first, last)], dense[(c, first, last)], times)
            province_lines.append(f"{month}\t{province_of(province)}\t{row.tail()}\n")
            nation.add(row, None)
        nation_lines.append(f"{month}\t{nation.tail()}\n")
    copy_lines(store, f"COPY province_months (month, province, {', '.join(month_columns())}) FROM STDIN", province_lines)
    copy_lines(store, f"COPY nation_months (month, {', '.join(month_columns())}) FROM STDIN", nation_lines)
    store.conn.execute("ANALYZE")
    check_load(store, (months[-1][0], point_name(7 % POINTS)))
    return {"day_rows": rows, "day_rows_s": day_rows_s, "total_s": time.perf_counter() - started}


def check_load(store: NationalStore, sample: tuple[date, str]) -> None:
    """The bulk-loaded month rows agree with the day rows: one point-month merged again
    from its stored day rows, and each upper level equal to the sum of the level below."""
    month, point = sample
    following = (month + timedelta(days=32)).replace(day=1)
    merged = MonthValue()
    cols = ", ".join(ROW_COLUMNS[2:4] + ROW_COLUMNS[6:])
    for record in store.conn.execute(f"SELECT {cols} FROM rollups WHERE point = %s AND day >= %s AND day < %s".encode(),
                                     (point, month, following)):
        service, counter, *rest = record
        counts = dict(zip(COUNTS, rest[:len(COUNTS)]))
        hists = rest[len(COUNTS) + len(MEASURES):]
        hist = {m: dict(zip(hists[2 * i], hists[2 * i + 1])) for i, m in enumerate(MEASURES)}
        merged.add_rows([row_of(service, counter, counts, hist)])
    stored = store.conn.execute(f"SELECT {', '.join(month_columns())} FROM point_months WHERE month = %s AND point = %s".encode(),
                                (month, point)).fetchone()
    assert stored is not None and "\t".join(text(v) if not isinstance(v, list) else pg_array(v) for v in stored) == merged.tail(), \
        "bulk-loaded point-month differs from its day rows"
    for upper, lower, keys in (("province_months", "point_months", "month, province"), ("nation_months", "province_months", "month")):
        summed = ", ".join(f"sum({c})" for c in ("parts", *COUNTS))
        differ = store.conn.execute(
            f"SELECT count(*) FROM (SELECT {keys}, {summed} FROM {lower} GROUP BY {keys} EXCEPT "
            f"SELECT {keys}, {', '.join(('parts', *COUNTS))} FROM {upper}) x".encode()).fetchone()
        assert differ is not None and differ[0] == 0, f"{upper} differs from the sum of {lower}"


def day_rollups(day: date, pool: list[list[RollupRow]], rng: random.Random, revision: int = 1) -> list[DayRollup]:
    return [DayRollup(site=point_name(p), day=day, revision=revision, province=province_of(p), site_name=f"Điểm {p}",
                      rows=pool[rng.randrange(len(pool))]) for p in range(POINTS)]


def ingest_round(store: NationalStore, aggregator: Aggregator, rollups: list[DayRollup]) -> tuple[float, float]:
    """(floor, figure) seconds: a plain COPY of the day rows, then the aggregator's path."""
    tuples = [row for r in rollups for row in rollup_rows(r)]
    received = [Received(topics.rollup(r.site, r.day.isoformat()), r.payload()) for r in rollups]
    store.conn.execute("TRUNCATE floor_rows")
    started = time.perf_counter()
    with store.conn.transaction(), store.conn.cursor() as cur:
        with cur.copy(f"COPY floor_rows ({', '.join(ROW_COLUMNS)}) FROM STDIN".encode()) as copy:
            for row in tuples:
                copy.write_row(row)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(received), aggregator.batch_max):
        aggregator.handle(store, received[i:i + aggregator.batch_max])
    return floor, time.perf_counter() - started


def main() -> int:
    watch = LoadWatch()
    print(watch.describe(), flush=True)
    rng = random.Random(21)
    pool = templates(rng)
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    print(f"free disk in {folder}: {shutil.disk_usage(folder).free / 2**30:.1f} GiB", flush=True)
    pg = start_postgres(folder / "bench-national-pg", PG_SETTINGS)
    try:
        dsn = pg.create_database("national_bench")
        store = NationalStore(dsn)
        store.migrate()
        loaded = bulk_load(store, pool, rng)
        size = store.conn.execute("SELECT pg_database_size(current_database())").fetchone()
        print(f"loaded {loaded['day_rows']:,} day rows in {loaded['total_s']:.0f} s; "
              f"database {size[0] / 2**30 if size else 0:.2f} GiB; {watch.describe()}", flush=True)
        watch.sample()

        store.conn.execute("CREATE TABLE floor_rows (LIKE rollups INCLUDING ALL)")
        aggregator = Aggregator(dsn, BrokerSettings(), client_id="national-bench")  # handle() only: acks queue unsent
        floors, ingests = [], []
        for day in INGEST_DAYS:
            floor, spent = ingest_round(store, aggregator, day_rollups(day, pool, rng))
            floors.append(floor)
            ingests.append(spent)
            print(f"ingest {day}: {spent:.1f} s (floor {floor:.2f} s); load {watch.sample():.2f}", flush=True)
        revision_floor, revision_s = ingest_round(store, aggregator, day_rollups(INGEST_DAYS[-1], pool, rng, revision=2))
        print(f"revision 2 of {INGEST_DAYS[-1]}: {revision_s:.1f} s; load {watch.sample():.2f}", flush=True)
        assert aggregator.stored == POINTS * (ROUNDS + 1) and aggregator.rejected == 0
        day_rows = store.conn.execute("SELECT count(*) FROM rollups WHERE day = %s", (INGEST_DAYS[-1],)).fetchone()
        store.conn.execute("ANALYZE")

        month_cols = ", ".join((*COUNTS, *(f"{m}_{x}" for m in MEASURES for x in ("sum", "count", "p50", "p90"))))

        def scan(table: str, where: str, params: tuple, columns: str = month_cols) -> Any:
            return lambda: store.conn.execute(f"SELECT {columns} FROM {table} WHERE {where}".encode(), params).fetchall()

        queries = [
            ("league of provinces, December (one month)", True,
             lambda: league(store.figures("province", MONTH, MONTH_END)),
             scan("province_months", "month = %s", (MONTH,))),
            ("league of points, December (one month)", True,
             lambda: league(store.figures("point", MONTH, MONTH_END)),
             scan("point_months", "month = %s", (MONTH,))),
            (f"one province's December by point ({PROVINCE})", True,
             lambda: league(store.figures("point", MONTH, MONTH_END, province=PROVINCE)),
             scan("point_months", "month = %s AND province = %s", (MONTH, PROVINCE))),
            ("the nation by month over 2026 (the home page's trend)", False,
             lambda: store.figures("month", *YEAR),
             scan("nation_months", "month BETWEEN %s AND %s", YEAR)),
            ("league of provinces over 2026 (12 month rows merged per province)", False,
             lambda: league(store.figures("province", *YEAR)),
             scan("province_months", "month BETWEEN %s AND %s", YEAR, "*")),
            (f"one province by point over 2-31 December (30 days, day rows; {PROVINCE})", False,
             lambda: league(store.figures("point", date(2026, 12, 2), MONTH_END, province=PROVINCE)),
             scan("rollups", "day BETWEEN %s AND %s AND province = %s", (date(2026, 12, 2), MONTH_END, PROVINCE), "*")),
        ]
        query_figures = []
        for name, target, query, floor_query in queries:
            q_floor, q_time = [], []
            answer_rows = 0
            for _ in range(ROUNDS):
                started = time.perf_counter()
                floor_query()
                q_floor.append(time.perf_counter() - started)
                started = time.perf_counter()
                answer_rows = len(query())
                q_time.append(time.perf_counter() - started)
            watch.sample()
            print(f"{name}: median {statistics.median(q_time):.3f} s, floor {statistics.median(q_floor):.4f} s, "
                  f"{answer_rows} rows; load {watch.sample():.2f}", flush=True)
            query_figures.append(ratio_figure(f"{name}: query / plain SELECT of the same month rows", "plain SELECT",
                                              q_floor, q_time, "s", note=f"{answer_rows} rows answered"))
            query_figures.append(rounds_figure(f"{name}: seconds", q_time, "s", "< 2 s" if target else "",
                                               statistics.median(q_time) < 2 if target else None))
        counts = store.counts()
        store.close()
    finally:
        pg.stop()
        shutil.rmtree(folder / "bench-national-pg", ignore_errors=True)

    ingest = statistics.median(ingests)
    figures = [
        {"metric": "history loaded (bulk COPY, not through the aggregator)", "value": counts["rows"], "unit": "day rows",
         "target": "", "ok": None,
         "note": f"{POINTS} points x {DAYS} days ({FIRST_LOADED}..{LAST_LOADED}) + {ROUNDS} days ingested; "
                 f"{counts['point_days']} point-days; load took {loaded['total_s']:.0f} s"},
        {"metric": "day rows in one day of all points", "value": day_rows[0] if day_rows else 0, "unit": "rows",
         "target": "", "ok": None},
        ratio_figure("ingest one day of all points (aggregator path) / plain COPY of its rows", "plain COPY",
                     floors, ingests, "s"),
        rounds_figure("ingest one day of all points (aggregator path): seconds", ingests, "s", "< 60 s", ingest < 60),
        {"metric": "revision 2 of a whole day, every point (month rows subtract and add)", "value": round(revision_s, 3),
         "unit": "s", "target": "", "ok": None, "floor": f"plain COPY: {revision_floor:.4g} s", "rounds": 1},
        *query_figures,
    ]
    write_run("national", figures, watch, notes=(
        "History bulk-loaded by COPY (day rows and the month rows they make, computed by the benchmark and checked "
        "against the day rows); the ingest rounds and every query go through the product's code "
        "(Aggregator.handle, NationalStore.figures, league). Ratios are informative: the issue's targets are the "
        "absolute 2 s per query and 60 s per day's ingest on this machine. docs/national.md explains the design."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
