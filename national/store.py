"""The national store: roll-ups in, exact figures out (PostgreSQL through psycopg 3).

Ingest is revision-aware and idempotent. A batch of roll-ups is copied into temporary
tables, then in one transaction:
1. `point_days` keeps, per (point, day), the highest revision seen; a roll-up whose
   revision is not higher than the stored one changes nothing (a repeat or a late
   older copy);
2. the accepted days' rows are upserted keyed by (point, day, service, counter), an
   existing row replaced only by a higher revision;
3. rows of an accepted day that its new revision no longer has are deleted.
Whatever the order and the number of copies that arrive, the store ends holding the
highest revision of every day, and acknowledging after the commit is safe.

Figures: counts are summed; percentiles are computed in SQL from the merged histograms
(unnest, sum per second, running total) at the nearest rank ceil(p/100 n), the same
definition as protocol/rollup.py, so they are exact. Imports protocol only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg

from national.months import DAY_ROW_COLUMNS, Change, apply_changes
from national.schema import migrate
from protocol.rollup import COUNTS, MEASURES, PERCENTILES, DayRollup, measures_row

log = logging.getLogger(__name__)

ROW_COLUMNS = (
    "point", "day", "service", "counter", "revision", "province", *COUNTS,
    *(f"{m}_sum" for m in MEASURES), *(c for m in MEASURES for c in (f"{m}_s", f"{m}_n")),
)
GROUPS = {
    "nation": "''",
    "province": "province",
    "point": "point",
    "month": "to_char(day, 'YYYY-MM')",
    "day": "to_char(day, 'YYYY-MM-DD')",
    "service": "service",
}
# The same keys read from a month row (groups a month row can answer).
MONTH_KEYS = {
    "nation": "''",
    "province": "province",
    "point": "point",
    "month": "to_char(month, 'YYYY-MM')",
}


def split_period(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole calendar months inside [first, last] (their first days) and the day
    ranges left over before and after them."""
    start = first if first.day == 1 else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    months: list[date] = []
    month = start
    while True:
        following = (month + timedelta(days=32)).replace(day=1)
        if following - timedelta(days=1) > last:
            break
        months.append(month)
        month = following
    if not months:
        return [], [(first, last)]
    edges = []
    if first < months[0]:
        edges.append((first, months[0] - timedelta(days=1)))
    end = (months[-1] + timedelta(days=32)).replace(day=1)
    if end <= last:
        edges.append((end, last))
    return months, edges


class QueryError(ValueError):
    """A figures query that cannot be answered as asked (unknown group, bad range)."""


@dataclass(frozen=True)
class Accepted:
    """What an ingested batch did: roll-ups stored (newer revisions), ignored (a revision
    as high or higher held already), and the revision now held for each (point, day)."""

    stored: int
    ignored: int
    held: dict[tuple[str, date], int] = field(default_factory=dict)


def rollup_rows(rollup: DayRollup) -> list[tuple[Any, ...]]:
    out = []
    for r in rollup.rows:
        hist = [col for m in MEASURES for col in ([s for s, _ in r.hist[m]], [n for _, n in r.hist[m]])]
        out.append((rollup.site, rollup.day, r.service, r.counter, rollup.revision, rollup.province,
                    *(r.counts[c] for c in COUNTS), *(r.sums[m] for m in MEASURES), *hist))
    return out


def rollup_lines(rollup: DayRollup) -> list[str]:
    """A roll-up's rows as COPY text lines in ROW_COLUMNS order. Every text field is a
    validated slug (no tab, newline or backslash to escape), every other an integer."""
    head = f"{rollup.site}\t{rollup.day.isoformat()}\t"
    middle = f"\t{rollup.revision}\t{rollup.province}\t"
    out = []
    for r in rollup.rows:
        hists = "\t".join("{" + ",".join(str(p[i]) for p in r.hist[m]) + "}" for m in MEASURES for i in (0, 1))
        numbers = "\t".join([*(str(r.counts[c]) for c in COUNTS), *(str(r.sums[m]) for m in MEASURES)])
        out.append(f"{head}{r.service}\t{r.counter}{middle}{numbers}\t{hists}\n")
    return out


def changes_of(rollup: DayRollup, sign: int = 1) -> list[Change]:
    """A roll-up's rows as signed day rows for the month pre-aggregates."""
    return [
        Change(sign, rollup.site, rollup.day, rollup.province, [r.counts[c] for c in COUNTS], [r.sums[m] for m in MEASURES],
               [([s for s, _ in r.hist[m]], [n for _, n in r.hist[m]]) for m in MEASURES])
        for r in rollup.rows
    ]


class NationalStore:
    """One connection to the national database (use one per thread)."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        self._staged = False

    def close(self) -> None:
        self.conn.close()

    def migrate(self) -> list[str]:
        return migrate(self.conn)

    # -- ingest -----------------------------------------------------------------------
    def _stage(self) -> None:
        if not self._staged:
            self.conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS day_staging (point text, day date, revision integer, province text, name text) "
                "ON COMMIT DELETE ROWS"
            )
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS row_staging (LIKE rollups) ON COMMIT DELETE ROWS")
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS accepted (point text, day date, revision integer) ON COMMIT DELETE ROWS")
            self._staged = True

    def ingest(self, rollups: Iterable[DayRollup]) -> Accepted:
        """Store a batch of roll-ups in one transaction (see the module docstring)."""
        best: dict[tuple[str, date], DayRollup] = {}
        total = 0
        for r in rollups:
            total += 1
            key = (r.site, r.day)
            if key not in best or best[key].revision < r.revision:
                best[key] = r
        if not best:
            return Accepted(0, 0)
        self._stage()
        with self.conn.transaction(), self.conn.cursor() as cur:
            with cur.copy("COPY day_staging (point, day, revision, province, name) FROM STDIN") as copy:
                for r in best.values():
                    copy.write_row((r.site, r.day, r.revision, r.province, r.site_name))
            with cur.copy(f"COPY row_staging ({', '.join(ROW_COLUMNS)}) FROM STDIN") as copy:
                copy.write("".join(line for r in best.values() for line in rollup_lines(r)).encode())
            cur.execute(
                "INSERT INTO points (point, province, name) SELECT DISTINCT ON (point) point, province, name FROM day_staging "
                "ORDER BY point, day DESC ON CONFLICT (point) DO UPDATE SET province = excluded.province, name = excluded.name, "
                "updated_at = now() WHERE (points.province, points.name) IS DISTINCT FROM (excluded.province, excluded.name)"
            )
            cur.execute(
                "WITH up AS (INSERT INTO point_days (point, day, revision) SELECT point, day, revision FROM day_staging "
                "ON CONFLICT (point, day) DO UPDATE SET revision = excluded.revision, received_at = now() "
                "WHERE point_days.revision < excluded.revision RETURNING point, day, revision) "
                "INSERT INTO accepted SELECT * FROM up"
            )
            stored = cur.rowcount
            # The accepted days' rows leave (signed -1 for the month rows) and the new
            # revision's rows come in (signed +1): the point_days upsert above holds those
            # days' locks and a higher revision than any stored row of theirs.
            changes: list[Change] = []
            with self.conn.cursor(binary=True) as gone:
                gone.execute(
                    f"DELETE FROM rollups r USING accepted a WHERE r.point = a.point AND r.day = a.day "
                    f"RETURNING {', '.join('r.' + c for c in DAY_ROW_COLUMNS)}".encode()
                )
                changes += [Change.of_stored(-1, record) for record in gone.fetchall()]
            cur.execute(
                "INSERT INTO rollups SELECT s.* FROM row_staging s JOIN accepted a ON a.point = s.point AND a.day = s.day"
            )
            for point, day in cur.execute("SELECT point, day FROM accepted").fetchall():
                changes += changes_of(best[(point, day)])
            apply_changes(self.conn, changes)
            cur.execute("SELECT p.point, p.day, p.revision FROM point_days p JOIN day_staging s USING (point, day)")
            held = {(point, day): int(revision) for point, day, revision in cur.fetchall()}
        return Accepted(stored, total - stored, held)

    def reject(self, topic: str, reason: str) -> None:
        self.conn.execute("INSERT INTO rejected_rollups (topic, reason) VALUES (%s, %s)", (topic[:300], reason[:500]))

    # -- figures ----------------------------------------------------------------------
    def figures(self, group: str, day_from: date, day_to: date, province: str | None = None,
                point: str | None = None) -> list[dict[str, Any]]:
        """Exact figures of every group in [day_from, day_to], optionally within one
        province and/or one point; rows sorted by the group key.

        Whole calendar months inside the period come from the month pre-aggregates of the
        finest level the question needs (points, provinces or the nation), the days
        outside whole months from the day rows. A group made of one month row takes that
        row's stored percentiles; any other group merges its parts' histograms."""
        if group not in GROUPS:
            raise QueryError(f"unknown group {group!r}; use one of {', '.join(GROUPS)}")
        if day_from > day_to:
            raise QueryError("the first day comes after the last")
        months, edges = split_period(day_from, day_to) if group in MONTH_KEYS else ([], [(day_from, day_to)])
        level = ("point_months" if group == "point" or point is not None
                 else "province_months" if group == "province" or province is not None else "nation_months")
        params: dict[str, Any] = {"months": months, "province": province, "point": point}
        filters = [("province", province), ("point", point)]
        day_where = [" OR ".join(f"day BETWEEN %(e{i}a)s AND %(e{i}b)s" for i in range(len(edges))) or "false"]
        for i, (a, b) in enumerate(edges):
            params[f"e{i}a"], params[f"e{i}b"] = a, b
        day_where += [f"{name} = %({name})s" for name, value in filters if value is not None]
        month_where = ["month = ANY(%(months)s)"] + [f"{name} = %({name})s" for name, value in filters if value is not None]
        scalars = (*COUNTS, *(f"{m}_sum" for m in MEASURES))
        stored = [f"{m}_count" for m in MEASURES] + [f"{m}_p{p}" for m in MEASURES for p in PERCENTILES]

        def source(columns: str, month_columns: str) -> str:
            parts = []
            if months:
                parts.append(f"SELECT {MONTH_KEYS[group]} AS k, true AS pre, {month_columns} FROM {level} "
                             f"WHERE {' AND '.join(month_where)}")
            if edges:
                parts.append(f"SELECT {GROUPS[group]} AS k, false AS pre, {columns} FROM rollups "
                             f"WHERE ({day_where[0]}) {''.join(' AND ' + w for w in day_where[1:])}")
            return " UNION ALL ".join(parts)

        day_scalars = ", ".join([*scalars, *(f"NULL::bigint AS {c}" for c in stored)])
        cte = [f"base AS ({source(day_scalars, ', '.join([*scalars, *stored]))})"]
        sums = ", ".join(f"sum({c})::bigint AS {c}" for c in scalars)
        firsts = ", ".join(f"min({c}) AS {c}" for c in stored)
        cte.append(f"totals AS (SELECT k, count(*) = 1 AND bool_and(pre) AS one, {sums}, {firsts} FROM base GROUP BY k)")
        hists = ", ".join(f"{m}_s, {m}_n" for m in MEASURES)
        cte.append(f"hist AS (SELECT b.* FROM ({source(hists, hists)}) b JOIN totals t ON t.k = b.k AND NOT t.one)")
        selects = [*(f"t.{c}" for c in scalars)]
        joins = []
        for m in MEASURES:
            cte.append(f"h_{m} AS (SELECT k, u.s, sum(u.n)::bigint AS n FROM hist, unnest({m}_s, {m}_n) AS u(s, n) GROUP BY k, u.s)")
            cte.append(
                f"c_{m} AS (SELECT k, s, sum(n) OVER (PARTITION BY k ORDER BY s)::bigint AS cum, "
                f"sum(n) OVER (PARTITION BY k)::bigint AS tot FROM h_{m})"
            )
            ranks = ", ".join(
                f"min(s) FILTER (WHERE cum >= greatest(1, ({p} * tot + 99) / 100)) AS {m}_p{p}" for p in PERCENTILES
            )
            cte.append(f"p_{m} AS (SELECT k, max(tot) AS {m}_n, {ranks} FROM c_{m} GROUP BY k)")
            selects.append(f"CASE WHEN t.one THEN t.{m}_count ELSE p_{m}.{m}_n END AS {m}_n")
            selects += [f"CASE WHEN t.one THEN t.{m}_p{p} ELSE p_{m}.{m}_p{p} END AS {m}_p{p}" for p in PERCENTILES]
            joins.append(f"LEFT JOIN p_{m} USING (k)")
        sql = f"WITH {', '.join(cte)} SELECT t.k, {', '.join(selects)} FROM totals t {' '.join(joins)} ORDER BY t.k"
        with self.conn.cursor() as cur:
            cur.execute(sql.encode(), params)
            names = [d.name for d in cur.description or ()]
            found = [dict(zip(names, row)) for row in cur.fetchall()]
        out = []
        for row in found:
            counts = {c: int(row[c]) for c in COUNTS}
            sums_ = {m: int(row[f"{m}_sum"]) for m in MEASURES}
            ns = {m: int(row[f"{m}_n"] or 0) for m in MEASURES}
            pcts = {(m, p): row[f"{m}_p{p}"] for m in MEASURES for p in PERCENTILES}
            out.append({group: row["k"], **measures_row(counts, sums_, ns, pcts)})
        return out

    def provinces(self) -> list[str]:
        return [p for (p,) in self.conn.execute("SELECT DISTINCT province FROM points ORDER BY province")]

    def points(self, province: str | None = None) -> list[dict[str, str]]:
        sql = "SELECT point, province, name FROM points"
        rows = self.conn.execute(sql + (" WHERE province = %s ORDER BY point" if province else " ORDER BY point"),
                                 (province,) if province else ())
        return [{"point": p, "province": v, "name": n} for p, v, n in rows]

    def revision(self, point: str, day: date) -> int | None:
        row = self.conn.execute("SELECT revision FROM point_days WHERE point = %s AND day = %s", (point, day)).fetchone()
        return int(row[0]) if row else None

    def counts(self) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM points), (SELECT count(*) FROM point_days), (SELECT count(*) FROM rollups), "
            "(SELECT count(*) FROM rejected_rollups)"
        ).fetchone()
        assert row is not None
        return dict(zip(("points", "point_days", "rows", "rejected"), (int(v) for v in row)))


def league(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ranked by the 60-minute share (highest first, none last), then p90 wait."""
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        share = row["pct_within_target"]
        wait = row["wait_p90_s"]
        return (share is None, -(share or 0), wait is None, wait or 0)
    return sorted(rows, key=key)
