"""Every read of the `tickets` projection, by name, with typed rows.

The rows are typed by server/storage/ticketrow.py (`TicketRow`, a whole row; `TicketPart`,
the columns a read selects, named by the function's docstring), re-exported here.
Reads on the hot paths of the desk and the estimator return typed tuples instead of dicts,
so that no dict is built per waiting ticket; every read fetches plain tuples (not
sqlite3.Row), and the dispatcher's class-head queries are built once per reservation
clause, so a call-next costs what it did with the SQL inline (a few microseconds more).

The SQL is the text the callers ran before (issue 15 moved it here unchanged), including
the index-matching forms: `(priority IS NULL) = 0` is the `tickets_pick` index's own
expression; `priority IS NOT NULL` would make SQLite sort every waiting ticket.

What stays outside (tests/server/test_tickets_module.py keeps the list and its counts):
- writes: the projection (server/storage/projection.py) folds and stores the rows, and the
  event store's ingest (server/storage/events.py) reads the site and the number of the
  tickets it is folding inside the same transaction, as part of that write;
- measures: server/stats/ reads tickets in bulk over days (counts, the rows a report or an
  export measures, the days to refresh): statistics queries, not reads of a ticket;
- reads of another table (bookings, ticket holds, events) that join `tickets` for a field
  or a filter stay with the module of that table.
No FastAPI here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

from server.storage.ticketrow import (
    DESK_COLUMNS,
    NOTICE_COLUMNS,
    PAGE_COLUMNS,
    QUEUE_COLUMNS,
    NoticeValues,
    TicketPart,
    TicketRow,
)


def _parts(cursor: sqlite3.Cursor) -> list[TicketPart]:
    # Where SQL meets the types (with _part): the keys are the columns the query selected.
    cursor.row_factory = None  # plain tuples: no sqlite3.Row made only to be copied
    rows = cursor.fetchall()
    if not rows:
        return []
    names = [d[0] for d in cursor.description]
    return [cast(TicketPart, dict(zip(names, row))) for row in rows]


def _part(cursor: sqlite3.Cursor, names: Sequence[str] | None = None) -> TicketPart | None:
    cursor.row_factory = None
    row = cursor.fetchone()
    if row is None:
        return None
    return cast(TicketPart, dict(zip(names or [d[0] for d in cursor.description], row)))


def _tuples(cursor: sqlite3.Cursor) -> list[Any]:
    # Plain tuples, not sqlite3.Row: the hot reads build nothing more per row.
    cursor.row_factory = None
    return cursor.fetchall()


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


# -- one ticket -------------------------------------------------------------------------
def ticket(conn: sqlite3.Connection, ticket_id: str) -> TicketRow | None:
    """The whole row of a ticket, or None."""
    found = _part(conn.execute("SELECT * FROM tickets WHERE ticket_id = ?", (ticket_id,)))
    return cast(TicketRow, found) if found is not None else None


def page_ticket(conn: sqlite3.Connection, ticket_id: str) -> TicketPart | None:
    """PAGE_COLUMNS of a ticket (the ticket page, an online number's booking view), or None."""
    return _part(conn.execute(f"SELECT {', '.join(PAGE_COLUMNS)} FROM tickets WHERE ticket_id = ?", (ticket_id,)))


def waiting_ticket(conn: sqlite3.Connection, ticket_id: str, site: str) -> TicketPart | None:
    """QUEUE_COLUMNS of a ticket waiting at a site (a supervisor's call by id), or None."""
    return _part(conn.execute(
        f"SELECT {', '.join(QUEUE_COLUMNS)} FROM tickets WHERE ticket_id = ? AND site = ? AND status = 'waiting'", (ticket_id, site)))


def missed_call_ticket(conn: sqlite3.Connection, ticket_id: str) -> TicketPart | None:
    """QUEUE_COLUMNS, status, last_called_at and requeued_count of a ticket (the missed-call rule)."""
    return _part(conn.execute(
        f"SELECT {', '.join(QUEUE_COLUMNS)}, status, last_called_at, requeued_count FROM tickets WHERE ticket_id = ?", (ticket_id,)))


def desk_details(conn: sqlite3.Connection, ticket_id: str) -> TicketPart | None:
    """The call times, counts, marks, dossier code and source of a ticket (the desk console's current one)."""
    return _part(conn.execute(
        "SELECT first_called_at, last_called_at, started_at, recalled_count, transfers, unconfirmed, channel, "
        "dossier_code, source FROM tickets WHERE ticket_id = ?", (ticket_id,)))


def notice_ticket(conn: sqlite3.Connection, ticket_id: str) -> TicketPart | None:
    """ticket_id, site, status and local_day of a numbered ticket (the page's notices), or None."""
    return _part(conn.execute(
        "SELECT ticket_id, site, status, local_day FROM tickets WHERE ticket_id = ? AND number IS NOT NULL", (ticket_id,)))


def reprint_facts(conn: sqlite3.Connection, ticket_id: str, site: str) -> TicketPart | None:
    """number, source and status of a ticket of a site (a reprint), or None."""
    return _part(conn.execute("SELECT number, source, status FROM tickets WHERE ticket_id = ? AND site = ?",
                              (ticket_id, site)))


def return_facts(conn: sqlite3.Connection, ticket_id: str) -> TicketPart | None:
    """site, service, counter, status, outcome, dossier_code and completed_at of a ticket (a return code)."""
    return _part(conn.execute(
        "SELECT site, service, counter, status, outcome, dossier_code, completed_at FROM tickets WHERE ticket_id = ?", (ticket_id,)))


def channel_of(conn: sqlite3.Connection, ticket_id: str) -> str | None:
    """The channel of a ticket (None for a walk-in or an unknown ticket)."""
    row = conn.execute("SELECT channel FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
    return cast(str | None, row[0]) if row else None


def site_and_day(conn: sqlite3.Connection, ticket_id: str) -> tuple[str, str | None] | None:
    """(site, local_day) of a ticket, or None."""
    row = conn.execute("SELECT site, local_day FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
    return (row[0], row[1]) if row else None


# -- a counter's tickets ----------------------------------------------------------------
def counter_ticket(conn: sqlite3.Connection, site: str, counter: str) -> TicketPart | None:
    """ticket_id, number, service, priority, issued_at and status of the counter's latest called or served ticket."""
    return _part(conn.execute(
        "SELECT ticket_id, number, service, priority, issued_at, status FROM tickets "
        "WHERE site = ? AND counter = ? AND status IN ('called', 'serving') ORDER BY last_event_at DESC LIMIT 1", (site, counter)))


def counter_dossier(conn: sqlite3.Connection, site: str, counter: str) -> str | None:
    """The dossier code of the counter's latest called or served ticket (None: none, or no code)."""
    row = conn.execute(
        "SELECT dossier_code FROM tickets WHERE site = ? AND counter = ? AND status IN ('called', 'serving') "
        "ORDER BY last_event_at DESC LIMIT 1", (site, counter),
    ).fetchone()
    return cast(str | None, row[0]) if row else None


def in_progress(conn: sqlite3.Connection, site: str) -> list[TicketPart]:
    """Called and served tickets of a site (counter, ticket_id, number, service, priority, the times,
    status, transfers, channel), oldest last event first."""
    return _parts(conn.execute(
        "SELECT counter, ticket_id, number, service, priority, issued_at, first_called_at, last_called_at, "
        "started_at, status, transfers, channel FROM tickets WHERE site = ? AND status IN ('called', 'serving') "
        "ORDER BY last_event_at", (site,)))


def completed_at_counter(conn: sqlite3.Connection, site: str, counter: str, start_at: float,
                         end_at: float) -> list[tuple[str | None, float | None, float | None, str | None]]:
    """(outcome, service_s, total_s, service) of the tickets a counter completed in [start_at, end_at)."""
    return _tuples(conn.execute(
        "SELECT outcome, service_s, total_s, service FROM tickets WHERE site = ? AND counter = ? "
        "AND status = 'completed' AND completed_at >= ? AND completed_at < ?", (site, counter, start_at, end_at)))


def no_shows_at_counter(conn: sqlite3.Connection, site: str, counter: str, start_at: float, end_at: float) -> int:
    """How many tickets a counter marked no-show in [start_at, end_at)."""
    return int(conn.execute(
        "SELECT COUNT(*) FROM tickets WHERE site = ? AND counter = ? AND status = 'no_show' "
        "AND no_show_at >= ? AND no_show_at < ?", (site, counter, start_at, end_at)).fetchone()[0])


# -- the queue ------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def not_reserved_sql(counter: str, unclosed: frozenset[str]) -> str:
    """The SQL form of rules.reserved_elsewhere (ids are slugs, quoted for SQL), so that
    the oldest ticket of a class the query returns is one this counter may call."""
    others = sorted(c for c in unclosed if c != counter)
    if not others:
        return ""
    names = ", ".join("'" + c.replace("'", "''") + "'" for c in others)
    return f" AND (preferred_counter IS NULL OR preferred_counter NOT IN ({names}))"


def class_heads(conn: sqlite3.Connection, site: str, service: str, now_at: float, counter: str,
                unclosed: frozenset[str]) -> list[TicketPart]:
    """QUEUE_COLUMNS of the oldest ready ticket of each class of a service this counter may call."""
    heads: list[TicketPart] = []
    for sql, args in zip(_head_queries(not_reserved_sql(counter, unclosed)), ((), (now_at,), (now_at,)), strict=True):
        head = _part(conn.execute(sql, (site, service, *args)), QUEUE_COLUMNS)
        if head is not None:
            heads.append(head)
    return heads


@lru_cache(maxsize=256)
def _head_queries(not_reserved: str) -> tuple[str, str, str]:
    # The class heads' SQL for one reservation clause, built once (a call-next runs them for every service).
    columns = ", ".join(QUEUE_COLUMNS)
    ready = "status = 'waiting' AND issued_at IS NOT NULL AND number IS NOT NULL " \
            "AND NOT (channel IS 'online' AND checked_in_at IS NULL) AND queue_at IS NULL"
    ready += not_reserved
    return (
        f"SELECT {columns} FROM tickets INDEXED BY tickets_pick WHERE site = ? AND service = ? AND {ready} "
        "AND (priority IS NULL) = 0 ORDER BY issued_at, ticket_id LIMIT 1",
        f"SELECT {columns} FROM tickets INDEXED BY tickets_pick WHERE site = ? AND service = ? AND {ready} "
        "AND (priority IS NULL) = 1 AND NOT (channel IS 'appointment' AND appointment_start_at <= ?) "
        "ORDER BY issued_at, ticket_id LIMIT 1",
        f"SELECT {columns} FROM tickets INDEXED BY tickets_pick_booked WHERE site = ? AND status = 'waiting' "
        f"AND service = ? AND channel = 'appointment' AND appointment_start_at <= ? AND {ready} "
        "AND priority IS NULL ORDER BY appointment_start_at, issued_at, ticket_id LIMIT 1",
    )


def requeued(conn: sqlite3.Connection, site: str, service: str, limit: int) -> list[TicketPart]:
    """QUEUE_COLUMNS of the waiting requeued tickets of a service, first places first."""
    return _parts(conn.execute(
        f"SELECT {', '.join(QUEUE_COLUMNS)} FROM tickets INDEXED BY tickets_pick_requeued "
        "WHERE site = ? AND service = ? AND status = 'waiting' AND queue_at IS NOT NULL "
        "AND issued_at IS NOT NULL AND number IS NOT NULL ORDER BY queue_at LIMIT ?", (site, service, limit)))


def waiting_of_service(conn: sqlite3.Connection, site: str, service: str) -> list[TicketPart]:
    """QUEUE_COLUMNS of every waiting ticket of a service (in no particular order)."""
    return _parts(conn.execute(
        f"SELECT {', '.join(QUEUE_COLUMNS)} FROM tickets WHERE site = ? AND service = ? AND status = 'waiting'", (site, service)))


def unheld_online_before(conn: sqlite3.Connection, site: str, services: Sequence[str], issued_before: float,
                         limit: int) -> list[str]:
    """Ids of waiting online numbers of these services, not checked in nor held, issued before a time, oldest first."""
    return [row[0] for row in conn.execute(
        f"SELECT ticket_id FROM tickets WHERE site = ? AND service IN ({_marks(services)}) AND status = 'waiting' "
        "AND channel = 'online' AND checked_in_at IS NULL AND issued_at < ? "
        "AND ticket_id NOT IN (SELECT ticket_id FROM ticket_holds) ORDER BY issued_at LIMIT ?",
        (site, *services, issued_before, limit),
    ).fetchall()]


def waiting_list(conn: sqlite3.Connection, site: str, service: str, limit: int) -> list[TicketPart]:
    """DESK_COLUMNS of the first waiting tickets of a service, priority first, then by time of issue."""
    return _parts(conn.execute(
        f"SELECT {', '.join(DESK_COLUMNS)} FROM tickets INDEXED BY tickets_pick WHERE site = ? AND status = 'waiting' "
        "AND service = ? AND issued_at IS NOT NULL ORDER BY (priority IS NULL), issued_at LIMIT ?", (site, service, limit)))


def open_issued_before(conn: sqlite3.Connection, site: str, services: Sequence[str], issued_before: float,
                       ) -> list[TicketPart]:
    """DESK_COLUMNS of the first 200 waiting, called or served tickets of these services issued by a time, oldest first."""
    return _parts(conn.execute(
        f"SELECT {', '.join(DESK_COLUMNS)} FROM tickets WHERE site = ? AND status IN ('waiting', 'called', 'serving') "
        f"AND service IN ({_marks(services)}) AND issued_at <= ? ORDER BY issued_at LIMIT 200", (site, *services, issued_before)))


def waiting_counts(conn: sqlite3.Connection, site: str) -> dict[str, tuple[int, int]]:
    """service -> (waiting, of which priority)."""
    return {
        row[0]: (row[1], row[2] or 0)
        for row in conn.execute(
            "SELECT service, COUNT(*), COUNT(*) - SUM(priority IS NULL) FROM tickets INDEXED BY tickets_pick "
            "WHERE site = ? AND status = 'waiting' GROUP BY service",
            (site,),
        )
    }


def queued(conn: sqlite3.Connection, site: str) -> list[tuple[str, str, str | None, float]]:
    """(ticket_id, service, priority, issued_at) of every numbered waiting ticket of a site."""
    return _tuples(conn.execute(
        "SELECT ticket_id, service, priority, issued_at FROM tickets INDEXED BY tickets_pick "
        "WHERE site = ? AND status = 'waiting' AND issued_at IS NOT NULL AND number IS NOT NULL", (site,)))


def queue_summary(conn: sqlite3.Connection, site: str) -> tuple[int, float, float, float, float | None]:
    """How many numbered tickets wait at a site, the totals of their issue times, normal class and service
    name lengths, and the latest event of any of them (what the estimates depend on, cheaply)."""
    row = conn.execute(
        "SELECT COUNT(*), TOTAL(issued_at), TOTAL(priority IS NULL), TOTAL(length(service)), MAX(last_event_at) "
        "FROM tickets INDEXED BY tickets_pick "
        "WHERE site = ? AND status = 'waiting' AND issued_at IS NOT NULL AND number IS NOT NULL", (site,)).fetchone()
    return (row[0], row[1], row[2], row[3], row[4])


def open_tickets(conn: sqlite3.Connection, site: str) -> list[tuple[str, str, str, str | None, str, float, str]]:
    """(ticket_id, number, service, counter, local_day, last_event_at, status) of a site's waiting, called
    and served tickets of a known day (the day-end job; a known day means an issued ticket)."""
    return _tuples(conn.execute(
        "SELECT ticket_id, number, service, counter, local_day, last_event_at, status FROM tickets "
        "WHERE site = ? AND status IN ('waiting', 'called', 'serving') AND local_day IS NOT NULL", (site,)))


def open_today(conn: sqlite3.Connection, site: str, local_day: str) -> list[tuple[str, str, str, str, str | None,
                                                                                    float]]:
    """(ticket_id, number, service, status, counter, issued_at) of a site's issued tickets of a day still
    waiting, called or served, by time of issue (the live panel)."""
    return _tuples(conn.execute(
        "SELECT ticket_id, number, service, status, counter, issued_at FROM tickets "
        "WHERE site = ? AND local_day = ? AND status IN ('waiting', 'called', 'serving') AND issued_at IS NOT NULL "
        "ORDER BY issued_at", (site, local_day)))


def people_ahead(conn: sqlite3.Connection, ticket: Mapping[str, Any]) -> int:
    """Waiting tickets of the same service the dispatcher calls before this one (site, service,
    ticket_id, priority, issued_at of `ticket`)."""
    row = conn.execute(
        "SELECT COUNT(*) FROM tickets WHERE site = ? AND service = ? AND status = 'waiting' "
        "AND issued_at IS NOT NULL AND number IS NOT NULL AND ticket_id != ? AND ("
        "  (? AND priority IS NOT NULL) OR"
        "  ((priority IS NULL) = ? AND (issued_at < ? OR (issued_at = ? AND ticket_id < ?))))",
        (ticket["site"], ticket["service"], ticket["ticket_id"], ticket["priority"] is None,
         ticket["priority"] is None, ticket["issued_at"], ticket["issued_at"], ticket["ticket_id"]),
    ).fetchone()
    return int(row[0])


def marked_channels(conn: sqlite3.Connection, ticket_ids: Iterable[str]) -> dict[str, str]:
    """ticket id -> `online` / `appointment` for the given tickets not taken at a kiosk."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    return dict(conn.execute(
        f"SELECT ticket_id, channel FROM tickets WHERE ticket_id IN ({_marks(ids)}) AND channel IN ('online', 'appointment')",
        ids,
    ).fetchall())


# -- notices ----------------------------------------------------------------------------
def fresh_calls(conn: sqlite3.Connection, site: str, since_at: float) -> list[TicketPart]:
    """NOTICE_COLUMNS of a site's numbered called or served tickets last called since a time."""
    return _parts(conn.execute(
        f"SELECT {', '.join(NOTICE_COLUMNS)} FROM tickets WHERE site = ? AND status IN ('called', 'serving') "
        "AND last_called_at >= ? AND number IS NOT NULL", (site, since_at)))


def completed_since(conn: sqlite3.Connection, site: str, since_at: float) -> list[TicketPart]:
    """NOTICE_COLUMNS of a site's numbered tickets completed since a time."""
    return _parts(conn.execute(
        f"SELECT {', '.join(NOTICE_COLUMNS)} FROM tickets WHERE site = ? AND status = 'completed' AND completed_at >= ? "
        "AND number IS NOT NULL", (site, since_at)))


def class_queue(conn: sqlite3.Connection, site: str, service: str, is_normal: int, limit: int) -> list[NoticeValues]:
    """NOTICE_COLUMNS (as tuples) of the first waiting numbered tickets of one class of a service
    (is_normal 0: priority, 1: the others), by time of issue, through the dispatcher's index."""
    return _tuples(conn.execute(
        f"SELECT {', '.join(NOTICE_COLUMNS)} FROM tickets INDEXED BY tickets_pick "
        "WHERE site = ? AND status = 'waiting' AND service = ? AND (priority IS NULL) = ? "
        "AND issued_at IS NOT NULL AND number IS NOT NULL ORDER BY issued_at, ticket_id LIMIT ?",
        (site, service, is_normal, limit)))


def first_calls(conn: sqlite3.Connection, ticket_ids: Sequence[str]) -> list[tuple[str, float | None, float]]:
    """(ticket_id, issued_at, first_called_at) of the given tickets that were called."""
    return _tuples(conn.execute(
        f"SELECT ticket_id, issued_at, first_called_at FROM tickets WHERE ticket_id IN ({', '.join('?' * len(ticket_ids))}) "
        "AND first_called_at IS NOT NULL", list(ticket_ids)))


# -- recent history (the wait estimate's inputs) --------------------------------------
def recent_service_s(conn: sqlite3.Connection, site: str, service: str, limit: int) -> list[float]:
    """service_s of a service's latest completed tickets, latest first."""
    return [r[0] for r in conn.execute(
        "SELECT service_s FROM tickets WHERE site = ? AND service = ? AND completed_at IS NOT NULL "
        "AND service_s IS NOT NULL ORDER BY completed_at DESC LIMIT ?",
        (site, service, limit),
    ).fetchall()]


def occupancy(conn: sqlite3.Connection, site: str, first_day: str, limit: int) -> list[tuple[str, float, float]]:
    """(service, first_called_at, completed or no-show time) of a site's ended tickets since a day, latest call first."""
    return _tuples(conn.execute(
        "SELECT service, first_called_at, COALESCE(completed_at, no_show_at) FROM tickets "
        "WHERE site = ? AND local_day >= ? AND first_called_at IS NOT NULL "
        "AND (completed_at IS NOT NULL OR no_show_at IS NOT NULL) ORDER BY first_called_at DESC LIMIT ?", (site, first_day, limit)))


def days_with_tickets(conn: sqlite3.Connection, site: str, first_day: str, before_day: str) -> int:
    """How many days in [first_day, before_day) have tickets at a site."""
    return int(conn.execute(
        "SELECT COUNT(DISTINCT local_day) FROM tickets WHERE site = ? AND local_day >= ? AND local_day < ?",
        (site, first_day, before_day),
    ).fetchone()[0])


def priority_counts(conn: sqlite3.Connection, site: str, first_day: str, before_day: str) -> list[tuple[str, int]]:
    """(service, priority tickets) of a site in [first_day, before_day)."""
    return _tuples(conn.execute(
        "SELECT service, COUNT(*) FROM tickets WHERE site = ? AND local_day >= ? AND local_day < ? "
        "AND priority IS NOT NULL GROUP BY service", (site, first_day, before_day)))


# -- the simulator's checks (xephang/simulate_live.py) -----------------------------------
def issued_count(conn: sqlite3.Connection) -> int:
    """How many tickets of the database were issued."""
    return int(conn.execute("SELECT COUNT(*) FROM tickets WHERE issued_at IS NOT NULL").fetchone()[0])


def waits_by_number(conn: sqlite3.Connection) -> dict[str, float]:
    """number -> wait_s of every ticket with a wait (only an issued ticket has one)."""
    return {n: w for n, w in conn.execute("SELECT number, wait_s FROM tickets WHERE wait_s IS NOT NULL")}

