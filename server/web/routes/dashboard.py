"""The managers' dashboard page (/dashboard), its assets, and the distribution API
its charts use. Charts are drawn by plotly.js served from the installed `plotly`
Python package (never a CDN). Definitions: docs/measures.md.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from protocol.i18n import translator
from server.web.auth import User, optional_user, require_roles
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.routes.auth import locale_of, remember_locale
from server.web.routes.stats import FromQ, SiteQ, ToQ, stats_rows, visible_sites

router = APIRouter(tags=["dashboard"])
HERE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Texts the page script draws (English msgids; Vietnamese from server/locale/vi.po).
JS_TEXTS = (
    "% within target", "Received", "Within target", "Wait", "Total time", "Tickets issued", "Wait p50 (min)",
    "Wait p90 (min)", "minutes", "tickets", "60-minute line", "Hour of day", "Counter", "Service p50 (min)",
    "No data for this period.", "Waiting", "Longest wait", "Open counters", "At risk", "Device faults",
    "No alerts.", "Ticket at risk", "Counter paused", "Device offline", "Device fault", "Updated",
    "Could not load data", "min", "waiting for it", "paper_out", "cover_open", "offline", "unknown", "error",
    "jam", "fault", "Site", "Rank", "Satisfied", "Ratings", "No-shows", "Total p90 (min)",
    "Issued", "Share of tickets", "Arrivals and waits by hour", "Longest wait now",
    "Printer", "paper_low", "Ticket past the target", "Enter dates as dd/mm/yyyy, e.g. {example}.",
    "Dates from 2000 to {year} only.", "The start date must not be after the end date.",
    # booking figures (issue 17)
    "Appointments booked", "Cancelled", "Checked in", "Booked, not come", "Punctuality, median / p90 (check-in − slot start)",
    "Online numbers (checked in)", "Share served by booking",
    # messages to citizens (issue 18)
    "Ticket page", "Web Push", "Zalo", "SMS", "File (log)", "Near its turn", "Called to the counter", "Called again",
    "Booking: the day before", "Booking: 30 minutes before", "Rating invitation", "No messages in this period.",
    "{told} of {eligible} told at least {minutes} min before their call ({share})",
    "Nobody waited long enough to be told in time in this period.",
) + WEEKDAYS


def plotly_js() -> Path:
    import plotly  # the maintained charting library, shipped inside its PyPI wheel

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ApiError(500, "missing_asset", "plotly.min.js is missing from the installed plotly package")
    return path


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page(request: Request) -> Response:
    user = await optional_user(request)
    if user is None:
        return RedirectResponse("/login?next=/dashboard", status_code=303)
    locale = locale_of(request)
    _ = translator("server", locale)
    if user.role not in ("manager", "admin"):
        return HTMLResponse(f"<p>{_('The dashboard is for managers.')}</p>", status_code=403)
    sites = [s for s in runtime_of(request).settings.sites if s.id in visible_sites(request, user, None)]
    first = runtime_of(request).settings.sites[0]
    now = runtime_of(request).clock
    today = now().astimezone(first.zone).date()
    context = {
        "_": _,
        "locale": locale,
        "user": user,
        "csrf": getattr(request.state, "csrf", ""),
        "sites": [(s.id, s.name) for s in sites],
        "today": today.isoformat(),
        "default_from": (today - timedelta(days=29)).isoformat(),
        "texts": json.dumps({t: _(t) for t in JS_TEXTS}, ensure_ascii=False),
        # charts and alerts name counters as the office does, not by their ids
        "counter_names": json.dumps({s.id: {c.id: c.name for c in s.counters} for s in sites},
                                    ensure_ascii=False).replace("<", "\\u003c"),
    }
    response = templates.TemplateResponse(request, "dashboard.html", context)
    response.headers["Cache-Control"] = "no-store"
    remember_locale(request, response)
    return response


@router.get("/dashboard/assets/{name}", include_in_schema=False)
def dashboard_asset(name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
    if name not in ASSETS:
        raise ApiError(404, "not_found", "no such asset")
    return FileResponse(HERE / "static" / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


Manager = Annotated[User, Depends(require_roles("manager"))]


@router.get("/api/v1/stats/distribution", tags=["stats"],
            summary="Wait and total time of tickets in bins (whole seconds), for charts")
def get_distribution(request: Request, user: Manager, day_from: FromQ = None, day_to: ToQ = None, site: SiteQ = None,
                     bin_minutes: Annotated[int, Query(ge=1, le=60, description="bin width in minutes")] = 5,
                     max_minutes: Annotated[int, Query(ge=10, le=24 * 60, description="last bin starts here")] = 180,
                     ) -> dict[str, Any]:
    meta, _rows = stats_rows(request, user, day_from, day_to, site, "site")
    store = runtime_of(request).stats
    bins = store.distribution(meta["from"], meta["to"], meta["sites"], bin_minutes * 60, max_minutes * 60)
    return meta | {"bin_s": bin_minutes * 60, "max_s": max_minutes * 60} | bins

