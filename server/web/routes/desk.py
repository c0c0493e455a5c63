"""The desk console page (`/desk`) and its live feed (`/desk/stream`, server-sent events).

The page is plain HTML from a template plus the project's own desk.js and desk.css,
served from the package (no CDN: offices run on closed networks). The feed sends the
counter's whole view each time the site's state changes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from protocol.events import OUTCOMES
from protocol.i18n import translator
from server.desk.deskview import desk_view
from server.web.auth import CurrentUser, User, check_site, optional_user, reader_for
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.routes.auth import locale_of, remember_locale, templates

router = APIRouter(tags=["desk console"])
STATIC = Path(__file__).resolve().parent.parent / "static"
HEARTBEAT_S = 15.0
MIN_GAP_S = 0.3  # at most ~3 views a second per console, however busy the site
# A stream ends after this long and the browser reconnects at once (EventSource), so an
# open console never holds up a server shutdown for longer.
STREAM_MAX_S = 30.0
REFRESH_S = 30.0

# Strings desk.js shows; they go through the catalog like every other text.
JS_TEXTS = (
    "Open", "Paused", "Closed", "No ticket in progress", "Called", "Serving", "Waiting", "Priority",
    "Nobody is waiting", "No device faults", "Live", "Reconnecting…", "Done", "Error", "at counter", "minutes",
    "Call this ticket now",
    # the mark beside a booked or remote number (docs/booking.md)
    "Booked slot", "Remote number", "Not checked in yet",
    # what was done, after each action (desk.js doneText)
    "Called {number}", "Called {number} again", "Receiving {number}", "{number}: no-show recorded",
    "{number} moved to {service}", "Counter paused: {reason}", "Counter open", "Counter closed",
    "Choose a reason for the pause.", "Result returned", "Received, appointment", "Guided (incomplete)", "Information only",
    # the second visit (docs/second-visit.md)
    "Additional documents", "Return code for the citizen: {code}",
    "{number} did not come: back in the queue ({count})",
    "Reprint of {number} sent to {kiosk}", "Missed a call",
)
ERROR_TEXTS = {
    "no_ticket_waiting": "No ticket is waiting for this counter's services.",
    "counter_paused": "Resume the counter first.",
    "no_current_ticket": "This counter has no ticket in progress.",
    "counter_busy": "Finish the current ticket first.",
    "forbidden": "You may not do this.",
    "unauthenticated": "Your session has ended. Please log in again.",
    "csrf": "Your session has ended. Please log in again.",
    "not_dispatcher": "This server does not dispatch this site.",
    "same_service": "The ticket is already in that service.",
    "wrong_ticket_state": "The ticket is not in the right state for this.",
    "ticket_not_waiting": "That ticket is no longer waiting.",
    "return_off": "This reception point gives no return codes.",
    # check-in by booking code (docs/booking.md)
    "unknown_code": "No booking has this code.",
    "code_used": "This booking has already been used.",
    "code_cancelled": "This booking was cancelled.",
    "code_expired": "This code can no longer be used.",
    "other_site": "This code is for another reception point.",
    "other_day": "This code is for another day.",
    "too_early": "Too early to check in for this appointment.",
    "too_late": "The appointment time has passed.",
    "turn_passed": "This number is no longer waiting.",
    "reason_required": "Choose a reason for the pause.",
    # the missed-call rule (docs/desk.md "A missed call")
    "call_too_recent": "The citizen still has time to come: wait a little longer, or recall.",
    # reprint of a lost ticket (docs/kiosk.md)
    "not_printed_by_a_kiosk": "This ticket was not printed by a kiosk: it cannot be printed again.",
    "ticket_not_open": "This ticket is already finished.",
    "unknown_ticket": "No such ticket.",
}


FAULT_TEXTS = {
    "printer": "Printer", "paper_out": "Out of paper", "paper_low": "Paper low", "offline": "Offline",
    "error": "Device error", "cover_open": "Cover open", "jam": "Paper jam", "fault": "Device error",
}


def desk_places(request: Request, user: User) -> list[tuple[str, str, str]]:
    """(site id, counter id, label) the user may work at, on sites this server dispatches."""
    dispatcher = runtime_of(request).dispatcher
    places = []
    for site_id in dispatcher.dispatch_sites:
        site = dispatcher.sites[site_id]
        if user.role != "admin" and site_id not in user.sites:
            continue
        for counter in site.counters:
            if user.role == "admin" or user.role == "manager" or counter.id in user.counters:
                places.append((site_id, counter.id, f"{counter.name} — {site.name}"))
    return places


@router.get("/desk", response_class=HTMLResponse, include_in_schema=False)
async def desk_page(request: Request, site: str | None = None, counter: str | None = None) -> Response:
    user = await optional_user(request)
    if user is None:
        return RedirectResponse("/login?next=/desk", status_code=303)
    locale = locale_of(request)
    _ = translator("server", locale)
    places = desk_places(request, user)
    chosen = next((p for p in places if p[0] == site and p[1] == counter), places[0] if places else None)
    if site is not None and counter is not None and (chosen is None or chosen[:2] != (site, counter)):
        # A page, not the API's JSON: a person typed or followed this address.
        refused = templates.TemplateResponse(request, "notallowed.html", {"_": _, "locale": locale, "places": places},
                                             status_code=403)
        refused.headers["Cache-Control"] = "no-store"
        return refused
    dispatcher = runtime_of(request).dispatcher
    site_model = dispatcher.sites[chosen[0]] if chosen else None
    context = {
        "_": _,
        "locale": locale,
        "user": user,
        "csrf": getattr(request.state, "csrf", ""),
        "places": places,
        "chosen": chosen,
        "can_act": user.role in ("desk", "admin"),
        "supervisor": user.role == "admin",
        # Kiosks of the site: the reprint button applies to a ticket one of them printed.
        "kiosks": sorted(d.id for d in runtime_of(request).settings.devices
                         if d.role == "kiosk" and chosen and d.site == chosen[0]),
        "services": [(s.id, s.label(locale)) for s in site_model.services] if site_model else [],
        "outcomes": OUTCOMES,
        "texts": json.dumps({t: _(t) for t in JS_TEXTS} | {f"error:{k}": _(v) for k, v in ERROR_TEXTS.items()}
                            | {f"fault:{k}": _(v) for k, v in FAULT_TEXTS.items()},
                            ensure_ascii=False).replace("<", "\\u003c"),
    }
    response = templates.TemplateResponse(request, "desk.html", context)
    response.headers["Cache-Control"] = "no-store"
    remember_locale(request, response)
    return response


@router.get("/desk/stream", include_in_schema=False)
async def desk_stream(request: Request, site: str, counter: str, user: CurrentUser) -> StreamingResponse:
    check_site(user, site)
    dispatcher = runtime_of(request).dispatcher
    site_model = dispatcher.sites.get(site)
    if site_model is None or site_model.counter(counter) is None:
        raise ApiError(404, "unknown_counter", f"no counter {counter!r} at site {site!r}")
    locale = locale_of(request)
    feed = dispatcher.states

    def build() -> str:
        view = desk_view(reader_for(request), site_model, counter, dispatcher.clock(), locale,
                         runtime_of(request).clock_rate)
        return json.dumps(view, ensure_ascii=False, default=str)

    async def events() -> AsyncIterator[str]:
        seen = None
        beat_at = time.monotonic()
        sent_at = beat_at - MIN_GAP_S
        yield "retry: 500\n\n"
        ends_at = beat_at + STREAM_MAX_S
        while not feed._stop.is_set() and time.monotonic() < ends_at and not await request.is_disconnected():
            version = feed.versions.get(site, 0)
            now = time.monotonic()
            if (version != seen and now - sent_at >= MIN_GAP_S) or now - sent_at > REFRESH_S:
                seen, sent_at = version, now
                yield f"event: view\ndata: {await to_thread.run_sync(build)}\n\n"
            elif now - beat_at > HEARTBEAT_S:
                beat_at = now
                yield ": ping\n\n"
            else:
                await asyncio.sleep(0.1)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
