"""Managers' API: `/api/v1/stats` (JSON, .csv, .xlsx) and `/api/v1/live`.

Stats need the manager (or admin) role and cover the sites the user may see; live is
also open to desk users for their own sites. Definitions: docs/measures.md.
`on_startup` attaches the stats store and the alert monitor to the runtime.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from protocol.i18n import translator
from server.stats.alerts import AlertMonitor
from server.stats.bookings import COLUMNS as BOOKING_COLUMNS
from server.stats.bookings import booking_keys
from server.stats.bookings import figures as booking_figures
from server.stats.measures import GROUP_KEYS, parse_group_by
from server.stats.store import StatsStore, TooLarge
from server.web.auth import User, check_site, reader_for, require_roles
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.routes.auth import locale_of

router = APIRouter(prefix="/api/v1", tags=["stats"])
MAX_RANGE_DAYS = 3 * 366
MEASURE_COLUMNS = (
    "issued", "called", "no_show", "completed", "received", "within_target", "pct_within_target",
    "wait_p50_s", "wait_p90_s", "wait_mean_s", "service_p50_s", "service_p90_s", "service_mean_s",
    "total_p50_s", "total_p90_s", "total_mean_s", "recalls", "transfers", "ratings", "satisfied", "satisfaction_pct",
    "unconfirmed",
)
# Vietnamese (via the catalog) headers of the Excel export, English msgids.
HEADERS = {
    "site": "Site id", "site_name": "Reception point", "service": "Service", "counter": "Counter",
    "day": "Day", "week": "Week", "month": "Month", "hour": "Hour of day",
    "issued": "Tickets issued", "called": "Called", "no_show": "No-shows", "completed": "Completed",
    "received": "Dossiers received (target)", "within_target": "Returned within target",
    "pct_within_target": "% within target", "wait_p50_s": "Wait p50 (min)", "wait_p90_s": "Wait p90 (min)",
    "wait_mean_s": "Wait mean (min)", "service_p50_s": "Service p50 (min)", "service_p90_s": "Service p90 (min)",
    "service_mean_s": "Service mean (min)", "total_p50_s": "Total p50 (min)", "total_p90_s": "Total p90 (min)",
    "total_mean_s": "Total mean (min)", "recalls": "Recalls", "transfers": "Transfers", "ratings": "Ratings",
    "satisfied": "Satisfied ratings", "satisfaction_pct": "% satisfied",
    "unconfirmed": "Print not confirmed", "channel": "Channel",
    # The booking figures (server/stats/bookings.py): the second table of the exports.
    "bookings": "Appointments booked", "cancelled": "Cancelled", "checked_in": "Checked in",
    "no_show_bookings": "Booked, not come", "pending": "Booked, not yet due", "online_numbers": "Online numbers",
    "online_checked_in": "Online numbers checked in",
    "punctuality_median_s": "Punctuality median (min)", "punctuality_p90_s": "Punctuality p90 (min)",
    "issued_appointment": "Tickets by appointment", "pct_by_booking": "% served by booking",
}

Manager = Annotated[User, Depends(require_roles("manager"))]
Reader = Annotated[User, Depends(require_roles("manager", "desk"))]


def visible_sites(request: Request, user: User, site: str | None) -> list[str]:
    configured = [s.id for s in runtime_of(request).settings.sites]
    if site is not None:
        if site not in configured:
            raise ApiError(404, "unknown_site", f"no site {site!r}")
        check_site(user, site)
        return [site]
    return configured if user.role == "admin" else [s for s in configured if s in user.sites]


def _day(text: str | None, name: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "bad_date", f"{name} must be a date YYYY-MM-DD, got {text[:40]!r}") from None


def period(request: Request, user: User, day_from: str | None, day_to: str | None, site: str | None,
           group_by: str | None) -> tuple[tuple[str, ...], list[str], date, date]:
    """(group keys, sites, first day, last day) of a stats request, checked."""
    try:
        keys = parse_group_by(group_by or "site")
    except ValueError as exc:
        raise ApiError(400, "bad_group_by", str(exc)) from None
    sites = visible_sites(request, user, site)
    first = runtime_of(request).settings.sites[0]
    now = runtime_of(request).clock
    today = now().astimezone(first.zone).date()
    end = _day(day_to, "to") or today
    start = _day(day_from, "from") or end - timedelta(days=29)
    for name, day in (("from", start), ("to", end)):
        if not 2000 <= day.year <= today.year + 1:  # 1900 or 2099 is a typing slip, not a period
            raise ApiError(400, "bad_date", f"{name} must be between 2000-01-01 and {today.year + 1}-12-31, got {day.isoformat()}")
    if start > end:
        raise ApiError(400, "bad_range", "from must not be after to")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ApiError(400, "bad_range", f"at most {MAX_RANGE_DAYS} days at once")
    return keys, sites, start, end


def stats_rows(request: Request, user: User, day_from: str | None, day_to: str | None, site: str | None,
               group_by: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    keys, sites, start, end = period(request, user, day_from, day_to, site, group_by)
    store: StatsStore = runtime_of(request).stats
    try:
        rows = store.query(start.isoformat(), end.isoformat(), sites, keys) if sites else []
    except TooLarge as exc:
        raise ApiError(400, "too_large", str(exc)) from None
    names = {s.id: s.name for s in runtime_of(request).settings.sites}
    for row in rows:
        row["site_name"] = names.get(row["site"], row["site"])
    meta = {"from": start.isoformat(), "to": end.isoformat(), "sites": sites, "group_by": list(keys),
            "definitions": "docs/measures.md"}
    return meta, rows


def booking_rows(request: Request, user: User, day_from: str | None, day_to: str | None, site: str | None,
                 group_by: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The booking figures of the same request (docs/measures.md): grouped by site and the
    request's day / week / month and service keys; the share served by booking from the
    statistics grouped by those keys and channel (None where that range is too large)."""
    keys, sites, start, end = period(request, user, day_from, day_to, site, group_by)
    chosen = booking_keys(keys)
    store: StatsStore = runtime_of(request).stats
    channel_rows: list[dict[str, Any]] | None = None
    if sites:
        try:
            channel_rows = store.query(start.isoformat(), end.isoformat(), sites, (*chosen, "channel"))
        except TooLarge:
            channel_rows = None
    rows = booking_figures(reader_for(request), sites, start.isoformat(), end.isoformat(), chosen, channel_rows)
    names = {s.id: s.name for s in runtime_of(request).settings.sites}
    for row in rows:
        row["site_name"] = names.get(row["site"], row["site"])
    meta = {"from": start.isoformat(), "to": end.isoformat(), "sites": sites, "group_by": list(chosen),
            "definitions": "docs/measures.md"}
    return meta, rows


def export_columns(keys: list[str]) -> list[str]:
    return ["site", "site_name", *[k for k in keys if k != "site"], *MEASURE_COLUMNS]


def booking_columns(keys: list[str]) -> list[str]:
    return ["site", "site_name", *[k for k in keys if k != "site"], *BOOKING_COLUMNS]


def csv_response(rows: list[dict[str, Any]], columns: list[str], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return Response(out.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


FromQ = Annotated[str | None, Query(alias="from", description="first site-local day YYYY-MM-DD (default: 29 days before to)")]
ToQ = Annotated[str | None, Query(alias="to", description="last site-local day YYYY-MM-DD (default: today)")]
SiteQ = Annotated[str | None, Query(description="one site id (default: every site you may see)")]
GroupQ = Annotated[str | None, Query(description=f"comma-separated keys among {', '.join(GROUP_KEYS)}; site is always one")]


@router.get("/stats", summary="Measures per group (docs/measures.md)")
def get_stats(request: Request, user: Manager, day_from: FromQ = None, day_to: ToQ = None,
              site: SiteQ = None, group_by: GroupQ = None) -> dict[str, Any]:
    meta, rows = stats_rows(request, user, day_from, day_to, site, group_by)
    return meta | {"rows": rows}


@router.get("/stats.csv", summary="The same rows as CSV (UTF-8, JSON field names as headers)")
def get_stats_csv(request: Request, user: Manager, day_from: FromQ = None, day_to: ToQ = None,
                  site: SiteQ = None, group_by: GroupQ = None) -> Response:
    meta, rows = stats_rows(request, user, day_from, day_to, site, group_by)
    return csv_response(rows, export_columns(meta["group_by"]), f"xephang-stats-{meta['from']}-{meta['to']}.csv")


@router.get("/stats/bookings", summary="Booking figures per site, day / week / month and service (docs/measures.md)")
def get_booking_stats(request: Request, user: Manager, day_from: FromQ = None, day_to: ToQ = None,
                      site: SiteQ = None, group_by: GroupQ = None) -> dict[str, Any]:
    meta, rows = booking_rows(request, user, day_from, day_to, site, group_by)
    return meta | {"rows": rows}


@router.get("/stats/bookings.csv", summary="The booking figures as CSV (UTF-8, JSON field names as headers)")
def get_booking_stats_csv(request: Request, user: Manager, day_from: FromQ = None, day_to: ToQ = None,
                          site: SiteQ = None, group_by: GroupQ = None) -> Response:
    meta, rows = booking_rows(request, user, day_from, day_to, site, group_by)
    return csv_response(rows, booking_columns(meta["group_by"]), f"xephang-bookings-{meta['from']}-{meta['to']}.csv")


@router.get("/stats.xlsx", summary="The same rows as an Excel workbook (Vietnamese headers, dd/mm/yyyy)")
def get_stats_xlsx(request: Request, user: Manager, day_from: FromQ = None, day_to: ToQ = None,
                   site: SiteQ = None, group_by: GroupQ = None) -> Response:
    from server.stats.export import workbook  # openpyxl only when asked for

    meta, rows = stats_rows(request, user, day_from, day_to, site, group_by)
    columns = export_columns(meta["group_by"])
    _ = translator("server", locale_of(request))  # Vietnamese unless ?lang=en
    headers = [_(HEADERS[c]) for c in columns]
    booking_meta, bookings = booking_rows(request, user, day_from, day_to, site, group_by)
    booked = booking_columns(booking_meta["group_by"])
    data = workbook(meta, rows, columns, headers, _,
                    (bookings, booked, [_(HEADERS["no_show_bookings" if c == "no_show" else c]) for c in booked]))
    name = f"xephang-stats-{meta['from']}-{meta['to']}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/live", summary="Per site now: waiting, longest wait, open counters, at-risk tickets, faults, alerts")
def get_live(request: Request, user: Reader, site: SiteQ = None) -> dict[str, Any]:
    sites = visible_sites(request, user, site)
    monitor: AlertMonitor = runtime_of(request).alerts
    monitor.fresh(min(1.0, 5.0 / runtime_of(request).clock_rate))  # at most 5 s of server time old
    found = [monitor.snapshot(s) for s in sites]
    return {"sites": [f for f in found if f is not None]}
