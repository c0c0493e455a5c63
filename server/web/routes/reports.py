"""The managers' report pack (docs/reports.md): `/api/v1/reports` (JSON), `/api/v1/reports.xlsx`
(the workbook), `/reports/print` (the A4 print page: charts as inline SVG drawn here, no
JavaScript) and the kept packs (`/api/v1/reports/archive`). Same roles as stats: manager
or admin, for the sites they may see; a group of sites is a `groups` label of the site
configuration (e.g. `commune=Xã An Bình`). Figures: server/stats/report.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from protocol.i18n import translator
from protocol.sites import Site
from server.stats import report as pack
from server.web import report_svg
from server.web.auth import User, optional_user, require_roles
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.routes.auth import locale_of, remember_locale
from server.web.routes.stats import MAX_RANGE_DAYS

router = APIRouter(tags=["reports"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
OUTCOME_NAMES = ("Returned on the spot", "Appointment", "Guided", "Enquiry")
PRINT_EXCEPTIONS = 40  # tickets listed on paper (the workbook lists more)

Manager = Annotated[User, Depends(require_roles("manager"))]
MonthQ = Annotated[str | None, Query(description="a month YYYY-MM (default: last month)")]
FromQ = Annotated[str | None, Query(alias="from", description="first site-local day YYYY-MM-DD (instead of month)")]
ToQ = Annotated[str | None, Query(alias="to", description="last site-local day YYYY-MM-DD (instead of month)")]
SiteQ = Annotated[str | None, Query(description="one site id")]
GroupQ = Annotated[str | None, Query(description="a group of sites, key=value of the sites' `groups` (e.g. commune=...)")]


def scope(request: Request, user: User, site: str | None, group: str | None) -> list[Site]:
    """The sites of the report: one site, a group, or every site the user may see. A
    group must lie wholly within the user's sites (a partial group would mislead)."""
    configured = runtime_of(request).settings.sites
    allowed = [s for s in configured if user.role == "admin" or s.id in user.sites]
    if site is not None and group is not None:
        raise ApiError(400, "bad_scope", "give site or group, not both")
    if site is not None:
        found = [s for s in configured if s.id == site]
        if not found:
            raise ApiError(404, "unknown_site", f"no site {site!r}")
        if found[0] not in allowed:
            raise ApiError(403, "forbidden", f"no access to site {site!r}")
        return found
    if group is not None:
        key, sep, value = group.partition("=")
        members = [s for s in configured if sep and s.groups.get(key.strip()) == value.strip()]
        if not members:
            raise ApiError(404, "unknown_group", f"no site has the group {group[:80]!r} (use key=value)")
        if any(s not in allowed for s in members):
            raise ApiError(403, "forbidden", f"the group {group[:80]!r} has sites you may not see")
        return members
    if not allowed:
        raise ApiError(403, "forbidden", "no site to report on")
    return allowed


def period(request: Request, month: str | None, day_from: str | None, day_to: str | None) -> tuple[str, str]:
    """[from, to] site-local days: a month, a range, or (default) last month."""
    if month is not None and (day_from or day_to):
        raise ApiError(400, "bad_range", "give month, or from and to, not both")
    if month is not None:
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ApiError(400, "bad_date", f"month must be YYYY-MM, got {month[:20]!r}") from None
        after = (first + timedelta(days=32)).replace(day=1)
        return first.isoformat(), (after - timedelta(days=1)).isoformat()
    if day_from or day_to:
        try:
            start, end = date.fromisoformat(day_from or ""), date.fromisoformat(day_to or "")
        except ValueError:
            raise ApiError(400, "bad_date", "from and to must both be dates YYYY-MM-DD") from None
        if start > end:
            raise ApiError(400, "bad_range", "from must not be after to")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ApiError(400, "bad_range", f"at most {MAX_RANGE_DAYS} days at once")
        return start.isoformat(), end.isoformat()
    runtime = runtime_of(request)
    today = runtime.clock().astimezone(runtime.settings.sites[0].zone).date()
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1).isoformat(), last.isoformat()


def generate(request: Request, user: User, month: str | None, day_from: str | None, day_to: str | None,
             site: str | None, group: str | None) -> tuple[dict[str, Any], datetime]:
    sites = scope(request, user, site, group)
    start, end = period(request, month, day_from, day_to)
    runtime = runtime_of(request)
    generated_at = runtime.clock().astimezone(sites[0].zone).replace(microsecond=0)
    report = pack.assemble(runtime.stats, sites, start, end)
    report["generated"] = {"at": generated_at.isoformat(), "by": user.username}
    report["scope"] = {"site": site, "group": group}
    return report, generated_at


@router.get("/api/v1/reports", summary="The report pack's figures as JSON (docs/reports.md)")
def get_report(request: Request, user: Manager, month: MonthQ = None, day_from: FromQ = None, day_to: ToQ = None,
               site: SiteQ = None, group: GroupQ = None) -> dict[str, Any]:
    report, _ = generate(request, user, month, day_from, day_to, site, group)
    return report


def file_name(report: dict[str, Any], ext: str) -> str:
    scope_part = report["scope"]["site"] or ("nhom" if report["scope"]["group"] else "tat-ca")
    return f"xephang-bao-cao-{scope_part}-{report['period']['from']}-{report['period']['to']}.{ext}"


@router.get("/api/v1/reports.xlsx", summary="The report pack as an Excel workbook (cover, sheets, charts)")
def get_report_xlsx(request: Request, user: Manager, month: MonthQ = None, day_from: FromQ = None,
                    day_to: ToQ = None, site: SiteQ = None, group: GroupQ = None) -> Response:
    from server.stats.report_xlsx import workbook  # openpyxl only when asked for

    report, generated_at = generate(request, user, month, day_from, day_to, site, group)
    data = workbook(report, user.username, generated_at, translator("server"))
    return Response(data, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{file_name(report, "xlsx")}"'})


def formatters(locale: str) -> dict[str, Any]:
    """Numbers as the page prints them: Vietnamese decimal commas (66,7), English points."""
    point = "." if locale == "en" else ","

    def number(value: Any) -> str:
        if value is None:
            return "—"
        return str(value).replace(".", point) if isinstance(value, float) else str(value)

    def minutes(value: float | None) -> str:
        return "—" if value is None else f"{value / 60:.1f}".replace(".", point)

    def hours(value: float | None) -> str:
        return "—" if value is None else f"{value / 3600:.1f}".replace(".", point)

    return {"number": number, "minutes": minutes, "hours": hours}


def charts(report: dict[str, Any], _: Any, number: Any) -> dict[str, str]:
    s = report["summary"]
    previous = (s.get("previous") or {}).get("pct_within_target")
    trend = [(date.fromisoformat(t["day"]).strftime("%d/%m"), t["pct_within_target"]) for t in report["trend"]]
    heat = report["heatmap"]
    weekday_rows = [_(WEEKDAYS[w]) for w in heat["weekdays"]]
    cells = {(heat["weekdays"].index(c["weekday"]), c["hour"]): (None if c["wait_p50_s"] is None else c["wait_p50_s"] / 60)
             for c in heat["cells"]}
    names = {x["id"]: x["name"] for x in report["sites"]}
    multi = len(report["sites"]) > 1
    counters = [((f"{names[c['site']][:14]} · " if multi else "") + c["name"], c["calls_per_open_hour"])
                for c in report["counters"] if c["calls_per_open_hour"] is not None][:40]
    return {
        "trend": report_svg.line_chart(trend, _("% within target"), previous,
                                       _("Previous period") + (f" {number(previous)}%" if previous is not None else "")),
        "outcomes": report_svg.stacked_bars(
            [(r["name"], [r["outcome_returned"], r["outcome_appointment"], r["outcome_guided"], r["outcome_info"]])
             for r in report["by_service"]], [_(o) for o in OUTCOME_NAMES], _("Served in person by outcome")),
        "heatmap": report_svg.heatmap(weekday_rows, heat["hours"], cells, _("Median wait (minutes) by weekday and hour of issue"),
                                      "'"),
        "counters": report_svg.bars(counters, _("Calls per open hour"), [number(v) for _name, v in counters]) if counters else "",
        "visits": report_svg.bars([(k, n) for k, n in report["visits"]["histogram"].items()], _("Dossiers by number of visits")),
    }


def page_html(report: dict[str, Any], generated_at: datetime, who: str, locale: str) -> str:
    """The print page of a report (also timed by bench/report.py)."""
    from server.stats.report_xlsx import DEFINITIONS, FORMULA_766, dmy

    _ = translator("server", locale)
    names = {x["id"]: x["name"] for x in report["sites"]}
    formats = formatters(locale)
    context = {
        "_": _, "locale": locale, "r": report, "charts": charts(report, _, formats["number"]), "dmy": dmy, **formats,
        "names": names, "definitions": [_(d) for d in DEFINITIONS], "formula": _(FORMULA_766),
        "generated_at": generated_at.strftime("%d/%m/%Y %H:%M"), "who": who, "signed_on": generated_at,
        "exceptions": report["exceptions"]["listed"][:PRINT_EXCEPTIONS],
        "outcome_names": [_(o) for o in OUTCOME_NAMES], "weekday_names": [_(w) for w in WEEKDAYS],
    }
    return templates.get_template("report.html").render(context)


@router.get("/reports/print", response_class=HTMLResponse, include_in_schema=False)
async def print_page(request: Request, month: MonthQ = None, day_from: FromQ = None, day_to: ToQ = None,
                     site: SiteQ = None, group: GroupQ = None) -> Response:
    user = await optional_user(request)
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    locale = locale_of(request)
    _ = translator("server", locale)
    if user.role not in ("manager", "admin"):
        return HTMLResponse(f"<p>{_('Reports are for managers.')}</p>", status_code=403)
    report, generated_at = generate(request, user, month, day_from, day_to, site, group)
    response = HTMLResponse(page_html(report, generated_at, user.username, locale))
    response.headers["Cache-Control"] = "no-store"
    remember_locale(request, response)
    return response


# -- kept packs ---------------------------------------------------------------------------
@router.get("/api/v1/reports/archive", summary="Packs kept by the monthly job (the sites you may see)")
def list_archive(request: Request, user: Manager) -> dict[str, Any]:
    archive = runtime_of(request).reports
    return {"packs": [p for p in archive.listing() if archive.visible(p, user.role == "admin", user.sites)]}


@router.get("/api/v1/reports/archive/{name}", summary="Download a kept pack")
def get_archived(request: Request, user: Manager, name: str) -> FileResponse:
    archive = runtime_of(request).reports
    found = next((p for p in archive.listing() if p["name"] == name), None)
    if found is None:
        raise ApiError(404, "not_found", "no such pack")
    if not archive.visible(found, user.role == "admin", user.sites):
        raise ApiError(403, "forbidden", "this pack covers sites you may not see")
    return FileResponse(archive.path_of(name), media_type=XLSX, filename=name)
