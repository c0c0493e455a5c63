"""The SQL side of the managers' measures: pre-aggregates kept in step, and queries.

`stats_agg` holds, per site and site-local day (level 'd') and per site and month
(level 'm'), one row for the whole period (dim '') and one per service, per counter and
per hour of issue (dim 'service' | 'counter' | 'hour'): exact counts, sums of whole
seconds, and histograms {whole seconds: count} of wait, service and total time. Merging
histograms loses nothing, so percentiles from them are exactly the nearest-rank
percentiles over whole seconds of the same tickets (server.stats.measures defines "over seconds").

Keeping in step: every event has a rowid that only grows; `refresh()` reads the events
past the last rowid it handled, recomputes the site-days they touch from the `tickets`
rows with server.stats.measures (the same code as the pure path), then those months from their
days. A change of targets or time zones in the configuration rebuilds everything.
Recomputing is pure Python and a busy site-day takes tens of milliseconds of interpreter
time, which desk actions on the server's other threads would wait for: so a refresh
that reads more than HELPER_MIN_TICKETS tickets runs in a helper process (its own
interpreter, started on first need, reading its own snapshot), and only the finished
rows are written here, under the store's write lock, briefly.

Queries with at most one time key (day, week or month) and at most one of service,
counter, hour use the pre-aggregates (full months from month rows, partial months from
day rows, see server/stats/query.py); anything else is computed from the tickets rows
by server.stats.measures directly. No FastAPI here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date, datetime, time, timedelta
from typing import Any

from protocol.sites import DEFAULT_ZONE
from server.stats import measures as stats
from server.stats.measures import MEASURES, Accumulator, Rules
from server.stats.query import aggregate_plan, decode, distribution_of, encode, query_aggregates, site_filter
from server.storage.db import read_connection
from server.storage.events import EventStore
from server.storage.tickets import site_and_day

log = logging.getLogger(__name__)

COUNT_COLUMNS = stats.COUNTS
AGG_COLUMNS = (
    "site", "level", "period", "dim", "key", *COUNT_COLUMNS,
    *(f"{m}_sum" for m in MEASURES), *(f"{m}_hist" for m in MEASURES),
)
_INSERT = f"INSERT OR REPLACE INTO stats_agg ({', '.join(AGG_COLUMNS)}) VALUES ({', '.join('?' * len(AGG_COLUMNS))})"
DIRECT_LIMIT = 500_000  # tickets a query may fold without pre-aggregates (a few seconds)


class TooLarge(ValueError):
    """A query the pre-aggregates cannot answer and that would read too many tickets."""


REFRESH_CHUNK = 200  # site-days per transaction when rebuilding
AggRow = tuple[Any, ...]  # one stats_agg row, values in column order
HELPER_MIN_TICKETS = 400  # a refresh reading more tickets than this runs in the helper process


def hour_key(hour: int) -> str:
    return f"{hour:02d}"


def agg_rows(site: str, level: str, period: str, groups: Mapping[tuple[str, str], Accumulator]) -> list[AggRow]:
    out = []
    for (dim, key), acc in groups.items():
        out.append((
            site, level, period, dim, key, *(acc.counts[c] for c in COUNT_COLUMNS),
            *(acc.sums[m] for m in MEASURES), *(encode(acc.histograms[m]) for m in MEASURES),
        ))
    return out


def day_groups(facts: Iterable[stats.TicketFacts], ratings: Iterable[stats.Rating]) -> dict[tuple[str, str], Accumulator]:
    """Accumulators of one site-day: the whole day and each service, counter, hour."""
    groups: dict[tuple[str, str], Accumulator] = {("", ""): Accumulator()}

    def keys(item: stats.TicketFacts | stats.Rating) -> list[tuple[str, str]]:
        return [("", ""), ("service", item.service), ("counter", item.counter), ("hour", hour_key(item.hour))]

    for f in facts:
        for k in keys(f):
            groups.setdefault(k, Accumulator()).add_ticket(f)
    for r in ratings:
        for k in keys(r):
            groups.setdefault(k, Accumulator()).add_rating(r.satisfied)
    return groups


def rules_fingerprint(rules: Mapping[str, Rules]) -> str:
    data = {s: [str(r.zone), sorted(r.targets_s.items())] for s, r in sorted(rules.items())}
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def day_bounds(day: str, rules: Rules | None) -> tuple[float, float]:
    """UTC epoch seconds [start, end) of a site-local day."""
    zone = rules.zone if rules else DEFAULT_ZONE
    d = date.fromisoformat(day)
    start = datetime.combine(d, time(0), zone)
    end = datetime.combine(d + timedelta(days=1), time(0), zone)
    return start.timestamp(), end.timestamp()


def local_day_of(epoch_s: float, rules: Rules | None) -> str:
    zone = rules.zone if rules else DEFAULT_ZONE
    return datetime.fromtimestamp(epoch_s, zone).date().isoformat()


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def load_feedback(conn: sqlite3.Connection, sites: Sequence[str] | None, day_from: str, day_to: str,
                  rules: Mapping[str, Rules]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Feedback events that may count in [day_from, day_to]: those of tickets issued in
    the range, and those (any ticket) whose own time falls in the range; with the rated
    tickets' rows."""
    sites = sorted(rules) if sites is None else list(sites)
    found: dict[str, dict[str, Any]] = {}
    select = (
        "SELECT e.id, e.site, e.ts_at, e.ticket_id, e.payload FROM events e "
    )
    for s in sites:
        rows = conn.execute(
            select + "JOIN tickets t ON t.ticket_id = e.ticket_id "
            "WHERE t.site = ? AND t.local_day BETWEEN ? AND ? AND e.type = 'feedback.given'",
            (s, day_from, day_to),
        ).fetchall()
        start, _ = day_bounds(day_from, rules.get(s))
        _, end = day_bounds(day_to, rules.get(s))
        rows += conn.execute(
            select + "WHERE e.type = 'feedback.given' AND e.site = ? AND e.ts_at >= ? AND e.ts_at < ?",
            (s, start, end),
        ).fetchall()
        for event_id, ev_site, ts_at, ticket_id, payload in rows:
            data = json.loads(payload)["data"]
            found[event_id] = {
                "id": event_id, "site": ev_site, "ts_at": ts_at, "ticket_id": ticket_id,
                "counter": data["counter"], "rating": data["rating"], "scale": data["scale"],
            }
    ticket_ids = sorted({f["ticket_id"] for f in found.values() if f["ticket_id"]})
    tickets: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[i:i + 500]
        cur = conn.execute(
            "SELECT ticket_id, site, issued_at, local_day, service, channel FROM tickets "
            f"WHERE ticket_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        tickets.update({r["ticket_id"]: r for r in _dicts(cur)})
    # The first rating of a ticket may lie outside the range: fetch all its feedback.
    for i in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[i:i + 500]
        for event_id, ev_site, ts_at, ticket_id, payload in conn.execute(
            f"SELECT id, site, ts_at, ticket_id, payload FROM events WHERE type = 'feedback.given' "
            f"AND ticket_id IN ({','.join('?' * len(chunk))})", chunk,
        ):
            data = json.loads(payload)["data"]
            found.setdefault(event_id, {
                "id": event_id, "site": ev_site, "ts_at": ts_at, "ticket_id": ticket_id,
                "counter": data["counter"], "rating": data["rating"], "scale": data["scale"],
            })
    return list(found.values()), tickets


def load_tickets(conn: sqlite3.Connection, sites: Sequence[str] | None, day_from: str, day_to: str) -> list[dict[str, Any]]:
    where, args = site_filter(sites)
    return _dicts(conn.execute(f"SELECT * FROM tickets WHERE local_day BETWEEN ? AND ?{where}", [day_from, day_to, *args]))


def ratings_in(conn: sqlite3.Connection, sites: Sequence[str] | None, day_from: str, day_to: str,
               rules: Mapping[str, Rules]) -> list[stats.Rating]:
    feedback, tickets = load_feedback(conn, sites, day_from, day_to, rules)
    return [r for r in stats.first_ratings(feedback, tickets, rules) if day_from <= r.day <= day_to]


def compute_direct(conn: sqlite3.Connection, rules: Mapping[str, Rules], day_from: str, day_to: str,
                   sites: Sequence[str] | None, group_by: Sequence[str]) -> list[dict[str, Any]]:
    """The measures straight from the tickets rows (the reference path)."""
    rows = load_tickets(conn, sites, day_from, day_to)
    return stats.compute(rows, rules, group_by, ratings_in(conn, sites, day_from, day_to, rules), day_from, day_to)


def compute_day_rows(conn: sqlite3.Connection, rules: Mapping[str, Rules], site: str, day: str) -> list[AggRow]:
    """The day's pre-aggregate rows (read only)."""
    rows = load_tickets(conn, [site], day, day)
    facts = [f for f in (stats.ticket_facts(r, rules) for r in rows) if f]
    ratings = ratings_in(conn, [site], day, day, rules)
    return agg_rows(site, "d", day, day_groups(facts, ratings)) if facts or ratings else []


def month_rows(conn: sqlite3.Connection, site: str, month: str, fresh: Mapping[str, list[AggRow]]) -> list[AggRow]:
    """The month's rows from its day rows: those in `fresh` (day -> rows, not yet
    stored) and, for the other days, those stored."""
    groups: dict[tuple[str, str], Accumulator] = {}
    stored = conn.execute(
        "SELECT * FROM stats_agg WHERE level = 'd' AND site = ? AND period BETWEEN ? AND ?",
        (site, f"{month}-01", f"{month}-31"),
    )
    day_rows = [row for row in _dicts(stored) if row["period"] not in fresh]
    day_rows += [dict(zip(AGG_COLUMNS, row)) for rows in fresh.values() for row in rows]
    for row in day_rows:
        groups.setdefault((row["dim"], row["key"]), Accumulator()).merge(accumulator_of(row))
    return agg_rows(site, "m", month, groups)


def compute_chunk(conn: sqlite3.Connection, rules: Mapping[str, Rules], chunk: Sequence[tuple[str, str]],
                  months: bool) -> list[tuple[str, str, str, list[AggRow]]]:
    """(site, level, period, rows) for each site-day of `chunk` and, with `months`, each
    month they fall in (read only: one snapshot, nothing written)."""
    days = {(site, day): compute_day_rows(conn, rules, site, day) for site, day in chunk}
    out = [(site, "d", day, rows) for (site, day), rows in days.items()]
    if months:
        for site, month in sorted({(site, day[:7]) for site, day in chunk}):
            fresh = {day: rows for (s, day), rows in days.items() if s == site and day[:7] == month}
            out.append((site, "m", month, month_rows(conn, site, month, fresh)))
    return out


def dirty_site_days(conn: sqlite3.Connection, rules: Mapping[str, Rules], watermark: int) -> tuple[set[tuple[str, str]], int]:
    """The (site, local day) pairs whose measures events past rowid `watermark` may have
    changed, and the new watermark (also used by the national roll-ups)."""
    dirty: set[tuple[str, str]] = set()
    tickets: set[str] = set()
    rows = conn.execute(
        "SELECT rowid, site, type, ticket_id, ts_at FROM events WHERE rowid > ? ORDER BY rowid", (watermark,)
    ).fetchall()
    for rowid, site, kind, ticket_id, ts_at in rows:
        watermark = max(watermark, rowid)
        if ticket_id:
            tickets.add(ticket_id)
        if kind == "feedback.given":
            dirty.add((site, local_day_of(ts_at, rules.get(site))))
    for ticket_id in tickets:
        row = site_and_day(conn, ticket_id)
        if row and row[1]:
            dirty.add((row[0], row[1]))
        # A rating counted on its own day moves to the ticket's day once the issue arrives.
        for site, ts_at in conn.execute(
            "SELECT site, ts_at FROM events WHERE ticket_id = ? AND type = 'feedback.given'", (ticket_id,)
        ):
            dirty.add((site, local_day_of(ts_at, rules.get(site))))
    return dirty, watermark


# -- the helper process ----------------------------------------------------------------
_helper_conn: sqlite3.Connection | None = None
_helper_rules: Mapping[str, Rules] = {}


def _helper_start(path: str, rules: Mapping[str, Rules]) -> None:
    global _helper_conn, _helper_rules
    _helper_conn = read_connection(path)
    _helper_rules = rules


def _helper_compute(chunk: list[tuple[str, str]], months: bool) -> list[tuple[str, str, str, list[AggRow]]]:
    assert _helper_conn is not None
    _helper_conn.execute("BEGIN")  # one snapshot for the whole chunk
    try:
        return compute_chunk(_helper_conn, _helper_rules, chunk, months)
    finally:
        _helper_conn.rollback()


class StatsStore:
    """Keeps `stats_agg` in step with the event log and answers stats queries."""

    def __init__(self, store: EventStore, rules: Mapping[str, Rules], helper_min_tickets: int = HELPER_MIN_TICKETS):
        self.store = store
        self.rules = dict(rules)
        self.fingerprint = rules_fingerprint(self.rules)
        self.helper_min_tickets = helper_min_tickets
        self.helper_chunks = 0  # chunks the helper process computed (for tests and health)
        self._helper: ProcessPoolExecutor | None = None
        self._refresh_lock = threading.Lock()

    def close(self) -> None:
        """Stop the helper process, if one was started."""
        with self._refresh_lock:
            if self._helper is not None:
                self._helper.shutdown(wait=True, cancel_futures=True)
                self._helper = None

    # -- keeping in step --------------------------------------------------------------
    def _meta(self, conn: sqlite3.Connection, name: str) -> str | None:
        row = conn.execute("SELECT value FROM stats_meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, conn: sqlite3.Connection, name: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO stats_meta (name, value) VALUES (?, ?)", (name, value))

    def refresh(self) -> int:
        """Bring the pre-aggregates up to date; returns the number of site-days recomputed.

        The work (reading tickets, folding measures) runs on a reader connection inside
        one read transaction, so it sees one consistent snapshot and never holds the
        store's write lock; only writing the finished rows takes the lock, briefly, so
        desk actions and ingest are not kept waiting. Refreshes run one at a time.
        """
        with self._refresh_lock:
            reader = self.store.reader()
            try:
                reader.execute("BEGIN")
                rebuild = self._meta(reader, "rules") != self.fingerprint
                if rebuild:
                    dirty = {(s, d) for s, d in reader.execute(
                        "SELECT DISTINCT site, local_day FROM tickets WHERE local_day IS NOT NULL")}
                    for site, ts_at in reader.execute("SELECT site, ts_at FROM events WHERE type = 'feedback.given'"):
                        dirty.add((site, local_day_of(ts_at, self.rules.get(site))))
                    watermark = reader.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0]
                else:
                    dirty, watermark = self._dirty_since(reader, int(self._meta(reader, "watermark") or 0))
                pending = sorted(dirty)
                chunks = [pending[i:i + REFRESH_CHUNK] for i in range(0, len(pending), REFRESH_CHUNK)] or [[]]
                for index, chunk in enumerate(chunks):
                    # A rebuild recomputes months inside the write, from the day rows
                    # written so far (the stored ones are about to be replaced).
                    computed = self._compute(reader, chunk, months=not rebuild)
                    with self.store.writing() as conn:
                        if rebuild and index == 0:
                            conn.execute("DELETE FROM stats_agg")
                        for site, level, period, rows in computed:
                            conn.execute(
                                "DELETE FROM stats_agg WHERE level = ? AND site = ? AND period = ?", (level, site, period)
                            )
                            conn.executemany(_INSERT, rows)
                        if rebuild:
                            for site, month in sorted({(site, day[:7]) for site, day in chunk}):
                                self.recompute_month(conn, site, month)
                        if index == len(chunks) - 1:
                            self._set_meta(conn, "watermark", str(watermark))
                            if rebuild:
                                self._set_meta(conn, "rules", self.fingerprint)
            finally:
                reader.rollback()
                reader.close()
        return len(pending)

    def _dirty_since(self, conn: sqlite3.Connection, watermark: int) -> tuple[set[tuple[str, str]], int]:
        return dirty_site_days(conn, self.rules, watermark)

    def recompute_month(self, conn: sqlite3.Connection, site: str, month: str) -> None:
        conn.execute("DELETE FROM stats_agg WHERE level = 'm' AND site = ? AND period = ?", (site, month))
        conn.executemany(_INSERT, month_rows(conn, site, month, {}))

    def _compute(self, reader: sqlite3.Connection, chunk: list[tuple[str, str]],
                 months: bool) -> list[tuple[str, str, str, list[AggRow]]]:
        """The chunk's rows: here on `reader` when small, else in the helper process."""
        tickets = sum(
            reader.execute("SELECT COUNT(*) FROM tickets WHERE site = ? AND local_day = ?", pair).fetchone()[0]
            for pair in chunk
        )
        if tickets > self.helper_min_tickets and str(self.store.path) != ":memory:":
            try:
                if self._helper is None:
                    self._helper = ProcessPoolExecutor(
                        1, mp_context=multiprocessing.get_context("spawn"),
                        initializer=_helper_start, initargs=(str(self.store.path), self.rules),
                    )
                computed = self._helper.submit(_helper_compute, chunk, months).result()
                self.helper_chunks += 1
                return computed
            except (BrokenProcessPool, OSError) as exc:
                # The helper died or could not start: do the work here this time.
                log.error("stats helper process failed (%s); computing in the server", exc)
                self._helper = None
        return compute_chunk(reader, self.rules, chunk, months)

    # -- queries ----------------------------------------------------------------------
    def query(self, day_from: str, day_to: str, sites: Sequence[str] | None, group_by: str | Sequence[str],
              refresh: bool = True) -> list[dict[str, Any]]:
        keys = stats.parse_group_by(group_by)
        if refresh:
            self.refresh()
        conn = self.store.reader()
        try:
            plan = aggregate_plan(keys)
            if plan is None:
                where, args = site_filter(sites)
                found = conn.execute(
                    f"SELECT COUNT(*) FROM tickets WHERE local_day BETWEEN ? AND ?{where}", [day_from, day_to, *args]
                ).fetchone()[0]
                if found > DIRECT_LIMIT:
                    raise TooLarge(
                        f"grouping by {', '.join(keys)} reads every ticket ({found}); at most {DIRECT_LIMIT} at once: "
                        "choose fewer sites or days, or at most one of service, counter, hour"
                    )
                return compute_direct(conn, self.rules, day_from, day_to, sites, keys)
            return query_aggregates(conn, day_from, day_to, sites, keys, *plan)
        finally:
            conn.close()

    def distribution(self, day_from: str, day_to: str, sites: Sequence[str] | None, bin_s: int, max_s: int,
                     refresh: bool = True) -> dict[str, list[int]]:
        if refresh:
            self.refresh()
        conn = self.store.reader()
        try:
            return distribution_of(conn, day_from, day_to, sites, bin_s, max_s)
        finally:
            conn.close()


def accumulator_of(row: Mapping[str, Any]) -> Accumulator:
    acc = Accumulator()
    acc.counts = {c: int(row[c]) for c in COUNT_COLUMNS}
    acc.sums = {m: int(row[f"{m}_sum"]) for m in MEASURES}
    acc.histograms = {m: decode(row[f"{m}_hist"]) for m in MEASURES}
    return acc


class BackgroundRefresh:
    """Refreshes the pre-aggregates off the ingest thread, at most every `min_interval_s`
    (a burst of ingest batches costs one recompute per touched site-day, not one per batch).
    Every stats query also refreshes first, so this only keeps the dashboard's first
    query fast; it runs rarely so that recomputing a busy day does not take CPU from desks."""

    def __init__(self, stats_store: StatsStore, min_interval_s: float = 10.0):
        self.stats_store = stats_store
        self.min_interval_s = min_interval_s
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xephang-stats", daemon=True)

    def poke(self, *_: object) -> None:
        self._wake.set()

    def start(self) -> BackgroundRefresh:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.stats_store.refresh()
            except sqlite3.Error as exc:
                self.failures += 1
                log.error("stats pre-aggregates not refreshed: %s", exc)
            self._stop.wait(self.min_interval_s)
