"""Ticket numbers: per site, per service, per site-local day; never reused in a day.

A service numbers either with a letter (A001, A002, ... A999, A1000) or from a block
(1001-1999). The counter row is advanced inside the caller's transaction, so a number
committed once is never handed out again, even after a power cut; a voided ticket's
number is skipped, not reused (a half-printed slip may carry it).
No MQTT, printer or GPIO imports here.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from protocol.sites import Service


class NumbersExhausted(Exception):
    """The service's block has no number left today."""


def format_number(service: Service, position: int) -> str:
    """The printed number of the `position`-th ticket (1-based) of a day."""
    if service.letter:
        return f"{service.letter}{position:03d}"
    if service.block is None:  # the Service model guarantees one of the two
        raise ValueError(f"service {service.id} has neither letter nor block")
    low, high = service.block
    value = low + position - 1
    if value > high:
        raise NumbersExhausted(f"block {low}-{high} of {service.id} is used up for today")
    return str(value)


def allocate(db: sqlite3.Connection, site: str, service: Service, day: date) -> str:
    """Advance today's counter of `service` and return its number (caller's transaction)."""
    row = db.execute(
        "INSERT INTO numbers (site, service, day, last) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (site, service, day) DO UPDATE SET last = last + 1 RETURNING last",
        (site, service.id, day.isoformat()),
    ).fetchone()
    return format_number(service, int(row[0]))

