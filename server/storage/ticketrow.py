"""The typed rows of the `tickets` projection, for server/storage/tickets.py (its reads).

`TicketRow` is one whole row (server/storage/projection.py folds it; the columns come from
the migrations of server/storage/db.py): NOT NULL columns are plain types, the others
`| None`. `TicketPart` has the same keys, each optional: the columns a read selects.
tests/server/test_tickets_module.py checks both against the table's own columns.
"""

from __future__ import annotations

from typing import TypedDict


class TicketRow(TypedDict):
    """One row of the `tickets` projection (every column)."""

    ticket_id: str
    site: str
    number: str | None
    service: str | None
    original_service: str | None
    priority: str | None
    source: str | None
    issued_at: float | None
    local_day: str | None
    first_called_at: float | None
    last_called_at: float | None
    called_count: int
    recalled_count: int
    started_at: float | None
    completed_at: float | None
    no_show_at: float | None
    outcome: str | None
    dossier_code: str | None
    counter: str | None
    status: str
    transfers: int
    wait_s: float | None
    service_s: float | None
    total_s: float | None
    last_event_at: float | None
    unconfirmed: int
    channel: str | None
    appointment_start_at: float | None
    checked_in_at: float | None
    preferred_counter: str | None
    queue_at: float | None
    requeued_count: int


class TicketPart(TypedDict, total=False):
    """Some columns of a `tickets` row (those the read selects), typed as in `TicketRow`."""

    ticket_id: str
    site: str
    number: str | None
    service: str | None
    original_service: str | None
    priority: str | None
    source: str | None
    issued_at: float | None
    local_day: str | None
    first_called_at: float | None
    last_called_at: float | None
    called_count: int
    recalled_count: int
    started_at: float | None
    completed_at: float | None
    no_show_at: float | None
    outcome: str | None
    dossier_code: str | None
    counter: str | None
    status: str
    transfers: int
    wait_s: float | None
    service_s: float | None
    total_s: float | None
    last_event_at: float | None
    unconfirmed: int
    channel: str | None
    appointment_start_at: float | None
    checked_in_at: float | None
    preferred_counter: str | None
    queue_at: float | None
    requeued_count: int


# The columns the dispatcher decides on (server/desk/rules.py).
QUEUE_COLUMNS = ("ticket_id", "number", "service", "priority", "issued_at", "channel", "appointment_start_at",
                 "checked_in_at", "preferred_counter", "queue_at")
# The columns of a ticket in the desk console's lists.
DESK_COLUMNS = ("ticket_id", "number", "service", "priority", "issued_at", "status", "counter", "unconfirmed",
                "channel", "checked_in_at", "preferred_counter", "queue_at", "requeued_count")
# The columns the notice triggers read (server/notify/triggers.py).
NOTICE_COLUMNS = ("ticket_id", "number", "service", "priority", "issued_at", "status", "counter", "recalled_count",
                  "last_called_at", "local_day", "completed_at")
# The columns of the citizen's ticket page.
PAGE_COLUMNS = ("ticket_id", "site", "number", "service", "priority", "issued_at", "status", "counter")

NoticeValues = tuple[str, str | None, str | None, str | None, float | None, str, str | None, int, float | None,
                     str | None, float | None]  # one row of NOTICE_COLUMNS
