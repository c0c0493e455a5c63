"""The national store's tables in PostgreSQL: named migrations applied once, in order,
each in the transaction that records it. All DDL of the national store is here.

Imports protocol.rollup (the counts and measures) and psycopg 3.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from national.months import MONTH_LEVELS, rebuild_months
from protocol.rollup import COUNTS, MEASURES, PERCENTILES

Migration = Callable[[psycopg.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(func: Migration) -> Migration:
    MIGRATIONS.append((func.__name__, func))
    return func


@migration
def n001_rollups(conn: psycopg.Connection) -> None:
    """Reception points, the revision held for each point-day, and the roll-up rows:
    one per (point, day, service, counter) with counts, sums and sparse histograms as
    two parallel arrays (whole seconds ascending, tickets)."""
    counts = ",\n".join(f"{c} integer NOT NULL" for c in COUNTS)
    sums = ",\n".join(f"{m}_sum bigint NOT NULL" for m in MEASURES)
    hists = ",\n".join(f"{m}_s integer[] NOT NULL, {m}_n integer[] NOT NULL" for m in MEASURES)
    conn.execute(
        """
        CREATE TABLE points (
            point text PRIMARY KEY,
            province text NOT NULL,
            name text NOT NULL DEFAULT '',
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX points_province ON points (province);
        CREATE TABLE point_days (
            point text NOT NULL,
            day date NOT NULL,
            revision integer NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (point, day)
        );
        CREATE TABLE rejected_rollups (
            id bigserial PRIMARY KEY,
            topic text NOT NULL,
            reason text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    conn.execute(
        f"""
        CREATE TABLE rollups (
            point text NOT NULL,
            day date NOT NULL,
            service text NOT NULL,
            counter text NOT NULL,
            revision integer NOT NULL,
            province text NOT NULL,
            {counts},
            {sums},
            {hists},
            PRIMARY KEY (point, day, service, counter)
        )
        """
    )
    conn.execute("CREATE INDEX rollups_day_province ON rollups (day, province)")


# The month pre-aggregates (national/months.py keeps them): one table per level, keyed
# by month (its first day) and the level's keys. Each row is the exact merge of the day
# rows it stands for: counts and sums added, histograms merged (zero counts dropped), the
# number of day rows merged (`parts`; a row whose parts fall to 0 is deleted), and for
# each measure the tickets timed (`{m}_count`) and the nearest-rank p50/p90 of the merged
# histogram, so that a group answered by one row needs no histogram at all.


def month_columns_sql() -> str:
    counts = ",\n".join(f"{c} bigint NOT NULL" for c in COUNTS)
    sums = ",\n".join(f"{m}_sum bigint NOT NULL" for m in MEASURES)
    per_measure = ",\n".join(
        f"{m}_count bigint NOT NULL, {', '.join(f'{m}_p{p} integer' for p in PERCENTILES)}, "
        f"{m}_s integer[] COMPRESSION lz4 NOT NULL, {m}_n integer[] COMPRESSION lz4 NOT NULL"
        for m in MEASURES
    )
    return f"parts integer NOT NULL,\n{counts},\n{sums},\n{per_measure}"


@migration
def n002_month_aggregates(conn: psycopg.Connection) -> None:
    """Point-month, province-month and nation-month pre-aggregates, kept by the ingest
    transaction (national/store.py) and filled here from the rows already stored."""
    columns = month_columns_sql()
    for table, keys in MONTH_LEVELS.items():
        key_columns = ",\n".join(f"{k} {'date' if k == 'month' else 'text'} NOT NULL" for k in keys)
        conn.execute(f"CREATE TABLE {table} ({key_columns},\n{columns},\nPRIMARY KEY ({', '.join(keys)}))")
    rebuild_months(conn)  # the same SQL as the ingest's


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations not yet applied; returns their names. Safe to run from two
    processes at once (an advisory lock serialises them)."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(21021)")
        conn.execute("CREATE TABLE IF NOT EXISTS national_migrations (name text PRIMARY KEY, applied_at timestamptz DEFAULT now())")
        done = {name for (name,) in conn.execute("SELECT name FROM national_migrations")}
        for name, func in MIGRATIONS:
            if name not in done:
                func(conn)
                conn.execute("INSERT INTO national_migrations (name) VALUES (%s)", (name,))
                applied_now.append(name)
    return applied_now
