"""The second visit (docs/second-visit.md): return codes and "bổ sung" tickets.

A counter that completed a ticket as `guided` (guided, incomplete dossier) may hand the
citizen a return code: a check-in code of its own kind, drawn like a booking code
(server/booking/codes.py: unguessable, `secrets`), one use, valid for
`site.return_visit.valid_days` days, holding no personal data (the first ticket, its
counter, service and dossier code). Scanned at the kiosk (or typed at a desk) on the next
visit, it goes through the one check-in path (`Bookings.check_in`) and issues, in the same
transaction that marks the code used, a ticket with `channel: "return"`, a `BS` number,
`preferred_counter` (the counter that guided the citizen), the dossier code of the first
visit and the site's return priority, if any. The dispatcher keeps such a ticket for its
counter while that counter is not closed (server/desk/rules.py `reserved_elsewhere`).

Visits are counted per dossier code (server/stats/report.py), so a return code needs the
first ticket's dossier code: completing with "give a return code" and no code makes one
(`XP-` and ten code symbols: xephang's own key for a dossier with no one-stop number yet,
server/web/routes/api_desk.py); a ticket completed without any code gets no return code
(`no_dossier_code`), since its second visit could not be counted with it.
Imports protocol and server.storage only (through server.booking); no FastAPI, no paho.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta
from typing import Any

from protocol.sites import Site
from server.booking.errors import BookingRefused
from server.storage import tickets

PREFIX = "BS"  # "bổ sung": server numbers BS001, BS002... per site and day
RETURN_COLUMNS = ("code", "site", "service", "counter", "ticket_id", "dossier_code", "created_at", "expires_at",
                  "status", "used_at", "new_ticket_id")


def find(conn: sqlite3.Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {', '.join(RETURN_COLUMNS)} FROM return_codes WHERE code = ?", (code,)).fetchone()
    return dict(zip(RETURN_COLUMNS, tuple(row))) if row else None


def of_ticket(conn: sqlite3.Connection, ticket_id: str) -> dict[str, Any] | None:
    """The return code handed out for this (first-visit) ticket, if any."""
    row = conn.execute(f"SELECT {', '.join(RETURN_COLUMNS)} FROM return_codes WHERE ticket_id = ?",
                       (ticket_id,)).fetchone()
    return dict(zip(RETURN_COLUMNS, tuple(row))) if row else None


def code_taken(conn: sqlite3.Connection, code: str) -> bool:
    return conn.execute("SELECT 1 FROM return_codes WHERE code = ?", (code,)).fetchone() is not None


def hand_out(conn: sqlite3.Connection, site: Site, counter: str, ticket_id: str, now: datetime,
             new_code: Any) -> dict[str, Any]:
    """Give the completed `guided` ticket `ticket_id` of this counter its return code
    (inside the caller's write transaction). Asked twice, the same code comes back."""
    if not site.return_visit.enabled:
        raise BookingRefused("return_off", "this reception point gives no return codes")
    row = tickets.return_facts(conn, ticket_id[:64])
    if row is None or row["site"] != site.id:
        raise BookingRefused("unknown_ticket", "no such ticket at this site")
    service, done_at_counter, status = row["service"], row["counter"], row["status"]
    outcome, dossier_code, completed_at = row["outcome"], row["dossier_code"], row["completed_at"]
    if status != "completed" or outcome != "guided":
        raise BookingRefused("not_guided", "a return code is for a ticket completed as 'guided, incomplete dossier'")
    if done_at_counter != counter:
        raise BookingRefused("other_counter", "this ticket was completed at another counter")
    existing = of_ticket(conn, ticket_id)
    if existing is not None:
        return existing
    if not dossier_code:
        raise BookingRefused("no_dossier_code", "complete with a dossier code (or ask for the return code then)")
    assert completed_at is not None  # a completed ticket has its completion time
    if site.local_day(datetime.fromtimestamp(completed_at, now.tzinfo)) != site.local_day(now):
        raise BookingRefused("too_late", "a return code is given on the day of the visit")
    code = new_code(conn)
    expires = now + timedelta(days=site.return_visit.valid_days)
    conn.execute(
        f"INSERT INTO return_codes ({', '.join(RETURN_COLUMNS)}) VALUES ({', '.join('?' for _ in RETURN_COLUMNS)})",
        (code, site.id, service, counter, ticket_id, dossier_code, now.timestamp(), expires.timestamp(), "issued", None, None),
    )
    found = find(conn, code)
    assert found is not None
    return found


def usable(found: dict[str, Any] | None, site: Site, now: datetime) -> dict[str, Any]:
    """The return code if it may issue a ticket now, else the refusal (nothing printed)."""
    if found is None:
        raise BookingRefused("unknown_code", "no booking has this code")
    if found["site"] != site.id:
        raise BookingRefused("other_site", "this code is for another reception point")
    if found["status"] != "issued":
        raise BookingRefused("code_used", "this code has already been checked in")
    if now.timestamp() > found["expires_at"]:
        raise BookingRefused("code_expired", "this code can no longer be used")
    if not site.is_open_for_tickets(now):
        raise BookingRefused("closed_now", "tickets are given during opening hours only")
    return found


def ticket_data(site: Site, found: dict[str, Any], number: str) -> dict[str, Any]:
    """The `ticket.issued` data of the second visit's ticket."""
    data: dict[str, Any] = {"ticket_id": str(uuid.uuid4()), "number": number, "service": found["service"],
                            "priority": site.return_visit.priority, "channel": "return",
                            "dossier_code": found["dossier_code"]}
    counter = site.counter(found["counter"])
    if counter is not None and found["service"] in counter.services:  # else (config changed): the service's queue
        data["preferred_counter"] = found["counter"]
    return data


def mark_used(conn: sqlite3.Connection, code: str, ticket_id: str, now: datetime) -> None:
    conn.execute("UPDATE return_codes SET status = 'used', used_at = ?, new_ticket_id = ? WHERE code = ? "
                 "AND status = 'issued'", (now.timestamp(), ticket_id, code))
