"""The month pre-aggregates of the national store (tables in national/schema.py,
MONTH_LEVELS): how a change of day rows is carried into them, exactly.

A change is a set of signed day rows: the rows an accepted revision replaces, with sign
-1, and the rows it brings, with sign +1 (a from-scratch rebuild is every stored row with
sign +1). For every month row the change touches, in one statement per level:
counts, sums and `parts` add the signed values; the histogram becomes the row's own
pairs plus the signed pairs, summed per second, seconds whose tickets sum to 0 dropped;
`{m}_count` and the nearest-rank p50/p90 (rank greatest(1, ceil(p n / 100)), the
definition of protocol/rollup.py) are recomputed from that merged histogram. A row whose
parts reach 0 (no day row left) is deleted. Integer arithmetic throughout: the result is
the merge of the day rows it stands for, whatever the order of revisions.

Imports protocol.rollup and psycopg.
"""

from __future__ import annotations

import psycopg

from protocol.rollup import COUNTS, MEASURES, PERCENTILES

# How each month key is read from a day row of `rollups`.
KEY_OF_DAY_ROW = {"month": "date_trunc('month', d.day)::date", "province": "d.province", "point": "d.point"}


# Month tables and their keys (primary key order): the league of points over a month
# reads point_months by month, a province's month by (month, province).
MONTH_LEVELS: dict[str, tuple[str, ...]] = {
    "point_months": ("month", "province", "point"),
    "province_months": ("month", "province"),
    "nation_months": ("month",),
}


def month_columns() -> list[str]:
    """The value columns of a month row, in table order (after its keys)."""
    out = ["parts", *COUNTS, *(f"{m}_sum" for m in MEASURES)]
    for m in MEASURES:
        out += [f"{m}_count", *(f"{m}_p{p}" for p in PERCENTILES), f"{m}_s", f"{m}_n"]
    return out


def apply_change_sql(table: str, keys: tuple[str, ...], change: str) -> str:
    """One statement carrying the signed day rows of `change` (a relation with a `sign`
    column and the columns of `rollups`) into `table`."""
    key_list = ", ".join(keys)
    key_exprs = ", ".join(f"{KEY_OF_DAY_ROW[k]} AS {k}" for k in keys)
    added = ", ".join(f"sum(d.sign * d.{c})::bigint AS {c}" for c in (*COUNTS, *(f"{m}_sum" for m in MEASURES)))
    values = ", ".join(f"d.{c}" for c in (*COUNTS, *(f"{m}_sum" for m in MEASURES)))
    parts = [
        f"c AS (SELECT {key_list}, sum(d.sign)::integer AS parts, {added} FROM "
        f"(SELECT {key_exprs}, d.sign, {values} FROM {change} d) d GROUP BY {key_list})",
    ]
    selects = [f"{', '.join('c.' + k for k in keys)}", "coalesce(t.parts, 0) + c.parts AS parts"]
    selects += [f"coalesce(t.{col}, 0) + c.{col} AS {col}" for col in (*COUNTS, *(f"{m}_sum" for m in MEASURES))]
    joins = []
    for m in MEASURES:
        parts.append(
            f"h_{m} AS (SELECT {key_list}, s, sum(n)::bigint AS n FROM ("
            f"SELECT {', '.join('x.' + k for k in keys)}, u.s, u.n::bigint * x.sign AS n "
            f"FROM (SELECT {key_exprs}, d.sign, d.{m}_s, d.{m}_n FROM {change} d) x, unnest(x.{m}_s, x.{m}_n) AS u(s, n) "
            f"UNION ALL SELECT {', '.join('t.' + k for k in keys)}, u.s, u.n::bigint "
            f"FROM {table} t JOIN c USING ({key_list}), unnest(t.{m}_s, t.{m}_n) AS u(s, n)"
            f") y GROUP BY {key_list}, s HAVING sum(n) <> 0)"
        )
        parts.append(
            f"w_{m} AS (SELECT {key_list}, s, n, sum(n) OVER (PARTITION BY {key_list} ORDER BY s)::bigint AS cum, "
            f"sum(n) OVER (PARTITION BY {key_list})::bigint AS tot FROM h_{m})"
        )
        ranks = ", ".join(
            f"min(s) FILTER (WHERE cum >= greatest(1, ({p} * tot + 99) / 100)) AS {m}_p{p}" for p in PERCENTILES
        )
        parts.append(
            f"a_{m} AS (SELECT {key_list}, max(tot)::bigint AS {m}_count, {ranks}, "
            f"array_agg(s::integer ORDER BY s) AS {m}_s, array_agg(n::integer ORDER BY s) AS {m}_n FROM w_{m} GROUP BY {key_list})"
        )
        selects += [
            f"coalesce(a_{m}.{m}_count, 0) AS {m}_count",
            *(f"a_{m}.{m}_p{p}" for p in PERCENTILES),
            f"coalesce(a_{m}.{m}_s, '{{}}'::integer[]) AS {m}_s",
            f"coalesce(a_{m}.{m}_n, '{{}}'::integer[]) AS {m}_n",
        ]
        joins.append(f"LEFT JOIN a_{m} USING ({key_list})")
    parts.append(f"new AS (SELECT {', '.join(selects)} FROM c LEFT JOIN {table} t USING ({key_list}) {' '.join(joins)})")
    parts.append(
        f"gone AS (DELETE FROM {table} t USING new WHERE new.parts <= 0 AND "
        f"{' AND '.join(f't.{k} = new.{k}' for k in keys)} RETURNING 1)"
    )
    columns = [*keys, *month_columns()]
    updates = ", ".join(f"{c} = excluded.{c}" for c in month_columns())
    return (
        f"WITH {', '.join(parts)} INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(columns)} FROM new WHERE parts > 0 "
        f"ON CONFLICT ({key_list}) DO UPDATE SET {updates}"
    )


def apply_change(conn: psycopg.Connection, change: str) -> None:
    """Carry the signed day rows of `change` into every month level (inside the caller's
    transaction)."""
    for table, keys in MONTH_LEVELS.items():
        conn.execute(apply_change_sql(table, keys, change).encode())


def rebuild_months(conn: psycopg.Connection) -> None:
    """Every month row recomputed from the stored day rows (the migration that adds the
    tables; also a repair)."""
    for table in MONTH_LEVELS:
        conn.execute(f"DELETE FROM {table}".encode())
    apply_change(conn, "(SELECT 1::integer AS sign, r.* FROM rollups r)")
