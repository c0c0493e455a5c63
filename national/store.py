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
from datetime import date
from typing import Any

import psycopg

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
                for r in best.values():
                    for row in rollup_rows(r):
                        copy.write_row(row)
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
            updates = ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS[4:])
            cur.execute(
                f"INSERT INTO rollups ({', '.join(ROW_COLUMNS)}) SELECT {', '.join('s.' + c for c in ROW_COLUMNS)} "
                "FROM row_staging s JOIN accepted a ON a.point = s.point AND a.day = s.day "
                f"ON CONFLICT (point, day, service, counter) DO UPDATE SET {updates} WHERE rollups.revision < excluded.revision"
            )
            cur.execute(
                "DELETE FROM rollups r USING accepted a WHERE r.point = a.point AND r.day = a.day AND r.revision < a.revision"
            )
            cur.execute("SELECT p.point, p.day, p.revision FROM point_days p JOIN day_staging s USING (point, day)")
            held = {(point, day): int(revision) for point, day, revision in cur.fetchall()}
        return Accepted(stored, total - stored, held)

    def reject(self, topic: str, reason: str) -> None:
        self.conn.execute("INSERT INTO rejected_rollups (topic, reason) VALUES (%s, %s)", (topic[:300], reason[:500]))

    # -- figures ----------------------------------------------------------------------
    def figures(self, group: str, day_from: date, day_to: date, province: str | None = None,
                point: str | None = None) -> list[dict[str, Any]]:
        """Exact figures of every group in [day_from, day_to], optionally within one
        province and/or one point; rows sorted by the group key."""
        if group not in GROUPS:
            raise QueryError(f"unknown group {group!r}; use one of {', '.join(GROUPS)}")
        if day_from > day_to:
            raise QueryError("the first day comes after the last")
        where = ["day BETWEEN %(day_from)s AND %(day_to)s"]
        params: dict[str, Any] = {"day_from": day_from, "day_to": day_to}
        if province is not None:
            where.append("province = %(province)s")
            params["province"] = province
        if point is not None:
            where.append("point = %(point)s")
            params["point"] = point
        key = GROUPS[group]
        base = f"SELECT {key} AS k, * FROM rollups WHERE {' AND '.join(where)}"
        sums = ", ".join(f"sum({c})::bigint AS {c}" for c in (*COUNTS, *(f"{m}_sum" for m in MEASURES)))
        parts = [f"base AS ({base})", f"totals AS (SELECT k, {sums} FROM base GROUP BY k)"]
        selects = ["t.*"]
        joins = []
        for m in MEASURES:
            parts.append(f"h_{m} AS (SELECT k, u.s, sum(u.n)::bigint AS n FROM base, unnest({m}_s, {m}_n) AS u(s, n) GROUP BY k, u.s)")
            parts.append(
                f"c_{m} AS (SELECT k, s, sum(n) OVER (PARTITION BY k ORDER BY s)::bigint AS cum, "
                f"sum(n) OVER (PARTITION BY k)::bigint AS tot FROM h_{m})"
            )
            ranks = ", ".join(
                f"min(s) FILTER (WHERE cum >= greatest(1, ({p} * tot + 99) / 100)) AS {m}_p{p}" for p in PERCENTILES
            )
            parts.append(f"p_{m} AS (SELECT k, max(tot) AS {m}_n, {ranks} FROM c_{m} GROUP BY k)")
            selects.append(", ".join([f"p_{m}.{m}_n", *(f"p_{m}.{m}_p{p}" for p in PERCENTILES)]))
            joins.append(f"LEFT JOIN p_{m} USING (k)")
        sql = f"WITH {', '.join(parts)} SELECT {', '.join(selects)} FROM totals t {' '.join(joins)} ORDER BY t.k"
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
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
