"""The month pre-aggregates of the national store (tables in national/schema.py): how a
change of day rows is carried into them, exactly.

A change is a set of signed day rows: the rows an accepted revision replaces, with sign
-1, and the rows it brings, with sign +1 (a from-scratch rebuild is every stored row with
sign +1). For every month row the change touches, at each level (point, province,
nation): counts, sums and `parts` (day rows merged) add the signed values; the histogram
becomes the row's own (second, tickets) pairs plus the signed pairs, summed per second,
seconds whose tickets sum to 0 dropped; `{m}_count` and the nearest-rank p50/p90 (rank
max(1, ceil(p n / 100)), the definition of protocol/rollup.py) are recomputed from that
merged histogram. A row whose parts reach 0 (no day row left) is deleted. Integer
arithmetic throughout, so a month row is the merge of the day rows it stands for,
whatever the order of revisions.

The merge runs here, in numpy, not in SQL: a month row of a point holds a few thousand
seconds per measure, and unnesting, regrouping and re-sorting every touched row in SQL
costs about ten times more than reading the arrays out, merging them here and writing
them back (docs/national.md, "Month pre-aggregates"). The rows touched are locked
(SELECT ... FOR UPDATE) in the caller's transaction, then replaced.

Imports protocol.rollup, numpy and psycopg.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import psycopg

from protocol.rollup import COUNTS, MEASURES, PERCENTILES

# Month tables and their keys (primary key order): the league of points over a month
# reads point_months by month, a province's month by (month, province).
MONTH_LEVELS: dict[str, tuple[str, ...]] = {
    "point_months": ("month", "province", "point"),
    "province_months": ("month", "province"),
    "nation_months": ("month",),
}
KEY_TYPES = {"month": "date", "province": "text", "point": "text"}
# The columns of a stored day row that a change needs, in this order.
DAY_ROW_COLUMNS = ("point", "day", "province", *COUNTS, *(f"{m}_sum" for m in MEASURES),
                   *(c for m in MEASURES for c in (f"{m}_s", f"{m}_n")))


def month_columns() -> list[str]:
    """The value columns of a month row, in table order (after its keys)."""
    out = ["parts", *COUNTS, *(f"{m}_sum" for m in MEASURES)]
    for m in MEASURES:
        out += [f"{m}_count", *(f"{m}_p{p}" for p in PERCENTILES), f"{m}_s", f"{m}_n"]
    return out


# COPY's binary format, written here because psycopg dumps int4[] element by element in
# Python, and a point-month row holds thousands: numpy writes them at once.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
PG_EPOCH = date(2000, 1, 1)
INT4_OID = 23
_NULL = struct.pack(">i", -1)


def binary_field(value: Any, kind: str) -> bytes:
    if value is None:
        return _NULL
    if kind == "int4[]":
        values = np.asarray(value)
        if len(values) == 0:
            data = struct.pack(">iii", 0, 0, INT4_OID)
        else:
            body = np.empty(2 * len(values), dtype=">i4")
            body[0::2] = 4
            body[1::2] = values
            data = struct.pack(">iiiii", 1, 0, INT4_OID, len(values), 1) + body.tobytes()
    elif kind == "int4":
        data = struct.pack(">i", value)
    elif kind == "int8":
        data = struct.pack(">q", value)
    elif kind == "date":
        data = struct.pack(">i", (value - PG_EPOCH).days)
    elif kind == "text":
        data = str(value).encode("utf-8")
    else:
        raise ValueError(f"no binary COPY writer for {kind}")
    return struct.pack(">i", len(data)) + data


def binary_row(row: Sequence[Any], kinds: Sequence[str]) -> bytes:
    return struct.pack(">h", len(row)) + b"".join(binary_field(v, k) for v, k in zip(row, kinds))


def month_types() -> list[str]:
    out = ["int4", *(["int8"] * (len(COUNTS) + len(MEASURES)))]
    for _m in MEASURES:
        out += ["int8", *(["int4"] * len(PERCENTILES)), "int4[]", "int4[]"]
    return out


@dataclass(frozen=True)
class Change:
    """One signed day row: counts and sums in COUNTS / MEASURES order, and per measure
    its histogram as (seconds, tickets)."""

    sign: int
    point: str
    day: date
    province: str
    counts: Sequence[int]
    sums: Sequence[int]
    hists: Sequence[tuple[Sequence[int], Sequence[int]]]

    @classmethod
    def of_stored(cls, sign: int, record: Sequence[Any]) -> Change:
        """From a `rollups` row selected as DAY_ROW_COLUMNS."""
        point, day, province, *rest = record
        counts = rest[:len(COUNTS)]
        sums = rest[len(COUNTS):len(COUNTS) + len(MEASURES)]
        arrays = rest[len(COUNTS) + len(MEASURES):]
        return cls(sign, point, day, province, counts, sums,
                   [(arrays[2 * i], arrays[2 * i + 1]) for i in range(len(MEASURES))])


class _Delta:
    __slots__ = ("parts", "counts", "sums", "seconds", "tickets")

    def __init__(self) -> None:
        self.parts = 0
        self.counts = [0] * len(COUNTS)
        self.sums = [0] * len(MEASURES)
        self.seconds: list[list[Sequence[int]]] = [[] for _ in MEASURES]
        self.tickets: list[list[Any]] = [[] for _ in MEASURES]

    def add(self, change: Change) -> None:
        sign = change.sign
        self.parts += sign
        for i, v in enumerate(change.counts):
            self.counts[i] += sign * v
        for i, v in enumerate(change.sums):
            self.sums[i] += sign * v
        for i, (seconds, tickets) in enumerate(change.hists):
            if len(seconds):
                self.seconds[i].append(seconds)
                self.tickets[i].append(tickets if sign == 1 else [-n for n in tickets])


def merge_histogram(parts_s: list[Any], parts_n: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Sum (seconds, tickets) pairs per second; seconds left with 0 tickets dropped."""
    if not parts_s:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    seconds = np.concatenate([np.asarray(s, dtype=np.int64) for s in parts_s])
    tickets = np.concatenate([np.asarray(n, dtype=np.int64) for n in parts_n])
    unique, where = np.unique(seconds, return_inverse=True)
    # float64 sums are exact below 2**53 tickets per second
    summed = np.bincount(where, weights=tickets, minlength=len(unique)).astype(np.int64)
    if (summed < 0).any():
        raise ValueError("a month row would hold a negative number of tickets: its day rows and it disagree")
    keep = summed != 0
    return unique[keep], summed[keep]


def nearest_ranks(seconds: np.ndarray, tickets: np.ndarray) -> tuple[int, list[int | None]]:
    """(tickets, [pXX for PERCENTILES]) of a histogram, nearest rank."""
    if len(tickets) == 0:
        return 0, [None for _ in PERCENTILES]
    running = np.cumsum(tickets)
    total = int(running[-1])
    return total, [int(seconds[np.searchsorted(running, max(1, (p * total + 99) // 100))]) for p in PERCENTILES]


def _keys_of(keys: tuple[str, ...], change: Change) -> tuple[Any, ...]:
    values = {"month": change.day.replace(day=1), "province": change.province, "point": change.point}
    return tuple(values[k] for k in keys)


def apply_changes(conn: psycopg.Connection, changes: Iterable[Change]) -> int:
    """Carry signed day rows into every month level, inside the caller's transaction.
    Returns the number of month rows written or deleted."""
    deltas: dict[str, dict[tuple[Any, ...], _Delta]] = {table: {} for table in MONTH_LEVELS}
    for change in changes:
        for table, keys in MONTH_LEVELS.items():
            key = _keys_of(keys, change)
            delta = deltas[table].get(key)
            if delta is None:
                delta = deltas[table][key] = _Delta()
            delta.add(change)
    return sum(_apply(conn, table, keys, deltas[table]) for table, keys in MONTH_LEVELS.items())


def _apply(conn: psycopg.Connection, table: str, keys: tuple[str, ...], deltas: dict[tuple[Any, ...], _Delta]) -> int:
    if not deltas:
        return 0
    key_list = ", ".join(keys)
    unnest = ", ".join(f"%s::{KEY_TYPES[k]}[]" for k in keys)
    key_arrays = [[key[i] for key in deltas] for i in range(len(keys))]
    values = month_columns()
    with conn.cursor(binary=True) as cur:
        cur.execute(
            f"SELECT {key_list}, {', '.join(values)} FROM {table} "
            f"WHERE ({key_list}) IN (SELECT * FROM unnest({unnest})) FOR UPDATE".encode(),
            key_arrays,
        )
        stored = {tuple(row[:len(keys)]): row[len(keys):] for row in cur.fetchall()}
        rows = []
        for key, delta in deltas.items():
            old = stored.get(key)
            parts = delta.parts + (old[0] if old else 0)
            if parts <= 0:
                continue
            scalars = [(old[1 + i] if old else 0) + v for i, v in enumerate((*delta.counts, *delta.sums))]
            row: list[Any] = [*key, parts, *scalars]
            first = 1 + len(COUNTS) + len(MEASURES)  # where the per-measure columns start in `old`
            width = 1 + len(PERCENTILES) + 2
            for i, _m in enumerate(MEASURES):
                parts_s, parts_n = list(delta.seconds[i]), list(delta.tickets[i])
                if old:
                    parts_s.append(old[first + i * width + width - 2])
                    parts_n.append(old[first + i * width + width - 1])
                seconds, tickets = merge_histogram(parts_s, parts_n)
                total, ranks = nearest_ranks(seconds, tickets)
                row += [total, *ranks, seconds, tickets]
            rows.append(row)
        cur.execute(f"DELETE FROM {table} WHERE ({key_list}) IN (SELECT * FROM unnest({unnest}))".encode(), key_arrays)
        if rows:
            kinds = [KEY_TYPES[k] for k in keys] + month_types()
            with cur.copy(f"COPY {table} ({key_list}, {', '.join(values)}) FROM STDIN (FORMAT BINARY)".encode()) as copy:
                copy.write(COPY_SIGNATURE)
                for row in rows:
                    copy.write(binary_row(row, kinds))
                copy.write(COPY_TRAILER)
    return len(deltas)


def rebuild_months(conn: psycopg.Connection) -> None:
    """Every month row recomputed from the stored day rows (the migration that adds the
    tables; also a repair)."""
    for table in MONTH_LEVELS:
        conn.execute(f"DELETE FROM {table}".encode())
    with conn.cursor(binary=True) as cur:
        cur.execute(f"SELECT {', '.join(DAY_ROW_COLUMNS)} FROM rollups".encode())
        changes = [Change.of_stored(1, record) for record in cur.fetchall()]
    apply_changes(conn, changes)
