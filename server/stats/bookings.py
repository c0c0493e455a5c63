"""Booking figures (docs/measures.md "Channels"): appointments by what became of them,
online numbers, punctuality of the appointments checked in, and the share of citizens
served by booking, per site and optionally per day / week / month and service.

Counted from the `bookings` table by the booked slot's site-local day (an online number:
the day it was taken); the share comes from the statistics grouped by channel (ticket
rows), which the caller passes in. One implementation for the JSON API, the dashboard
and the exports. No FastAPI here; imports server.stats only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from server.stats import measures

KEYS = ("site", "day", "week", "month", "service")  # what a booking row can be grouped by
COLUMNS = ("bookings", "cancelled", "checked_in", "no_show", "pending", "online_numbers", "online_checked_in",
           "punctuality_median_s", "punctuality_p90_s", "issued", "issued_appointment", "pct_by_booking")


def booking_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The group keys a booking row keeps: site, a time key and service; counter, hour
    and channel do not apply to a booking (they are ignored)."""
    chosen = set(keys) | {"site"}
    return tuple(k for k in KEYS if k in chosen)


def _group(keys: Sequence[str], site: str, day: str, service: str) -> tuple[str, ...]:
    values = {"site": site, "day": day, "week": measures.week_of(day), "month": day[:7], "service": service}
    return tuple(values[k] for k in keys)


def nearest_rank(values: list[int], p: int) -> int | None:
    """The nearest-rank percentile of sorted whole seconds (docs/measures.md)."""
    return values[max(1, -(-len(values) * p // 100)) - 1] if values else None


def figures(conn: sqlite3.Connection, sites: Sequence[str], day_from: str, day_to: str, keys: Sequence[str],
            channel_rows: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per group (sorted by its keys) with every column of COLUMNS. Groups come
    from the bookings and from `channel_rows` (stats rows grouped by the same keys plus
    channel; None: the share is not known, its columns are None). `keys` from
    `booking_keys`."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    late: dict[tuple[str, ...], list[int]] = {}

    def row(group: tuple[str, ...]) -> dict[str, Any]:
        if group not in groups:
            groups[group] = dict(zip(keys, group)) | {c: 0 for c in COLUMNS[:7]}
        return groups[group]

    if sites:
        marks = ", ".join("?" for _ in sites)
        found = conn.execute(
            f"SELECT site, local_day, service, kind, status, checked_in_at - slot_start_at FROM bookings "
            f"WHERE site IN ({marks}) AND local_day BETWEEN ? AND ?", (*sites, day_from, day_to))
        for site, day, service, kind, status, punctuality in found:
            group = _group(keys, site, day, service)
            target = row(group)
            if kind == "appointment":
                target["bookings"] += 1
                name = {"booked": "pending", "checked_in": "checked_in", "cancelled": "cancelled",
                        "no_show": "no_show"}.get(status)
                if name:
                    target[name] += 1
                if status == "checked_in" and punctuality is not None:
                    late.setdefault(group, []).append(round(punctuality))
            elif kind == "online":
                target["online_numbers"] += 1
                target["online_checked_in"] += status == "checked_in"
    issued: dict[tuple[str, ...], list[int]] = {}
    for stats_row in channel_rows or ():
        group = tuple(str(stats_row[k]) for k in keys)
        row(group)
        counts = issued.setdefault(group, [0, 0])
        counts[0] += stats_row["issued"]
        counts[1] += stats_row["issued"] if stats_row.get("channel") == "appointment" else 0
    for group, target in groups.items():
        values = sorted(late.get(group, []))
        target["punctuality_median_s"] = nearest_rank(values, 50)
        target["punctuality_p90_s"] = nearest_rank(values, 90)
        if channel_rows is None:
            target.update(issued=None, issued_appointment=None, pct_by_booking=None)
            continue
        total, booked = issued.get(group, [0, 0])
        target.update(issued=total, issued_appointment=booked,
                      pct_by_booking=round(100.0 * booked / total, 1) if total else None)
    return [groups[g] for g in sorted(groups)]
