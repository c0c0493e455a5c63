"""Excel export of stats rows: Vietnamese headers, dd/mm/yyyy dates, a notes sheet with
the period and the definitions. Same rows and values as the JSON API.
No FastAPI here; openpyxl is imported by the caller's request only.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

DATE_FORMAT = "dd/mm/yyyy"
# Durations in minutes, as the dashboard shows them (the API and CSV keep seconds), and
# percentages as Excel percentages, so a sum or a chart in Excel means what it says.
MINUTES_FORMAT = "0.0"
PERCENT_FORMAT = "0.0%"


def is_duration(column: str) -> bool:
    return column.endswith("_s")


def is_percent(column: str) -> bool:
    return column.startswith("pct_") or column.endswith("_pct")
NOTES = (
    "Tickets count on the site-local day they were issued.",
    "Received: completed tickets of target-eligible services with outcome returned or appointment.",
    "Within target: received with outcome returned and total time (issue to completion) at most the target.",
    "Durations are in minutes here (the API and CSV give whole seconds); percentiles are nearest-rank.",
    "Wait: first call minus issue; service: completion minus start (or first call); total: completion minus issue.",
    "No-shows: tickets whose final status is no-show. Recalls do not restart the wait. "
    "A transferred ticket counts for the service it ended in.",
    "Satisfied: ratings in the top two levels; one rating per ticket (the earliest).",
    "Channel: kiosk (walk-in), online (number taken remotely), appointment. The clock of an online number "
    "starts at its check-in, of an appointment at max(check-in, slot start).",
)
BOOKING_NOTES = (
    "Bookings sheet: bookings count on the site-local day of the booked slot (online numbers: the day taken).",
    "Booked, not come: the check-in window closed unused. Punctuality: check-in minus slot start "
    "(median and p90, nearest rank; negative is early).",
    "% served by booking: tickets of the appointment channel over all tickets issued in the group.",
)
# A ticket's channel as the Excel cell shows it (the API and CSV keep the ids).
CHANNELS = {"kiosk": "Walk-in (kiosk)", "online": "Online number", "appointment": "Booked appointment"}


def dmy(day: str) -> str:
    return date.fromisoformat(day).strftime("%d/%m/%Y")


def cell_value(column: str, value: Any, _: Callable[[str], str]) -> Any:
    """A JSON value as it goes into a cell (dates as real Excel dates)."""
    if value is None:
        return None
    if column == "day":
        return date.fromisoformat(value)
    if column == "channel":
        return _(CHANNELS.get(value, value))
    if column == "month":
        year, month = value.split("-")
        return f"{month}/{year}"
    if column == "week":
        year, week = value.split("-W")
        return _("Week {week}/{year}").format(week=int(week), year=year)
    if is_duration(column):
        return value / 60
    if is_percent(column):
        return value / 100
    return value


def fill(sheet: Any, rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str],
         _: Callable[[str], str]) -> None:
    """One table: a styled header row, then one line per row, each column in its format."""
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E79")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        sheet.append([cell_value(c, row.get(c), _) for c in columns])
    for index, column in enumerate(columns, start=1):
        fmt = DATE_FORMAT if column == "day" else MINUTES_FORMAT if is_duration(column) else PERCENT_FORMAT if is_percent(column) else None
        if fmt:
            for cell in sheet[get_column_letter(index)][1:]:
                cell.number_format = fmt
    for i, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = 30 if column == "site_name" else 14
    sheet.freeze_panes = "A2"


Table = tuple[Sequence[dict[str, Any]], Sequence[str], Sequence[str]]  # rows, columns, headers


def workbook(meta: dict[str, Any], rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str],
             _: Callable[[str], str], bookings: Table | None = None) -> bytes:
    """The statistics sheet, the booking figures' sheet when given (server/stats/bookings.py),
    and the notes."""
    book = Workbook()
    sheet = book.active
    sheet.title = _("Statistics")
    fill(sheet, rows, columns, headers, _)
    if bookings is not None:
        fill(book.create_sheet(_("Bookings")), *bookings, _)
    notes = book.create_sheet(_("Notes"))
    notes.append([_("Period"), f"{dmy(meta['from'])} - {dmy(meta['to'])}"])
    notes.append([_("Sites"), ", ".join(meta["sites"])])
    notes.append([])
    for line in NOTES + (BOOKING_NOTES if bookings is not None else ()):
        notes.append([_(line)])
    notes.column_dimensions["A"].width = 120
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
