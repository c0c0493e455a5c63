"""Answering stats queries from the `stats_agg` pre-aggregates (see server/stats/store.py
for what they hold): choose month or day rows for a date range, add the exact counts,
and merge the whole-second histograms into nearest-rank percentiles with numpy.
No FastAPI here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from server.stats import measures as stats
from server.stats.measures import MEASURES, PERCENTILES

COUNT_COLUMNS = stats.COUNTS
DIMENSIONS = ("service", "counter", "hour")
TIME_KEYS = ("day", "week", "month")
DENSE_LIMIT_S = 1 << 22  # merge histograms densely below ~48 days


# Histogram blobs: a uint32 format tag, then either (compact) uint16 value deltas and
# uint16 counts, or (wide, when a delta or count does not fit) uint32 values and counts.
COMPACT, WIDE = 1, 2
_EMPTY = np.zeros(0, dtype=np.int64)


def encode_arrays(values: np.ndarray, counts: np.ndarray) -> bytes:
    """A histogram blob from strictly increasing whole seconds and their counts."""
    if len(values) == 0:
        return b""
    deltas = np.diff(values, prepend=0)
    if deltas.max() < 65536 and counts.max() < 65536:
        return (np.array([COMPACT], "<u4").tobytes() + deltas.astype("<u2").tobytes()
                + counts.astype("<u2").tobytes())
    return np.array([WIDE], "<u4").tobytes() + values.astype("<u4").tobytes() + counts.astype("<u4").tobytes()


def decode_arrays(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) of a histogram blob, as int64 arrays."""
    if not blob:
        return _EMPTY, _EMPTY
    kind = int.from_bytes(blob[:4], "little")
    if kind == COMPACT:
        body = np.frombuffer(blob, dtype="<u2", offset=4)
        k = len(body) // 2
        return np.cumsum(body[:k], dtype=np.int64), body[k:].astype(np.int64)
    if kind == WIDE:
        body = np.frombuffer(blob, dtype="<u4", offset=4)
        k = len(body) // 2
        return body[:k].astype(np.int64), body[k:].astype(np.int64)
    raise ValueError(f"unknown histogram format {kind}")


def encode(histogram: Mapping[int, int]) -> bytes:
    items = sorted((v, c) for v, c in histogram.items() if c)
    return encode_arrays(np.array([v for v, _ in items], dtype=np.int64),
                         np.array([c for _, c in items], dtype=np.int64))


def decode(blob: bytes) -> dict[int, int]:
    values, counts = decode_arrays(blob)
    return dict(zip(values.tolist(), counts.tolist()))


def merged(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    parts = [decode_arrays(b) for b in blobs if b]
    if not parts:
        return _EMPTY, _EMPTY
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def site_filter(sites: Sequence[str] | None) -> tuple[str, list[str]]:
    """SQL condition and arguments restricting to `sites` (None = every site)."""
    if sites is None:
        return "", []
    return f" AND site IN ({','.join('?' * len(sites))})", list(sites)


def aggregate_plan(keys: Sequence[str]) -> tuple[str | None, str] | None:
    """(time key or None, dim) when the pre-aggregates can answer; None otherwise."""
    times = [k for k in keys if k in TIME_KEYS]
    dims = [k for k in keys if k in DIMENSIONS]
    if len(times) > 1 or len(dims) > 1:
        return None
    if any(k not in ("site", *TIME_KEYS, *DIMENSIONS) for k in keys):
        return None  # e.g. channel: not pre-aggregated, counted from the ticket rows
    return (times[0] if times else None, dims[0] if dims else "")


@lru_cache(maxsize=4096)
def _week(day: str) -> str:
    return stats.week_of(day)


def month_spans(day_from: str, day_to: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Full months inside [day_from, day_to] and the day ranges left at either end."""
    start, end = date.fromisoformat(day_from), date.fromisoformat(day_to)
    full: list[str] = []
    partial: list[tuple[str, str]] = []
    cursor = start
    while cursor <= end:
        first = cursor.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        if cursor == first and last <= end:
            full.append(first.strftime("%Y-%m"))
        else:
            partial.append((cursor.isoformat(), min(last, end).isoformat()))
        cursor = last + timedelta(days=1)
    return full, partial


def query_aggregates(conn: sqlite3.Connection, day_from: str, day_to: str, sites: Sequence[str] | None,
                     keys: Sequence[str], time_key: str | None, dim: str) -> list[dict[str, Any]]:
    columns = ", ".join(["site", "period", "key", *COUNT_COLUMNS, *(f"{m}_sum" for m in MEASURES),
                         *(f"{m}_hist" for m in MEASURES)])
    site_sql, site_arg = site_filter(sites)
    fetched: list[tuple[Any, ...]] = []
    if time_key in ("day", "week"):
        spans: list[tuple[str, str]] = [(day_from, day_to)]
        full: list[str] = []
    else:
        full, spans = month_spans(day_from, day_to)
    if full:
        fetched += conn.execute(
            f"SELECT {columns} FROM stats_agg WHERE level = 'm' AND dim = ?{site_sql} AND period BETWEEN ? AND ?",
            [dim, *site_arg, full[0], full[-1]],
        ).fetchall()
    for lo, hi in spans:
        fetched += conn.execute(
            f"SELECT {columns} FROM stats_agg WHERE level = 'd' AND dim = ?{site_sql} AND period BETWEEN ? AND ?",
            [dim, *site_arg, lo, hi],
        ).fetchall()
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in fetched:
        site_id, period, key = row[0], row[1], row[2]
        values = []
        for k in keys:
            if k == "site":
                values.append(site_id)
            elif k == "day":
                values.append(period)
            elif k == "week":
                values.append(_week(period))
            elif k == "month":
                values.append(period[:7])
            elif k == "hour":
                values.append(int(key))
            else:
                values.append(key)
        groups.setdefault(tuple(values), []).append(row)
    n_counts = len(COUNT_COLUMNS)
    out = []
    for key, rows in sorted(groups.items(), key=lambda kv: kv[0]):
        counts = dict(zip(COUNT_COLUMNS, (sum(r[3 + i] for r in rows) for i in range(n_counts))))
        sums = {m: sum(r[3 + n_counts + i] for r in rows) for i, m in enumerate(MEASURES)}
        ns: dict[str, int] = {}
        percentiles: dict[tuple[str, int], int | None] = {}
        for i, m in enumerate(MEASURES):
            blobs = [r[3 + n_counts + len(MEASURES) + i] for r in rows]
            ns[m], found = merged_percentiles(blobs, PERCENTILES)
            percentiles.update({(m, p): v for p, v in zip(PERCENTILES, found)})
        out.append(dict(zip(keys, key)) | stats.measures_row(counts, sums, ns, percentiles))
    return out


def merged_percentiles(blobs: Sequence[bytes], ps: Sequence[int]) -> tuple[int, list[int | None]]:
    """Count and nearest-rank percentiles of the sum of histogram blobs."""
    present = [b for b in blobs if b]
    if len(present) == 1:  # one histogram: already sorted by seconds
        values, counts = decode_arrays(present[0])
        cumulative = np.cumsum(counts)
        n = int(cumulative[-1])
        return n, [int(values[np.searchsorted(cumulative, stats.nearest_rank(p, n), side="left")]) for p in ps]
    values, counts = merged(present)
    if len(values) == 0:
        return 0, [None for _ in ps]
    top = int(values.max())
    if top < DENSE_LIMIT_S:
        # Dense per-second counts (float64 holds integer counts exactly below 2**53).
        cumulative = np.cumsum(np.bincount(values, weights=counts, minlength=top + 1))
        n = int(cumulative[-1])
        return n, [int(np.searchsorted(cumulative, stats.nearest_rank(p, n), side="left")) for p in ps]
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(counts[order])
    n = int(cumulative[-1])
    return n, [int(values[order][np.searchsorted(cumulative, stats.nearest_rank(p, n), side="left")]) for p in ps]


def distribution_of(conn: sqlite3.Connection, day_from: str, day_to: str, sites: Sequence[str] | None,
                    bin_s: int, max_s: int) -> dict[str, list[int]]:
    """Wait and total time counts in bins of `bin_s` whole seconds; the last bin holds
    everything from `max_s` on."""
    site_sql, site_arg = site_filter(sites)
    full, spans = month_spans(day_from, day_to)
    blobs: dict[str, list[bytes]] = {"wait": [], "total": []}
    queries = [("m", full[0], full[-1])] if full else []
    queries += [("d", lo, hi) for lo, hi in spans]
    for level, lo, hi in queries:
        for wait_hist, total_hist in conn.execute(
            f"SELECT wait_hist, total_hist FROM stats_agg WHERE level = ? AND dim = ''{site_sql} AND period BETWEEN ? AND ?",
            [level, *site_arg, lo, hi],
        ):
            blobs["wait"].append(wait_hist)
            blobs["total"].append(total_hist)
    out = {}
    size = max_s // bin_s + 1
    for measure, parts in blobs.items():
        values, counts = merged(parts)
        index = np.minimum(values // bin_s, size - 1)
        out[measure] = [int(v) for v in np.bincount(index, weights=counts, minlength=size)]
    return out
